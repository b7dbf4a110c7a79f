#!/usr/bin/env bash
# Times vmsh reading a 1 GiB file from the same ext4 filesystem as a raw
# image, as a qcow2 image, and over NBD (nbdkit on a Unix socket), beside
# nbdcopy copying the file's own bytes from nbdkit, in one run, warm page
# cache. Needs e2fsprogs, qemu-img, nbdkit and nbdcopy (libnbd-bin).
# Usage: scripts/bench-formats.sh [WORKDIR]   (the images, ~2.3 GiB, are kept there for reruns)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
raw=$work/bench-ext4.img
qcow=$work/bench-ext4.qcow2

if [ ! -f "$raw" ]; then
	mkdir -p "$work/src/etc" "$work/src/data"
	printf 'UUID=0 / ext4 defaults 0 1\n' >"$work/src/etc/fstab"
	head -c 1G /dev/urandom >"$work/src/data/big"
	mke2fs -q -F -t ext4 -d "$work/src" "$raw" 1200M
	rm -rf "$work/src"
fi
[ -f "$qcow" ] || qemu-img convert -O qcow2 "$raw" "$qcow"
CGO_ENABLED=0 go build -o "$work/vmsh" .

# nbdcopy copies the span of the image from the file's first block to its
# last (the file's bytes and the few metadata blocks between its extents)
# through nbdkit's offset filter; throughputs are compared.
bs=$(dumpe2fs -h "$raw" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /,"",$2); print $2}')
size=$((1 << 30))
first=$(debugfs -R "bmap /data/big 0" "$raw" 2>/dev/null)
last=$(debugfs -R "bmap /data/big $((size / bs - 1))" "$raw" 2>/dev/null)
span=$(((last - first + 1) * bs))

sock=$work/nbd.sock
range=$work/range.sock
rm -f "$sock" "$range"
nbdkit -r -U "$sock" -P "$work/nbd.pid" file "$raw"
nbdkit -r -U "$range" -P "$work/range.pid" --filter=offset file "$raw" offset=$((first * bs)) range=$span
trap 'kill $(cat "$work/nbd.pid" "$work/range.pid") 2>/dev/null || true' EXIT
sleep 0.5

cat "$raw" "$qcow" >/dev/null # warm the page cache
for spec in "$raw" "$qcow" "nbd+unix:///?socket=$sock"; do
	n=$("$work/vmsh" -c "cat /data/big" "$spec" 2>/dev/null | wc -c)
	[ "$n" -eq "$size" ] || { echo "vmsh read $n bytes of /data/big from $spec" >&2; exit 1; }
done

# The commands take turns, RUNS rounds of one run each, and each keeps its
# best time: on a shared machine the load changes from second to second,
# and the pairs compared (qcow2 and raw, vmsh over NBD and nbdcopy) should
# meet the same load, not one of them a quiet moment and the other a busy
# one.
source "$here/timing.sh"
declare -A all t m
turn() { # NAME CMD ARGS...: one timed run, kept under NAME
	local name=$1 s
	shift
	s=$(once "$@") || exit 1
	all[$name]+="$s "
}
for _ in $(seq "${RUNS:-5}"); do
	turn raw "$work/vmsh" -c "cat /data/big" "$raw"
	turn qcow2 "$work/vmsh" -c "cat /data/big" "$qcow"
	turn nbdcopy nbdcopy "nbd+unix:///?socket=$range" null:
	turn nbd "$work/vmsh" -c "cat /data/big" "nbd+unix:///?socket=$sock"
done
for k in raw qcow2 nbdcopy nbd; do # t: best time, m: median
	t[$k]=$(printf '%s\n' ${all[$k]} | sort -g | head -1)
	m[$k]=$(printf '%s\n' ${all[$k]} | sort -g | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
done

mbs() { echo "$1 / $2 / 1000000" | bc -l; }
printf '%-48s %10s %10s\n' "reading a 1 GiB file (best of ${RUNS:-5})" "seconds" "MB/s"
row() { printf '%-48s %10.3f %10.0f\n' "$1" "$2" "$(mbs "$3" "$2")"; }
row "vmsh cat, raw image" "${t[raw]}" $size
row "vmsh cat, qcow2 image" "${t[qcow2]}" $size
row "nbdcopy of the file's span ($span B) from nbdkit" "${t[nbdcopy]}" $span
row "vmsh cat over nbdkit (unix socket)" "${t[nbd]}" $size
printf '%-48s %10.2f  (bound 1.5)\n' "qcow2 / raw time" "$(echo "${t[qcow2]} / ${t[raw]}" | bc -l)"
printf '%-48s %10.2f  (bound 0.8)\n' "vmsh over NBD / nbdcopy throughput" "$(echo "$(mbs $size "${t[nbd]}") / $(mbs $span "${t[nbdcopy]}")" | bc -l)"
printf '%-48s %10.2f  (medians of %d runs)\n' "  the same with median times" "$(echo "$(mbs $size "${m[nbd]}") / $(mbs $span "${m[nbdcopy]}")" | bc -l)" "${RUNS:-5}"
