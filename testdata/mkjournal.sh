#!/bin/bash
# mkjournal.sh builds ext3 and ext4 images whose journals hold committed
# transactions that were never written to their home blocks (needs_recovery
# set), and lists each of them twice through the Linux kernel:
#
#   NAME.img.gz             the image, copied while it was mounted read-write
#   NAME.expect             the kernel's listing after it replayed the journal
#                           (a read-write mount of a copy)
#   NAME-noreplay.expect    the kernel's listing without replay
#                           (mount -o ro,noload of the image itself)
#
# Usage: mkjournal.sh [OUTDIR]        (default: testdata)
#
# Needs root and loop devices, e2fsprogs (mke2fs, dumpe2fs, debugfs),
# sha256sum, gzip, and coreutils' `sync FILE` (fsync of one file). The image
# is copied within a few seconds of the last change and nothing syncs the
# whole filesystem, so the metadata of the last transactions is only in the
# journal. The times of the files changed while mounted are the real ones,
# so the images differ from run to run; the listings always match them.
#
# Environment: MKFIXTURES_ONLY, MKFIXTURES_RAW and MKFIXTURES_NOGZIP as for
# mkfixtures.sh.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

[ -n "${MKJOURNAL_KEEP:-}" ] && trap - EXIT

# list EXPECT [TOLERANT] writes the kernel's listing of the filesystem
# mounted at $mnt (see listing in lib.sh for TOLERANT).
list() { listing "$mnt" "${2:-}" >"$1"; }

# changes DIR makes the changes the journal is to hold, each followed by an
# fsync of what it touched (one journal commit each), in the filesystem
# mounted at DIR. SMALL is the number of small files made, enough to wrap
# the log around.
changes() {
	local d=$1 small=$2 i
	echo "created while mounted" >"$d/new.txt"; sync "$d/new.txt" "$d"
	gen 5000 over >"$d/keep/overwrite.txt"; sync "$d/keep/overwrite.txt"
	mv "$d/keep/old-name.txt" "$d/keep/new-name.txt"; sync "$d/keep"
	rm "$d/doomed.txt"; sync "$d"
	mkdir -p "$d/made/deeper"; sync "$d/made/deeper" "$d/made" "$d"
	chmod 0600 "$d/keep/secret.txt"; sync "$d/keep/secret.txt"
	ln -s ../new.txt "$d/made/link"; sync "$d/made"
	gen 300000 append >>"$d/keep/grow.bin"; sync "$d/keep/grow.bin"
	mkdir "$d/small"; sync "$d/small" "$d"
	for ((i = 0; i < small; i++)); do
		echo "small file $i" >"$d/small/f$i"
		sync "$d/small/f$i" "$d/small"
	done
	# Revoke records: a file whose indirect or extent blocks were
	# journaled is deleted, then new data takes its blocks.
	gen 400000 victim >"$d/victim.bin"
	for ((i = 0; i < 16; i++)); do # fragments: an extent block on ext4
		gen 4096 "frag$i" | dd of="$d/victim.bin" bs=4096 seek=$((120 + 2 * i)) conv=notrunc status=none
	done
	sync "$d/victim.bin" "$d"
	rm "$d/victim.bin"; sync "$d"
	gen 400000 heir >"$d/heir.bin"; sync "$d/heir.bin" "$d"
	echo "last" >"$d/last.txt"; sync "$d/last.txt" "$d"
}

