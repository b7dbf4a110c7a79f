#!/bin/bash
# mkfeatures.sh builds small ext4 images that each use on-disk features the
# images of mkfixtures.sh do not, and lists them through the Linux kernel the
# same way (the .expect format is described in mkfixtures.sh).
#
# Usage: mkfeatures.sh [OUTDIR]        (default: testdata)
#
# Needs root (loop mounts, chattr on a mounted filesystem), e2fsprogs,
# gzip and sha256sum; faketime if present. Environment: MKFIXTURES_ONLY,
# MKFIXTURES_RAW and MKFIXTURES_NOGZIP as for mkfixtures.sh.
#
# Images (NAME.img.gz and NAME.expect):
#   feat-inline    inline_data: small files, symlinks and directories kept in
#                  the inode (i_block and the system.data attribute)
#   feat-bigalloc  bigalloc with 16 KiB clusters: small, large and sparse files
#   feat-casefold  casefold (utf8): a directory with the casefold flag and
#                  mixed-case names (listing from a twin: see build_casefold)
#   feat-128       128-byte inodes, 1 KiB blocks, uninit_bg (crc16 group
#                  descriptor checksums) instead of metadata_csum
#   feat-misc      metadata_csum_seed with a UUID changed afterwards,
#                  sparse_super2, orphan_file, mmp, large_dir, verity,
#                  huge_file, dir_nlink, extra_isize, meta_bg
#   feat-hurd      made for the Hurd (creator OS 1, no file types in entries)
#   feat-64k       64 KiB blocks. The kernel here cannot mount blocks larger
#                  than a page, so its listing is that of the same tree built
#                  with 4 KiB blocks (feat-64k-twin, not kept), with
#                  directory sizes taken from debugfs.
#   largedir       a 3-level htree (large_dir): see build_largedir
set -euo pipefail

source "$(dirname "$0")/lib.sh"

# inodes IMG lists the inode numbers of every entry, through debugfs, so
# that it works for filesystems this kernel cannot mount.
inodes() {
	local img=$1 todo=/ d
	{
		echo 2
		while [ -n "$todo" ]; do
			d=${todo%%$'\n'*}
			if [ "$d" = "$todo" ]; then todo=''; else todo=${todo#*$'\n'}; fi
			while IFS=/ read -r _ ino mode _ _ name _; do
				[ -z "$ino" ] || [ "$ino" = 0 ] || [ "$name" = . ] || [ "$name" = .. ] && continue
				echo "$ino"
				case $mode in 04*) todo+=${todo:+$'\n'}"$d$name/" ;; esac
			done < <(fake debugfs -R "ls -p \"$d\"" "$img" 2>/dev/null)
		done
	} | sort -un
}

# normalize IMG gives every inode the same atime and ctime.
normalize() {
	local img=$1
	inodes "$img" >"$work/inodes"
	awk -v t="@$EPOCH" '{ printf "sif <%s> atime %s\nsif <%s> ctime %s\n", $1, t, $1, t }' "$work/inodes" >"$work/norm.cmds"
	dbg "$img" "$work/norm.cmds"
}

# list IMG EXPECT writes the kernel's listing of the filesystem in IMG.
list() {
	local img=$1 expect=$2
	mount -o ro,loop "$img" "$mnt"
	listing "$mnt" >"$expect"
	umount "$mnt"
}

finish() {
	local name=$1 img=$2
	if [ "$nogzip" != 1 ]; then gzip -9n <"$img" >"$out/$name.img.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$img" "$out/$name.img"; fi
	log "$name done"
}

# build NAME SIZE SRC mke2fs-args... makes, checks and lists one image.
build() {
	local name=$1 size=$2 src=$3 img=$work/$1.img
	shift 3
	mkext "$img" "$size" "$src" "$@"
	normalize "$img"
	fsck_check "$img"
	list "$img" "$out/$name.expect"
	finish "$name" "$img"
}

