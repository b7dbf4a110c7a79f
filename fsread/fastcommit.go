package fsread

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// The ext4 fast-commit area, as the kernel's ext4 documentation describes
// it (journal.rst, "Fast commits"): the last s_num_fc_blks blocks of the
// journal hold, after the jbd2 transactions, a sequence of little-endian
// tag-length-value records. Each fast commit is a run of tags ended by a
// TAIL tag, which pads its block to the end; the first one starts with a
// HEAD tag.
const (
	fcAddRange = 0x1 // inode, ext4_extent
	fcDelRange = 0x2 // inode, logical block, length
	fcCreat    = 0x3 // parent inode, inode, name
	fcLink     = 0x4 // parent inode, inode, name
	fcUnlink   = 0x5 // parent inode, inode, name
	fcInode    = 0x6 // inode, raw inode
	fcPad      = 0x7
	fcTail     = 0x8 // tid, crc32c
	fcHead     = 0x9 // features, tid

	fcTagHeader    = 4
	fcNameMax      = 255 // EXT4_NAME_LEN
	fcKnownFeature = 0   // no fast-commit features are defined
)

var fcTagNames = map[uint16]string{
	fcAddRange: "ADD_RANGE", fcDelRange: "DEL_RANGE", fcCreat: "CREAT_DENTRY",
	fcLink: "LINK", fcUnlink: "UNLINK", fcInode: "INODE", fcPad: "PAD",
	fcTail: "TAIL", fcHead: "HEAD",
}

// fcTag is one record of the fast-commit area.
type fcTag struct {
	tag uint16
	val []byte
}

// fcScan is what the kernel's fast-commit scan finds: the tags up to the
// last valid TAIL, which its replay phase would apply.
type fcScan struct {
	tags     []fcTag // every tag of the valid fast commits, in order
	commits  int     // fast commits ending in a valid TAIL
	warnings []string
}

// fcValueOK reports whether a tag's value length is one the kernel
// accepts for that tag.
func fcValueOK(tag uint16, n int) bool {
	switch tag {
	case fcAddRange:
		return n == 4+12
	case fcDelRange:
		return n == 12
	case fcCreat, fcLink, fcUnlink:
		return n > 8 && n <= 8+fcNameMax
	case fcInode:
		return n > 4
	case fcPad:
		return true
	case fcTail:
		return n >= 8
	case fcHead:
		return n == 8
	}
	return false
}

// scanFastCommit scans the fast-commit area, blocks [first, end) of the
// journal in src, for the fast commits of transaction tid (the one after
// the last replayed jbd2 transaction). It follows the kernel's scan
// phase: the area must start with a HEAD tag naming tid; tags are
// checksummed (crc32c, seed 0) from the one after the previous TAIL up to
// and including each TAIL's tid field; the commits up to the last TAIL
// whose tid and checksum match are kept, and the scan ends at the first
// tag that is unknown, malformed, or fails. The work is bounded by the
// size of the area.
func scanFastCommit(src logSource, first, end, tid uint32) (*fcScan, error) {
	le := binary.LittleEndian
	fc := &fcScan{}
	var (
		pending []fcTag
		crc     uint32
	)
	warnf := func(format string, args ...any) {
		fc.warnings = append(fc.warnings, "ext4: fast commit: "+fmt.Sprintf(format, args...))
	}
	for blk := first; blk < end; blk++ {
		b, err := src.logBlock(blk)
		if err != nil {
			return nil, err
		}
		if blk == first && (len(b) < fcTagHeader+8 || le.Uint16(b) != fcHead) {
			return fc, nil // no fast commits
		}
		for off := 0; off+fcTagHeader <= len(b); {
			tag, n := le.Uint16(b[off:]), int(le.Uint16(b[off+2:]))
			val := b[off+fcTagHeader:]
			if !fcValueOK(tag, n) || n > len(val) {
				if len(pending) > 0 || fc.commits == 0 {
					warnf("tag %#x of %d bytes at journal block %d offset %d is invalid; scan ended", tag, n, blk, off)
				}
				return fc, nil
			}
			val = val[:n:n]
			switch tag {
			case fcHead:
				if f := le.Uint32(val); f&^fcKnownFeature != 0 {
					warnf("unknown features %#x; fast commits not replayed", f)
					fc.tags, fc.commits = nil, 0
					return fc, nil
				}
				if le.Uint32(val[4:]) != tid {
					return fc, nil
				}
				crc = crc32c(crc, b[off:off+fcTagHeader+n])
			case fcTail:
				crc = crc32c(crc, b[off:off+fcTagHeader+4])
				if le.Uint32(val) != tid || le.Uint32(val[4:]) != crc {
					if fc.commits == 0 {
						warnf("the first fast commit fails its checksum or names transaction %d, not %d", le.Uint32(val), tid)
					}
					return fc, nil
				}
				fc.tags = append(fc.tags, pending...)
				pending = pending[:0]
				fc.commits++
				crc = 0
			default:
				crc = crc32c(crc, b[off:off+fcTagHeader+n])
			}
			if tag != fcHead && tag != fcTail && tag != fcPad {
				pending = append(pending, fcTag{tag, val})
			}
			off += fcTagHeader + n
		}
	}
	return fc, nil
}

// summary names the tags of the valid fast commits with their counts,
// such as "INODE ×3, ADD_RANGE ×3".
func (fc *fcScan) summary() string {
	counts := map[uint16]int{}
	for _, t := range fc.tags {
		counts[t.tag]++
	}
	keys := make([]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", fcTagNames[uint16(k)], counts[uint16(k)]))
	}
	return strings.Join(parts, ", ")
}
