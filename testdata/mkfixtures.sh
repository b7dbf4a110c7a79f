#!/bin/bash
# mkfixtures.sh builds vmsh's test disk images with real tools and lists every
# filesystem in them through the Linux kernel, which is the oracle the Go tests
# compare vmsh's reading against.
#
# Usage: mkfixtures.sh [OUTDIR]        (default: testdata)
#
# Needs root (mknod, chown, loop mounts), e2fsprogs (mke2fs, e2fsck, debugfs),
# sfdisk, sgdisk, mkswap, gzip, sha256sum; faketime if present (fixed creation
# times, so images are reproducible byte for byte as far as the tools allow).
# mklvm.sh, called at the end, also needs lvm2 and thin-provisioning-tools;
# mkguest.sh also dosfstools and mtools.
#
# For every image NAME it writes into OUTDIR:
#   NAME.img.gz          the disk image (gzip -9n)
#   NAME.expect          the kernel's listing of a filesystem that fills the disk
#   NAME-pN.expect       the kernel's listing of the filesystem in partition N
#   NAME.parts           `sfdisk --json` of a partitioned disk
# The .expect format is described in its first line (see HEADER below).
#
# Environment:
#   MKFIXTURES_ONLY="a b"  build only the named images
#   MKFIXTURES_QUICK=1     smaller big directories (for quick test runs)
#   MKFIXTURES_RAW=1       also keep the uncompressed images as NAME.img
#   MKFIXTURES_NOGZIP=1    do not write NAME.img.gz (implies MKFIXTURES_RAW=1)
set -euo pipefail

source "$(dirname "$0")/lib.sh"

# fsck IMG re-indexes directories (htree) and checks the result.
fsck_index() {
	local rc=0
	fake e2fsck -fyD "$1" >/dev/null 2>&1 || rc=$?
	if [ $rc -gt 1 ]; then log "e2fsck -fyD $1: exit $rc"; exit 1; fi
}
# list IMG OFFSET SIZE EXPECT writes the kernel's listing of the filesystem at
# OFFSET (bytes) of length SIZE in IMG.
list() {
	local img=$1 off=$2 size=$3 expect=$4
	mount -o "ro,loop,offset=$off,sizelimit=$size" "$img" "$mnt"
	listing "$mnt" >"$expect"
	umount "$mnt"
}

# finish NAME IMG compresses IMG into OUTDIR.
finish() {
	local name=$1 img=$2
	if [ "$nogzip" != 1 ]; then gzip -9n <"$img" >"$out/$name.img.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$img" "$out/$name.img"; fi
	log "$name done"
}

# parts NAME IMG lists a partitioned image's table and every filesystem in it.
# Partitions holding no ext filesystem get no .expect file.
parts() {
	local name=$1 img=$2 n start size type
	(cd "$(dirname "$img")" && sfdisk --json "$(basename "$img")") >"$out/$name.parts"
	rm -f "$out/$name"-p*.expect
	sfdisk -d "$img" | sed -n 's/^[^:]*[^0-9]\([0-9]\{1,\}\) : start= *\([0-9]*\), size= *\([0-9]*\), type=\([^,]*\).*/\1 \2 \3 \4/p' |
		while read -r n start size type; do
			if blkid -p -o value -s TYPE -O $((start * 512)) "$img" 2>/dev/null | grep -q '^ext[234]$'; then
				list "$img" $((start * 512)) $((size * 512)) "$out/$name-p$n.expect"
			fi
		done
}