# small_tree DIR writes a few files, links and directories.
small_tree() {
	local d=$1
	mkdir -p "$d/dir/sub" "$d/empty-dir"
	echo "hello" >"$d/hello.txt"
	: >"$d/empty"
	gen 5000 big >"$d/big.bin"
	echo nested >"$d/dir/sub/file"
	ln -s ../hello.txt "$d/dir/link"
	ln "$d/hello.txt" "$d/dir/hard"
}

build_inline() {
	local src=$work/inline.src img=$work/feat-inline.img i
	rm -rf "$src"; mkdir -p "$src/tiny-dir" "$src/more-dir" "$src/block-dir"
	for i in 1 59 60 61 100 120 150 4000; do gen $i "inline$i" >"$src/size-$i"; done
	: >"$src/empty"
	echo one >"$src/tiny-dir/a"
	for i in 1 2 3 4 5 6; do echo "$i" >"$src/more-dir/entry-$i"; done
	for i in $(seq 1 40); do : >"$src/block-dir/a-longer-file-name-$i"; done
	ln -s size-1 "$src/short-link"
	ln -s "$(printf 'x%.0s' $(seq 1 80))" "$src/long-link"
	stamp "$src"
	mkext "$img" 4M "$src" -t ext4 -b 1024 -I 256 -N 128 -O inline_data,^has_journal -L feat-inline \
		-U 11111111-2222-4333-8444-0000000000f1 -E hash_seed=11111111-2222-4333-8444-0000000000e1
	# mke2fs moves a directory to a block when i_block is full; the kernel
	# first continues it in system.data.
	mount -o loop "$img" "$mnt"
	mkdir "$mnt/kernel-dir"
	for i in 1 2 3 4 5 6; do echo "$i" >"$mnt/kernel-dir/entry-$i"; done
	echo "written by the kernel, continued in system.data: 100 bytes long......................" >"$mnt/kernel-file"
	find "$mnt" -depth -exec touch -h -d "$T_FILE" {} +
	umount "$mnt"
	fake tune2fs -M "" "$img" >/dev/null 2>&1 # no mount point of this machine in the image
	normalize "$img"
	fsck_check "$img"
	list "$img" "$out/feat-inline.expect"
	finish feat-inline "$img"
}

build_bigalloc() {
	local src=$work/bigalloc.src f
	rm -rf "$src"; mkdir -p "$src/d"
	small_tree "$src/d"
	gen 1000000 large >"$src/large"
	f=$src/sparse; : >"$f"; put "$f" 0 100 s0; put "$f" $((200 * 1024 + 5)) 20000 s1; put "$f" $((3 * 1024 * 1024)) 7000 s2
	truncate -s $((5 * 1024 * 1024)) "$f"
	f=$src/hole-start; : >"$f"; put "$f" $((70 * 1024)) 3000 hs
	stamp "$src"
	build feat-bigalloc 32M "$src" -t ext4 -b 4096 -O bigalloc,^has_journal,^resize_inode -C 16384 -N 64 -L feat-bigalloc \
		-U 11111111-2222-4333-8444-0000000000f2 -E hash_seed=11111111-2222-4333-8444-0000000000e2
}

# twin IMG TWIN EXPECT writes as EXPECT the kernel's listing of TWIN, an
# image of the same tree that this kernel can mount, with the sizes of
# directories taken from IMG.
twin() {
	local img=$1 tw=$2 expect=$3 p
	normalize "$img"
	normalize "$tw"
	fsck_check "$img"
	fsck_check "$tw"
	list "$tw" "$work/twin.expect"
	for p in $(awk -F '\t' '$2 == "d" { print $1 }' "$work/twin.expect"); do
		printf '%s\t%s\n' "$p" "$(fake debugfs -R "stat \"/${p#.}\"" "$img" 2>/dev/null | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -1)"
	done >"$work/dirsizes"
	awk -F '\t' -v OFS='\t' 'FILENAME ~ /dirsizes$/ { s[$1] = $2; next }
		/^#/ { print; next }
		$2 == "d" { if (s[$1] == "") { print "mkfeatures: no size for " $1 > "/dev/stderr"; exit 1 } $6 = s[$1] }
		{ print }' "$work/dirsizes" "$work/twin.expect" >"$expect"
}

