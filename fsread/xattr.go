package fsread

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// The on-disk extended attribute format, as the ext4 documentation
// describes it. Attributes live in two places: the space after
// i_extra_isize at the end of a large inode (a 4-byte magic, then
// entries; values are placed relative to the first entry), and one
// block named by i_file_acl (a 32-byte header, then entries; values are
// placed relative to the block). Each entry is 16 bytes plus its name,
// padded to 4 bytes; a zero word ends the list. With the ea_inode
// feature, an entry may keep its value in the data of another inode
// (e_value_inum) instead.
const (
	xattrMagic      = 0xEA020000
	xattrHeaderSize = 32 // block header
	xattrEntrySize  = 16 // entry without its name

	// maxXattrValue is the largest value an entry may have, as the kernel
	// bounds it on disk (EXT4_XATTR_SIZE_MAX); values held in a block or
	// in the inode are smaller still.
	maxXattrValue = 1 << 24
	// maxXattrTotal bounds the bytes of values read for one inode.
	maxXattrTotal = 64 << 20
)

// Name indexes of xattr entries.
const (
	xattrIndexUser            = 1
	xattrIndexPosixACLAccess  = 2
	xattrIndexPosixACLDefault = 3
	xattrIndexTrusted         = 4
	xattrIndexLustre          = 5
	xattrIndexSecurity        = 6
	xattrIndexSystem          = 7 // system.data holds inline data
	xattrIndexRichACL         = 8
	xattrIndexHurd            = 9
	xattrIndexEncrypt         = 10
)

// xattrPrefixes maps the name index of an entry to the prefix of its
// full name. The two POSIX ACL indexes name the whole attribute.
var xattrPrefixes = map[uint8]string{
	0:                         "",
	xattrIndexUser:            "user.",
	xattrIndexPosixACLAccess:  "system.posix_acl_access",
	xattrIndexPosixACLDefault: "system.posix_acl_default",
	xattrIndexTrusted:         "trusted.",
	xattrIndexSecurity:        "security.",
	xattrIndexSystem:          "system.",
	xattrIndexRichACL:         "system.richacl",
	xattrIndexHurd:            "gnu.",
}

// Xattr is one extended attribute of a file.
type Xattr struct {
	Name  string // full name with its namespace: "user.comment", "security.selinux"
	Value []byte
}

// rawXattr is an entry as stored, before the name index is turned into a
// prefix.
type rawXattr struct {
	index uint8
	name  string
	value []byte
	inum  uint32 // e_value_inum: the value is the data of this inode
	size  uint32 // e_value_size
}

// ibodyXattrs returns the in-inode attribute area of the raw inode b
// whose i_extra_isize is extra: the bytes after the magic, or nil if the
// inode has no such area or the magic is absent (the kernel then sees no
// in-inode attributes).
func ibodyXattrs(b []byte, extra int) []byte {
	start := 128 + extra
	if len(b) <= 128 || start+8 > len(b) || binary.LittleEndian.Uint32(b[start:]) != xattrMagic {
		return nil
	}
	return bytes.Clone(b[start+4:])
}