# build NAME SIZE SMALL mke2fs-args... makes one image.
build() {
	local name=$1 size=$2 small=$3
	shift 3
	local src=$work/$name.src img=$work/$name.img copy=$work/$name.copy
	rm -rf "$src"; mkdir -p "$src/keep"
	echo "from mke2fs" >"$src/hello.txt"
	echo "doomed" >"$src/doomed.txt"
	gen 3000 old >"$src/keep/overwrite.txt"
	echo "renamed" >"$src/keep/old-name.txt"
	echo "secret" >"$src/keep/secret.txt"
	gen 20000 grow >"$src/keep/grow.bin"
	find "$src" -depth -exec touch -h -d "$T_FILE" {} +
	rm -f "$img"
	mke2fs -q -F "$@" -d "$src" "$img" "$size" >"$work/mke2fs.log" 2>&1 || { cat "$work/mke2fs.log" >&2; exit 1; }

	mount -o loop,commit=600,data=ordered "$img" "$mnt"
	changes "$mnt" "$small"
	cp --sparse=always "$img" "$copy"
	umount "$mnt"

	if ! dumpe2fs -h "$copy" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
		log "$name: the copy does not need recovery"; exit 1
	fi
	debugfs -R "logdump" "$copy" >"$work/logdump" 2>&1
	local commits revokes
	commits=$(grep -c 'Found expected sequence.*commit block' "$work/logdump" || true)
	revokes=$(grep -c 'Found expected sequence.*revoke table' "$work/logdump" || true)
	log "$name: $commits transactions, $revokes revoke blocks in the journal"
	[ "$commits" -gt 0 ] || { log "$name: no transactions"; exit 1; }

	mount -o ro,noload,loop "$copy" "$mnt"
	list "$out/$name-noreplay.expect" tolerant
	umount "$mnt"
	cp --sparse=always "$copy" "$work/replayed.img"
	mount -o loop "$work/replayed.img" "$mnt"
	list "$out/$name.expect"
	umount "$mnt"
	rm -f "$work/replayed.img"

	if [ "$nogzip" != 1 ]; then gzip -9n <"$copy" >"$out/$name.img.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$copy" "$out/$name.img"; fi
	log "$name done"
}

# buildext NAME makes an ext4 filesystem whose journal is on a separate
# journal device (mke2fs -O journal_dev), both through loop devices:
#
#   NAME-fs.ext4.gz         the filesystem, copied while it was mounted
#   NAME-dev.jdev.gz        its journal device, copied at the same moment
#   NAME.expect             the kernel's listing after it replayed the
#                           copies (mounted with journal_path= the copy
#                           of the journal device)
buildext() {
	local name=$1
	local src=$work/$name.src img=$work/$name.img jimg=$work/$name.jdev
	rm -rf "$src"; mkdir -p "$src/keep"
	echo "from mke2fs" >"$src/hello.txt"
	echo "doomed" >"$src/doomed.txt"
	gen 3000 old >"$src/keep/overwrite.txt"
	echo "renamed" >"$src/keep/old-name.txt"
	echo "secret" >"$src/keep/secret.txt"
	gen 20000 grow >"$src/keep/grow.bin"
	find "$src" -depth -exec touch -h -d "$T_FILE" {} +
	rm -f "$img" "$jimg"
	truncate -s 8M "$jimg"
	mke2fs -q -F -O journal_dev -b 4096 -U 6a6f7572-6e61-4c58-8001-0000000000aa "$jimg" >"$work/mke2fs.log" 2>&1 || { cat "$work/mke2fs.log" >&2; exit 1; }
	local jdev fdev
	jdev=$(losetup -f --show "$jimg")
	truncate -s 16M "$img"
	mke2fs -q -F -t ext4 -b 4096 -J device="$jdev" -d "$src" \
		-U 6a6f7572-6e61-4c58-8001-000000000004 -E hash_seed=6a6f7572-6e61-4c58-8001-0000000000a4 \
		"$img" >"$work/mke2fs.log" 2>&1 || { cat "$work/mke2fs.log" >&2; losetup -d "$jdev"; exit 1; }
	fdev=$(losetup -f --show "$img")
	mount -o commit=600,data=ordered,journal_path="$jdev" "$fdev" "$mnt"
	changes "$mnt" 20
	cp --sparse=always "$img" "$work/fs.copy"
	cp --sparse=always "$jimg" "$work/jdev.copy"
	umount "$mnt"
	losetup -d "$fdev" "$jdev"

	if ! dumpe2fs -h "$work/fs.copy" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
		log "$name: the copy does not need recovery"; exit 1
	fi
	if [ "$nogzip" != 1 ]; then
		gzip -9n <"$work/fs.copy" >"$out/$name-fs.ext4.gz"
		gzip -9n <"$work/jdev.copy" >"$out/$name-dev.jdev.gz"
	fi
	if [ "$keepraw" = 1 ]; then
		cp --sparse=always "$work/fs.copy" "$out/$name-fs.ext4"
		cp --sparse=always "$work/jdev.copy" "$out/$name-dev.jdev"
	fi
	jdev=$(losetup -f --show "$work/jdev.copy")
	fdev=$(losetup -f --show "$work/fs.copy")
	mount -o journal_path="$jdev" "$fdev" "$mnt"
	list "$out/$name.expect"
	umount "$mnt"
	losetup -d "$fdev" "$jdev"
	log "$name done"
}

