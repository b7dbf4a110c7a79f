#!/bin/bash
# mklvm.sh builds disks holding LVM2 volume groups with the lvm2 tools, and
# records what the tools and the Linux kernel say about them: the answers
# vmsh's lvm package is compared against.
#
# Usage: mklvm.sh [OUTDIR]        (default: testdata; mkfixtures.sh calls it)
#
# Needs root (loop devices, mount namespaces, loop mounts), lvm2,
# thin-provisioning-tools (thin_restore), e2fsprogs, sgdisk, sfdisk, mkswap,
# gzip, sha256sum, python3 (raid5 parity); faketime if present.
# Environment: MKFIXTURES_ONLY, MKFIXTURES_RAW and MKFIXTURES_NOGZIP as for
# mkfixtures.sh. Sourced (mkguest.sh does), it defines its helpers and
# builds nothing.
#
# How. The machines this runs on have no device-mapper, so no logical volume
# is ever activated. lvcreate makes linear and striped LVs inactive
# (--driverloaded n -an --zero n); raid1, raid5, mirror and thin LVs, which
# lvcreate cannot make without device-mapper, are made from linear LVs with
# placeholder names by editing vgcfgbackup's text (renaming them to the
# sub-LVs, hiding them, adding the raid/mirror/thin-pool/thin LVs over them)
# and writing it back with vgcfgrestore. Filesystems are built as files with
# mke2fs -d and written onto the extents `lvs --segments` names (striped LVs
# split chunk by chunk: chunk i goes to stripe i mod n, at chunk i div n of
# that stripe); a raid5 LV's legs are laid out by raid5_ls, below.
# Thin-pool metadata is written by thin_restore from an XML mapping that
# places the thin LVs' data blocks out of order in the pool.
#
# The tools see disk 1 as /dev/sda (its partitions /dev/sdaN), disk 2 as
# /dev/sdb, and so on: every lvm2 command runs in a private mount namespace
# whose /dev holds only those device nodes (over loop devices), so the
# metadata's device hints and the reports name those devices. The host name
# is "guest" (a private UTS namespace) and the time fixed (faketime).
#
# Reproducibility: PV UUIDs are fixed (pvcreate --uuid), and the VG and LV
# ids are replaced by ids derived from their names; the metadata areas are
# then wiped and rewritten by pvcreate --restorefile and vgcfgrestore, so
# they hold no copy with the random ids lvcreate chose. The images are the
# same byte for byte on the same kernel. lvm2 records the building kernel's
# uname in a comment of the metadata text, so images made on different
# kernels differ there; the .vgcfg files have that comment removed.
#
# Images (a multi-disk image is NAME.img.gz for disk 1 and NAME.diskN.gz for
# disk N = 2, 3, ...; tests give all its disks at once, in order):
#   lvm-gpt   GPT: an ext4 /boot partition and an LVM partition with VG vg0
#             holding root, var, home (ext4) and swap; var has two
#             non-contiguous segments. root's /etc/fstab names
#             /dev/mapper/vg0-root, UUID= of /boot, /dev/mapper/vg0-var,
#             /dev/vg0/home and /dev/vg0/swap.
#   lvm-span  VG data-vg over two disks: disk 1 is GPT with the PV in
#             partition 1, disk 2 a PV on the whole disk (no partition
#             table). stripe-lv (ext4) is striped over both (2 stripes of
#             64 KiB, starting at different extents); solo (ext4) lies on
#             disk 1 only, so disk 1 alone still gives it (partial VG).
#   lvm-raid  MBR with three LVM partitions (PVs) in VG vgraid: r1, a raid1
#             LV, and m1, an old-style mirror LV with a disk log (the same
#             bytes on every leg), and r5, a raid5 (left-symmetric) LV of
#             three legs with 64 KiB chunks, with parity; each leg on its
#             own PV, ext4 on all three.
#   lvm-thin  GPT, VG vgthin: thin pool "pool" (64 KiB chunks) with two thin
#             LVs, thin1 and thin2, each an ext4 larger than the pool's data;
#             only the chunks holding non-zero bytes are mapped.
#   lvm-wrap  a PV on a whole disk with the smallest metadata area lvm2
#             allows (32 KiB), changed (lvrename, lvremove) until the
#             current metadata text wraps around the end of the area; the
#             build fails if it does not. VG vgring, LV data holds ext4.
#
# Files for an image NAME:
#   NAME.img.gz          disk 1 (gzip -9n); NAME.img with MKFIXTURES_RAW
#   NAME.diskN.gz        disk N of a multi-disk image; NAME.diskN raw
#   NAME.parts           sfdisk --json of disk 1 when it is partitioned
#   NAME-pN.expect       kernel listing of the ext filesystem in partition N
#   NAME-DM.expect       kernel listing of the ext filesystem on an LV, DM
#                        being the device-mapper name: VG-LV with every "-"
#                        in VG and LV doubled (vg0-root, data--vg-solo)
#   NAME.lvs             lvs -a: one line per LV segment
#   NAME.pvs, NAME.vgs   pvs and vgs
#   NAME-VG.vgcfg        vgcfgbackup of VG (the uname comment removed)
#   NAME.sha256          sha256 of every LV's content, "HASH  VG/LV", hidden
#                        sub-LVs included (a thin pool reads as its data LV)
# The .lvs, .pvs and .vgs files are tab-separated with sizes in bytes; their
# first line, starting with "#", names the columns (lvm2's field names).
# A listing is made by the kernel from a read-only loop mount: of the disk
# image at the LV's offset when the LV (or, for raid1 and mirror, the leg
# listed) is one linear segment, otherwise of the file written onto the LV.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

