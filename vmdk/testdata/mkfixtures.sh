#!/bin/sh
# Builds the small VMDK images the tests read with Go alone, with qemu-img
# and qemu-io, gzipped, and records in fixtures.sha256 the sha256 of each
# image's whole virtual disk as `qemu-img convert -O raw` reads it.
#
#   sparse.vmdk            monolithicSparse
#   stream.vmdk            streamOptimized
#   flat.vmdk              monolithicFlat (descriptor and flat-flat.vmdk)
#   split.vmdk             twoGbMaxExtentSparse (descriptor and split-s001.vmdk)
#   base.vmdk, child.vmdk  a delta disk with zeroed grains over its parent
#
# qemu writes random content ids; they are pinned so that the script makes
# the same files each time.
set -eu
cd "$(dirname "$0")"
for tool in qemu-img qemu-io gzip; do
	command -v $tool >/dev/null || { echo "mkfixtures.sh: $tool is not installed" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# put OFFSET: writes stdin into the source disk at byte OFFSET.
put() { dd of="$tmp/src.raw" bs=4096 oflag=seek_bytes seek="$1" conv=notrunc status=none; }

# A disk of 1 MiB and 3 sectors (the last grain is partial): text, bytes
# that do not compress, a sector of 0xff, holes, and a line at the very end.
truncate -s $((1048576 + 3 * 512)) "$tmp/src.raw"
seq 1 1200 | put 0
seq 1 3000 | gzip -9n | head -c 2500 | put 200000
head -c 512 /dev/zero | tr '\0' '\377' | put 524288
printf 'the last line of the disk\n' | put $((1048576 + 3 * 512 - 26))

# pin FILE KEY VALUE: sets the descriptor line KEY=xxxxxxxx in FILE.
pin() {
	grep -boa "^$2=[0-9a-f]*" "$1" | while IFS=: read -r off _; do
		printf '%s=%s' "$2" "$3" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
	done
}

cd "$tmp"
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse src.raw sparse.vmdk
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized src.raw stream.vmdk
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat,adapter_type=lsilogic src.raw flat.vmdk
qemu-img convert -q -f raw -O vmdk -o subformat=twoGbMaxExtentSparse src.raw split.vmdk
qemu-img convert -q -f raw -O vmdk src.raw base.vmdk
qemu-img create -q -f vmdk -o zeroed_grain=on -b base.vmdk -F vmdk child.vmdk
qemu-io -c "write -P 0x5a 65536 65536" -c "write -z 196608 131072" -c "write -P 0x33 1000000 3000" child.vmdk >/dev/null
for f in sparse stream flat split base; do
	pin $f.vmdk CID 0000000a
done
pin child.vmdk CID 0000000b
pin child.vmdk parentCID 0000000a

: >fixtures.sha256
for f in sparse stream flat split base child; do
	qemu-img convert -f vmdk -O raw $f.vmdk $f.raw
	echo "$(sha256sum <$f.raw | cut -d' ' -f1)  $f.vmdk" >>fixtures.sha256
done
cd - >/dev/null
for f in sparse stream flat flat-flat split split-s001 base child; do
	gzip -9n <"$tmp/$f.vmdk" >$f.vmdk.gz
done
cp "$tmp/fixtures.sha256" .
