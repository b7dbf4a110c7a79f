package fsread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// Limits that bound the work and memory spent on one filesystem.
const (
	maxCachedDescBlocks = 64        // group descriptor blocks
	inodeChunkSize      = 64 << 10  // bytes of inode table read at once
	maxCachedInodeChunk = 32        // inode table chunks (2 MiB)
	maxCachedDirCost    = 128 << 20 // bytes of directory entries kept for lookups
	maxDirCost          = 128 << 20 // bytes of entries parsed from one directory
	direntOverhead      = 48        // bytes counted per entry besides its name
	maxDirSize          = 1 << 32   // bytes in one directory
	maxSymlinkHops      = 40
	maxSymlinkLen       = 4096
)

// FS is a read-only ext2, ext3 or ext4 filesystem. It is safe for
// concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64 // bytes readable from r
	sb   *superblock
	info Info

	bs          uint64 // block size
	groups      uint64 // number of block groups
	descSize    uint64
	descPerBlk  uint64
	inodeSize   uint64
	opts        Options
	csumSeed    uint32 // metadata_csum seed, if the feature is set
	wmu         sync.Mutex
	warnings    []string // guarded by wmu once Open has returned
	warnSeen    map[string]bool
	maxMapBlock uint64 // blocks addressable by this filesystem (exclusive)

	mu         sync.Mutex
	descBlocks map[uint64][]byte // descriptor block index -> contents
	itChunks   map[itKey][]byte  // inode table chunks
	dirs       map[uint64]*dirList
	dirCached  int // sum of cost over dirs
}

type itKey struct {
	group uint64
	chunk uint64
}

// OpenOptions is [Open] with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	sb, err := readSuper(r)
	if err != nil {
		return nil, err
	}
	if size < superOffset+superSize {
		return nil, formatErr(-1, "image of %d bytes is too small", size)
	}
	f := &FS{
		r:          r,
		size:       size,
		sb:         sb,
		opts:       opts,
		info:       sb.info(),
		bs:         uint64(sb.blockSize),
		descBlocks: make(map[uint64][]byte),
		itChunks:   make(map[itKey][]byte),
		dirs:       make(map[uint64]*dirList),
	}
	if err := f.checkSuper(); err != nil {
		return nil, err
	}
	if err := f.verifySuper(); err != nil {
		return nil, err
	}
	root, err := f.inode(rootIno)
	if err != nil {
		return nil, fmt.Errorf("ext4: root directory: %w", err)
	}
	if !root.isDir() {
		return nil, formatErr(-1, "root inode is not a directory (mode %#o)", root.mode)
	}
	return f.recoverJournal(opts)
}