# ---------------------------------------------------------------------------
# ext2-1k: ext2 with 1 KiB blocks and 128-byte inodes; files that need
# indirect, double-indirect and (sparse) triple-indirect blocks.
build_ext2_1k() {
	local src=$work/ext2-1k.src img=$work/ext2-1k.img
	rm -rf "$src"; mkdir -p "$src/dir/sub"
	echo "hello from ext2" >"$src/hello.txt"
	gen 12288 direct >"$src/direct.bin"          # exactly the 12 direct blocks
	gen 102400 indirect >"$src/indirect.bin"     # direct + single indirect
	gen 409600 double >"$src/double.bin"         # reaches the double-indirect tree
	# Sparse: data in the direct, indirect, double- and triple-indirect ranges
	# (the triple-indirect range starts at 12+256+65536 blocks = 65804 KiB).
	local f=$src/triple.bin
	: >"$f"
	put "$f" 0 3000 t0
	put "$f" $((200 * 1024)) 5000 t1
	put "$f" $((20 * 1024 * 1024 + 100)) 4000 t2
	put "$f" $((66 * 1024 * 1024)) 70000 t3
	put "$f" $((80 * 1024 * 1024 - 1500)) 1500 t4
	truncate -s $((80 * 1024 * 1024)) "$f"
	echo "nested" >"$src/dir/sub/file"
	ln -s ../hello.txt "$src/dir/hello-link"
	: >"$src/dir/empty"
	chmod 0700 "$src/dir/sub"
	stamp "$src"
	touch -d "$T_OLD" "$src/double.bin"
	mkext "$img" 6M "$src" -t ext2 -b 1024 -I 128 -N 64 -L ext2-1k \
		-U 11111111-2222-4333-8444-000000000001 -E hash_seed=11111111-2222-4333-8444-0000000000a1
	normalize "$img"
	fsck_check "$img"
	list "$img" 0 "$(stat -c %s "$img")" "$out/ext2-1k.expect"
	finish ext2-1k "$img"
}

# ext3-htree: ext3 (journal, no extents) with an htree-indexed directory of a
# few thousand entries (two index levels with 1 KiB blocks).
build_ext3_htree() {
	local src=$work/ext3-htree.src img=$work/ext3-htree.img n=4000 i
	[ "$quick" = 1 ] && n=1500
	rm -rf "$src"; mkdir -p "$src/big" "$src/small"
	(
		cd "$src/big"
		for ((i = 0; i < n; i++)); do
			printf -v name 'entry-%05d-with-a-longish-name-for-more-blocks' "$i"
			if ((i % 100 == 0)); then echo "file $i" >"$name"; else : >"$name"; fi
		done
		mkdir subdir-a subdir-b
		echo inside >subdir-a/file
	)
	for i in 1 2 3; do echo "small $i" >"$src/small/f$i"; done
	echo "ext3 readme" >"$src/README"
	stamp "$src"
	mkext "$img" 8M "$src" -t ext3 -b 1024 -I 256 -N $((n + 100)) -L ext3-htree -J size=1 \
		-U 11111111-2222-4333-8444-000000000002 -E hash_seed=11111111-2222-4333-8444-0000000000a2
	fsck_index "$img"
	normalize "$img"
	fsck_check "$img"
	list "$img" 0 "$(stat -c %s "$img")" "$out/ext3-htree.expect"
	finish ext3-htree "$img"
}

