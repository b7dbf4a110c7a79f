package fsread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	superOffset = 1024
	superSize   = 1024
	superMagic  = 0xEF53

	minBlockLog = 0 // 1 KiB
	maxBlockLog = 6 // 64 KiB
)

// Feature bits, as named by the ext4 on-disk format description.
const (
	compatDirPrealloc   = 0x1
	compatImagicInodes  = 0x2
	compatHasJournal    = 0x4
	compatExtAttr       = 0x8
	compatResizeInode   = 0x10
	compatDirIndex      = 0x20
	compatLazyBG        = 0x40
	compatExcludeInode  = 0x80
	compatExcludeBitmap = 0x100
	compatSparseSuper2  = 0x200
	compatFastCommit    = 0x400
	compatStableInodes  = 0x800
	compatOrphanFile    = 0x1000

	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64Bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	roCompatSparseSuper   = 0x1
	roCompatLargeFile     = 0x2
	roCompatBtreeDir      = 0x4
	roCompatHugeFile      = 0x8
	roCompatGdtCsum       = 0x10
	roCompatDirNlink      = 0x20
	roCompatExtraIsize    = 0x40
	roCompatHasSnapshot   = 0x80
	roCompatQuota         = 0x100
	roCompatBigalloc      = 0x200
	roCompatMetadataCsum  = 0x400
	roCompatReplica       = 0x800
	roCompatReadonly      = 0x1000
	roCompatProject       = 0x2000
	roCompatSharedBlocks  = 0x4000
	roCompatVerity        = 0x8000
	roCompatOrphanPresent = 0x10000
)

// knownIncompat is every incompatible feature this package recognises;
// some of them are refused or only partly supported, but by name.
const knownIncompat = incompatCompression | incompatFiletype | incompatRecover |
	incompatJournalDev | incompatMetaBG | incompatExtents | incompat64Bit |
	incompatMMP | incompatFlexBG | incompatEAInode | incompatDirData |
	incompatCsumSeed | incompatLargeDir | incompatInlineData |
	incompatEncrypt | incompatCasefold

const knownRoCompat = roCompatSparseSuper | roCompatLargeFile | roCompatBtreeDir |
	roCompatHugeFile | roCompatGdtCsum | roCompatDirNlink | roCompatExtraIsize |
	roCompatHasSnapshot | roCompatQuota | roCompatBigalloc | roCompatMetadataCsum |
	roCompatReplica | roCompatReadonly | roCompatProject | roCompatSharedBlocks |
	roCompatVerity | roCompatOrphanPresent

var compatNames = map[uint32]string{
	compatDirPrealloc:   "dir_prealloc",
	compatImagicInodes:  "imagic_inodes",
	compatHasJournal:    "has_journal",
	compatExtAttr:       "ext_attr",
	compatResizeInode:   "resize_inode",
	compatDirIndex:      "dir_index",
	compatLazyBG:        "lazy_bg",
	compatExcludeInode:  "exclude_inode",
	compatExcludeBitmap: "snapshot_bitmap",
	compatSparseSuper2:  "sparse_super2",
	compatFastCommit:    "fast_commit",
	compatStableInodes:  "stable_inodes",
	compatOrphanFile:    "orphan_file",
}

var incompatNames = map[uint32]string{
	incompatCompression: "compression",
	incompatFiletype:    "filetype",
	incompatRecover:     "needs_recovery",
	incompatJournalDev:  "journal_dev",
	incompatMetaBG:      "meta_bg",
	incompatExtents:     "extent",
	incompat64Bit:       "64bit",
	incompatMMP:         "mmp",
	incompatFlexBG:      "flex_bg",
	incompatEAInode:     "ea_inode",
	incompatDirData:     "dirdata",
	incompatCsumSeed:    "metadata_csum_seed",
	incompatLargeDir:    "large_dir",
	incompatInlineData:  "inline_data",
	incompatEncrypt:     "encrypt",
	incompatCasefold:    "casefold",
}

