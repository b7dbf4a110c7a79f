package fsread

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"time"
)

const rootIno = 2

// creatorHurd is s_creator_os of a filesystem made by the GNU Hurd.
const creatorHurd = 1

// Inode flags.
const (
	flagCompr      = 0x4
	flagComprBlk   = 0x200
	flagEncrypt    = 0x800
	flagIndex      = 0x1000
	flagHugeFile   = 0x40000
	flagExtents    = 0x80000
	flagEAInode    = 0x200000
	flagInlineData = 0x10000000
	flagCasefold   = 0x40000000
)

// File type bits of i_mode.
const (
	sIFMT   = 0xF000
	sIFIFO  = 0x1000
	sIFCHR  = 0x2000
	sIFDIR  = 0x4000
	sIFBLK  = 0x6000
	sIFREG  = 0x8000
	sIFLNK  = 0xA000
	sIFSOCK = 0xC000
)

// Stat is the inode information returned by FileInfo.Sys.
type Stat struct {
	Ino        uint64
	Mode       uint32 // raw i_mode, including the file type bits
	Uid, Gid   uint32
	Nlink      uint32
	Size       int64
	Blocks     int64 // in 512-byte units
	Atime      time.Time
	Mtime      time.Time
	Ctime      time.Time
	Crtime     time.Time // zero if the inode has no creation time
	Major      uint32    // device numbers of character and block devices
	Minor      uint32
	Flags      uint32 // i_flags
	Generation uint32
}

// inode is a decoded on-disk inode.
type inode struct {
	ino     uint64
	mode    uint16
	flags   uint32
	size    uint64
	block   [60]byte // i_block: block map, extent root or symlink target
	fileACL uint64
	ibody   []byte // in-inode extended attribute entries, if any (xattr.go)
	st      Stat
}

func (in *inode) fileType() uint16 { return in.mode & sIFMT }
func (in *inode) isDir() bool      { return in.fileType() == sIFDIR }
func (in *inode) isSymlink() bool  { return in.fileType() == sIFLNK }
func (in *inode) isReg() bool      { return in.fileType() == sIFREG }

// inode reads inode number ino.
func (f *FS) inode(ino uint64) (*inode, error) {
	if ino == 0 || ino > uint64(f.sb.inodesCount) {
		return nil, formatErr(-1, "inode %d out of range (1..%d)", ino, f.sb.inodesCount)
	}
	ipg := uint64(f.sb.inodesPerGroup)
	g := (ino - 1) / ipg
	idx := (ino - 1) % ipg
	gd, err := f.groupDesc(g)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	if f.sb.roCompat&(roCompatGdtCsum|roCompatMetadataCsum) != 0 && gd.flags&bgInodeUninit != 0 {
		return nil, formatErr(-1, "inode %d lies in block group %d whose inode table is uninitialized", ino, g)
	}
	tableBytes := ipg * f.inodeSize
	tableBlocks := (tableBytes + f.bs - 1) / f.bs
	if gd.inodeTable < uint64(f.sb.firstDataBlock) || gd.inodeTable >= f.sb.blocksCount || tableBlocks > f.sb.blocksCount-gd.inodeTable {
		return nil, formatErr(-1, "inode %d: inode table of group %d at block %d lies outside the filesystem", ino, g, gd.inodeTable)
	}
	off := idx * f.inodeSize
	chunk := off / inodeChunkSize
	key := itKey{g, chunk}
	f.mu.Lock()
	buf, ok := f.itChunks[key]
	f.mu.Unlock()
	if !ok {
		start := chunk * inodeChunkSize
		n := min(uint64(inodeChunkSize), tableBytes-start)
		pos := gd.inodeTable*f.bs + start
		if pos+n > uint64(f.size) && pos < uint64(f.size) {
			// Read what exists; the inode may still lie inside it.
			n = uint64(f.size) - pos
		}
		if off+f.inodeSize > start+n {
			return nil, formatErr(int64(pos), "inode %d lies beyond the end of the image", ino)
		}
		buf = make([]byte, n)
		if err := f.readFull(buf, int64(pos), "inode table of group %d", g); err != nil {
			return nil, fmt.Errorf("inode %d: %w", ino, err)
		}
		f.mu.Lock()
		if len(f.itChunks) >= maxCachedInodeChunk {
			for k := range f.itChunks {
				delete(f.itChunks, k)
				break
			}
		}
		f.itChunks[key] = buf
		f.mu.Unlock()
	}
	rel := off - chunk*inodeChunkSize
	if rel+f.inodeSize > uint64(len(buf)) {
		return nil, formatErr(int64(gd.inodeTable*f.bs+off), "inode %d lies beyond the end of the image", ino)
	}
	raw := buf[rel : rel+f.inodeSize]
	return f.parseInode(ino, raw, int64(gd.inodeTable*f.bs+off))
}

func decodeTime(sec uint32, extra uint32, hasExtra bool) time.Time {
	s := int64(int32(sec))
	var ns int64
	if hasExtra {
		s += int64(extra&3) << 32
		ns = int64(extra >> 2)
		if ns > 999999999 {
			ns = 999999999
		}
	}
	return time.Unix(s, ns)
}

