package fsread

import "encoding/binary"

// checkXattrBlock verifies the metadata_csum checksum of an extended
// attribute block, blk being its block number, before it is parsed. The
// seed is the filesystem's, not an inode's, because several inodes may
// share one block: crc32c over the block number (64-bit little-endian),
// then over the block with its h_checksum field (offset 16) taken as zero.
func (f *FS) checkXattrBlock(blk uint64, b []byte) error {
	if !f.hasMetadataCsum() || len(b) < 32 {
		return nil
	}
	var nr [8]byte
	binary.LittleEndian.PutUint64(nr[:], blk)
	c := crc32c(f.csumSeed, nr[:])
	c = crc32c(c, b[:16])
	c = crc32c(c, []byte{0, 0, 0, 0})
	c = crc32c(c, b[20:])
	if c != binary.LittleEndian.Uint32(b[16:]) {
		return f.csumBad(&ChecksumError{Structure: "xattr block", Block: blk})
	}
	return nil
}