var roCompatNames = map[uint32]string{
	roCompatSparseSuper:   "sparse_super",
	roCompatLargeFile:     "large_file",
	roCompatBtreeDir:      "btree_dir",
	roCompatHugeFile:      "huge_file",
	roCompatGdtCsum:       "uninit_bg",
	roCompatDirNlink:      "dir_nlink",
	roCompatExtraIsize:    "extra_isize",
	roCompatHasSnapshot:   "snapshot",
	roCompatQuota:         "quota",
	roCompatBigalloc:      "bigalloc",
	roCompatMetadataCsum:  "metadata_csum",
	roCompatReplica:       "replica",
	roCompatReadonly:      "read-only",
	roCompatProject:       "project",
	roCompatSharedBlocks:  "shared_blocks",
	roCompatVerity:        "verity",
	roCompatOrphanPresent: "orphan_present",
}

// featureList names the bits of one feature word in bit order; unknown
// bits are named FEATURE_<kind><bit> the way e2fsprogs prints them.
func featureList(word uint32, names map[uint32]string, kind byte, out []string) []string {
	for bit := 0; bit < 32; bit++ {
		m := uint32(1) << bit
		if word&m == 0 {
			continue
		}
		if n, ok := names[m]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("FEATURE_%c%d", kind, bit))
		}
	}
	return out
}

// Info describes a filesystem as its superblock does.
type Info struct {
	Type        string // "ext2", "ext3" or "ext4", as blkid names it
	Label       string
	UUID        string // lower-case canonical form
	BlockSize   int
	Blocks      uint64
	FreeBlocks  uint64
	Inodes      uint64
	FreeInodes  uint64
	Features    []string // names as dumpe2fs prints them
	LastMounted string
	Size        int64 // filesystem size in bytes

	// Replayed is set when the journal needed recovery and was replayed
	// in memory; ReplayTransactions and ReplayBlocks count the
	// transactions and the block writes (revoked ones left out) applied,
	// ReplayFastCommits the fast commits applied after them.
	Replayed           bool
	ReplayTransactions int
	ReplayBlocks       int
	ReplayFastCommits  int

	// JournalUUID is the UUID of the external journal device the
	// filesystem's journal is on, or "" if the journal is internal or
	// absent.
	JournalUUID string
}

// FormatError reports corrupt or impossible on-disk data. Off is the byte
// offset in the image of the structure concerned, or -1 if unknown.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string {
	if e.Off < 0 {
		return "ext4: " + e.Msg
	}
	return fmt.Sprintf("ext4: %s (at byte offset %d)", e.Msg, e.Off)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotExt is returned by Probe and Open when the superblock magic is absent.
var ErrNotExt = errors.New("ext4: no ext2/ext3/ext4 superblock")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("ext4: "+format+": %w", append(args, errors.ErrUnsupported)...)
}

// superblock holds the decoded fields this package uses.
type superblock struct {
	inodesCount    uint32
	blocksCount    uint64
	freeBlocks     uint64
	freeInodes     uint32
	firstDataBlock uint32
	logBlockSize   uint32
	logClusterSize uint32
	blocksPerGroup uint32
	inodesPerGroup uint32
	state          uint16
	revLevel       uint32
	creatorOS      uint32 // 0 Linux, 1 Hurd
	inodeSize      uint16
	firstIno       uint32
	compat         uint32
	incompat       uint32
	roCompat       uint32
	uuid           [16]byte
	volumeName     [16]byte
	lastMounted    [64]byte
	descSize       uint16
	firstMetaBG    uint32
	minExtraIsize  uint16
	backupBGs      [2]uint32
	blockSize      uint32
	journalUUID    [16]byte // s_journal_uuid
	journalInum    uint32   // s_journal_inum
}