# The kernel here has no CONFIG_UNICODE, so it cannot mount a casefold
# filesystem: the casefold flag is set with debugfs (beside the extents flag) on a directory that is
# small enough to have no htree index (names are hashed only in an index),
# and the listing is that of a twin without the casefold feature.
build_casefold() {
	local src=$work/casefold.src img=$work/feat-casefold.img tw=$work/feat-casefold-twin.img
	rm -rf "$src"; mkdir -p "$src/fold/Sub"
	small_tree "$src"
	echo readme >"$src/fold/README"
	echo mixed >"$src/fold/MiXeD.Txt"
	echo unicode >"$src/fold/Ärger-Ωmega"
	echo lower >"$src/fold/Sub/lower"
	echo exact >"$src/Exact"
	stamp "$src"
	mkext "$img" 4M "$src" -t ext4 -b 1024 -N 64 -O casefold,^has_journal,^resize_inode -E encoding=utf8,hash_seed=11111111-2222-4333-8444-0000000000e3 \
		-L feat-casefold -U 11111111-2222-4333-8444-0000000000f3
	mkext "$tw" 4M "$src" -t ext4 -b 1024 -N 64 -O ^has_journal,^resize_inode -E hash_seed=11111111-2222-4333-8444-0000000000e3 \
		-L feat-casefold -U 11111111-2222-4333-8444-0000000000f3
	printf 'sif /fold flags 0x40080000\n' >"$work/casefold.cmds"
	dbg "$img" "$work/casefold.cmds"
	twin "$img" "$tw" "$out/feat-casefold.expect"
	finish feat-casefold "$img"
}

build_128() {
	local src=$work/i128.src
	rm -rf "$src"; mkdir -p "$src"
	small_tree "$src"
	stamp "$src"
	build feat-128 4M "$src" -t ext4 -b 1024 -I 128 -N 64 -O ^metadata_csum,uninit_bg,^has_journal -L feat-128 \
		-U 11111111-2222-4333-8444-0000000000f4 -E hash_seed=11111111-2222-4333-8444-0000000000e4
}

build_misc() {
	local src=$work/misc.src img=$work/feat-misc.img
	rm -rf "$src"; mkdir -p "$src"
	small_tree "$src"
	stamp "$src"
	mkext "$img" 8M "$src" -t ext4 -b 1024 -g 1024 -N 128 \
		-O metadata_csum_seed,sparse_super2,orphan_file,large_dir,verity,meta_bg,^resize_inode \
		-E num_backup_sb=1,hash_seed=11111111-2222-4333-8444-0000000000e5 \
		-L feat-misc -U 11111111-2222-4333-8444-0000000000f5
	# With metadata_csum_seed the seed stays that of the first UUID.
	fake tune2fs -U 11111111-2222-4333-8444-0000000000f6 "$img" >/dev/null 2>&1
	normalize "$img"
	# mmp last: with it, every debugfs -w waits 11 seconds. The MMP block
	# records a host and device name: a fixed host where unshare can set
	# one, and the image's base name.
	if command -v unshare >/dev/null 2>&1 && unshare --uts true 2>/dev/null; then
		(cd "$work" && unshare --uts sh -c 'hostname fixture && tune2fs -O mmp -E mmp_update_interval=1 feat-misc.img' >/dev/null 2>&1)
	else
		(cd "$work" && tune2fs -O mmp -E mmp_update_interval=1 feat-misc.img >/dev/null 2>&1)
	fi
	fsck_check "$img"
	list "$img" "$out/feat-misc.expect"
	finish feat-misc "$img"
}

build_hurd() {
	local src=$work/hurd.src
	rm -rf "$src"; mkdir -p "$src"
	small_tree "$src"
	stamp "$src"
	build feat-hurd 4M "$src" -t ext2 -o hurd -b 4096 -N 64 -L feat-hurd \
		-U 11111111-2222-4333-8444-0000000000f7 -E hash_seed=11111111-2222-4333-8444-0000000000e7
}

