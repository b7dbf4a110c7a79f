#!/bin/bash
# mkxattr.sh builds the extended attribute fixtures: small ext4 images whose
# files carry attributes of every kind, set through a kernel read-write loop
# mount with setfattr and setfacl, then listed by the kernel from a read-only
# mount.
#
# Usage: mkxattr.sh [OUTDIR]        (default: testdata)
#
# Needs root (loop mounts, trusted.* and security.* names), e2fsprogs,
# setfattr/getfattr (attr), setfacl (acl), gzip, sha256sum.
#
# Images:
#   xattr-256   4 KiB blocks, 256-byte inodes, ea_inode: attributes in the
#               inode, in blocks (some shared by two files) and in ea_inodes
#   xattr-128   1 KiB blocks, 128-byte inodes: every attribute in a block
#
# For every image NAME it writes into OUTDIR:
#   NAME.img.gz    the image (gzip -9n)
#   NAME.expect    the kernel's listing, in mkfixtures.sh's format
#   NAME.xattrs    every extended attribute the kernel lists, one per line:
#                  path TAB name TAB value in hex ("-" for an empty value),
#                  sorted by path, then name; "." is the root; lines starting
#                  with '#' are comments
#
# Environment: MKFIXTURES_ONLY, MKFIXTURES_RAW, MKFIXTURES_NOGZIP as for
# mkfixtures.sh.
set -euo pipefail

source "$(dirname "$0")/lib.sh"

XHEADER='# path	name	value (tab-separated; every extended attribute the kernel lists (getfattr -h -d -m -), sorted by path, then name; "." is the root; value in lower-case hex, "-" if empty)'

# x FILE NAME VALUE sets one attribute on FILE itself (not a link's target).
x() { setfattr -h -n "$2" -v "$3" "$1"; }

# populate DIR BIG EA sets up files and attributes under the mounted DIR; BIG
# is the size of a value that still fits in an attribute block; EA=1 adds
# values that need ea_inodes.
populate() {
	local m=$1 big=$2 ea=$3 i
	echo hello >"$m/plain.txt"
	echo small >"$m/small.txt"
	x "$m/small.txt" user.comment "hello"
	x "$m/small.txt" user.empty ""
	x "$m/small.txt" user.bin 0x00ff0110
	x "$m/small.txt" user.text-nul "0x6869206e756c00"
	x "$m/small.txt" user.quote 'a "quoted" \ value'
	echo many >"$m/many.txt"
	local n=24
	if [ "$big" -lt 1000 ]; then n=8; fi # a 1 KiB block holds fewer
	for ((i = 0; i < n; i++)); do
		x "$m/many.txt" "user.attr$(printf %02d $i)" "value number $i of many, padded $(gen $((i * 3)) p)"
	done
	echo big >"$m/big.txt"
	x "$m/big.txt" user.big "$(gen "$big" big)"
	for f in shared1 shared2 shared3; do
		echo "$f" >"$m/$f"
		x "$m/$f" user.shared "$(gen 300 shared)"
		x "$m/$f" user.also "the same attributes on three files"
	done
	echo sec >"$m/security.txt"
	x "$m/security.txt" security.selinux "0x$(printf 'system_u:object_r:etc_t:s0' | od -An -tx1 | tr -d ' \n')00"
	x "$m/security.txt" trusted.overlay.opaque y
	x "$m/security.txt" trusted.md5 0x0123456789abcdef0123456789abcdef
	echo acl >"$m/acl.txt"
	setfacl -m u:1000:r--,u:1001:rw-,g:100:r-x,g:4294967294:rwx,m::rwx "$m/acl.txt"
	echo acl >"$m/acl-masked.txt"
	setfacl -m u:1000:rwx,g:100:rwx,m::r-- "$m/acl-masked.txt"
	mkdir -p "$m/dir/sub"
	setfacl -m u:1000:rwx "$m/dir"
	setfacl -d -m u:1000:rwx,g:100:r-x,m::rwx "$m/dir"
	echo inherits >"$m/dir/inherited.txt"
	setfacl -d -m u:2000:r-x "$m/dir/sub"
	x "$m/dir" user.dirattr "on a directory"
	echo deep >"$m/dir/sub/deep.txt"
	x "$m/dir/sub/deep.txt" user.deep "deep down"
	ln -s plain.txt "$m/link"
	x "$m/link" trusted.symlink "on the link itself"
	chmod 4755 "$m/plain.txt"
	x "$m" user.root "on the root directory"
	if [ "$ea" = 1 ]; then
		# Values too large for a block go to ea_inodes; identical ones are
		# shared between files.
		echo huge >"$m/huge.txt"
		x "$m/huge.txt" user.huge "$(gen 20000 huge)"
		x "$m/huge.txt" user.max "$(gen 65536 max)"
		x "$m/huge.txt" user.small "next to huge ones"
		echo huge2 >"$m/huge2.txt"
		x "$m/huge2.txt" user.huge "$(gen 20000 huge)"
	fi
}

# xattrs DIR writes the kernel's view of every attribute under DIR.
xattrs() {
	(
		cd "$1"
		find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>/dev/null
	) | awk -v OFS='\t' '
		/^# file: / { p = substr($0, 9); sub(/^\.\//, "", p); next }
		/^$/ { next }
		{
			i = index($0, "="); n = substr($0, 1, i - 1); v = substr($0, i + 3)
			if (v == "") v = "-"
			print p, n, v
		}' | LC_ALL=C sort -t '	' -k1,1 -k2,2
}

# list DIR writes the kernel's listing of DIR in mkfixtures.sh's format.
list() { listing "$1"; }

# build NAME SIZE BIG EA mke2fs-args... makes one image.
build() {
	local name=$1 size=$2 big=$3 ea=$4
	shift 4
	local img=$work/$name.img
	rm -f "$img"
	mke2fs -q -F -t ext4 -U 7d1e4a52-3b6c-4f0e-9a21-5c8d0e6f$(printf %04x ${#name}) \
		-E lazy_itable_init=0,lazy_journal_init=0,nodiscard,hash_seed=7d1e4a52-3b6c-4f0e-9a21-5c8d0e6f0000 \
		-O ^has_journal "$@" "$img" "$size" >"$work/mke2fs.log" 2>&1 || { cat "$work/mke2fs.log" >&2; exit 1; }
	mount -o loop,rw,acl,user_xattr "$img" "$mnt"
	populate "$mnt" "$big" "$ea"
	find "$mnt" -depth -exec touch -h -d "$T_FILE" {} +
	umount "$mnt"
	e2fsck -fn "$img" >"$work/fsck.log" 2>&1 || { cat "$work/fsck.log" >&2; log "e2fsck $name failed"; exit 1; }
	mount -o ro,loop "$img" "$mnt"
	list "$mnt" >"$out/$name.expect"
	{ echo "$XHEADER"; xattrs "$mnt"; } >"$out/$name.xattrs"
	umount "$mnt"
	if [ "$nogzip" != 1 ]; then gzip -9n <"$img" >"$out/$name.img.gz"; fi
	if [ "$keepraw" = 1 ]; then cp --sparse=always "$img" "$out/$name.img"; fi
	log "$name done"
}

want xattr-256 && build xattr-256 6M 3000 1 -b 4096 -I 256 -O ea_inode
want xattr-128 && build xattr-128 3M 700 0 -b 1024 -I 128 -O ^metadata_csum,^64bit
exit 0
