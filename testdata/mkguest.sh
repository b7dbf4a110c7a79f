#!/bin/bash
# mkguest.sh builds "guest", a disk laid out as an Ubuntu 24.04 installer
# lays one out, with real tools, and records what the tools and the Linux
# kernel say about it: the answers vmsh's inspection (os-release, fstab, the
# assembled mount tree) is compared against.
#
# Usage: mkguest.sh [OUTDIR]        (default: testdata; mkfixtures.sh calls it)
#
# Needs what mklvm.sh needs (its helpers are sourced from it: lvm2 without
# device-mapper, the private /dev and host name "guest", fixed ids) and
# dosfstools (mkfs.vfat) and mtools (mcopy) for the EFI system partition.
# Environment: MKFIXTURES_ONLY, MKFIXTURES_RAW and MKFIXTURES_NOGZIP as for
# mkfixtures.sh.
#
# The disk (GPT, 96 MiB, seen by the tools as /dev/sda):
#   sda1  EFI system partition, FAT32 (no label), EFI/BOOT/BOOTX64.EFI and
#         EFI/ubuntu/grub.cfg; mounted at /boot/efi by UUID=
#   sda2  ext4 labelled "boot": vmlinuz-*, initrd.img-*, grub/grub.cfg;
#         mounted at /boot by UUID=
#   sda3  LVM2 PV of VG ubuntu-vg (a "-" in its name, so device-mapper
#         names double it: ubuntu--vg-root) with LVs root, var and home
#         (ext4, labelled as named) and swap (mkswap).
# root holds /etc (os-release as a symlink to ../usr/lib/os-release,
# hostname, passwd, group, fstab) and /usr/bin/dash, a minimal x86-64 ELF
# executable that /bin/sh reaches through the symlinks bin -> usr/bin and
# usr/bin/sh -> dash. Its /etc/fstab names / by /dev/mapper/ubuntu--vg-root,
# /boot by UUID=, /boot/efi by the FAT's UUID=, /var by LABEL=, /home by
# /dev/ubuntu-vg/home and swap by /dev/mapper/ubuntu--vg-swap, and has a
# tmpfs line and an nfs line, which name no disk. var holds log/syslog and
# log/apt/history.log, home a user's directory.
#
# Files (as mklvm.sh describes them):
#   guest.img.gz, guest.parts, guest-p2.expect, guest-ubuntu--vg-root.expect,
#   guest-ubuntu--vg-var.expect, guest-ubuntu--vg-home.expect, guest.lvs,
#   guest.pvs, guest.vgs, guest-ubuntu-vg.vgcfg, guest.sha256
# The kernel here cannot mount FAT, so the EFI system partition has no
# listing (no guest-p1.expect); instead guest-p1.mdir is mtools' recursive
# listing of it (mdir -/ -a), and guest.blkid gives blkid's probe of every
# partition and LV: "VOLUME TYPE LABEL UUID", "-" where there is none.
set -euo pipefail

source "$(dirname "$0")/mklvm.sh"

ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B

# elf64 FILE writes a minimal x86-64 Linux executable: an ELF header, one
# PT_LOAD program header and code that calls exit(0).
elf64() {
	{
		# e_ident: magic, ELFCLASS64, little-endian, version 1, System V ABI.
		printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000'
		# e_type EXEC, e_machine x86-64, e_version 1, e_entry 0x400078.
		printf '\002\000\076\000\001\000\000\000\170\000\100\000\000\000\000\000'
		# e_phoff 64, e_shoff 0.
		printf '\100\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
		# e_flags 0, e_ehsize 64, e_phentsize 56, e_phnum 1, no sections.
		printf '\000\000\000\000\100\000\070\000\001\000\000\000\000\000\000\000'
		# p_type PT_LOAD, p_flags R+X, p_offset 0, p_vaddr and p_paddr 0x400000.
		printf '\001\000\000\000\005\000\000\000\000\000\000\000\000\000\000\000'
		printf '\000\000\100\000\000\000\000\000\000\000\100\000\000\000\000\000'
		# p_filesz and p_memsz 129, p_align 0x1000.
		printf '\201\000\000\000\000\000\000\000\201\000\000\000\000\000\000\000'
		printf '\000\020\000\000\000\000\000\000'
		# mov eax, 60 (exit); xor edi, edi; syscall.
		printf '\270\074\000\000\000\061\377\017\005'
	} >"$1"
	if [ "$(stat -c %s "$1")" != 129 ]; then log "elf64: $1 is not 129 bytes"; exit 1; fi
}

# blkid_line VOLUME FILE OFFSET prints blkid's TYPE, LABEL and UUID of the
# filesystem at OFFSET of FILE.
blkid_line() {
	local v type="" label="" uuid=""
	while IFS='=' read -r k v; do
		case $k in TYPE) type=$v ;; LABEL) label=$v ;; UUID) uuid=$v ;; esac
	done < <(blkid -p -o export -O "$3" "$2")
	printf '%s\t%s\t%s\t%s\n' "$1" "${type:--}" "${label:--}" "${uuid:--}"
}

