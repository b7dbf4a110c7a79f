#!/usr/bin/env bash
# Times directory work, vmsh beside a kernel loop mount of the same image, in
# one run, warm cache: `ls -l` of a 50,000-entry directory, and a walk that
# stats every entry of a 60,000-file tree (`ls -lR`, and find -printf on the
# kernel side). Needs root (loop mount) and e2fsprogs.
# Usage: scripts/bench-dirs.sh [WORKDIR]   (the image is kept there for reruns)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
img=$work/dirs-ext4.img
runs=${RUNS:-5}

if [ ! -f "$img" ]; then
	src=$work/src
	mkdir -p "$src/big" "$src/tree"
	(cd "$src/big" && seq -f 'file-%06g.txt' 0 49999 | xargs touch)
	for d in $(seq -w 0 59); do
		mkdir -p "$src/tree/d$d"
		(cd "$src/tree/d$d" && seq -f 'f%04g' 0 999 | xargs touch)
	done
	mke2fs -q -F -t ext4 -N 120000 -d "$src" "$img" 600M
	e2fsck -fyD "$img" >/dev/null 2>&1 || true # index the big directories
	rm -rf "$src"
fi
CGO_ENABLED=0 go build -o "$work/vmsh" .

source "$here/timing.sh"

cat "$img" >/dev/null
mnt=$work/mnt
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -o ro,loop "$img" "$mnt"
trap 'umount "$mnt" 2>/dev/null || true' EXIT

k1=$(best ls -l "$mnt/big")
v1=$(best "$work/vmsh" -c "ls -l /big" "$img")
k2=$(best ls -lR "$mnt/tree")
k3=$(best find "$mnt/tree" -printf '%m %U %G %s %T@ %p\n')
v2=$(best "$work/vmsh" -c "ls -lR /tree" "$img")

printf '%-44s %8s %14s\n' "what (warm cache, best of $runs)" seconds "vmsh / kernel"
printf '%-44s %8.3f\n' "kernel: ls -l of 50,000 entries" "$k1"
printf '%-44s %8.3f %13.2fx\n' "vmsh:   ls -l of 50,000 entries" "$v1" "$(echo "$v1 / $k1" | bc -l)"
printf '%-44s %8.3f\n' "kernel: ls -lR of 60,000 files" "$k2"
printf '%-44s %8.3f\n' "kernel: find -printf (lstat each) 60,000" "$k3"
printf '%-44s %8.3f %13.2fx\n' "vmsh:   ls -lR of 60,000 files" "$v2" "$(echo "$v2 / $k2" | bc -l)"