func (f *FS) parseInode(ino uint64, b []byte, diskOff int64) (*inode, error) {
	if err := f.verifyInode(ino, b, diskOff); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	in := &inode{ino: ino}
	in.mode = le.Uint16(b[0x0:])
	in.flags = le.Uint32(b[0x20:])
	copy(in.block[:], b[0x28:0x28+60])
	in.size = uint64(le.Uint32(b[0x4:]))
	if in.isReg() || f.sb.incompat&incompatLargeDir != 0 {
		in.size |= uint64(le.Uint32(b[0x6C:])) << 32
	}
	in.fileACL = uint64(le.Uint32(b[0x68:]))
	if f.sb.creatorOS != creatorHurd {
		// On the Hurd these two bytes are i_mode_high.
		in.fileACL |= uint64(le.Uint16(b[0x76:])) << 32
	}

	extra := 0
	if f.inodeSize > 128 {
		extra = int(le.Uint16(b[0x80:]))
		if extra > int(f.inodeSize)-128 || extra&3 != 0 {
			return nil, formatErr(diskOff+0x80, "inode %d: extra inode size %d invalid", ino, extra)
		}
	}
	in.ibody = ibodyXattrs(b, extra)
	has := func(off, size int) bool { return 128+extra >= off+size }
	u32 := func(off int) uint32 {
		if has(off, 4) {
			return le.Uint32(b[off:])
		}
		return 0
	}

	st := &in.st
	st.Ino = ino
	st.Mode = uint32(in.mode)
	st.Uid = uint32(le.Uint16(b[0x2:])) | uint32(le.Uint16(b[0x78:]))<<16
	st.Gid = uint32(le.Uint16(b[0x18:])) | uint32(le.Uint16(b[0x7A:]))<<16
	st.Nlink = uint32(le.Uint16(b[0x1A:]))
	st.Flags = in.flags
	st.Generation = le.Uint32(b[0x64:])
	if in.size > math.MaxInt64 {
		return nil, formatErr(diskOff+0x4, "inode %d: size %d too large", ino, in.size)
	}
	st.Size = int64(in.size)

	blocks := uint64(le.Uint32(b[0x1C:]))
	if f.sb.roCompat&roCompatHugeFile != 0 {
		blocks |= uint64(le.Uint16(b[0x74:])) << 32
		if in.flags&flagHugeFile != 0 {
			blocks *= f.bs / 512
		}
	}
	st.Blocks = int64(blocks)

	st.Atime = decodeTime(le.Uint32(b[0x8:]), u32(0x8C), has(0x8C, 4))
	st.Ctime = decodeTime(le.Uint32(b[0xC:]), u32(0x84), has(0x84, 4))
	st.Mtime = decodeTime(le.Uint32(b[0x10:]), u32(0x88), has(0x88, 4))
	if has(0x90, 4) {
		st.Crtime = decodeTime(u32(0x90), u32(0x94), has(0x94, 4))
	}

	if t := in.fileType(); t == sIFCHR || t == sIFBLK {
		if old := le.Uint32(in.block[0:]); old != 0 {
			st.Major = (old >> 8) & 0xff
			st.Minor = old & 0xff
		} else {
			dev := le.Uint32(in.block[4:])
			st.Major = (dev & 0xfff00) >> 8
			st.Minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
		}
	}
	return in, nil
}

// fileMode converts an ext4 i_mode into io/fs mode bits.
func fileMode(m uint16) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch m & sIFMT {
	case sIFREG:
	case sIFDIR:
		mode |= fs.ModeDir
	case sIFLNK:
		mode |= fs.ModeSymlink
	case sIFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		mode |= fs.ModeDevice
	case sIFIFO:
		mode |= fs.ModeNamedPipe
	case sIFSOCK:
		mode |= fs.ModeSocket
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// fileInfo implements fs.FileInfo for an inode.
type fileInfo struct {
	name string
	in   *inode
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.in.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.in.mode) }
func (fi *fileInfo) ModTime() time.Time { return fi.in.st.Mtime }
func (fi *fileInfo) IsDir() bool        { return fi.in.isDir() }
func (fi *fileInfo) Sys() any           { st := fi.in.st; return &st }

// checkReadable reports an error for inodes whose contents this package
// cannot decode.
func (f *FS) checkReadable(in *inode) error {
	switch {
	case (in.isReg() || in.isDir()) && in.flags&flagInlineData == 0 && in.size > f.maxFileSize(in):
		return formatErr(-1, "inode %d: size %d exceeds the largest %s the block map can address (%d bytes)", in.ino, in.size, kindName(in), f.maxFileSize(in))
	case in.flags&flagEncrypt != 0 && f.sb.incompat&incompatEncrypt != 0 && !in.isDir():
		return unsupported("inode %d: encrypted %s: contents cannot be read without the key", in.ino, kindName(in))
	case in.flags&(flagCompr|flagComprBlk) != 0 && f.sb.incompat&incompatCompression != 0:
		return unsupported("inode %d: compressed %s not supported", in.ino, kindName(in))
	}
	return nil
}

// maxFileSize is the size of the largest file whose block map can address
// every block of its data: 2^32 blocks for an extent tree, the direct and
// three levels of indirect blocks for a block map.
func (f *FS) maxFileSize(in *inode) uint64 {
	blocks := uint64(maxLogical)
	if in.flags&flagExtents == 0 {
		p := f.bs / 4
		blocks = 12 + p + p*p + p*p*p
	}
	return min(blocks*f.bs, math.MaxInt64)
}

func kindName(in *inode) string {
	switch in.fileType() {
	case sIFDIR:
		return "directory"
	case sIFLNK:
		return "symlink"
	}
	return "file"
}