// parseXattrEntries decodes the entries of one attribute area. area holds
// the entries from entOff on and the values; value offsets count from
// valBase. where names the area for errors ("inode 12", "xattr block
// 345 of inode 12"); off is the area's byte offset in the image, or -1.
func parseXattrEntries(area []byte, entOff, valBase int, where string, off int64) ([]rawXattr, error) {
	le := binary.LittleEndian
	bad := func(at int, format string, args ...any) error {
		o := int64(-1)
		if off >= 0 {
			o = off + int64(at)
		}
		return formatErr(o, "%s: extended attributes: %s", where, fmt.Sprintf(format, args...))
	}
	end := len(area)
	// First pass: find the end of the entry list, checking names.
	type ent struct {
		at          int
		nameLen     int
		index       uint8
		offs        int
		inum, vsize uint32
	}
	var ents []ent
	p := entOff
	for {
		if p+4 > end {
			return nil, bad(p, "entry list at byte %d runs past the end of the area (%d bytes)", p, end)
		}
		if le.Uint32(area[p:]) == 0 {
			break
		}
		if p+xattrEntrySize > end {
			return nil, bad(p, "entry at byte %d runs past the end of the area (%d bytes)", p, end)
		}
		e := ent{
			at:      p,
			nameLen: int(area[p]),
			index:   area[p+1],
			offs:    int(le.Uint16(area[p+2:])),
			inum:    le.Uint32(area[p+4:]),
			vsize:   le.Uint32(area[p+8:]),
		}
		next := p + (xattrEntrySize+e.nameLen+3)&^3
		if next >= end {
			return nil, bad(p, "entry at byte %d with a %d-byte name runs past the end of the area (%d bytes)", p, e.nameLen, end)
		}
		if bytes.IndexByte(area[p+xattrEntrySize:p+xattrEntrySize+e.nameLen], 0) >= 0 {
			return nil, bad(p, "entry at byte %d has a NUL byte in its name", p)
		}
		ents = append(ents, e)
		p = next
	}
	listEnd := p + 4 // values must lie after the terminating word
	out := make([]rawXattr, 0, len(ents))
	for _, e := range ents {
		x := rawXattr{
			index: e.index,
			name:  string(area[e.at+xattrEntrySize : e.at+xattrEntrySize+e.nameLen]),
			inum:  e.inum,
			size:  e.vsize,
		}
		if e.vsize > maxXattrValue {
			return nil, bad(e.at, "entry %q has a value of %d bytes, more than %d", x.name, e.vsize, maxXattrValue)
		}
		if e.inum == 0 && e.vsize > 0 {
			start := valBase + e.offs
			size := int(e.vsize)
			padded := (size + 3) &^ 3
			if start < listEnd || start > end || padded > end-start {
				return nil, bad(e.at, "entry %q: value of %d bytes at offset %d lies outside the value area (bytes %d to %d)",
					x.name, size, e.offs, listEnd-valBase, end-valBase)
			}
			x.value = area[start : start+size : start+size]
		} else if e.inum == 0 {
			x.value = []byte{}
		}
		out = append(out, x)
	}
	return out, nil
}

// parseXattrBlock decodes an attribute block. where and off are as for
// parseXattrEntries.
func parseXattrBlock(b []byte, where string, off int64) ([]rawXattr, error) {
	le := binary.LittleEndian
	if len(b) < xattrHeaderSize+4 {
		return nil, formatErr(off, "%s: block of %d bytes too small", where, len(b))
	}
	if m := le.Uint32(b); m != xattrMagic {
		return nil, formatErr(off, "%s: bad magic %#08x (want %#08x)", where, m, xattrMagic)
	}
	if n := le.Uint32(b[8:]); n != 1 {
		return nil, formatErr(off+8, "%s: h_blocks is %d, not 1", where, n)
	}
	return parseXattrEntries(b, xattrHeaderSize, 0, where, off)
}

// parseXattrIbody decodes an in-inode attribute area as kept in
// inode.ibody (entries and values after the magic).
func parseXattrIbody(area []byte, ino uint64) ([]rawXattr, error) {
	return parseXattrEntries(area, 0, 0, fmt.Sprintf("inode %d: in-inode area", ino), -1)
}

// rawXattrs returns every attribute entry of in, in the order the kernel
// lists them: the in-inode entries first, then those of the block, each
// in on-disk order. Values held in ea_inodes are read.
func (f *FS) rawXattrs(in *inode) ([]rawXattr, error) {
	var all []rawXattr
	if len(in.ibody) > 0 {
		xs, err := parseXattrIbody(in.ibody, in.ino)
		if err != nil {
			return nil, err
		}
		all = xs
	}
	if in.fileACL != 0 {
		blk := in.fileACL
		where := fmt.Sprintf("inode %d: xattr block %d", in.ino, blk)
		if blk < uint64(f.sb.firstDataBlock) || blk >= f.sb.blocksCount {
			return nil, formatErr(-1, "%s lies outside the filesystem (%d blocks)", where, f.sb.blocksCount)
		}
		b := make([]byte, f.bs)
		off := int64(blk * f.bs)
		if err := f.readFull(b, off, "%s", where); err != nil {
			return nil, err
		}
		if err := f.checkXattrBlock(blk, b); err != nil {
			return nil, err
		}
		xs, err := parseXattrBlock(b, where, off)
		if err != nil {
			return nil, err
		}
		all = append(all, xs...)
	}
	total := 0
	for i := range all {
		x := &all[i]
		if x.inum == 0 {
			total += len(x.value)
			continue
		}
		if total+int(x.size) > maxXattrTotal {
			return nil, formatErr(-1, "inode %d: extended attribute values exceed %d bytes", in.ino, maxXattrTotal)
		}
		v, err := f.eaInodeValue(in, x)
		if err != nil {
			return nil, err
		}
		x.value = v
		total += len(v)
	}
	return all, nil
}

