package fsread

import (
	"encoding/binary"
	"io"
	"sync"
	"testing"
)

// Fuzz targets for the parsers of single on-disk structures. Each is
// seeded with the real structures of the committed fixtures and asserts
// only that parsing and reading with the result neither panic nor hang.
// FuzzOpen (fuzz_test.go) covers whole images.

// spliced is an image with data written over it at off.
type spliced struct {
	img  []byte
	off  int64
	data []byte
}

func (s *spliced) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(s.img)) {
		return 0, io.EOF
	}
	n := copy(p, s.img[off:])
	lo, hi := max(off, s.off), min(off+int64(n), s.off+int64(len(s.data)))
	if lo < hi {
		copy(p[lo-off:hi-off], s.data[lo-s.off:hi-s.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

var fuzzBases sync.Map // fixture name -> []byte

func fuzzBase(t testing.TB, name string) []byte {
	if b, ok := fuzzBases.Load(name); ok {
		return b.([]byte)
	}
	b := fixture(t, name).img
	fuzzBases.Store(name, b)
	return b
}

// readSome reads a little of everything reachable from in.
func readSome(f *FS, in *inode) {
	if f.checkReadable(in) != nil {
		return
	}
	switch {
	case in.isDir():
		if l, err := f.readDirList(in); err == nil {
			f.dirEntries(l)
		}
	case in.isSymlink():
		f.readLink(in)
	default:
		d := f.newDataReader(in)
		buf := make([]byte, 4096)
		for _, off := range []int64{0, 4095, d.size / 2, d.size - 100} {
			if off >= 0 {
				d.ReadAt(buf, off)
			}
		}
	}
}

// openSpliced opens base with data written at off, and reads the tree a
// little.
func openSpliced(base []byte, off int64, data []byte, strict bool) {
	f, err := OpenOptions(&spliced{img: base, off: off, data: data}, int64(len(base)), Options{Strict: strict})
	if err != nil {
		return
	}
	exercise(f)
}

func FuzzSuperblock(f *testing.F) {
	for _, name := range []string{"feat-128", "feat-misc", "feat-inline", "feat-hurd", "feat-bigalloc"} {
		f.Add(name, fuzzBase(f, name)[superOffset:superOffset+superSize], false)
	}
	f.Fuzz(func(t *testing.T, name string, sb []byte, strict bool) {
		switch name {
		case "feat-128", "feat-misc", "feat-inline", "feat-hurd", "feat-bigalloc":
		default:
			return
		}
		openSpliced(fuzzBase(t, name), superOffset, sb, strict)
	})
}

func FuzzGroupDesc(f *testing.F) {
	// 1 KiB blocks: the descriptors are in block 2.
	for _, name := range []string{"feat-128", "feat-misc", "feat-inline"} {
		f.Add(name, fuzzBase(f, name)[2048:3072], false)
	}
	f.Fuzz(func(t *testing.T, name string, gd []byte, strict bool) {
		switch name {
		case "feat-128", "feat-misc", "feat-inline":
		default:
			return
		}
		openSpliced(fuzzBase(t, name), 2048, gd[:min(len(gd), 1024)], strict)
	})
}

// baseFS opens a fixture for the parsers that need a filesystem around
// them.
func baseFS(t testing.TB, name string, strict bool) *FS {
	b := fuzzBase(t, name)
	f, err := OpenOptions(&spliced{img: b}, int64(len(b)), Options{Strict: strict})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func FuzzInode(f *testing.F) {
	base := baseFS(f, "feat-inline", false)
	for _, name := range []string{"size-1", "size-100", "size-4000", "tiny-dir", "kernel-dir", "block-dir", "short-link", "long-link"} {
		in := inodeOf(f, base, name)
		off := inodeOffset(f, base, in.ino)
		f.Add(fuzzBase(f, "feat-inline")[off:off+int64(base.inodeSize)], uint16(in.ino), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, ino uint16, strict bool) {
		fs := baseFS(t, "feat-inline", strict)
		b := make([]byte, fs.inodeSize)
		copy(b, raw)
		in, err := fs.parseInode(uint64(ino)+1, b, -1)
		if err != nil {
			return
		}
		readSome(fs, in)
	})
}

// extentSeeds returns the extent tree root of sparse/fragmented in the
// ext4 fixture, pointed at the block where the fuzzer splices its data,
// and that child block.
func extentSeeds(t testing.TB) (root, child []byte, at uint64) {
	f := baseFS(t, "ext4", false)
	in := inodeOf(t, f, "sparse/fragmented")
	le := binary.LittleEndian
	c := uint64(le.Uint32(in.block[16:]))
	img := fuzzBase(t, "ext4")
	root = append([]byte(nil), in.block[:]...)
	child = append([]byte(nil), img[c*f.bs:(c+1)*f.bs]...)
	return root, child, c
}

func FuzzExtentNode(f *testing.F) {
	root, child, at := extentSeeds(f)
	f.Add(root, child)
	f.Add(root, child[:100])
	f.Fuzz(func(t *testing.T, root, node []byte) {
		img := fuzzBase(t, "ext4")
		fs, err := OpenOptions(&spliced{img: img, off: int64(at) * 4096, data: node[:min(len(node), 4096)]}, int64(len(img)), Options{})
		if err != nil {
			return
		}
		in := &inode{ino: 12, mode: sIFREG | 0o644, flags: flagExtents, size: 1 << 40}
		in.st.Size = 1 << 40
		copy(in.block[:], root)
		for _, lblk := range []uint64{0, 1, 2, 1000, 3000, 1 << 20, maxLogical - 1} {
			fs.mapWindow(in, lblk)
		}
		d := fs.newDataReader(in)
		buf := make([]byte, 8192)
		d.ReadAt(buf, 0)
		d.ReadAt(buf, 5000*4096)
	})
}

// dirSeeds returns directory blocks of the ext4 fixture: a linear leaf,
// an htree root and an htree leaf.
func dirSeeds(t testing.TB) [][]byte {
	f := baseFS(t, "ext4", false)
	img := fuzzBase(t, "ext4")
	var out [][]byte
	for _, c := range []struct {
		name string
		lblk uint64
	}{{"names", 0}, {"big", 0}, {"big", 1}, {".", 0}} {
		p := physBlock(t, f, c.name, c.lblk)
		out = append(out, append([]byte(nil), img[p*f.bs:(p+1)*f.bs]...))
	}
	return out
}

func fuzzDir(t *testing.T, b []byte, flags uint32, lblk uint64, strict bool) {
	fs := baseFS(t, "ext4", strict)
	blk := make([]byte, fs.bs)
	copy(blk, b)
	in := &inode{ino: 12, mode: sIFDIR | 0o755, flags: flags}
	l := &dirList{}
	if fs.verifyDirBlock(in, lblk, 100, blk) != nil {
		return
	}
	fs.parseDirBlock(in, lblk, 100, blk, l)
	// The same bytes as an inline directory.
	copy(in.block[:], b)
	if len(b) > 60 {
		in.ibody = b[60:]
	}
	in.size = uint64(len(b))
	in.flags = flagInlineData
	fs.parseInlineDir(in, &dirList{})
}

func FuzzDirBlock(f *testing.F) {
	for _, s := range dirSeeds(f) {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, strict bool) {
		fuzzDir(t, b, flagExtents, 1, strict)
	})
}

func FuzzHtree(f *testing.F) {
	for _, s := range dirSeeds(f) {
		f.Add(s, uint8(0), false)
		f.Add(s, uint8(1), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, lblk uint8, strict bool) {
		fuzzDir(t, b, flagExtents|flagIndex, uint64(lblk), strict)
	})
}