func (f *FS) checkSuper() error {
	s := f.sb
	if s.incompat&incompatJournalDev != 0 {
		return unsupported("external journal device, not a filesystem")
	}
	if unk := s.incompat &^ knownIncompat; unk != 0 {
		return fmt.Errorf("ext4: unknown incompatible features %v (%#x): %w",
			featureList(unk, nil, 'I', nil), unk, errors.ErrUnsupported)
	}
	// With bigalloc, blocks are allocated in clusters of 2^k blocks; a
	// group's bitmap has one bit per cluster. Extents still count blocks.
	clusterRatio := uint64(1)
	if s.roCompat&roCompatBigalloc != 0 {
		if s.logClusterSize < s.logBlockSize || s.logClusterSize-s.logBlockSize > 16 {
			return formatErr(superOffset+0x1C, "cluster size 2^(10+%d) invalid for block size %d", s.logClusterSize, f.bs)
		}
		clusterRatio = 1 << (s.logClusterSize - s.logBlockSize)
	}
	if s.incompat&incompatMMP != 0 {
		f.warnings = append(f.warnings, "ext4: mmp: multi-mount protection is not checked; the filesystem is only read")
	}
	if s.roCompat&roCompatMetadataCsum != 0 && s.roCompat&roCompatGdtCsum != 0 {
		// Both set is invalid but harmless for reading.
		f.warnings = append(f.warnings, "ext4: both metadata_csum and uninit_bg set")
	}
	// needs_recovery is handled by recoverJournal (journal_replay.go).
	if s.incompat&incompatCompression != 0 {
		f.warnings = append(f.warnings, "ext4: compression: compressed files cannot be read")
	}
	if s.incompat&incompatEncrypt != 0 {
		f.warnings = append(f.warnings, "ext4: encrypt: names in encrypted directories are shown as base64 of the stored bytes; encrypted contents cannot be read")
	}
	if unk := s.roCompat &^ knownRoCompat; unk != 0 {
		f.warnings = append(f.warnings, fmt.Sprintf("ext4: unknown read-only-compatible features %v", featureList(unk, nil, 'R', nil)))
	}
	if s.state&2 != 0 {
		f.warnings = append(f.warnings, "ext4: filesystem marked as having errors")
	} else if s.state&1 == 0 && s.incompat&incompatRecover == 0 {
		f.warnings = append(f.warnings, "ext4: filesystem not cleanly unmounted")
	}

	if s.firstDataBlock > 1 || (s.firstDataBlock == 1 && f.bs != 1024) {
		return formatErr(superOffset+0x14, "first data block %d invalid for block size %d", s.firstDataBlock, f.bs)
	}
	if s.blocksPerGroup == 0 || uint64(s.blocksPerGroup) > 8*f.bs*clusterRatio {
		return formatErr(superOffset+0x20, "blocks per group %d invalid", s.blocksPerGroup)
	}
	if s.inodesPerGroup == 0 || uint64(s.inodesPerGroup) > 8*f.bs {
		return formatErr(superOffset+0x28, "inodes per group %d invalid", s.inodesPerGroup)
	}
	is := uint64(s.inodeSize)
	if is < 128 || is > f.bs || bits.OnesCount64(is) != 1 {
		return formatErr(superOffset+0x58, "inode size %d invalid", is)
	}
	f.inodeSize = is
	if s.blocksCount <= uint64(s.firstDataBlock) || s.blocksCount >= 1<<60/f.bs {
		return formatErr(superOffset+4, "block count %d invalid", s.blocksCount)
	}
	f.maxMapBlock = s.blocksCount
	f.groups = (s.blocksCount - uint64(s.firstDataBlock) + uint64(s.blocksPerGroup) - 1) / uint64(s.blocksPerGroup)
	if uint64(s.inodesCount) > f.groups*uint64(s.inodesPerGroup) {
		return formatErr(superOffset, "inode count %d exceeds %d groups of %d", s.inodesCount, f.groups, s.inodesPerGroup)
	}
	f.descSize = 32
	if s.incompat&incompat64Bit != 0 {
		ds := uint64(s.descSize)
		if ds < 64 || ds > 1024 || bits.OnesCount64(ds) != 1 {
			return formatErr(superOffset+0xFE, "group descriptor size %d invalid", ds)
		}
		f.descSize = ds
	}
	f.descPerBlk = f.bs / f.descSize
	if s.incompat&incompatMetaBG == 0 {
		// The descriptor table follows the superblock's block and must
		// fit in the first group.
		nblk := (f.groups + f.descPerBlk - 1) / f.descPerBlk
		if nblk >= uint64(s.blocksPerGroup) {
			return formatErr(superOffset, "%d groups need %d descriptor blocks, more than a group holds", f.groups, nblk)
		}
	}
	if fsBytes := s.blocksCount * f.bs; fsBytes > uint64(f.size) {
		f.warnings = append(f.warnings, fmt.Sprintf("ext4: filesystem size %d bytes exceeds the %d bytes available; the image may be truncated", fsBytes, f.size))
	}
	return nil
}

// Info describes the filesystem as its superblock does.
func (f *FS) Info() Info {
	i := f.info
	i.Features = append([]string(nil), i.Features...)
	return i
}

// Warnings lists things about the filesystem that are not supported but
// do not stop it from being read, such as a journal that was not replayed.
func (f *FS) Warnings() []string {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return append([]string(nil), f.warnings...)
}