// eaInodeValue reads the value of x from the data of its ea_inode.
func (f *FS) eaInodeValue(parent *inode, x *rawXattr) ([]byte, error) {
	where := fmt.Sprintf("inode %d: extended attribute %q: value inode %d", parent.ino, x.name, x.inum)
	if f.sb.incompat&incompatEAInode == 0 {
		return nil, formatErr(-1, "%s, but the filesystem lacks the ea_inode feature", where)
	}
	if uint64(x.inum) == parent.ino || x.inum == rootIno {
		return nil, formatErr(-1, "%s: refers to itself or the root", where)
	}
	ea, err := f.inode(uint64(x.inum))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if ea.flags&flagEAInode == 0 || !ea.isReg() {
		return nil, formatErr(-1, "%s is not an ea_inode (mode %#o, flags %#x)", where, ea.mode, ea.flags)
	}
	if ea.size != uint64(x.size) {
		return nil, formatErr(-1, "%s holds %d bytes, the entry says %d", where, ea.size, x.size)
	}
	if err := f.checkReadable(ea); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	v := make([]byte, x.size)
	if _, err := f.newDataReader(ea).ReadAt(v, 0); err != nil && len(v) > 0 {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return v, nil
}

// xattrName returns the full name of x and whether the kernel lists it.
// Entries the kernel keeps for itself (system.data of inline data, the
// encryption context) and unknown name indexes are not listed.
func xattrName(x *rawXattr) (string, bool) {
	switch x.index {
	case xattrIndexPosixACLAccess, xattrIndexPosixACLDefault, xattrIndexRichACL:
		if x.name != "" {
			return "", false
		}
	case xattrIndexSystem, xattrIndexLustre, xattrIndexEncrypt:
		return "", false
	}
	p, ok := xattrPrefixes[x.index]
	if !ok || x.index == 0 {
		return "", false
	}
	return p + x.name, true
}

// Xattrs returns the extended attributes of the named file, without
// following a symbolic link in the last component (like llistxattr and
// lgetxattr). They come in the order the Linux kernel lists them: the
// attributes kept in the inode, then those in the attribute block, each
// in on-disk order. Values are as getxattr returns them; in particular
// POSIX ACLs (system.posix_acl_access and system.posix_acl_default) are
// converted from ext4's compact on-disk form to the xattr form
// (version 2) that [DecodeACL] reads. Entries the kernel does not list
// (system.data of inline data, encryption contexts, unknown name
// indexes) are left out.
func (f *FS) Xattrs(name string) ([]Xattr, error) {
	in, err := f.resolve(name, false)
	if err != nil {
		return nil, pathErr("listxattr", name, err)
	}
	xs, err := f.xattrs(in)
	if err != nil {
		return nil, pathErr("listxattr", name, err)
	}
	return xs, nil
}

func (f *FS) xattrs(in *inode) ([]Xattr, error) {
	raw, err := f.rawXattrs(in)
	if err != nil {
		return nil, err
	}
	var out []Xattr
	for i := range raw {
		x := &raw[i]
		n, ok := xattrName(x)
		if !ok {
			continue
		}
		v := x.value
		if x.index == xattrIndexPosixACLAccess || x.index == xattrIndexPosixACLDefault {
			v, err = aclFromDisk(v)
			if err != nil {
				return nil, formatErr(-1, "inode %d: %s: %v", in.ino, n, err)
			}
		} else {
			v = bytes.Clone(v)
		}
		out = append(out, Xattr{Name: n, Value: v})
	}
	return out, nil
}

// POSIX ACL entry tags.
const (
	ACLUserObj  = 0x01
	ACLUser     = 0x02
	ACLGroupObj = 0x04
	ACLGroup    = 0x08
	ACLMask     = 0x10
	ACLOther    = 0x20
)

const (
	aclDiskVersion  = 1 // ext4's on-disk form
	aclXattrVersion = 2 // the form getxattr returns
	aclUndefinedID  = 0xFFFFFFFF
	maxACLEntries   = 1 << 16
)

// aclFromDisk converts an ACL from ext4's on-disk form (short 4-byte
// entries for the owner, group, mask and other; 8-byte entries with an id
// for named users and groups) to the xattr form.
func aclFromDisk(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return nil, fmt.Errorf("ACL of %d bytes too short", len(b))
	}
	if v := le.Uint32(b); v != aclDiskVersion {
		return nil, fmt.Errorf("ACL version %d, not %d", v, aclDiskVersion)
	}
	out := binary.LittleEndian.AppendUint32(nil, aclXattrVersion)
	for p := 4; p < len(b); {
		if p+4 > len(b) {
			return nil, fmt.Errorf("ACL entry at byte %d truncated", p)
		}
		tag, perm := le.Uint16(b[p:]), le.Uint16(b[p+2:])
		id := uint32(aclUndefinedID)
		switch tag {
		case ACLUserObj, ACLGroupObj, ACLMask, ACLOther:
			p += 4
		case ACLUser, ACLGroup:
			if p+8 > len(b) {
				return nil, fmt.Errorf("ACL entry at byte %d truncated", p)
			}
			id = le.Uint32(b[p+4:])
			p += 8
		default:
			return nil, fmt.Errorf("ACL entry at byte %d has unknown tag %#x", p, tag)
		}
		out = le.AppendUint16(out, tag)
		out = le.AppendUint16(out, perm)
		out = le.AppendUint32(out, id)
	}
	return out, nil
}