# buildfc NAME makes an ext4 filesystem with fast_commit whose fast-commit
# area holds fast commits not yet replayed (small files created and
# appended to, each fsynced):
#
#   NAME.ext4.gz            the filesystem, copied while it was mounted
#   NAME.logdump            the fast-commit area as debugfs's logdump
#                           decodes it
#   NAME.expect             the kernel's listing after it replayed a copy
buildfc() {
	local name=$1
	local src=$work/$name.src img=$work/$name.img copy=$work/$name.copy i
	rm -rf "$src"; mkdir -p "$src/dir"
	echo "from mke2fs" >"$src/hello.txt"
	echo "grows" >"$src/grow.txt"
	find "$src" -depth -exec touch -h -d "$T_FILE" {} +
	rm -f "$img"
	mke2fs -q -F -t ext4 -b 4096 -O fast_commit -J size=4 -d "$src" \
		-U 6a6f7572-6e61-4c46-8001-000000000004 -E hash_seed=6a6f7572-6e61-4c46-8001-0000000000a4 \
		"$img" 16M >"$work/mke2fs.log" 2>&1 || { cat "$work/mke2fs.log" >&2; exit 1; }
	mount -o loop,commit=600 "$img" "$mnt"
	gen 3000 more >>"$mnt/grow.txt"; sync "$mnt/grow.txt"
	for ((i = 0; i < 4; i++)); do
		echo "fast $i" >"$mnt/dir/f$i"; sync "$mnt/dir/f$i"
	done
	gen 10000 big >"$mnt/big.txt"; sync "$mnt/big.txt"
	cp --sparse=always "$img" "$copy"
	umount "$mnt"
	debugfs -R "logdump" "$copy" 2>/dev/null | sed -n '/Fast Commit Area/,$p' >"$out/$name.logdump"
	grep -q 'tag TAIL' "$out/$name.logdump" || { log "$name: no fast commits"; exit 1; }
	cp --sparse=always "$copy" "$work/replayed.img"
	mount -o loop "$work/replayed.img" "$mnt"
	list "$out/$name.expect"
	umount "$mnt"
	rm -f "$work/replayed.img"
	if [ "$nogzip" != 1 ]; then gzip -9n <"$copy" >"$out/$name.ext4.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$copy" "$out/$name.ext4"; fi
	log "$name done"
}

# ext3-journal: ext3, 1 KiB blocks, block-mapped files and journal (1 MiB,
# so the small files wrap the log around).
want ext3-journal && build ext3-journal 4M 150 -t ext3 -b 1024 -J size=1 \
	-U 6a6f7572-6e61-4c33-8001-000000000003 -E hash_seed=6a6f7572-6e61-4c33-8001-0000000000a3
# ext4-journal: ext4 with extents, 64bit and metadata_csum, so the journal
# has 64-bit block numbers and v3 checksums.
want ext4-journal && build ext4-journal 24M 150 -t ext4 -b 4096 -O 64bit,metadata_csum -J size=4 \
	-U 6a6f7572-6e61-4c34-8001-000000000004 -E hash_seed=6a6f7572-6e61-4c34-8001-0000000000a4
# extjournal: ext4 with its journal on an external journal device.
want extjournal && buildext extjournal
# fastcommit: ext4 with fast commits pending in the fast-commit area.
want fastcommit && buildfc fastcommit
exit 0
