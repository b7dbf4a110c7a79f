#!/usr/bin/env bash
# Times vmsh reading a 1 GiB file from an ext4 filesystem on a plain GPT
# partition and from the same filesystem on a linear LVM2 logical volume of
# the same disk, in one run, warm page cache. The cost of LVM is the ratio.
# Needs root (loop device for lvm2), e2fsprogs, sfdisk and lvm2.
# Usage: scripts/bench-lvm.sh [WORKDIR]   (the disk image, ~2.5 GiB, is kept there for reruns)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
img=$work/bench-lvm.img

if [ ! -f "$img" ]; then
	mkdir -p "$work/src/etc" "$work/src/data"
	printf 'UUID=0 / ext4 defaults 0 1\n' >"$work/src/etc/fstab"
	head -c 1G /dev/urandom >"$work/src/data/big"
	mke2fs -q -F -t ext4 -d "$work/src" "$work/fs.img" 1200M
	rm -rf "$work/src"

	truncate -s 2600M "$img.tmp"
	printf 'label: gpt\nstart=2048, size=1250MiB, type=linux\ntype=lvm\n' | sfdisk -q "$img.tmp"
	# "start size" of each partition, in sectors.
	mapfile -t parts < <(sfdisk -d "$img.tmp" | awk -F'[=,]' '/ : start=/ {gsub(/ /, ""); print $2, $4}')
	read -r p1 _ <<<"${parts[0]}"
	read -r p2 p2size <<<"${parts[1]}"
	p2end=$((p2 + p2size - 1))
	dd if="$work/fs.img" of="$img.tmp" bs=1M seek=$((p1 * 512)) oflag=seek_bytes conv=notrunc status=none

	conf=$work/lvm-etc
	mkdir -p "$conf"
	dev=$(losetup -f --show --offset $((p2 * 512)) --sizelimit $(((p2end - p2 + 1) * 512)) "$img.tmp")
	trap 'losetup -d "$dev" 2>/dev/null || true' EXIT
	cat >"$conf/lvm.conf" <<-EOF
		devices {
			filter = [ "a|^$dev\$|", "r|.*|" ]
			global_filter = [ "a|^$dev\$|", "r|.*|" ]
			use_devicesfile = 0
			hints = "none"
			obtain_device_list_from_udev = 0
		}
		backup { backup = 0 archive = 0 }
		activation { udev_sync = 0 udev_rules = 0 }
	EOF
	export LVM_SYSTEM_DIR=$conf LVM_SUPPRESS_FD_WARNINGS=1
	pvcreate -q "$dev" >/dev/null 2>&1
	vgcreate -q -s 4m vgbench "$dev" >/dev/null 2>&1
	lvcreate -q --driverloaded n -an --zero n -y -L 1200M -n data vgbench >/dev/null 2>&1
	pestart=$(pvs --noheadings --units b --nosuffix -o pe_start "$dev" 2>/dev/null | tr -d ' ')
	first=$(lvs --noheadings -o seg_pe_ranges vgbench/data 2>/dev/null | sed 's/.*://; s/-.*//')
	losetup -d "$dev"
	trap - EXIT
	dd if="$work/fs.img" of="$img.tmp" bs=1M seek=$((p2 * 512 + pestart + first * 4 * 1024 * 1024)) oflag=seek_bytes conv=notrunc status=none
	rm -f "$work/fs.img"
	mv "$img.tmp" "$img"
fi
CGO_ENABLED=0 go build -o "$work/vmsh" .

source "$here/timing.sh"

cat "$img" >/dev/null # warm the page cache
size=$((1 << 30))
# Both commands must print the whole file, or the timing means nothing.
for vol in sda1 /dev/vgbench/data; do
	n=$("$work/vmsh" -c "use $vol; cat /data/big" "$img" 2>/dev/null | wc -c)
	[ "$n" -eq "$size" ] || { echo "vmsh read $n bytes of /data/big on $vol" >&2; exit 1; }
done
part=$(best "$work/vmsh" -c "use sda1; cat /data/big" "$img")
lv=$(best "$work/vmsh" -c "use /dev/vgbench/data; cat /data/big" "$img")

printf '%-40s %10s %10s\n' "vmsh cat of a 1 GiB file" "seconds" "MB/s"
printf '%-40s %10.3f %10.0f\n' "on a plain partition (sda1)" "$part" "$(echo "$size / $part / 1000000" | bc -l)"
printf '%-40s %10.3f %10.0f\n' "on a linear LV (/dev/vgbench/data)" "$lv" "$(echo "$size / $lv / 1000000" | bc -l)"
printf '%-40s %10.3f\n' "LV / partition time" "$(echo "$lv / $part" | bc -l)"