// ACLEntry is one entry of a POSIX ACL.
type ACLEntry struct {
	Tag  uint16 // ACLUserObj, ACLUser, ACLGroupObj, ACLGroup, ACLMask or ACLOther
	Perm uint16 // bits 4 (read), 2 (write), 1 (execute)
	ID   uint32 // uid or gid for ACLUser and ACLGroup
}

// String formats e as getfacl does with numeric ids: "user::rw-",
// "user:1000:r--", "group::r-x", "mask::rwx", "other::r--".
func (e ACLEntry) String() string {
	var tag, id string
	switch e.Tag {
	case ACLUserObj:
		tag = "user"
	case ACLUser:
		tag, id = "user", fmt.Sprint(e.ID)
	case ACLGroupObj:
		tag = "group"
	case ACLGroup:
		tag, id = "group", fmt.Sprint(e.ID)
	case ACLMask:
		tag = "mask"
	case ACLOther:
		tag = "other"
	default:
		tag = fmt.Sprintf("tag%#x", e.Tag)
	}
	return tag + ":" + id + ":" + PermString(e.Perm)
}

// PermString formats ACL permission bits as "rwx", with '-' for those
// not granted.
func PermString(perm uint16) string {
	b := []byte("---")
	for i, c := range "rwx" {
		if perm&(4>>i) != 0 {
			b[i] = byte(c)
		}
	}
	return string(b)
}

// DecodeACL decodes the value of system.posix_acl_access or
// system.posix_acl_default as [FS.Xattrs] returns it (the xattr form,
// version 2; ext4's on-disk form, version 1, is accepted too). Entries
// come in stored order, which for a valid ACL is the order getfacl
// prints.
func DecodeACL(b []byte) ([]ACLEntry, error) {
	le := binary.LittleEndian
	if len(b) >= 4 && le.Uint32(b) == aclDiskVersion {
		c, err := aclFromDisk(b)
		if err != nil {
			return nil, fmt.Errorf("ext4: %w", err)
		}
		b = c
	}
	if len(b) < 4 || le.Uint32(b) != aclXattrVersion {
		return nil, fmt.Errorf("ext4: not a POSIX ACL (version 2) value")
	}
	if (len(b)-4)%8 != 0 || (len(b)-4)/8 > maxACLEntries {
		return nil, fmt.Errorf("ext4: POSIX ACL of %d bytes is not a whole number of entries", len(b))
	}
	out := make([]ACLEntry, 0, (len(b)-4)/8)
	for p := 4; p < len(b); p += 8 {
		e := ACLEntry{Tag: le.Uint16(b[p:]), Perm: le.Uint16(b[p+2:]), ID: le.Uint32(b[p+4:])}
		switch e.Tag {
		case ACLUserObj, ACLUser, ACLGroupObj, ACLGroup, ACLMask, ACLOther:
		default:
			return nil, fmt.Errorf("ext4: POSIX ACL entry %d has unknown tag %#x", (p-4)/8, e.Tag)
		}
		if e.Perm&^7 != 0 {
			return nil, fmt.Errorf("ext4: POSIX ACL entry %d has bad permissions %#x", (p-4)/8, e.Perm)
		}
		out = append(out, e)
	}
	return out, nil
}

// SortXattrs sorts attributes by name, bytewise.
func SortXattrs(xs []Xattr) {
	sort.Slice(xs, func(i, j int) bool { return strings.Compare(xs[i].Name, xs[j].Name) < 0 })
}
