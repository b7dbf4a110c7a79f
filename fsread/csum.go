package fsread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// ErrChecksum is wrapped by every [*ChecksumError].
var ErrChecksum = errors.New("ext4: checksum mismatch")

// ChecksumError reports metadata whose stored checksum does not match its
// contents. Without [Options.Strict] the same mismatch is a warning.
type ChecksumError struct {
	Structure string // "superblock", "group descriptor", "inode", "extent block", "directory block", "htree node", "xattr block"
	Block     uint64 // block number of the structure (for an inode, of its inode table block)
	Ino       uint64 // inode concerned, 0 if none
	Group     uint64 // block group, for a group descriptor
}

func (e *ChecksumError) Error() string {
	switch e.Structure {
	case "group descriptor":
		return fmt.Sprintf("ext4: checksum mismatch in group descriptor of group %d (block %d)", e.Group, e.Block)
	case "superblock":
		return "ext4: checksum mismatch in superblock"
	case "inode":
		return fmt.Sprintf("ext4: checksum mismatch in inode %d (block %d)", e.Ino, e.Block)
	}
	if e.Ino != 0 {
		return fmt.Sprintf("ext4: checksum mismatch in %s %d of inode %d", e.Structure, e.Block, e.Ino)
	}
	return fmt.Sprintf("ext4: checksum mismatch in %s %d", e.Structure, e.Block)
}

func (e *ChecksumError) Unwrap() error { return ErrChecksum }

// maxWarnings bounds the number of distinct warnings kept.
const maxWarnings = 100

// warn records a warning once; after maxWarnings distinct ones, further
// warnings are counted in a last line only.
func (f *FS) warn(msg string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.warnSeen == nil {
		f.warnSeen = make(map[string]bool)
	}
	if f.warnSeen[msg] {
		return
	}
	f.warnSeen[msg] = true
	switch {
	case len(f.warnings) < maxWarnings:
		f.warnings = append(f.warnings, msg)
	case len(f.warnings) == maxWarnings:
		f.warnings = append(f.warnings, "ext4: more warnings not shown")
	}
}

// csumBad reports a checksum mismatch: an error with Options.Strict, else
// a warning and nil, so that the data is still used.
func (f *FS) csumBad(e *ChecksumError) error {
	if f.opts.Strict {
		return e
	}
	f.warn(e.Error())
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c continues the raw CRC32-C (no pre- or post-inversion) the way the
// ext4 format defines its checksums.
func crc32c(crc uint32, b []byte) uint32 {
	return ^crc32.Update(^crc, castagnoli, b)
}

func crc32cU32(crc, v uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return crc32c(crc, b[:])
}

// crc16 is the CRC-16 (polynomial 0x8005, reflected) of uninit_bg group
// descriptor checksums.
func crc16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc ^= uint16(c)
		for i := 0; i < 8; i++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func (f *FS) hasMetadataCsum() bool { return f.sb.roCompat&roCompatMetadataCsum != 0 }

// verifySuper checks the superblock checksum and sets the checksum seed.
func (f *FS) verifySuper() error {
	if !f.hasMetadataCsum() {
		return nil
	}
	var b [superSize]byte
	if err := f.readFull(b[:], superOffset, "superblock"); err != nil {
		return err
	}
	le := binary.LittleEndian
	if b[0x175] != 1 { // s_checksum_type: crc32c
		f.warn(fmt.Sprintf("ext4: unknown checksum type %d; checksums not verified", b[0x175]))
		f.sb.roCompat &^= roCompatMetadataCsum
		return nil
	}
	if f.sb.incompat&incompatCsumSeed != 0 {
		f.csumSeed = le.Uint32(b[0x270:])
	} else {
		f.csumSeed = crc32c(^uint32(0), f.sb.uuid[:])
	}
	if crc32c(^uint32(0), b[:0x3FC]) != le.Uint32(b[0x3FC:]) {
		return f.csumBad(&ChecksumError{Structure: "superblock", Block: superOffset / f.bs})
	}
	return nil
}

// verifyDescBlock checks the checksums of the group descriptors in
// descriptor block bi, which lies at block loc.
func (f *FS) verifyDescBlock(bi, loc uint64, blk []byte) error {
	meta := f.hasMetadataCsum()
	if !meta && f.sb.roCompat&roCompatGdtCsum == 0 {
		return nil
	}
	le := binary.LittleEndian
	for i := uint64(0); i < f.descPerBlk; i++ {
		g := bi*f.descPerBlk + i
		if g >= f.groups {
			break
		}
		d := blk[i*f.descSize : (i+1)*f.descSize]
		stored := le.Uint16(d[0x1E:])
		var got uint16
		if meta {
			c := crc32cU32(f.csumSeed, uint32(g))
			c = crc32c(c, d[:0x1E])
			c = crc32c(c, []byte{0, 0})
			c = crc32c(c, d[0x20:])
			got = uint16(c)
		} else {
			var gb [4]byte
			le.PutUint32(gb[:], uint32(g))
			c := crc16(0xFFFF, f.sb.uuid[:])
			c = crc16(c, gb[:])
			c = crc16(c, d[:0x1E])
			if f.descSize > 0x20 {
				c = crc16(c, d[0x20:])
			}
			got = c
		}
		if got != stored {
			if err := f.csumBad(&ChecksumError{Structure: "group descriptor", Block: loc, Group: g}); err != nil {
				return err
			}
		}
	}
	return nil
}

// inodeSeed is the checksum seed of one inode's metadata.
func (f *FS) inodeSeed(ino uint64, gen uint32) uint32 {
	return crc32cU32(crc32cU32(f.csumSeed, uint32(ino)), gen)
}

// verifyInode checks the checksum of raw inode b, found at byte offset
// diskOff. An all-zero inode (never used) has no checksum.
func (f *FS) verifyInode(ino uint64, b []byte, diskOff int64) error {
	if !f.hasMetadataCsum() {
		return nil
	}
	le := binary.LittleEndian
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return nil
	}
	hasHi := len(b) > 128 && 128+int(le.Uint16(b[0x80:])) >= 0x84
	c := f.inodeSeed(ino, le.Uint32(b[0x64:]))
	var z [2]byte
	c = crc32c(c, b[:0x7C])
	c = crc32c(c, z[:])
	c = crc32c(c, b[0x7E:min(len(b), 0x82)])
	if len(b) > 0x82 {
		if hasHi {
			c = crc32c(c, z[:])
		} else {
			c = crc32c(c, b[0x82:0x84])
		}
		c = crc32c(c, b[0x84:])
	}
	stored := uint32(le.Uint16(b[0x7C:]))
	if hasHi {
		stored |= uint32(le.Uint16(b[0x82:])) << 16
	} else {
		c &= 0xFFFF
	}
	if c != stored {
		return f.csumBad(&ChecksumError{Structure: "inode", Ino: ino, Block: uint64(diskOff) / f.bs})
	}
	return nil
}

