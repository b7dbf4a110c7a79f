#!/usr/bin/env bash
# Times vmsh beside the tools people use today, in one run, on one image, warm page cache.
# Needs root (kernel loop mount), e2fsprogs; uses The Sleuth Kit's icat when installed.
# Usage: scripts/bench.sh [WORKDIR]   (the image, ~1.1 GiB, is kept there for reruns)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
img=$work/bench-ext4.img

if [ ! -f "$img" ]; then
	mkdir -p "$work/src/etc" "$work/src/data"
	printf 'UUID=0 / ext4 defaults 0 1\n' >"$work/src/etc/fstab"
	head -c 1G /dev/urandom >"$work/src/data/big"
	mke2fs -q -F -t ext4 -d "$work/src" "$img" 1200M
	rm -rf "$work/src"
fi
CGO_ENABLED=0 go build -o "$work/vmsh" .

# The file's first physical block, so dd reads the same bytes the file holds.
bs=$(dumpe2fs -h "$img" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /,"",$2); print $2}')
first=$(debugfs -R "bmap /data/big 0" "$img" 2>/dev/null)
ino=$(debugfs -R "stat /data/big" "$img" 2>/dev/null | awk '/^Inode:/ {print $2; exit}')

source "$here/timing.sh"

cat "$img" >/dev/null # warm the page cache
mnt=$work/mnt
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -o ro,loop "$img" "$mnt"
trap 'umount "$mnt" 2>/dev/null || true' EXIT

size=$((1 << 30))
declare -A t
t[dd]=$(best dd if="$img" of=/dev/null bs=1M iflag=skip_bytes,count_bytes skip=$((first * bs)) count=$size)
t[kernel]=$(best cat "$mnt/data/big")
t[debugfs]=$(best debugfs -R "dump /data/big /dev/null" "$img")
if command -v icat >/dev/null; then t[icat]=$(best icat "$img" "$ino"); fi
t[vmsh]=$(best "$work/vmsh" -c "cat /data/big" "$img")
t[vmsh_small]=$(best "$work/vmsh" -c "cat /etc/fstab" "$img")

printf '%-28s %10s %10s %12s\n' "command (1 GiB file)" "seconds" "MB/s" "vs dd"
for k in dd kernel debugfs icat vmsh; do
	[ -n "${t[$k]:-}" ] || continue
	mbs=$(echo "$size / ${t[$k]} / 1000000" | bc -l)
	printf '%-28s %10.3f %10.0f %11.2fx\n' "$k" "${t[$k]}" "$mbs" "$(echo "${t[dd]} / ${t[$k]}" | bc -l)"
done
printf '%-28s %10.3f\n' "vmsh -c 'cat /etc/fstab'" "${t[vmsh_small]}"