# ext4: ext4 defaults with many kinds of entries.
build_ext4() {
	local src=$work/ext4.src img=$work/ext4.img n=20000 i d f
	[ "$quick" = 1 ] && n=3000
	rm -rf "$src"; mkdir -p "$src"
	cd "$src"
	echo "hello, ext4" >hello.txt
	: >empty

	# Regular files of sizes around block boundaries.
	mkdir files
	for i in 1 4095 4096 4097 65536 1048577; do gen $i "size$i" >"files/size-$i"; done

	# Sparse files: holes at the start, the middle and the end; a file over
	# 4 GiB with a few blocks; a fragmented file whose extent tree has depth 2.
	mkdir sparse
	f=sparse/hole-start; : >$f; put $f $((1024 * 1024)) 10000 hs
	f=sparse/hole-middle; : >$f; put $f 0 9000 hm0; put $f $((3 * 1024 * 1024 + 17)) 9000 hm1
	f=sparse/hole-end; : >$f; put $f 0 5000 he; truncate -s $((2 * 1024 * 1024)) $f
	f=sparse/all-hole; truncate -s 100000 $f
	printf 'preallocated\n' >sparse/prealloc   # blocks 1-30 become unwritten extents below
	mkdir huge
	f=huge/over-4g; : >$f
	put $f 0 4096 g0
	put $f $((2 * 1024 * 1024 * 1024 + 4096)) 4096 g1
	put $f $((4 * 1024 * 1024 * 1024)) 8192 g2
	f=sparse/fragmented; : >$f
	fragment "$f"

	# Names.
	mkdir names
	printf -v d '%255s' ''; d=${d// /a}; echo long >"names/$d"
	d=''; for ((i = 0; i < 127; i++)); do d+='é'; done; echo "254 bytes of two-byte runes and x" >"names/${d}x"
	d=''; for ((i = 0; i < 85; i++)); do d+='日'; done; echo "85 three-byte runes" >"names/$d"
	echo unicode >'names/héllo wörld.txt'
	echo cjk >'names/日本語のファイル'
	echo emoji >'names/emoji-😀-🚀'
	echo dots >'names/..dots..'
	echo space >'names/ leading space'
	echo star >'names/star*?[x]'

	# Symlinks: fast (target < 60 bytes, kept in the inode) and slow.
	mkdir links
	ln -s ../hello.txt links/fast
	ln -s /hello.txt links/absolute
	ln -s ../names links/to-dir
	ln -s does-not-exist links/dangling
	ln -s ../files/../files/../files/../files/../files/../files/size-1 links/slow   # 60 bytes
	# 59 bytes is the longest target kept in the inode, 60 the shortest outside.
	d=../files/; for ((i = 0; i < 22; i++)); do d+=./; done
	ln -s "${d}size-1" links/len-59
	ln -s "${d}./size-1" links/len-61
	ln -s "${d}size-4096" links/len-62
	d=''; for ((i = 0; i < 40; i++)); do d+='d/'; done
	ln -s "../deep/${d}leaf.txt" links/very-slow
	ln -s fast links/chain
	ln -s loop-b links/loop-a
	ln -s loop-a links/loop-b

	# Hard links.
	mkdir hard
	echo "three names" >hard/a
	ln hard/a hard/b
	ln hard/a files/hard-a

	# Deep nesting.
	d=deep; for ((i = 0; i < 40; i++)); do d+=/d; done
	mkdir -p "$d"; echo leaf >"$d/leaf.txt"

	# A big directory.
	mkdir big
	(
		cd big
		for ((i = 0; i < n; i++)); do
			printf -v f 'f%05d' "$i"
			: >"$f"
		done
		echo "content" >f00042
	)

	# Owners beyond 16 bits.
	mkdir owners
	echo x >owners/uid100000; chown 100000:200000 owners/uid100000
	echo x >owners/uid65536; chown 65536:65537 owners/uid65536
	echo x >owners/max; chown 4294967294:4294967294 owners/max
	mkdir owners/dir; chown 123456:654321 owners/dir

	# Special files.
	mkdir special
	mkfifo special/fifo
	mknod special/null c 1 3
	mknod special/sda1 b 8 1
	mknod special/bigdev c 300 70000
	mknod special/bigblk b 4095 1048575
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' special/socket
	fi

	# Modes.
	mkdir modes
	for m in 4755 2755 6711 1755 0000 0600 0444; do echo "mode $m" >"modes/m$m"; chmod "$m" "modes/m$m"; done
	mkdir modes/sticky-dir modes/setgid-dir modes/closed-dir
	chmod 1777 modes/sticky-dir; chmod 2775 modes/setgid-dir; chmod 0 modes/closed-dir

	# Times (nanoseconds are set with debugfs below).
	mkdir times
	for f in ns ns-dir y2040 pre1970 epoch; do echo "$f" >"times/$f"; done
	rm times/ns-dir; mkdir times/ns-dir

	cd - >/dev/null
	stamp "$src"
	touch -d '1969-12-31 23:00:00' "$src/times/pre1970"
	touch -d '1970-01-01 00:00:00' "$src/times/epoch"
	touch -h -d "$T_OLD" "$src/links/fast" "$src/special/fifo"

	mkext "$img" 64M "$src" -t ext4 -b 4096 -I 256 -N $((n + 1000)) -L ext4-fixture \
		-U 11111111-2222-4333-8444-000000000003 -E hash_seed=11111111-2222-4333-8444-0000000000a3
	fsck_index "$img"
	normalize "$img"
	cat >"$work/ext4.cmds" <<-EOF
		sif /times/ns mtime_extra $((123456789 << 2))
		sif /times/ns-dir mtime_extra $((999999999 << 2))
		sif /hello.txt mtime_extra $((1 << 2))
		sif /times/y2040 mtime 20400229123456
		sif /times/y2040 mtime_extra $(((500000000 << 2) | 1))
		sif /times/pre1970 mtime_extra $((250000000 << 2))
	EOF
	dbg "$img" "$work/ext4.cmds"
	# Unwritten (uninitialized) extents within the file size, over blocks
	# filled with junk: they must read as zeros.
	printf 'fallocate /sparse/prealloc 1 30\nsif /sparse/prealloc size %d\n' $((25 * 4096 + 123)) >"$work/ext4-prealloc.cmds"
	dbg "$img" "$work/ext4-prealloc.cmds"
	fake debugfs -R "dump_extents /sparse/prealloc" "$img" 2>/dev/null |
		awk '$NF == "Uninit" { print $(NF-4), $(NF-1) }' >"$work/uninit"
	if [ ! -s "$work/uninit" ]; then log "no unwritten extents in /sparse/prealloc"; exit 1; fi
	while read -r pstart plen; do
		gen $((plen * 4096)) junk | dd of="$img" bs=4096 seek="$pstart" conv=notrunc status=none
	done <"$work/uninit"
	fsck_check "$img"
	list "$img" 0 "$(stat -c %s "$img")" "$out/ext4.expect"
	finish ext4 "$img"
}

# fragment FILE writes a file with data in every other 4 KiB block (1500
# data blocks), so its extent tree needs more than one level of index.
fragment() {
	local f=$1 i
	for ((i = 0; i < 1500; i++)); do
		printf 'block %d of a fragmented file\n' $((2 * i)) |
			dd of="$f" bs=4096 seek=$((2 * i)) conv=notrunc status=none
	done
	truncate -s $((3000 * 4096 - 100)) "$f"
}

# whole-disk: a small ext4 with no partition table.
build_whole_disk() {
	local src=$work/whole-disk.src img=$work/whole-disk.img
	rm -rf "$src"; mkdir -p "$src/etc" "$src/data"
	echo "whole" >"$src/etc/hostname"
	gen 20000 whole >"$src/data/blob"
	ln -s ../etc/hostname "$src/data/link"
	stamp "$src"
	mkext "$img" 8M "$src" -t ext4 -L whole-disk \
		-U 11111111-2222-4333-8444-000000000004 -E hash_seed=11111111-2222-4333-8444-0000000000a4
	normalize "$img"
	fsck_check "$img"
	list "$img" 0 "$(stat -c %s "$img")" "$out/whole-disk.expect"
	finish whole-disk "$img"
}

# place DISK START_SECTOR FSIMG copies a filesystem image into a disk image.
place() {
	dd if="$3" of="$1" bs=512 seek="$2" conv=notrunc,sparse status=none
}

# gpt-disk: GPT with a BIOS boot partition, ext4, ext2 (labelled), an unused
# entry and swap.
build_gpt_disk() {
	local src=$work/gpt.src img=$work/gpt-disk.img
	rm -rf "$src"; mkdir -p "$src/root/etc" "$src/data/docs"
	echo "gpt root" >"$src/root/etc/hostname"
	gen 50000 gptroot >"$src/root/blob"
	echo "data partition" >"$src/data/docs/readme.txt"
	gen 3000 gptdata >"$src/data/docs/blob"
	stamp "$src"
	mkext "$work/gpt-p2.img" 16M "$src/root" -t ext4 -L gptroot \
		-U 11111111-2222-4333-8444-000000000005 -E hash_seed=11111111-2222-4333-8444-0000000000a5
	mkext "$work/gpt-p3.img" 8M "$src/data" -t ext2 -L gptdata \
		-U 11111111-2222-4333-8444-000000000006 -E hash_seed=11111111-2222-4333-8444-0000000000a6
	normalize "$work/gpt-p2.img"; fsck_check "$work/gpt-p2.img"
	normalize "$work/gpt-p3.img"; fsck_check "$work/gpt-p3.img"
	rm -f "$img"; truncate -s 40M "$img"
	rm -f "$work/swap.img"; truncate -s 4M "$work/swap.img"
	mkswap -q -U 11111111-2222-4333-8444-000000000007 -L gptswap "$work/swap.img"
	LC_ALL=C.UTF-8 sgdisk -o -U 22222222-3333-4444-8555-000000000000 \
		-n 1:2048:+1M -t 1:ef02 -c 1:bios -u 1:22222222-3333-4444-8555-000000000001 \
		-n 2:4096:+16M -t 2:8300 -c 2:root -u 2:22222222-3333-4444-8555-000000000002 -A 2:set:2 \
		-n 3:36864:+8M -t 3:8300 -c 3:"data ünïcode" -u 3:22222222-3333-4444-8555-000000000003 \
		-n 5:53248:+4M -t 5:8200 -c 5:swap -u 5:22222222-3333-4444-8555-000000000005 \
		"$img" >"$work/sgdisk.log" 2>&1
	place "$img" 4096 "$work/gpt-p2.img"
	place "$img" 36864 "$work/gpt-p3.img"
	place "$img" 53248 "$work/swap.img"
	sgdisk -v "$img" >"$work/sgdisk.log" 2>&1
	parts gpt-disk "$img"
	finish gpt-disk "$img"
}

# mbr-disk: MBR with two primaries, an extended partition and three logicals.
build_mbr_disk() {
	local src=$work/mbr.src img=$work/mbr-disk.img i
	rm -rf "$src"
	for i in 1 2 5 6 7; do
		mkdir -p "$src/p$i/dir"
		echo "partition $i" >"$src/p$i/which"
		gen $((i * 1000)) "mbr$i" >"$src/p$i/dir/blob"
	done
	stamp "$src"
	mkext "$work/mbr-p1.img" 4M "$src/p1" -t ext4 -L mbr-one \
		-U 11111111-2222-4333-8444-000000000011 -E hash_seed=11111111-2222-4333-8444-0000000000b1
	mkext "$work/mbr-p2.img" 4M "$src/p2" -t ext3 -L mbr-two \
		-U 11111111-2222-4333-8444-000000000012 -E hash_seed=11111111-2222-4333-8444-0000000000b2
	mkext "$work/mbr-p5.img" 3M "$src/p5" -t ext2 -L mbr-five \
		-U 11111111-2222-4333-8444-000000000015 -E hash_seed=11111111-2222-4333-8444-0000000000b5
	# meta_bg with small groups: group descriptors spread over the disk.
	mkext "$work/mbr-p6.img" 8M "$src/p6" -t ext4 -b 1024 -g 256 -N 512 -O meta_bg,^resize_inode -L mbr-six \
		-U 11111111-2222-4333-8444-000000000016 -E hash_seed=11111111-2222-4333-8444-0000000000b6
	mkext "$work/mbr-p7.img" 2M "$src/p7" -t ext2 -b 1024 -I 128 -L mbr-seven \
		-U 11111111-2222-4333-8444-000000000017 -E hash_seed=11111111-2222-4333-8444-0000000000b7
	for i in 1 2 5 6 7; do normalize "$work/mbr-p$i.img"; fsck_check "$work/mbr-p$i.img"; done
	rm -f "$img"; truncate -s 32M "$img"
	sfdisk -q --no-reread --no-tell-kernel "$img" >/dev/null <<-EOF
		label: dos
		label-id: 0x5eed1234
		unit: sectors

		start=2048, size=8192, type=83, bootable
		start=10240, size=8192, type=83
		start=20480, size=40960, type=5
		start=22528, size=6144, type=83
		start=30720, size=16384, type=83
		start=49152, size=4096, type=83
		start=55296, size=6144, type=82
	EOF
	place "$img" 2048 "$work/mbr-p1.img"
	place "$img" 10240 "$work/mbr-p2.img"
	place "$img" 22528 "$work/mbr-p5.img"
	place "$img" 30720 "$work/mbr-p6.img"
	place "$img" 49152 "$work/mbr-p7.img"
	rm -f "$work/mbr-swap.img"; truncate -s 3M "$work/mbr-swap.img"
	mkswap -q -U 11111111-2222-4333-8444-000000000018 -L mbr-swap "$work/mbr-swap.img"
	place "$img" 55296 "$work/mbr-swap.img"
	parts mbr-disk "$img"
	finish mbr-disk "$img"
}

# sample: the guest disk built into vmsh: GPT with /boot, / and swap.
build_sample() {
	local src=$work/sample.src img=$work/sample.img r b
	local root_uuid=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e01
	local boot_uuid=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e02
	local swap_uuid=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e03
	rm -rf "$src"
	r=$src/root b=$src/boot
	mkdir -p "$r"/{etc,home/alice/Documents,home/alice/.config,root,var/log,var/tmp,tmp,usr/bin,usr/lib,usr/share/zoneinfo/Etc,boot,dev,proc,sys,run,mnt}
	mkdir -p "$b/grub"
	cat >"$r/etc/fstab" <<-EOF
		# /etc/fstab: static file system information.
		#
		# <file system>                            <mount point> <type> <options>          <dump> <pass>
		UUID=$root_uuid  /             ext4   errors=remount-ro  0      1
		LABEL=boot                                 /boot         ext4   defaults,noatime   0      2
		UUID=$swap_uuid  none          swap   sw                 0      0
		tmpfs                                      /tmp          tmpfs  defaults           0      0
	EOF
	echo "sample" >"$r/etc/hostname"
	cat >"$r/etc/hosts" <<-EOF
		127.0.0.1	localhost
		127.0.1.1	sample
	EOF
	cat >"$r/usr/lib/os-release" <<-EOF
		PRETTY_NAME="vmsh sample guest 1.0"
		NAME="vmsh sample guest"
		VERSION_ID="1.0"
		VERSION="1.0 (sample)"
		ID=vmsh-sample
		HOME_URL="https://example.org/vmsh"
	EOF
	ln -s ../usr/lib/os-release "$r/etc/os-release"
	cat >"$r/etc/passwd" <<-EOF
		root:x:0:0:root:/root:/bin/bash
		daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
		syslog:x:104:110::/home/syslog:/usr/sbin/nologin
		alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash
	EOF
	cat >"$r/etc/group" <<-EOF
		root:x:0:
		daemon:x:1:
		adm:x:4:syslog,alice
		sudo:x:27:alice
		syslog:x:110:
		alice:x:1000:
	EOF
	cat >"$r/etc/shadow" <<-EOF
		root:*:19700:0:99999:7:::
		daemon:*:19700:0:99999:7:::
		syslog:*:19700:0:99999:7:::
		alice:!:19700:0:99999:7:::
	EOF
	chmod 0640 "$r/etc/shadow"; chown 0:42 "$r/etc/shadow"
	echo "Etc/UTC" >"$r/etc/timezone"
	printf 'TZif2\0' >"$r/usr/share/zoneinfo/Etc/UTC"
	ln -s /usr/share/zoneinfo/Etc/UTC "$r/etc/localtime"
	ln -s usr/bin "$r/bin"
	ln -s usr/lib "$r/lib"
	printf '#!/bin/sh\necho hello from the sample guest\n' >"$r/usr/bin/hello"
	chmod 0755 "$r/usr/bin/hello"
	printf '# ~/.bashrc\nexport PS1="\\u@\\h:\\w\\$ "\nalias ll="ls -l"\n' >"$r/root/.bashrc"
	chmod 0700 "$r/root"
	cat >"$r/home/alice/notes.txt" <<-EOF
		Things to do:
		- back up the photos
		- renew the certificate before it expires
		- call Bob about the cluster
	EOF
	printf '# ~/.bashrc\nexport EDITOR=vi\n' >"$r/home/alice/.bashrc"
	printf '[core]\n\teditor = vi\n' >"$r/home/alice/.config/gitconfig"
	gen 30000 report >"$r/home/alice/Documents/report.txt"
	echo "Dear Bob, the budget is attached." >"$r/home/alice/Documents/letter.txt"
	ln -s Documents/report.txt "$r/home/alice/latest-report"
	chown -R 1000:1000 "$r/home/alice"; chmod 0750 "$r/home/alice"
	{
		for ((i = 0; i < 200; i++)); do
			printf 'Jan  2 03:%02d:%02d sample kernel: [%6d.%06d] event %d: all is well\n' \
				$((i / 60)) $((i % 60)) "$i" $((i * 3721 % 1000000)) "$i"
		done
		echo 'Jan  2 03:04:05 sample systemd[1]: Reached target multi-user.target - Multi-User System.'
	} >"$r/var/log/syslog"
	printf 'Jan  2 03:00:01 sample sshd[812]: Accepted publickey for alice from 192.0.2.7 port 50022 ssh2\n' >"$r/var/log/auth.log"
	chown 104:4 "$r/var/log/syslog" "$r/var/log/auth.log"; chmod 0640 "$r/var/log/syslog" "$r/var/log/auth.log"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	echo "not a real kernel" >"$b/vmlinuz-6.1.0-sample"
	echo "not a real initrd" >"$b/initrd.img-6.1.0-sample"
	cat >"$b/grub/grub.cfg" <<-EOF
		set default=0
		set timeout=5
		menuentry 'vmsh sample guest' {
			search --no-floppy --fs-uuid --set=root $boot_uuid
			linux /vmlinuz-6.1.0-sample root=UUID=$root_uuid ro quiet
			initrd /initrd.img-6.1.0-sample
		}
	EOF
	stamp "$src"
	mkext "$work/sample-root.img" 24M "$r" -t ext4 -L root -U "$root_uuid" \
		-E hash_seed=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4ea1
	mkext "$work/sample-boot.img" 6M "$b" -t ext4 -L boot -U "$boot_uuid" \
		-E hash_seed=5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4ea2
	normalize "$work/sample-root.img"; fsck_check "$work/sample-root.img"
	normalize "$work/sample-boot.img"; fsck_check "$work/sample-boot.img"
	rm -f "$work/sample-swap.img"; truncate -s 2M "$work/sample-swap.img"
	mkswap -q -U "$swap_uuid" "$work/sample-swap.img"
	rm -f "$img"; truncate -s 34M "$img"
	LC_ALL=C.UTF-8 sgdisk -o -U 5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e00 \
		-n 1:2048:+6M -t 1:8300 -c 1:boot -u 1:5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e11 \
		-n 2:14336:+24M -t 2:8304 -c 2:root -u 2:5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e12 \
		-n 3:63488:+2M -t 3:8200 -c 3:swap -u 3:5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e13 \
		"$img" >"$work/sgdisk.log" 2>&1
	place "$img" 2048 "$work/sample-boot.img"
	place "$img" 14336 "$work/sample-root.img"
	place "$img" 63488 "$work/sample-swap.img"
	sgdisk -v "$img" >"$work/sgdisk.log" 2>&1
	parts sample "$img"
	finish sample "$img"
}

start=$SECONDS
want ext2-1k && build_ext2_1k
want ext3-htree && build_ext3_htree
want ext4 && build_ext4
want whole-disk && build_whole_disk
want gpt-disk && build_gpt_disk
want mbr-disk && build_mbr_disk
want sample && build_sample
# Extended attributes: xattr-256 and xattr-128, set through a read-write
# kernel mount (needs setfattr, getfattr and setfacl).
if want xattr-256 || want xattr-128; then bash "$(dirname "$0")/mkxattr.sh" "$out"; fi
# Unreplayed journals: ext3-journal and ext4-journal, copied while mounted
# read-write, with the kernel's listings after replay and with noload.
if want ext3-journal || want ext4-journal; then bash "$(dirname "$0")/mkjournal.sh" "$out"; fi
# One image per on-disk feature (feat-*: inline_data, bigalloc, casefold,
# 128-byte inodes with uninit_bg, metadata_csum_seed and others, Hurd,
# 64 KiB blocks); it builds those MKFIXTURES_ONLY names, or all.
bash "$(dirname "$0")/mkfeatures.sh" "$out"
# LVM2 volume groups made by the lvm2 tools (lvm-*: GPT with root/var/home/
# swap LVs, a VG over two disks, raid1 and mirror, thin, wrapped metadata);
# it builds those MKFIXTURES_ONLY names, or all.
bash "$(dirname "$0")/mklvm.sh" "$out"
# guest: a disk laid out as an Ubuntu install (FAT32 EFI system partition,
# ext4 /boot, LVM with root, var, home and swap), for guest inspection.
if want guest; then bash "$(dirname "$0")/mkguest.sh" "$out"; fi
log "all done in $((SECONDS - start))s"