build_guest() {
	local name=guest img=$work/guest.img src=$work/guest.src vg=ubuntu-vg lv r f
	local esp_id=2A6C5F01 esp_uuid=2A6C-5F01
	local boot_uuid=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e01
	local swap_uuid=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e02
	local kver=6.8.0-41-generic
	clean $name
	rm -f "$work/$name.blkid"
	rm -f "$img"; truncate -s 96M "$img"
	gpt "$img" 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e00 \
		"start=2048, size=67584, type=$ESP, uuid=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e11" \
		"start=69632, size=16384, type=$LINUXFS, uuid=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e12" \
		"start=86016, size=108544, type=$LINUXLVM, uuid=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e13"
	attach sda3 "$img" $((86016 * 512)) $((108544 * 512))
	pv sda3 GUESTp-0000-0000-0000-0000-0000-000001
	lvmc vgcreate -s 4m $vg /dev/sda3 >/dev/null
	mklv -L 16m -n root $vg
	mklv -L 12m -n var $vg
	mklv -L 8m -n home $vg
	mklv -L 4m -n swap $vg
	settle $vg

	rm -rf "$src"
	mkdir -p "$src"/esp/EFI/{BOOT,ubuntu} "$src"/boot/{grub,efi}
	r=$src/root
	mkdir -p "$r"/{etc/apt,usr/bin,usr/lib,usr/sbin,boot,var,home,root,tmp,dev,proc,sys,run,mnt,srv,opt,media}
	mkdir -p "$src"/var/{log/apt,lib/apt,cache/apt,tmp} "$src"/home/alice/{Documents,.config}

	# The EFI system partition: shim's fallback path and Ubuntu's stub
	# grub.cfg, which finds /boot by its UUID.
	printf 'MZ\220\000not a real EFI application\n' >"$src/esp/EFI/BOOT/BOOTX64.EFI"
	cat >"$src/esp/EFI/ubuntu/grub.cfg" <<-EOF
		search.fs_uuid $boot_uuid root hd0,gpt2
		set prefix=(\$root)'/grub'
		configfile \$prefix/grub.cfg
	EOF

	# /boot.
	echo "not a real kernel" >"$src/boot/vmlinuz-$kver"
	echo "not a real initrd" >"$src/boot/initrd.img-$kver"
	echo "CONFIG_X86_64=y" >"$src/boot/config-$kver"
	ln -s "vmlinuz-$kver" "$src/boot/vmlinuz"
	ln -s "initrd.img-$kver" "$src/boot/initrd.img"
	cat >"$src/boot/grub/grub.cfg" <<-EOF
		set default=0
		set timeout=5
		menuentry 'Ubuntu' {
			search --no-floppy --fs-uuid --set=root $boot_uuid
			linux /vmlinuz-$kver root=/dev/mapper/ubuntu--vg-root ro quiet splash
			initrd /initrd.img-$kver
		}
	EOF

	# /.
	cat >"$r/usr/lib/os-release" <<-EOF
		PRETTY_NAME="Ubuntu 24.04.1 LTS"
		NAME="Ubuntu"
		VERSION_ID="24.04"
		VERSION="24.04.1 LTS (Noble Numbat)"
		VERSION_CODENAME=noble
		ID=ubuntu
		ID_LIKE=debian
		HOME_URL="https://www.ubuntu.com/"
		SUPPORT_URL="https://help.ubuntu.com/"
		BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
		PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
		UBUNTU_CODENAME=noble
		LOGO=ubuntu-logo
	EOF
	ln -s ../usr/lib/os-release "$r/etc/os-release"
	echo guest >"$r/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 guest\n' >"$r/etc/hosts"
	cat >"$r/etc/fstab" <<-EOF
		# /etc/fstab: static file system information.
		#
		# Use 'blkid' to print the universally unique identifier for a
		# device; this may be used with UUID= as a more robust way to name devices
		# that works even if disks are added and removed. See fstab(5).
		#
		# <file system> <mount point>   <type>  <options>       <dump>  <pass>
		/dev/mapper/ubuntu--vg-root /               ext4    errors=remount-ro 0       1
		# /boot was on /dev/sda2 during installation
		UUID=$boot_uuid /boot           ext4    defaults        0       2
		# /boot/efi was on /dev/sda1 during installation
		UUID=$esp_uuid  /boot/efi       vfat    umask=0077      0       1
		LABEL=var       /var            ext4    defaults        0       2
		/dev/ubuntu-vg/home /home           ext4    defaults        0       2
		/dev/mapper/ubuntu--vg-swap none            swap    sw              0       0
		tmpfs           /tmp            tmpfs   defaults,nosuid,nodev 0       0
		fileserver.example.org:/export/shared /srv/shared nfs defaults,_netdev 0 0
	EOF
	cat >"$r/etc/passwd" <<-EOF
		root:x:0:0:root:/root:/bin/bash
		daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
		syslog:x:102:102::/nonexistent:/usr/sbin/nologin
		_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
		alice:x:1000:1000:Alice Example:/home/alice:/bin/bash
	EOF
	cat >"$r/etc/group" <<-EOF
		root:x:0:
		daemon:x:1:
		adm:x:4:syslog,alice
		sudo:x:27:alice
		syslog:x:102:
		alice:x:1000:
	EOF
	printf 'Etc/UTC\n' >"$r/etc/timezone"
	printf 'deb http://archive.ubuntu.com/ubuntu noble main restricted universe\n' >"$r/etc/apt/sources.list"
	elf64 "$r/usr/bin/dash"
	chmod 0755 "$r/usr/bin/dash"
	ln -s dash "$r/usr/bin/sh"
	ln -s usr/bin "$r/bin"
	ln -s usr/sbin "$r/sbin"
	ln -s usr/lib "$r/lib"
	chmod 0700 "$r/root"
	chmod 1777 "$r/tmp"

	# /var.
	{
		for ((i = 0; i < 120; i++)); do
			printf '2024-01-02T03:%02d:%02d.%06d+00:00 guest kernel: event %d: all is well\n' \
				$((i / 60)) $((i % 60)) $((i * 7919 % 1000000)) "$i"
		done
		echo '2024-01-02T03:04:05.000000+00:00 guest systemd[1]: Reached target multi-user.target - Multi-User System.'
	} >"$src/var/log/syslog"
	chown 102:4 "$src/var/log/syslog"; chmod 0640 "$src/var/log/syslog"
	cat >"$src/var/log/apt/history.log" <<-EOF

		Start-Date: 2024-01-02  03:00:00
		Commandline: apt-get install -y tmux
		Requested-By: alice (1000)
		Install: tmux:amd64 (3.4-1build1), libutempter0:amd64 (1.2.1-3build1, automatic)
		End-Date: 2024-01-02  03:00:02
	EOF
	chmod 1777 "$src/var/tmp"

	# /home.
	echo "Things to do: back up the photos" >"$src/home/alice/notes.txt"
	gen 20000 report >"$src/home/alice/Documents/report.txt"
	printf '# ~/.bashrc\nexport EDITOR=vi\n' >"$src/home/alice/.bashrc"
	printf '[core]\n\teditor = vi\n' >"$src/home/alice/.config/gitconfig"
	chown -R 1000:1000 "$src/home/alice"; chmod 0750 "$src/home/alice"

	# The FAT: mkfs.vfat at the fixed time with a fixed volume id, then
	# mcopy keeping the source's times.
	stamp "$src/esp"
	rm -f "$work/esp.img"; truncate -s $((67584 * 512)) "$work/esp.img"
	fake mkfs.vfat -F 32 -s 1 -i "$esp_id" "$work/esp.img" >/dev/null
	MTOOLS_SKIP_CHECK=1 fake mcopy -i "$work/esp.img" -s -m -Q "$src/esp/EFI" ::/
	fsck.vfat -n "$work/esp.img" >"$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; log "fsck.vfat failed"; exit 1; }
	dd if="$work/esp.img" of="$img" bs=512 seek=2048 conv=notrunc,sparse status=none

	stamp "$src/boot"
	mkext "$work/boot.img" 8M "$src/boot" -t ext4 -L boot -U "$boot_uuid" \
		-E hash_seed=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4ea1
	normalize "$work/boot.img"; fsck_check "$work/boot.img"
	dd if="$work/boot.img" of="$img" bs=512 seek=69632 conv=notrunc,sparse status=none
	mkfs_lv $vg root "$r" 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e21 -L root -E hash_seed=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4ea2
	mkfs_lv $vg var "$src/var" 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e22 -L var -E hash_seed=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4ea3
	mkfs_lv $vg home "$src/home" 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e23 -L home -E hash_seed=9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4ea4
	truncate -s "$(lvsize $vg swap)" "$(content $vg swap)"
	mkswap -q -U "$swap_uuid" "$(content $vg swap)"
	for lv in root var home swap; do write_lv $vg $lv; done

	report $name $vg
	detach
	parts $name "$img"
	(cd "$work" && MTOOLS_SKIP_CHECK=1 mdir -i esp.img -/ -a ::/) >"$out/$name-p1.mdir"
	{
		echo "# volume	TYPE	LABEL	UUID"
		blkid_line sda1 "$img" $((2048 * 512))
		blkid_line sda2 "$img" $((69632 * 512))
		blkid_line sda3 "$img" $((86016 * 512))
		for lv in home root swap var; do
			blkid_line "$vg/$lv" "$img" "$(lv_disk_off $vg $lv)"
		done
	} >"$out/$name.blkid"
	list_at "$img" $((69632 * 512)) $((8 << 20)) "$out/$name-p2.expect"
	for lv in root var home; do list_lv $name $vg $lv $lv; done
	finish $name img "$img"
}

for t in mkfs.vfat fsck.vfat mcopy mdir blkid; do
	if ! command -v $t >/dev/null 2>&1; then log "needs $t"; exit 1; fi
done
want guest && build_guest
exit 0