build_64k() {
	local src=$work/64k.src img=$work/feat-64k.img tw=$work/feat-64k-twin.img
	rm -rf "$src"; mkdir -p "$src"
	small_tree "$src"
	gen 200000 b64 >"$src/large"
	stamp "$src"
	mkext "$img" 16M "$src" -t ext4 -b 65536 -N 64 -O ^has_journal,^resize_inode -L feat-64k \
		-U 11111111-2222-4333-8444-0000000000f8 -E hash_seed=11111111-2222-4333-8444-0000000000e8
	mkext "$tw" 16M "$src" -t ext4 -b 4096 -N 64 -O ^has_journal,^resize_inode -L feat-64k \
		-U 11111111-2222-4333-8444-0000000000f8 -E hash_seed=11111111-2222-4333-8444-0000000000e8
	twin "$img" "$tw" "$out/feat-64k.expect"
	finish feat-64k "$img"
}

# largedir: large_dir with a 3-level htree (two levels of index nodes
# below the root), which with 1 KiB blocks takes some 46,000 entries of
# 255-byte names: hard links to one file, made by the kernel (mke2fs -d
# takes many minutes for this). Its full listing would be some 19 MB, so
# the kernel's view is summarized in largedir.kernel (entry count and the
# sha256 of the sorted names of /big) and the image is largedir.ext4.gz,
# which fixturetest does not list.
build_largedir() {
	local img=$work/largedir.img n=48000 levels
	if ! command -v python3 >/dev/null 2>&1; then log "largedir needs python3; skipped"; return; fi
	rm -rf "$work/largedir.src"; mkdir -p "$work/largedir.src"
	echo "large_dir" >"$work/largedir.src/README"
	stamp "$work/largedir.src"
	mkext "$img" 32M "$work/largedir.src" -t ext4 -b 1024 -N 64 -O large_dir,^has_journal -L feat-largedir \
		-U 11111111-2222-4333-8444-0000000000f9 -E hash_seed=11111111-2222-4333-8444-0000000000e9
	mount -o loop "$img" "$mnt"
	mkdir "$mnt/big"
	echo "one file, $n names" >"$mnt/big/f"
	python3 -c 'import os, sys
os.chdir(sys.argv[1])
for i in range(int(sys.argv[2])):
    os.link("f", "%06d" % i + "n" * 249)' "$mnt/big" "$n"
	find "$mnt" -maxdepth 1 -exec touch -h -d "$T_FILE" {} +
	touch -h -d "$T_FILE" "$mnt/big/f"
	umount "$mnt"
	fake tune2fs -M "" "$img" >/dev/null 2>&1
	# Packed leaves make a smaller image; the tree stays 3 levels deep.
	fake e2fsck -fyD "$img" >/dev/null 2>&1 || [ $? -le 1 ]
	levels=$(fake debugfs -R "htree /big" "$img" 2>/dev/null | sed -n 's/.*Indirect levels: //p' | head -1)
	if [ "$levels" != 2 ]; then log "largedir: /big has $levels indirect levels, want 2"; exit 1; fi
	fsck_check "$img"
	mount -o ro,loop "$img" "$mnt"
	{
		echo "entries $(ls -f "$mnt/big" | grep -cvx '\.\|\.\.')"
		echo "names-sha256 $(ls -f "$mnt/big" | grep -vx '\.\|\.\.' | sort | sha256sum | cut -c1-64)"
		echo "nlink $(stat -c %h "$mnt/big/f")"
	} >"$out/largedir.kernel"
	umount "$mnt"
	if [ "$nogzip" != 1 ]; then gzip -9n <"$img" >"$out/largedir.ext4.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$img" "$out/largedir.ext4"; fi
	log "largedir done"
}

start=$SECONDS
want feat-inline && build_inline
want feat-bigalloc && build_bigalloc
want feat-casefold && build_casefold
want feat-128 && build_128
want feat-misc && build_misc
want feat-hurd && build_hurd
want feat-64k && build_64k
want largedir && build_largedir
log "all done in $((SECONDS - start))s"