lvmconf=$work/lvm
mkdir -p "$lvmconf" "$work/lv"
cat >"$lvmconf/lvm.conf" <<'EOF'
devices {
	filter = [ "a|^/dev/sd[a-z][0-9]*$|", "r|.*|" ]
	global_filter = [ "a|^/dev/sd[a-z][0-9]*$|", "r|.*|" ]
	use_devicesfile = 0
	hints = "none"
	obtain_device_list_from_udev = 0
}
backup {
	backup = 0
	archive = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
EOF

# Devices the lvm2 tools see: name (sda2) -> loop device, image file and
# byte offset of the device in that file.
declare -A devloop devfile devoff pvargs pestart
loops=()
detach() {
	local l
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	loops=()
}
trap 'detach; cleanup' EXIT

# attach NAME FILE OFFSET SIZE shows SIZE bytes at OFFSET of FILE to the
# lvm2 tools as /dev/NAME.
attach() {
	local l
	l=$(losetup -f --show -o "$3" --sizelimit "$4" "$2")
	loops+=("$l")
	devloop[$1]=$l devfile[$1]=$2 devoff[$1]=$3
}

# lvmc CMD ARGS... runs an lvm2 command in a private mount and UTS namespace
# whose /dev holds only the attached devices, at the fixed time. Its stderr
# (device-mapper complaints, mostly) is shown only if it fails.
lvmc() {
	local nodes=() n ft=""
	for n in "${!devloop[@]}"; do nodes+=("$n" "$(stat -L -c '%t:%T' "${devloop[$n]}")"); done
	if command -v faketime >/dev/null 2>&1; then ft=faketime; fi
	if ! LVM_SYSTEM_DIR=$lvmconf LVM_SUPPRESS_FD_WARNINGS=1 FT=$ft FAKE_DATE=$FAKE_DATE \
		unshare -m -u --propagation private bash -c '
		set -e
		hostname guest
		mount -t tmpfs -o mode=0755 dev /dev
		mkdir /dev/shm && mount -t tmpfs -o mode=1777 shm /dev/shm
		mknod -m 666 /dev/null c 1 3
		mknod -m 666 /dev/zero c 1 5
		mknod -m 444 /dev/urandom c 1 9
		mknod -m 444 /dev/random c 1 8
		while [ "$1" != -- ]; do
			mknod -m 660 "/dev/$1" b $((16#${2%:*})) $((16#${2#*:}))
			shift 2
		done
		shift
		if [ -n "$FT" ]; then exec faketime -f "$FAKE_DATE" "$@"; fi
		exec "$@"' lvmc "${nodes[@]}" -- "$@" 2>"$work/lvm.err"; then
		cat "$work/lvm.err" >&2
		log "failed: $*"
		exit 1
	fi
}

# lvmr CMD ARGS... prints an lvm2 report without headings, tab-separated,
# sizes in bytes.
lvmr() {
	local cmd=$1
	shift
	lvmc "$cmd" --noheadings --units b --nosuffix --separator $'\t' "$@" | sed 's/^ *//'
}

# mklv ARGS... makes an inactive linear or striped LV (lvcreate).
mklv() { lvmc lvcreate --driverloaded n --activate n --zero n -y "$@" >/dev/null; }

# pv NAME UUID [pvcreate args] makes /dev/NAME a PV with a fixed UUID.
pv() {
	local name=$1 uuid=$2
	shift 2
	pvargs[$name]="$*"
	lvmc pvcreate -ff -y --uuid "$uuid" --norestorefile "$@" "/dev/$name" >/dev/null
}

# mkid NAME prints an LVM id derived from NAME.
mkid() {
	local h
	h=$(printf '%s' "$1" | sha256sum)
	echo "${h:0:6}-${h:6:4}-${h:10:4}-${h:14:4}-${h:18:4}-${h:22:4}-${h:26:6}"
}

# fixids reads vgcfgbackup text and replaces the VG's and the LVs' ids with
# ids derived from their names.
fixids() {
	local vg=$1 n
	local -a subst=(-e "s/^\tid = \".*\"\$/\tid = \"$(mkid "$vg")\"/")
	for n in $(awk '/^\tlogical_volumes \{$/ { in_lv = 1; next } /^\t\}$/ { in_lv = 0 }
		in_lv && /^\t\t[^\t].* \{$/ { print $1 }' "$2"); do
		subst+=(-e "/^\t\t$n {\$/,/^\t\t\tid = /s/^\t\t\tid = \".*\"\$/\t\t\tid = \"$(mkid "$vg/$n")\"/")
	done
	sed "${subst[@]}" "$2"
}

# hide OLD=NEW... renames LVs in vgcfgbackup text (stdin) and makes them
# sub-LVs: not VISIBLE.
hide() {
	awk -v spec="$*" '
		BEGIN { n = split(spec, s, " "); for (i = 1; i <= n; i++) { split(s[i], p, "="); to[p[1]] = p[2] } }
		/^\t\t[^\t].* \{$/ { cur = $1; if (cur in to) { print "\t\t" to[cur] " {"; hid = 1; next } hid = 0 }
		hid && /^\t\t\tstatus = / { sub(/, "VISIBLE"/, "") }
		{ print }'
}

# addlvs FILE appends the LV sections in FILE to the logical_volumes of
# vgcfgbackup text (stdin).
addlvs() {
	awk -v add="$1" '
		/^\tlogical_volumes \{$/ { in_lv = 1 }
		in_lv && /^\t\}$/ { while ((getline l < add) > 0) print l; in_lv = 0 }
		{ print }'
}

# lvsection NAME EXTENTS TYPE KEY=VALUE... prints an LV section of one
# segment, as lvm2 writes them. Values are written as given.
lvsection() {
	local name=$1 extents=$2 type=$3 kv
	shift 3
	printf '\n\t\t%s {\n' "$name"
	printf '\t\t\tid = "%s"\n' "000000-0000-0000-0000-0000-0000-000000"
	printf '\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n\t\t\tflags = []\n'
	printf '\t\t\tcreation_time = %s\n\t\t\tcreation_host = "guest"\n' "$EPOCH"
	printf '\t\t\tsegment_count = 1\n\n\t\t\tsegment1 {\n'
	printf '\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = %s\n\n' "$extents"
	printf '\t\t\t\ttype = "%s"\n' "$type"
	for kv in "$@"; do printf '\t\t\t\t%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
	printf '\t\t\t}\n\t\t}\n'
}

# settle VG [EDIT [vgcfgrestore args]] rewrites the VG's metadata: the text
# of vgcfgbackup, passed through the shell command EDIT (stdin to stdout)
# if given, with fixed ids, written by pvcreate --restorefile and
# vgcfgrestore onto PVs whose label and metadata area were zeroed first.
settle() {
	local vg=$1 edit=${2:-cat} name uuid
	shift 2 || shift $#
	(cd "$work" && lvmc vgcfgbackup -f "$vg.raw" "$vg" >/dev/null)
	eval "$edit" <"$work/$vg.raw" >"$work/$vg.edited"
	fixids "$vg" "$work/$vg.edited" >"$work/$vg.restore"
	lvmr pvs -o pv_name,pv_uuid,pe_start >"$work/$vg.pvlist"
	while IFS=$'\t' read -r name uuid start; do
		name=${name#/dev/}
		dd if=/dev/zero of="${devfile[$name]}" bs=512 seek=$((devoff[$name] / 512)) count=$((start / 512)) conv=notrunc status=none
		# shellcheck disable=SC2086
		lvmc pvcreate -ff -y --uuid "$uuid" --restorefile "$work/$vg.restore" ${pvargs[$name]} "/dev/$name" >/dev/null
	done <"$work/$vg.pvlist"
	(cd "$work" && lvmc vgcfgrestore "$@" -f "$vg.restore" "$vg" >/dev/null)
	geometry "$vg"
}

# geometry VG records the VG's extent size (ext, bytes), each PV's first
# extent (pestart) and every LV segment (WORK/VG.segs: name, first extent,
# extents, type, stripes, stripe size, PE ranges; hidden LVs unbracketed).
geometry() {
	local vg=$1 name start
	ext=$(lvmr vgs -o vg_extent_size "$vg")
	while IFS=$'\t' read -r name start; do pestart[${name#/dev/}]=$start; done < <(lvmr pvs -o pv_name,pe_start)
	lvmr lvs -a --segments -o lv_name,seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,seg_pe_ranges "$vg" |
		sed 's/^\[\([^]]*\)\]/\1/' >"$work/$vg.segs"
}

# pe_off RANGE prints the offset in its image file of the first extent of a
# PE range "/dev/NAME:FIRST-LAST".
pe_off() {
	local dev=${1%%:*} pe=${1#*:}
	dev=${dev#/dev/} pe=${pe%-*}
	echo $((devoff[$dev] + pestart[$dev] + pe * ext))
}
pe_file() {
	local dev=${1%%:*}
	echo "${devfile[${dev#/dev/}]}"
}

# copy SRC SRCOFF DST DSTOFF LEN copies LEN bytes (or up to the end of SRC).
copy() {
	dd if="$1" of="$3" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$5" \
		oflag=seek_bytes seek="$4" conv=notrunc,sparse status=none
}

# segs VG LV prints the LV's segments from WORK/VG.segs.
segs() { awk -F '\t' -v lv="$2" '$1 == lv' "$work/$1.segs"; }

# lvsize VG LV prints the LV's size in bytes.
lvsize() { segs "$1" "$2" | awk -F '\t' -v e="$ext" '{ n += $3 } END { print n * e }'; }

# content VG LV prints the file that holds what is written onto VG/LV.
content() { mkdir -p "$work/lv/$1"; echo "$work/lv/$1/$2"; }

# write_lv VG LV [FILE] writes FILE (default: the LV's content file) onto a
# linear or striped LV, segment by segment.
write_lv() {
	local vg=$1 lv=$2 file=${3:-$(content "$1" "$2")} name start count type n ssize ranges i row
	local -a r
	while IFS=$'\t' read -r name start count type n ssize ranges; do
		read -ra r <<<"$ranges"
		case $type in
		linear)
			copy "$file" $((start * ext)) "$(pe_file "${r[0]}")" "$(pe_off "${r[0]}")" $((count * ext))
			;;
		striped)
			# Chunk i of the segment is chunk i div n of stripe i mod n.
			local -a off file_of
			for ((i = 0; i < n; i++)); do off[i]=$(pe_off "${r[i]}") file_of[i]=$(pe_file "${r[i]}"); done
			for ((i = 0; i < count * ext / ssize; i++)); do
				row=$((i / n))
				copy "$file" $((start * ext + i * ssize)) "${file_of[i % n]}" $((off[i % n] + row * ssize)) "$ssize"
			done
			;;
		*)
			log "write_lv: $vg/$lv has a $type segment"
			exit 1
			;;
		esac
	done < <(segs "$vg" "$lv")
}

# lv_disk_off VG LV prints the offset in its image file of an LV of one
# linear segment.
lv_disk_off() {
	local name start count type n ssize ranges
	if [ "$(segs "$1" "$2" | wc -l)" != 1 ]; then log "$1/$2 has several segments"; exit 1; fi
	IFS=$'\t' read -r name start count type n ssize ranges < <(segs "$1" "$2")
	[ "$type" = linear ] || { log "$1/$2 is $type"; exit 1; }
	pe_off "$ranges"
}

# rep N LINE writes N bytes of LINE repeated.
rep() { { yes "$2" || true; } | head -c "$1"; }

# dmname VG LV prints device-mapper's name of VG/LV.
dmname() { echo "${1//-/--}-${2//-/--}"; }

# list_at FILE OFFSET SIZE EXPECT writes the kernel's listing of the
# filesystem at OFFSET (bytes) of length SIZE in FILE.
list_at() {
	mount -o "ro,loop,offset=$2,sizelimit=$3" "$1" "$mnt"
	listing "$mnt" >"$4"
	umount "$mnt"
}

# list_lv NAME VG LV [LEG] writes NAME-DM.expect: the kernel's listing of
# the filesystem on VG/LV, read from the disk image where LEG (default: the
# LV itself) is one linear segment, else from the LV's content file.
list_lv() {
	local name=$1 vg=$2 lv=$3 leg=${4:-}
	local exp=$out/$name-$(dmname "$vg" "$lv").expect
	if [ -n "$leg" ]; then
		list_at "$(pe_file "$(segs "$vg" "$leg" | cut -f7)")" "$(lv_disk_off "$vg" "$leg")" "$(lvsize "$vg" "$lv")" "$exp"
	else
		list_at "$(content "$vg" "$lv")" 0 "$(lvsize "$vg" "$lv")" "$exp"
	fi
}

# mkfs_lv VG LV SRC UUID mke2fs-args... builds an ext4 filesystem the size
# of VG/LV from SRC as the LV's content file.
mkfs_lv() {
	local vg=$1 lv=$2 src=$3 uuid=$4 f
	shift 4
	f=$(content "$vg" "$lv")
	stamp "$src"
	mkext "$f" "$(($(lvsize "$vg" "$lv") / 1024))k" "$src" -t ext4 -b 4096 -U "$uuid" "$@"
	normalize "$f"
	fsck_check "$f"
}

# report NAME VG writes NAME.lvs, NAME.pvs, NAME.vgs, NAME-VG.vgcfg and
# NAME.sha256.
report() {
	local name=$1 vg=$2 lv type size f
	local lvf=vg_name,lv_name,lv_attr,lv_size,seg_start_pe,seg_size_pe,segtype,stripes,stripe_size,devices,seg_pe_ranges,lv_uuid
	local pvf=pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,dev_size,pe_start,pv_pe_count,pv_pe_alloc_count,pv_mda_count,pv_mda_size,pv_uuid
	local vgf=vg_name,vg_attr,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,pv_count,lv_count,vg_seqno,vg_mda_count,vg_uuid
	{ echo "# ${lvf//,/	}"; lvmr lvs -a --segments -o "$lvf" "$vg"; } >"$out/$name.lvs"
	{ echo "# ${pvf//,/	}"; lvmr pvs -o "$pvf"; } >"$out/$name.pvs"
	{ echo "# ${vgf//,/	}"; lvmr vgs -o "$vgf" "$vg"; } >"$out/$name.vgs"
	(cd "$work" && lvmc vgcfgbackup -f "$vg.vgcfg" "$vg" >/dev/null)
	sed 's/^\(creation_host = "[^"]*"\).*$/\1/' "$work/$vg.vgcfg" >"$out/$name-$vg.vgcfg"
	lvmr lvs -a -o lv_name,segtype "$vg" | sed 's/^\[\([^]]*\)\]/\1/' | sort -u >"$work/$vg.lvnames"
	while IFS=$'\t' read -r lv type; do
		f=$(content "$vg" "$lv")
		if [ "$type" = thin-pool ]; then
			# The pool device reads as its data LV (dm-thin's pool target
			# passes reads through to the data device).
			f=$(content "$vg" "$(segs "$vg" "$lv" | cut -f7 | cut -d: -f1)")
		fi
		size=$(lvsize "$vg" "$lv")
		if [ -e "$f" ]; then
			if [ "$(stat -c %s "$f")" != "$size" ]; then log "$vg/$lv: content is not $size bytes"; exit 1; fi
			sha256sum <"$f"
		else
			head -c "$size" /dev/zero | sha256sum
		fi | sed "s|-\$|$vg/$lv|"
	done <"$work/$vg.lvnames" >"$out/$name.sha256"
}

# finish_disk NAME SUFFIX IMG writes IMG into OUTDIR as NAME.SUFFIX.gz
# (and as NAME.SUFFIX with MKFIXTURES_RAW).
finish_disk() {
	if [ "$nogzip" != 1 ]; then gzip -9n <"$3" >"$out/$1.$2.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$3" "$out/$1.$2"; fi
}
# finish NAME img IMG writes disk 1 and forgets the image's devices.
finish() {
	finish_disk "$@"
	devloop=() devfile=() devoff=() pvargs=() pestart=()
	log "$1 done"
}

# gpt IMG DISKGUID PARTITION... writes a GPT (sfdisk's partition lines),
# and checks it with sgdisk -v.
LINUXFS=0FC63DAF-8483-4772-8E79-3D69D8477DE4
LINUXLVM=E6D6D379-F507-44C2-A23C-238F2A3DF928
gpt() {
	local img=$1 id=$2
	shift 2
	printf 'label: gpt\nlabel-id: %s\nunit: sectors\nfirst-lba: 34\n\n' "$id" >"$work/sfdisk.in"
	printf '%s\n' "$@" >>"$work/sfdisk.in"
	sfdisk -q --no-reread --no-tell-kernel "$img" <"$work/sfdisk.in" >/dev/null
	sgdisk -v "$img" >"$work/sgdisk.log" 2>&1
}

# parts NAME IMG writes NAME.parts.
parts() { (cd "$(dirname "$2")" && sfdisk --json "$(basename "$2")") >"$out/$1.parts"; }

# clean NAME removes NAME's old answer files.
clean() { rm -f "$out/$1".* "$out/$1"-*.expect "$out/$1"-*.vgcfg; }

# ---------------------------------------------------------------------------
build_gpt() {
	local name=lvm-gpt img=$work/lvm-gpt.img src=$work/lvm-gpt.src vg=vg0
	local boot_uuid=6c766d00-0000-4000-8000-000000000001
	local swap_uuid=6c766d00-0000-4000-8000-000000000002
	clean $name
	rm -f "$img"; truncate -s 64M "$img"
	gpt "$img" 6c766d00-0000-4000-8000-0000000000d0 \
		"start=2048, size=16384, type=$LINUXFS, uuid=6c766d00-0000-4000-8000-0000000000d1, name=boot" \
		"start=18432, size=110592, type=$LINUXLVM, uuid=6c766d00-0000-4000-8000-0000000000d2, name=lvm"
	attach sda2 "$img" $((18432 * 512)) $((54 << 20))
	pv sda2 GPTpv0-0000-0000-0000-0000-0000-000001
	lvmc vgcreate -s 1m $vg /dev/sda2 >/dev/null
	mklv -L 16m -n root $vg
	mklv -L 2m -n var $vg
	mklv -L 8m -n home $vg
	lvmc lvextend --driverloaded n -L +8m $vg/var >/dev/null
	mklv -L 4m -n swap $vg
	settle $vg

	rm -rf "$src"; mkdir -p "$src"/{boot/grub,root/etc,root/boot,root/var,root/home,root/usr/bin,root/root,var/log,var/lib/misc,var/cache,home/alice}
	echo "not a real kernel" >"$src/boot/vmlinuz-6.1.0-lvm"
	cat >"$src/boot/grub/grub.cfg" <<-EOF
		menuentry 'guest on LVM' {
			search --no-floppy --fs-uuid --set=root $boot_uuid
			linux /vmlinuz-6.1.0-lvm root=/dev/mapper/vg0-root ro
		}
	EOF
	cat >"$src/root/etc/fstab" <<-EOF
		# <file system>       <mount point> <type> <options>          <dump> <pass>
		/dev/mapper/vg0-root   /             ext4   errors=remount-ro  0      1
		UUID=$boot_uuid /boot ext4 defaults 0 2
		/dev/mapper/vg0-var    /var          ext4   defaults           0      2
		/dev/vg0/home          /home         ext4   defaults           0      2
		/dev/vg0/swap          none          swap   sw                 0      0
	EOF
	echo guest >"$src/root/etc/hostname"
	printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n' >"$src/root/etc/passwd"
	printf '#!/bin/sh\necho hello from the LVM guest\n' >"$src/root/usr/bin/hello"
	chmod 0755 "$src/root/usr/bin/hello"
	ln -s usr/bin "$src/root/bin"
	chmod 0700 "$src/root/root"
	gen 20000 syslog >"$src/var/log/syslog"
	# Enough data to lie past var's first segment (2 MiB, most of it the
	# start of the journal) in its second one.
	{ gen 8192 messages; rep $((3 << 20)) 'Jan  2 03:04:05 guest kernel: all is well'; gen 8192 tail; } >"$src/var/log/messages"
	echo 42 >"$src/var/lib/misc/counter"
	echo "Things to do: back up the photos" >"$src/home/alice/notes.txt"
	gen 30000 report >"$src/home/alice/report.txt"
	chown -R 1000:1000 "$src/home/alice"

	stamp "$src/boot"
	mkext "$work/boot.img" 8M "$src/boot" -t ext4 -L boot -U "$boot_uuid" \
		-E hash_seed=6c766d00-0000-4000-8000-0000000000a1
	normalize "$work/boot.img"; fsck_check "$work/boot.img"
	dd if="$work/boot.img" of="$img" bs=512 seek=2048 conv=notrunc,sparse status=none
	mkfs_lv $vg root "$src/root" 6c766d00-0000-4000-8000-000000000011 -L root -E hash_seed=6c766d00-0000-4000-8000-0000000000a2
	mkfs_lv $vg var "$src/var" 6c766d00-0000-4000-8000-000000000012 -L var -E hash_seed=6c766d00-0000-4000-8000-0000000000a3
	mkfs_lv $vg home "$src/home" 6c766d00-0000-4000-8000-000000000013 -L home -E hash_seed=6c766d00-0000-4000-8000-0000000000a4
	truncate -s "$(lvsize $vg swap)" "$(content $vg swap)"
	mkswap -q -U "$swap_uuid" -L swap "$(content $vg swap)"
	for lv in root var home swap; do write_lv $vg $lv; done

	report $name $vg
	detach
	parts $name "$img"
	list_at "$img" $((2048 * 512)) $((8 << 20)) "$out/$name-p1.expect"
	list_lv $name $vg root root
	list_lv $name $vg var
	list_lv $name $vg home home
	finish $name img "$img"
}

# ---------------------------------------------------------------------------
build_span() {
	local name=lvm-span img=$work/lvm-span.img img2=$work/lvm-span.disk2 src=$work/lvm-span.src vg=data-vg
	clean $name
	rm -f "$img" "$img2"; truncate -s 32M "$img" "$img2"
	gpt "$img" 6c766d00-0000-4000-8000-0000000001d0 \
		"start=2048, size=61440, type=$LINUXLVM, uuid=6c766d00-0000-4000-8000-0000000001d1, name=data"
	attach sda1 "$img" $((2048 * 512)) $((30 << 20))
	attach sdb "$img2" 0 $((32 << 20))
	pv sda1 SPANpv-0000-0000-0000-0000-0000-000001
	pv sdb SPANpv-0000-0000-0000-0000-0000-000002
	lvmc vgcreate -s 4m $vg /dev/sda1 /dev/sdb >/dev/null
	mklv -l 2 -n solo $vg /dev/sda1
	mklv -l 6 -i 2 -I 64k -n stripe-lv $vg /dev/sda1 /dev/sdb
	settle $vg

	rm -rf "$src"; mkdir -p "$src"/{solo/etc,stripe/data,stripe/more}
	echo "only on disk 1" >"$src/solo/etc/where"
	gen 5000 solo >"$src/solo/etc/blob"
	gen 200000 stripe >"$src/stripe/data/unique.txt"
	rep $((3 << 20)) 'a line repeated across many 64 KiB stripe chunks' >"$src/stripe/data/repeated.txt"
	for i in 1 2 3 4 5; do gen $((i * 3000)) "more$i" >"$src/stripe/more/f$i"; done
	mkfs_lv $vg solo "$src/solo" 6c766d00-0000-4000-8000-000000000111 -L solo -E hash_seed=6c766d00-0000-4000-8000-0000000001a1
	mkfs_lv $vg stripe-lv "$src/stripe" 6c766d00-0000-4000-8000-000000000112 -L stripe -E hash_seed=6c766d00-0000-4000-8000-0000000001a2
	write_lv $vg solo
	write_lv $vg stripe-lv

	report $name $vg
	detach
	parts $name "$img"
	list_lv $name $vg solo solo
	list_lv $name $vg stripe-lv
	finish_disk $name disk2 "$img2"
	finish $name img "$img"
}

# ---------------------------------------------------------------------------
build_raid() {
	local name=lvm-raid img=$work/lvm-raid.img src=$work/lvm-raid.src vg=vgraid lv i
	clean $name
	rm -f "$img"; truncate -s 64M "$img"
	sfdisk -q --no-reread --no-tell-kernel "$img" >/dev/null <<-EOF
		label: dos
		label-id: 0x6c766d02
		unit: sectors

		start=2048, size=53248, type=8e
		start=55296, size=53248, type=8e
		start=108544, size=16384, type=8e
	EOF
	attach sda1 "$img" $((2048 * 512)) $((53248 * 512))
	attach sda2 "$img" $((55296 * 512)) $((53248 * 512))
	attach sda3 "$img" $((108544 * 512)) $((16384 * 512))
	pv sda1 RAIDpv-0000-0000-0000-0000-0000-000001
	pv sda2 RAIDpv-0000-0000-0000-0000-0000-000002
	pv sda3 RAIDpv-0000-0000-0000-0000-0000-000003
	lvmc vgcreate -s 1m $vg /dev/sda1 /dev/sda2 /dev/sda3 >/dev/null
	# Placeholders, laid out as lvcreate --type raid1 -m 1, --type mirror
	# -m 1 and --type raid5 -i 2 would: metadata or log, then the image,
	# each leg on its own PV.
	mklv -l 1 -n ra0 $vg /dev/sda1
	mklv -l 8 -n ri0 $vg /dev/sda1
	mklv -l 1 -n ra1 $vg /dev/sda2
	mklv -l 8 -n ri1 $vg /dev/sda2
	mklv -l 1 -n ml $vg /dev/sda1
	mklv -l 8 -n mi0 $vg /dev/sda1
	mklv -l 8 -n mi1 $vg /dev/sda2
	for i in 0 1 2; do
		mklv -l 1 -n "5a$i" $vg "/dev/sda$((i + 1))"
		mklv -l 4 -n "5i$i" $vg "/dev/sda$((i + 1))"
	done
	{
		lvsection r1 8 raid1 device_count=2 region_size=4096 \
			'raids=[
					"r1_rmeta_0", "r1_rimage_0",
					"r1_rmeta_1", "r1_rimage_1"
				]'
		lvsection m1 8 mirror mirror_count=2 'mirror_log="m1_mlog"' region_size=4096 \
			'mirrors=[
					"m1_mimage_0", 0,
					"m1_mimage_1", 0
				]'
		lvsection r5 8 raid5 device_count=3 region_size=4096 stripe_size=128 \
			'raids=[
					"r5_rmeta_0", "r5_rimage_0",
					"r5_rmeta_1", "r5_rimage_1",
					"r5_rmeta_2", "r5_rimage_2"
				]'
	} | sed 's/^\(\t*[a-z_]*\)=/\1 = /' >"$work/raid.add"
	settle $vg "hide ra0=r1_rmeta_0 ri0=r1_rimage_0 ra1=r1_rmeta_1 ri1=r1_rimage_1 ml=m1_mlog mi0=m1_mimage_0 mi1=m1_mimage_1 \
		5a0=r5_rmeta_0 5i0=r5_rimage_0 5a1=r5_rmeta_1 5i1=r5_rimage_1 5a2=r5_rmeta_2 5i2=r5_rimage_2 | addlvs $work/raid.add"

	rm -rf "$src"; mkdir -p "$src"/{r1/docs,m1/docs,r5/data}
	echo "on a raid1 LV" >"$src/r1/docs/readme"
	gen 150000 raid1 >"$src/r1/docs/blob"
	echo "on a mirror LV" >"$src/m1/docs/readme"
	gen 90000 mirror >"$src/m1/docs/blob"
	echo "on a raid5 LV" >"$src/r5/data/readme"
	gen 100000 raid5 >"$src/r5/data/blob"
	rep $((2 << 20)) 'raid5: data chunks rotate around the parity' >"$src/r5/data/repeated"
	mkfs_lv $vg r1 "$src/r1" 6c766d00-0000-4000-8000-000000000211 -L r1 -E hash_seed=6c766d00-0000-4000-8000-0000000002a1
	mkfs_lv $vg m1 "$src/m1" 6c766d00-0000-4000-8000-000000000212 -L m1 -E hash_seed=6c766d00-0000-4000-8000-0000000002a2
	mkfs_lv $vg r5 "$src/r5" 6c766d00-0000-4000-8000-000000000213 -L r5 -E hash_seed=6c766d00-0000-4000-8000-0000000002a3
	for lv in r1_rimage_0 r1_rimage_1; do cp --sparse=always "$(content $vg r1)" "$(content $vg $lv)"; write_lv $vg $lv; done
	for lv in m1_mimage_0 m1_mimage_1; do cp --sparse=always "$(content $vg m1)" "$(content $vg $lv)"; write_lv $vg $lv; done
	raid5_ls "$(content $vg r5)" $((64 << 10)) "$(content $vg r5_rimage_0)" "$(content $vg r5_rimage_1)" "$(content $vg r5_rimage_2)"
	for i in 0 1 2; do write_lv $vg r5_rimage_$i; done

	report $name $vg
	detach
	parts $name "$img"
	list_lv $name $vg r1 r1_rimage_0
	list_lv $name $vg m1 m1_mimage_1
	list_lv $name $vg r5
	finish $name img "$img"
}

# raid5_ls SRC CHUNK LEG... splits SRC over the legs of a raid5 array in
# md's left-symmetric layout (lvm2's raid5, raid5_ls), with parity. There
# is no md or device-mapper here to lay it out, so this follows md's
# documented rules: with n legs, stripe row r keeps its parity chunk on leg
# (n - 1) - (r mod n), and its n - 1 data chunks (chunks r(n-1) ... of SRC)
# on the legs after the parity leg, in order, wrapping around; the parity
# is the XOR of the row's data chunks.
raid5_ls() {
	python3 - "$@" <<-'EOF'
		import sys
		src, chunk, legs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
		n = len(legs)
		data = open(src, "rb").read()
		rows = len(data) // (chunk * (n - 1))
		if rows * chunk * (n - 1) != len(data):
		    sys.exit("raid5_ls: %s is not a whole number of stripe rows" % src)
		out = [bytearray(rows * chunk) for _ in legs]
		for r in range(rows):
		    pd = (n - 1) - r % n
		    parity = 0
		    for j in range(n - 1):
		        c = data[(r * (n - 1) + j) * chunk:(r * (n - 1) + j + 1) * chunk]
		        out[(pd + 1 + j) % n][r * chunk:(r + 1) * chunk] = c
		        parity ^= int.from_bytes(c, "little")
		    out[pd][r * chunk:(r + 1) * chunk] = parity.to_bytes(chunk, "little")
		for name, leg in zip(legs, out):
		    with open(name, "wb") as f:
		        f.write(leg)
	EOF
}

# ---------------------------------------------------------------------------
# chunks FILE SIZE prints the indexes of the SIZE-byte chunks of FILE that
# hold a byte other than zero.
chunks() {
	local f=$1 size=$2 n i
	n=$(($(stat -c %s "$f") / size))
	for ((i = 0; i < n; i++)); do
		cmp -s -n "$size" -i "$((i * size)):0" "$f" /dev/zero || echo "$i"
	done
}

build_thin() {
	local name=lvm-thin img=$work/lvm-thin.img src=$work/lvm-thin.src vg=vgthin
	local chunk=$((64 << 10)) lv id v d i n
	clean $name
	rm -f "$img"; truncate -s 64M "$img"
	gpt "$img" 6c766d00-0000-4000-8000-0000000003d0 \
		"start=2048, size=126976, type=$LINUXLVM, uuid=6c766d00-0000-4000-8000-0000000003d1, name=thin"
	attach sda1 "$img" $((2048 * 512)) $((62 << 20))
	pv sda1 THINpv-0000-0000-0000-0000-0000-000001
	lvmc vgcreate -s 1m $vg /dev/sda1 >/dev/null
	# Placeholders, as lvcreate --type thin-pool -L 40m --chunksize 64k
	# lays them out: the spare for repairs, then metadata and data.
	mklv -l 4 -n spare $vg
	mklv -l 4 -n tmeta $vg
	mklv -l 40 -n tdata $vg
	{
		lvsection pool 40 thin-pool 'metadata="pool_tmeta"' 'pool="pool_tdata"' transaction_id=2 \
			chunk_size=$((chunk / 512)) 'discards="passdown"' zero_new_blocks=1
		lvsection thin1 48 thin 'thin_pool="pool"' transaction_id=0 device_id=1
		lvsection thin2 20 thin 'thin_pool="pool"' transaction_id=1 device_id=2
	} | sed 's/^\(\t*[a-z_]*\)=/\1 = /' >"$work/thin.add"
	settle $vg "hide spare=lvol0_pmspare tmeta=pool_tmeta tdata=pool_tdata | addlvs $work/thin.add" --force

	rm -rf "$src"; mkdir -p "$src"/{thin1/projects,thin2/build}
	echo "thin volume one" >"$src/thin1/projects/readme"
	gen 120000 thin1 >"$src/thin1/projects/blob"
	# Over 254 chunks, so that thin1's mapping tree needs more than one leaf.
	rep $((22 << 20)) 'thin one, over-provisioned' >"$src/thin1/projects/repeated"
	echo "thin volume two" >"$src/thin2/build/readme"
	gen 70000 thin2 >"$src/thin2/build/blob"
	mkfs_lv $vg thin1 "$src/thin1" 6c766d00-0000-4000-8000-000000000311 -L thin1 -E hash_seed=6c766d00-0000-4000-8000-0000000003a1
	mkfs_lv $vg thin2 "$src/thin2" 6c766d00-0000-4000-8000-000000000312 -L thin2 -E hash_seed=6c766d00-0000-4000-8000-0000000003a2

	# Map the non-zero chunks of both thin LVs to pool blocks taken in a
	# scrambled order (block (k * 37 + 11) mod N for the k-th chunk
	# mapped, alternating between the LVs: a permutation, as N is not a
	# multiple of 37), write each chunk there in the data LV, and describe
	# the mapping for thin_restore.
	local nblocks=$(($(lvsize $vg pool_tdata) / chunk)) tdata meta
	tdata=$(content $vg pool_tdata) meta=$(content $vg pool_tmeta)
	rm -f "$tdata"; truncate -s "$(lvsize $vg pool_tdata)" "$tdata"
	chunks "$(content $vg thin1)" $chunk >"$work/thin1.chunks"
	chunks "$(content $vg thin2)" $chunk >"$work/thin2.chunks"
	awk -v N="$nblocks" '
		FNR == 1 { dev++ }
		{ v[dev, FNR] = $1; n[dev] = FNR }
		END {
			k = 0
			for (i = 1; i <= n[1] || i <= n[2]; i++)
				for (d = 1; d <= 2; d++)
					if (i <= n[d]) { printf "%d %d %d\n", d, v[d, i], (k * 37 + 11) % N; k++ }
			if (k > N || N % 37 == 0) { print "mklvm: pool too small, or N a multiple of 37" > "/dev/stderr"; exit 1 }
		}' "$work/thin1.chunks" "$work/thin2.chunks" >"$work/thin.map"
	while read -r d v i; do
		copy "$(content $vg thin$d)" $((v * chunk)) "$tdata" $((i * chunk)) $chunk
	done <"$work/thin.map"
	{
		printf '<superblock uuid="" time="0" transaction="2" data_block_size="%d" nr_data_blocks="%d">\n' $((chunk / 512)) "$nblocks"
		for d in 1 2; do
			n=$(awk -v d=$d '$1 == d' "$work/thin.map" | wc -l)
			printf '  <device dev_id="%d" mapped_blocks="%d" transaction="%d" creation_time="0" snap_time="0">\n' $d "$n" $((d - 1))
			awk -v d=$d '$1 == d { printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>\n", $2, $3 }' "$work/thin.map"
			printf '  </device>\n'
		done
		printf '</superblock>\n'
	} >"$work/thin.xml"
	rm -f "$meta"; truncate -s "$(lvsize $vg pool_tmeta)" "$meta"
	thin_restore -q -i "$work/thin.xml" -o "$meta"
	thin_dump "$meta" >"$work/thin.dump"
	write_lv $vg pool_tmeta
	write_lv $vg pool_tdata

	report $name $vg
	detach
	parts $name "$img"
	list_lv $name $vg thin1
	list_lv $name $vg thin2
	finish $name img "$img"
}

# ---------------------------------------------------------------------------
# wrapped DEV reports whether the current metadata text in the first
# metadata area of PV DEV runs past the end of the area (the mda header is
# at the area's start: its size at byte 32, the first raw location's offset
# and size at bytes 40 and 48).
wrapped() {
	local f=${devfile[$1]} base=$((devoff[$1] + 4096)) size off len
	read -r size off len < <(od -An -w24 -t u8 -j $((base + 32)) -N 24 "$f")
	[ $((off + len)) -gt "$size" ]
}

build_wrap() {
	local name=lvm-wrap img=$work/lvm-wrap.img src=$work/lvm-wrap.src vg=vgring i
	clean $name
	rm -f "$img"; truncate -s 16M "$img"
	attach sda "$img" 0 $((16 << 20))
	pv sda WRAPpv-0000-0000-0000-0000-0000-000001 --dataalignment 4k --metadatasize 32k
	lvmc vgcreate -s 1m $vg /dev/sda >/dev/null
	mklv -l 6 -n data $vg
	for i in 1 2 3 4 5 6; do mklv -l 1 -n "volume-with-a-rather-long-name-$i" $vg; done
	settle $vg

	rm -rf "$src"; mkdir -p "$src/data"
	echo "metadata wrapped around" >"$src/data/readme"
	gen 40000 wrap >"$src/data/blob"
	mkfs_lv $vg data "$src/data" 6c766d00-0000-4000-8000-000000000411 -L data -E hash_seed=6c766d00-0000-4000-8000-0000000004a1
	write_lv $vg data

	# Change the VG until its current metadata wraps around the end of
	# the area: rename the long-named LVs back and forth, and remove two.
	for ((i = 0; i < 60; i++)); do
		if wrapped sda; then break; fi
		case $((i % 3)) in
		0) lvmc lvrename --driverloaded n $vg "volume-with-a-rather-long-name-$((i % 6 + 1))" "renamed-$i" >/dev/null ;;
		1) lvmc lvrename --driverloaded n $vg "renamed-$((i - 1))" "volume-with-a-rather-long-name-$(((i - 1) % 6 + 1))" >/dev/null ;;
		2) if [ $i = 5 ] || [ $i = 11 ]; then lvmc lvremove --driverloaded n -y "$vg/volume-with-a-rather-long-name-$((i / 6 + 5))" >/dev/null; fi ;;
		esac
	done
	if ! wrapped sda; then log "$name: the metadata never wrapped around its area"; exit 1; fi
	geometry $vg

	report $name $vg
	detach
	list_lv $name $vg data data
	finish $name img "$img"
}

for t in pvcreate vgcreate lvcreate lvextend lvrename lvremove lvs pvs vgs vgcfgbackup vgcfgrestore \
	thin_restore thin_dump losetup unshare sgdisk sfdisk mkswap python3; do
	if ! command -v $t >/dev/null 2>&1; then log "needs $t"; exit 1; fi
done
if ! unshare -m -u true 2>/dev/null; then log "needs mount and UTS namespaces (unshare -m -u)"; exit 1; fi
# mkguest.sh sources this file for its helpers: it builds its own images.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi
want lvm-gpt && build_gpt
want lvm-span && build_span
want lvm-raid && build_raid
want lvm-thin && build_thin
want lvm-wrap && build_wrap
exit 0
