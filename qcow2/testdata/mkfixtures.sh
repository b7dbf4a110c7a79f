#!/bin/bash
# mkfixtures.sh builds the small qcow2 images that the qcow2 package's tests
# decode without any outside tool, and records what qemu reads from them.
#
# Usage: qcow2/testdata/mkfixtures.sh [OUTDIR]      (default: its own directory)
#
# Needs qemu-img and qemu-io (qemu-utils), gzip and sha256sum. Contents are
# written with qemu-io patterns, so they are the same on every run; only the
# snapshot dates differ.
#
# Writes into OUTDIR, for every file FILE of an image (images and the files
# they refer to, and images that must be refused): FILE.gz (gzip -9n), and
# SHA256SUMS with one line per disk
# read: "SHA256  IMAGE" for the active state, "SHA256  IMAGE@SNAPSHOT" for an
# internal snapshot, where SHA256 is that of `qemu-img convert -O raw` (for a
# snapshot: of a copy reverted with `qemu-img snapshot -a`).
set -euo pipefail

out=$(cd "${1:-$(dirname "$0")}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

qio() { # qio FMT IMG CMD... runs qemu-io commands
	local fmt=$1 img=$2
	shift 2
	local args=()
	for c in "$@"; do args+=(-c "$c"); done
	qemu-io -f "$fmt" "${args[@]}" "$img" >/dev/null
}
sum() { # sum IMG [CONVERT-ARGS...] prints the sha256 of IMG as qemu reads it
	local img=$1
	shift
	qemu-img convert -O raw "$@" "$img" "$work/sum.raw"
	sha256sum <"$work/sum.raw" | cut -d' ' -f1
	rm -f "$work/sum.raw"
}
sums=()
record() { sums+=("$(sum "$1")  $1"); }

# A raw disk of 256 KiB with patterns, zeros and a hole.
qemu-img create -q -f raw src.raw 256K
qio raw src.raw "write -P 0x41 0 20k" "write -P 0x42 20k 3k" "write -P 0x00 40k 8k" \
	"write -P 0x5a 64k 64k" "write -P 0x43 200k 7k" "write -P 0x44 250k 6k"

# Version 2, 4 KiB clusters, written over by qemu-io after conversion.
qemu-img convert -q -f raw -O qcow2 -o compat=0.10,cluster_size=4k src.raw v2.qcow2
qio qcow2 v2.qcow2 "write -P 0x61 10k 1k" "write -z 64k 8k"
record v2.qcow2

# Version 3 with 512-byte clusters: zero clusters, discarded clusters.
qemu-img convert -q -f raw -O qcow2 -o compat=1.1,cluster_size=512 src.raw v3-512.qcow2
qio qcow2 v3-512.qcow2 "write -z 0 2k" "discard 100k 8k" "write -P 0x62 101k 512"
record v3-512.qcow2

# Compressed, deflate and zstd.
qemu-img convert -q -f raw -O qcow2 -c -o cluster_size=4k src.raw deflate.qcow2
record deflate.qcow2
qemu-img convert -q -f raw -O qcow2 -c -o cluster_size=4k,compression_type=zstd src.raw zstd.qcow2
record zstd.qcow2

# A chain: sub.qcow2 (extended L2 entries, partial clusters) over
# sub-base.qcow2 (compressed).
qemu-img convert -q -f raw -O qcow2 -c -o cluster_size=4k src.raw sub-base.qcow2
qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k -b sub-base.qcow2 -F qcow2 sub.qcow2 320K
qio qcow2 sub.qcow2 "write -P 0x71 1k 1k" "write -z 4k 2k" "write -P 0x72 60k 9k" "write -P 0x73 300k 2k"
record sub.qcow2

# Over a raw backing file shorter than the image, format recorded.
qemu-img create -q -f raw short.raw 100K
qio raw short.raw "write -P 0x31 0 100k"
qemu-img create -q -f qcow2 -o cluster_size=4k -b short.raw -F raw over-raw.qcow2 200K
qio qcow2 over-raw.qcow2 "write -P 0x32 96k 8k"
record over-raw.qcow2

# An external data file, raw.
qemu-img convert -q -f raw -O qcow2 -o cluster_size=4k,data_file=data.raw,data_file_raw=on src.raw data.qcow2
qio qcow2 data.qcow2 "write -P 0x81 8k 4k" "write -z 64k 4k"
record data.qcow2

# Internal snapshots, the disk changed and resized after each.
qemu-img convert -q -f raw -O qcow2 -o cluster_size=4k src.raw snap.qcow2
qemu-img snapshot -c one snap.qcow2
qio qcow2 snap.qcow2 "write -P 0x91 0 6k"
qemu-img resize -q snap.qcow2 300K
qemu-img snapshot -c two snap.qcow2
qio qcow2 snap.qcow2 "write -P 0x92 260k 4k" "write -z 64k 4k"
record snap.qcow2
for s in one two; do
	cp snap.qcow2 reverted.qcow2
	qemu-img snapshot -a "$s" reverted.qcow2
	sums+=("$(sum reverted.qcow2)  snap.qcow2@$s")
	rm reverted.qcow2
done

# Images that are refused: encrypted with AES and with LUKS (only the header
# cluster is kept, which is all that is read), and qcow version 1.
qemu-img create -q -f qcow2 --object secret,id=s0,data=secret \
	-o encrypt.format=aes,encrypt.key-secret=s0 aes.qcow2 1M
for try in 1 2 3 4 5; do
	# qemu-img times its key derivation, which fails now and then on a busy
	# machine ("Unable to get accurate CPU usage").
	if qemu-img create -q -f qcow2 --object secret,id=s0,data=secret \
		-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 luks-full.qcow2 1M; then
		break
	fi
	[ $try -lt 5 ] || exit 1
done
head -c 65536 luks-full.qcow2 >luks.qcow2
rm luks-full.qcow2
qemu-img create -q -f qcow v1.qcow 1M
gzip -9n <v1.qcow >"$out/v1.qcow.gz"

rm src.raw
for f in *.qcow2 *.raw; do
	gzip -9n <"$f" >"$out/$f.gz"
done
printf '%s\n' "${sums[@]}" >"$out/SHA256SUMS"