// verifyExtentBlock checks the tail checksum of an extent tree block.
func (f *FS) verifyExtentBlock(in *inode, blk uint64, b []byte, h extHeader) error {
	if !f.hasMetadataCsum() {
		return nil
	}
	end := 12 + 12*int(h.max)
	if end+4 > len(b) {
		return nil
	}
	if crc32c(f.inodeSeed(in.ino, in.st.Generation), b[:end]) != binary.LittleEndian.Uint32(b[end:]) {
		return f.csumBad(&ChecksumError{Structure: "extent block", Block: blk, Ino: in.ino})
	}
	return nil
}

// verifyDirBlock checks the checksum of one directory block: the fake
// entry at the end of a leaf block, or the tail of an htree node.
func (f *FS) verifyDirBlock(in *inode, lblk, pblk uint64, b []byte) error {
	if !f.hasMetadataCsum() || uint64(len(b)) != f.bs {
		return nil
	}
	le := binary.LittleEndian
	seed := f.inodeSeed(in.ino, in.st.Generation)
	n := len(b)
	// A leaf block ends in a 12-byte entry of inode 0, name length 0 and
	// file type 0xDE holding the checksum.
	t := b[n-12:]
	if le.Uint32(t) == 0 && le.Uint16(t[4:]) == 12 && t[6] == 0 && t[7] == 0xDE {
		if crc32c(seed, b[:n-12]) != le.Uint32(t[8:]) {
			return f.csumBad(&ChecksumError{Structure: "directory block", Block: pblk, Ino: in.ino})
		}
		return nil
	}
	countOff := -1
	if in.flags&flagIndex != 0 {
		switch {
		case lblk == 0 && le.Uint16(b[4:]) == 12 && n >= 0x28:
			countOff = 0x18 + int(b[0x1D]) // after ".", "..", and dx_root_info
		case le.Uint32(b) == 0 && f.recLen(le.Uint16(b[4:])) == uint64(n):
			countOff = 8
		}
	}
	if countOff < 0 || countOff+4 > n {
		return f.csumBad(&ChecksumError{Structure: "directory block", Block: pblk, Ino: in.ino})
	}
	limit := int(le.Uint16(b[countOff:]))
	count := int(le.Uint16(b[countOff+2:]))
	tail := countOff + 8*limit
	if count > limit || tail+8 > n {
		return f.csumBad(&ChecksumError{Structure: "htree node", Block: pblk, Ino: in.ino})
	}
	c := crc32c(seed, b[:countOff+8*count])
	c = crc32c(c, b[tail:tail+4])     // dt_reserved
	c = crc32c(c, []byte{0, 0, 0, 0}) // dt_checksum, taken as zero
	if c != le.Uint32(b[tail+4:]) {
		return f.csumBad(&ChecksumError{Structure: "htree node", Block: pblk, Ino: in.ino})
	}
	return nil
}