// readFull reads len(p) bytes at off, reporting short reads as errors.
// The context for an error message is formatted only when one occurs.
func (f *FS) readFull(p []byte, off int64, format string, args ...any) error {
	if err := f.outside(off, int64(len(p)), format, args...); err != nil {
		return err
	}
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("ext4: %s: reading %d bytes at offset %d: %w", fmt.Sprintf(format, args...), len(p), off, err)
}

// outside returns an error if the n bytes at off do not lie within the
// image; format and args say what they are.
func (f *FS) outside(off, n int64, format string, args ...any) error {
	if off < 0 || off > f.size || n > f.size-off {
		return formatErr(off, "%s: %d bytes at offset %d lie beyond the end of the image (%d bytes)", fmt.Sprintf(format, args...), n, off, f.size)
	}
	return nil
}

// hasSuper reports whether block group g holds a superblock backup.
func (f *FS) hasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if f.sb.compat&compatSparseSuper2 != 0 {
		return g == uint64(f.sb.backupBGs[0]) || g == uint64(f.sb.backupBGs[1])
	}
	if f.sb.roCompat&roCompatSparseSuper == 0 || g == 1 {
		return true
	}
	if g&1 == 0 {
		return false
	}
	for _, base := range []uint64{3, 5, 7} {
		p := base
		for p < g {
			p *= base
		}
		if p == g {
			return true
		}
	}
	return false
}

// descBlockLoc returns the block number of group descriptor block i.
func (f *FS) descBlockLoc(i uint64) uint64 {
	// The table follows the superblock's block, which is block 1 with
	// 1 KiB blocks even when the first data block is 0 (bigalloc).
	first := uint64(f.sb.firstDataBlock)
	if f.sb.incompat&incompatMetaBG == 0 || i < uint64(f.sb.firstMetaBG) {
		return superOffset/f.bs + 1 + i
	}
	g := i * f.descPerBlk
	blk := first + g*uint64(f.sb.blocksPerGroup)
	if f.hasSuper(g) {
		blk++
	}
	if g == 0 && f.bs == 1024 && first == 0 {
		blk++
	}
	return blk
}

type groupDesc struct {
	inodeTable   uint64
	flags        uint16
	itableUnused uint32
}

const (
	bgInodeUninit = 0x1
)

func (f *FS) groupDesc(g uint64) (groupDesc, error) {
	if g >= f.groups {
		return groupDesc{}, formatErr(-1, "block group %d out of range (%d groups)", g, f.groups)
	}
	bi := g / f.descPerBlk
	f.mu.Lock()
	blk, ok := f.descBlocks[bi]
	f.mu.Unlock()
	if !ok {
		loc := f.descBlockLoc(bi)
		if loc >= f.sb.blocksCount {
			return groupDesc{}, formatErr(-1, "group descriptor block %d for group %d beyond the filesystem", loc, g)
		}
		blk = make([]byte, f.bs)
		if err := f.readFull(blk, int64(loc*f.bs), "group descriptor block %d", loc); err != nil {
			return groupDesc{}, err
		}
		if err := f.verifyDescBlock(bi, loc, blk); err != nil {
			return groupDesc{}, err
		}
		f.mu.Lock()
		if len(f.descBlocks) >= maxCachedDescBlocks {
			for k := range f.descBlocks {
				delete(f.descBlocks, k)
				break
			}
		}
		f.descBlocks[bi] = blk
		f.mu.Unlock()
	}
	le := binary.LittleEndian
	d := blk[(g%f.descPerBlk)*f.descSize:][:f.descSize]
	gd := groupDesc{
		inodeTable:   uint64(le.Uint32(d[0x8:])),
		flags:        le.Uint16(d[0x12:]),
		itableUnused: uint32(le.Uint16(d[0x1C:])),
	}
	if f.descSize >= 64 {
		gd.inodeTable |= uint64(le.Uint32(d[0x28:])) << 32
		gd.itableUnused |= uint32(le.Uint16(d[0x32:])) << 16
	}
	return gd, nil
}
