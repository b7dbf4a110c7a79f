#!/usr/bin/env bash
# Times `get -a` of a whole 60,000-file filesystem against `cp -a` from a
# kernel loop mount of the same image, in the same run, round by round, and
# prints each round's times, the median of each side and their ratio.
#
# The tree: 60,000 small files (0 to 8 KiB) in 600 directories two levels
# deep, 20 bigger files (1 to 8 MiB), a sparse file, hard links and
# symlinks. Before every timed command the page cache is dropped
# (echo 3 > /proc/sys/vm/drop_caches) when the machine allows it; otherwise
# both sides run warm, which the output says. The copies go to the same
# filesystem, are synced before each timed command and removed after it.
#
# Needs root (loop mount), e2fsprogs, GNU coreutils, bc.
# Usage: scripts/bench-get.sh [WORKDIR]   (the image is kept there for reruns)
# Environment: ROUNDS (default 5), OUT (where the copies go, default
# WORKDIR/out; a tmpfs there takes the host disk out of the times), WARM=1 (keep the page cache: both sides
# warm), VMSH_BIN (a vmsh binary to time instead
# of building one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
img=$work/get-ext4.img
rounds=${ROUNDS:-5}

if [ ! -f "$img" ]; then
	src=$work/src
	rm -rf "$src"
	mkdir -p "$src"
	echo "bench-get: writing the tree (once)" >&2
	for a in $(seq -w 0 59); do
		for b in $(seq -w 0 9); do
			d=$src/d$a/s$b
			mkdir -p "$d"
			(
				cd "$d"
				for c in $(seq -w 0 99); do
					head -c $(((10#$a * 1000 + 10#$b * 100 + 10#$c) * 7919 % 8192)) /dev/urandom >"f$c"
				done
			)
		done
	done
	mkdir -p "$src/big"
	for i in $(seq 1 20); do head -c $((i % 8 * 1048576 + 1048576)) /dev/urandom >"$src/big/b$i"; done
	: >"$src/big/sparse"
	printf data | dd of="$src/big/sparse" bs=1M seek=100 conv=notrunc status=none
	truncate -s 1G "$src/big/sparse"
	for i in $(seq 1 50); do ln "$src/d00/s0/f$(printf %02d "$i")" "$src/big/hard$i"; done
	for i in $(seq 1 50); do ln -s "../d01/s1/f$(printf %02d "$i")" "$src/big/link$i"; done
	chmod 4755 "$src/big/b1"
	mke2fs -q -F -t ext4 -N 70000 -d "$src" "$img" 2G
	rm -rf "$src"
fi
if [ -n "${VMSH_BIN:-}" ]; then
	vmsh=$VMSH_BIN
else
	CGO_ENABLED=0 go build -o "$work/vmsh" .
	vmsh=$work/vmsh
fi

mnt=$work/mnt
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -o ro,loop "$img" "$mnt"
trap 'umount "$mnt" 2>/dev/null || true' EXIT

cold=0
if [ "${WARM:-0}" != 1 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then cold=1; fi
prepare() {
	sync
	if [ "$cold" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
if [ "$cold" = 0 ]; then
	if [ "${WARM:-0}" != 1 ]; then echo "bench-get: cannot drop the page cache here: both sides run warm" >&2; fi
	cat "$img" >/dev/null
	find "$mnt" -printf '' # the kernel's inode and dentry caches too
fi

# timed CMD... runs the command and prints its wall-clock seconds.
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null || return
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

out=${OUT:-$work/out}
cps=() gets=()
printf '%-6s %10s %10s %8s\n' round "cp -a" "get -a" ratio
for r in $(seq "$rounds"); do
	rm -rf "$out"
	mkdir -p "$out"
	prepare
	c=$(timed cp -a "$mnt/." "$out/cp")
	rm -rf "$out/cp"
	prepare
	g=$(timed "$vmsh" -c "get -a / $out/vmsh" "$img" 2>"$work/get.err") || { cat "$work/get.err" >&2; exit 1; }
	rm -rf "$out/vmsh"
	cps+=("$c") gets+=("$g")
	printf '%-6s %10.3f %10.3f %7.2fx\n' "$r" "$c" "$g" "$(echo "$g / $c" | bc -l)"
done
mc=$(printf '%s\n' "${cps[@]}" | median)
mg=$(printf '%s\n' "${gets[@]}" | median)
state=warm
if [ "$cold" = 1 ]; then state="cold (page cache dropped before each command)"; fi
printf '%-6s %10.3f %10.3f %7.2fx   median of %d rounds, %s\n' median "$mc" "$mg" "$(echo "$mg / $mc" | bc -l)" "$rounds" "$state"