func readSuper(r io.ReaderAt) (*superblock, error) {
	var b [superSize]byte
	if _, err := r.ReadAt(b[:], superOffset); err != nil {
		return nil, fmt.Errorf("ext4: reading superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != superMagic {
		return nil, ErrNotExt
	}
	s := &superblock{
		inodesCount:    le.Uint32(b[0x00:]),
		blocksCount:    uint64(le.Uint32(b[0x04:])),
		freeBlocks:     uint64(le.Uint32(b[0x0C:])),
		freeInodes:     le.Uint32(b[0x10:]),
		firstDataBlock: le.Uint32(b[0x14:]),
		logBlockSize:   le.Uint32(b[0x18:]),
		logClusterSize: le.Uint32(b[0x1C:]),
		blocksPerGroup: le.Uint32(b[0x20:]),
		inodesPerGroup: le.Uint32(b[0x28:]),
		state:          le.Uint16(b[0x3A:]),
		revLevel:       le.Uint32(b[0x4C:]),
		creatorOS:      le.Uint32(b[0x48:]),
		inodeSize:      128,
		firstIno:       11,
	}
	if s.revLevel >= 1 {
		s.firstIno = le.Uint32(b[0x54:])
		s.inodeSize = le.Uint16(b[0x58:])
		s.compat = le.Uint32(b[0x5C:])
		s.incompat = le.Uint32(b[0x60:])
		s.roCompat = le.Uint32(b[0x64:])
	}
	copy(s.uuid[:], b[0x68:0x78])
	copy(s.volumeName[:], b[0x78:0x88])
	copy(s.lastMounted[:], b[0x88:0xC8])
	copy(s.journalUUID[:], b[0xD0:0xE0])
	s.journalInum = le.Uint32(b[0xE0:])
	s.descSize = le.Uint16(b[0xFE:])
	s.firstMetaBG = le.Uint32(b[0x104:])
	s.minExtraIsize = le.Uint16(b[0x15C:])
	s.backupBGs[0] = le.Uint32(b[0x24C:])
	s.backupBGs[1] = le.Uint32(b[0x250:])
	if s.incompat&incompat64Bit != 0 {
		s.blocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		s.freeBlocks |= uint64(le.Uint32(b[0x158:])) << 32
	}
	if s.logBlockSize > maxBlockLog {
		return nil, formatErr(superOffset+0x18, "block size 2^(10+%d) out of range", s.logBlockSize)
	}
	s.blockSize = 1024 << s.logBlockSize
	return s, nil
}

func cstring(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// fsType names the filesystem the way blkid does: ext2 when only ext2
// features are present, ext3 with a journal and only ext3 features, ext4
// otherwise.
func (s *superblock) fsType() string {
	const ext2Ro = roCompatSparseSuper | roCompatLargeFile | roCompatBtreeDir
	const ext2In = incompatFiletype | incompatMetaBG
	const ext3In = ext2In | incompatRecover
	if s.compat&compatHasJournal != 0 {
		if s.roCompat&^ext2Ro == 0 && s.incompat&^ext3In == 0 {
			return "ext3"
		}
		return "ext4"
	}
	if s.roCompat&^ext2Ro == 0 && s.incompat&^ext2In == 0 {
		return "ext2"
	}
	return "ext4"
}

func (s *superblock) info() Info {
	var feats []string
	feats = featureList(s.compat, compatNames, 'C', feats)
	feats = featureList(s.incompat, incompatNames, 'I', feats)
	feats = featureList(s.roCompat, roCompatNames, 'R', feats)
	size := int64(-1)
	if s.blocksCount < (1<<63)/uint64(s.blockSize) {
		size = int64(s.blocksCount) * int64(s.blockSize)
	}
	var ju string
	if s.compat&compatHasJournal != 0 && s.journalInum == 0 && s.journalUUID != [16]byte{} {
		ju = uuidString(s.journalUUID)
	}
	return Info{
		JournalUUID: ju,
		Type:        s.fsType(),
		Label:       cstring(s.volumeName[:]),
		UUID:        uuidString(s.uuid),
		BlockSize:   int(s.blockSize),
		Blocks:      s.blocksCount,
		FreeBlocks:  s.freeBlocks,
		Inodes:      uint64(s.inodesCount),
		FreeInodes:  uint64(s.freeInodes),
		Features:    feats,
		LastMounted: cstring(s.lastMounted[:]),
		Size:        size,
	}
}

// Probe reads the superblock of r and describes the filesystem. It fails
// if r does not hold an ext2, ext3 or ext4 superblock.
func Probe(r io.ReaderAt) (Info, error) {
	s, err := readSuper(r)
	if err != nil {
		return Info{}, err
	}
	if s.incompat&incompatJournalDev != 0 {
		return Info{}, unsupported("external journal device, not a filesystem")
	}
	return s.info(), nil
}

// ProbeJournalDev reads the superblock of r and, if r is an external
// journal device (an ext4 superblock with the journal_dev feature, as
// mke2fs -O journal_dev makes it), returns its UUID in canonical form: the
// UUID a filesystem names as its journal's ([Info.JournalUUID]).
func ProbeJournalDev(r io.ReaderAt) (string, error) {
	s, err := readSuper(r)
	if err != nil {
		return "", err
	}
	if s.incompat&incompatJournalDev == 0 {
		return "", fmt.Errorf("ext4: not an external journal device")
	}
	return uuidString(s.uuid), nil
}
