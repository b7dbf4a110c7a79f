package fsread

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// patchedImage is an image in memory with some bytes changed, without copying
// the image.
type patchedImage struct {
	img     []byte
	patches map[int64]byte
}

func (o *patchedImage) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(o.img)) {
		return 0, io.EOF
	}
	n := copy(p, o.img[off:])
	for at, b := range o.patches {
		if at >= off && at < off+int64(n) {
			p[at-off] = b
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// flip returns a copy of o with the byte at off inverted.
func (o *patchedImage) flip(off int64) *patchedImage {
	n := &patchedImage{img: o.img, patches: map[int64]byte{}}
	for k, v := range o.patches {
		n.patches[k] = v
	}
	b := o.img[off]
	if v, ok := o.patches[off]; ok {
		b = v
	}
	n.patches[off] = ^b
	return n
}

func (o *patchedImage) put32(off int64, v uint32) *patchedImage {
	n := o
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	for i := range b {
		if n.byteAt(off+int64(i)) != b[i] {
			n = n.flip(off + int64(i))
			n.patches[off+int64(i)] = b[i]
		}
	}
	return n
}

func (o *patchedImage) byteAt(off int64) byte {
	if v, ok := o.patches[off]; ok {
		return v
	}
	return o.img[off]
}

// fixture returns a committed image from ../testdata, decompressed.
func fixture(t testing.TB, name string) *patchedImage {
	t.Helper()
	b := gunzipSmall(filepath.Join("..", "testdata", name+".img.gz"), 128<<20)
	if b == nil {
		t.Fatalf("cannot read testdata/%s.img.gz", name)
	}
	return &patchedImage{img: b}
}

func openPatched(o *patchedImage, strict bool) (*FS, error) {
	return OpenOptions(o, int64(len(o.img)), Options{Strict: strict})
}

// inodeOffset returns the byte offset of inode ino in the image.
func inodeOffset(t testing.TB, f *FS, ino uint64) int64 {
	t.Helper()
	ipg := uint64(f.sb.inodesPerGroup)
	gd, err := f.groupDesc((ino - 1) / ipg)
	if err != nil {
		t.Fatal(err)
	}
	return int64(gd.inodeTable*f.bs + (ino-1)%ipg*f.inodeSize)
}

// physBlock returns the physical block of logical block lblk of name.
func physBlock(t testing.TB, f *FS, name string, lblk uint64) uint64 {
	t.Helper()
	in, err := f.resolve(name, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.mapWindow(in, lblk)
	if err != nil {
		t.Fatal(err)
	}
	r := w.find(lblk)
	if r.hole {
		t.Fatalf("%s: logical block %d is a hole", name, lblk)
	}
	return r.pblk + lblk - r.lblk
}

func inodeOf(t testing.TB, f *FS, name string) *inode {
	t.Helper()
	in, err := f.resolve(name, false)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestChecksums corrupts one checksummed structure at a time in the ext4
// fixture (metadata_csum) and checks that reading it gives a warning
// naming the structure, or with Strict a *ChecksumError.
func TestChecksums(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, true)
	if err != nil {
		t.Fatalf("clean image with Strict: %v", err)
	}
	if w := f.Warnings(); len(w) != 0 {
		t.Errorf("clean image: warnings %q", w)
	}
	bs := int64(f.bs)
	hello := inodeOf(t, f, "hello.txt")
	frag := inodeOf(t, f, "sparse/fragmented")
	if d := binary.LittleEndian.Uint16(frag.block[6:]); d == 0 {
		t.Fatal("sparse/fragmented has no extent blocks")
	}
	child := int64(binary.LittleEndian.Uint32(frag.block[16:])) | int64(binary.LittleEndian.Uint16(frag.block[20:]))<<32
	extMax := int64(binary.LittleEndian.Uint16(img.img[child*bs+4:]))
	names := int64(physBlock(t, f, "names", 0))
	big := int64(physBlock(t, f, "big", 0))
	if inodeOf(t, f, "big").flags&flagIndex == 0 {
		t.Fatal("big is not an htree directory")
	}

	cases := []struct {
		name      string
		off       int64 // byte to invert
		structure string
		read      func(*FS) error
	}{
		{"superblock", superOffset + 0x3FC, "superblock", nil},
		{"superblock field", superOffset + 0x78, "superblock", nil},
		{"group descriptor", bs + 0x1E, "group descriptor", nil},
		{"group descriptor field", bs + 0x0C, "group descriptor", nil},
		{"inode", inodeOffset(t, f, hello.ino) + 0x7C, "inode", func(f *FS) error { _, err := f.Stat("hello.txt"); return err }},
		{"inode mtime", inodeOffset(t, f, hello.ino) + 0x10, "inode", func(f *FS) error { _, err := f.Stat("hello.txt"); return err }},
		{"extent block", child*bs + 12 + 12*extMax, "extent block", func(f *FS) error { _, err := fs.ReadFile(f, "sparse/fragmented"); return err }},
		{"extent block entry", child*bs + 12 + 4, "extent block", func(f *FS) error { _, err := fs.ReadFile(f, "sparse/fragmented"); return err }},
		{"directory block", names*bs + bs - 1, "directory block", func(f *FS) error { _, err := f.ReadDir("names"); return err }},
		{"directory entry", names*bs + 30, "directory block", func(f *FS) error { _, err := f.ReadDir("names"); return err }},
		{"htree node", big*bs + bs - 1, "htree node", func(f *FS) error { _, err := f.ReadDir("big"); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := img.flip(c.off)
			read := func(f *FS) error {
				if c.read == nil {
					_, err := f.ReadDir(".")
					return err
				}
				return c.read(f)
			}
			// Without Strict: a warning naming the structure. (A
			// corrupted entry may also fail to parse; that is fine.)
			f, err := openPatched(bad, false)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			rerr := read(f)
			if c.name != "directory entry" && c.name != "extent block entry" && rerr != nil {
				t.Errorf("read without Strict: %v", rerr)
			}
			w := strings.Join(f.Warnings(), "\n")
			if !strings.Contains(w, "checksum mismatch in "+c.structure) {
				t.Errorf("warnings %q do not name the %s", w, c.structure)
			}
			// With Strict: an error.
			f, err = openPatched(bad, true)
			if err == nil {
				err = read(f)
			}
			var ce *ChecksumError
			if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) || ce.Structure != c.structure {
				t.Fatalf("with Strict: %v, want a %s checksum error", err, c.structure)
			}
			t.Logf("Strict: %v", err)
		})
	}
}

// TestChecksumBlocks checks the block and inode numbers that checksum
// errors report.
func TestChecksumBlocks(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, true)
	if err != nil {
		t.Fatal(err)
	}
	hello := inodeOf(t, f, "hello.txt")
	off := inodeOffset(t, f, hello.ino)
	names := physBlock(t, f, "names", 0)
	dir := inodeOf(t, f, "names")

	f, _ = openPatched(img.flip(off+0x10), true)
	_, err = f.Stat("hello.txt")
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Ino != hello.ino || ce.Block != uint64(off)/f.bs {
		t.Errorf("inode: %v (%+v)", err, ce)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("inode %d", hello.ino)) {
		t.Errorf("inode: %v does not name inode %d", err, hello.ino)
	}
	f, _ = openPatched(img.flip(int64(names*f.bs)+int64(f.bs)-1), true)
	_, err = f.ReadDir("names")
	if !errors.As(err, &ce) || ce.Ino != dir.ino || ce.Block != names {
		t.Errorf("directory block: %v (%+v)", err, ce)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("directory block %d", names)) {
		t.Errorf("directory block: %v does not name block %d", err, names)
	}
}

// TestChecksumWarningsBounded checks that repeated mismatches give one
// warning each and that the number kept is bounded.
func TestChecksumWarningsBounded(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, false)
	if err != nil {
		t.Fatal(err)
	}
	hello := inodeOf(t, f, "hello.txt")
	f, _ = openPatched(img.flip(inodeOffset(t, f, hello.ino)+0x10), false)
	for i := 0; i < 3; i++ {
		f.itChunks = map[itKey][]byte{} // read the inode again
		if _, err := f.Stat("hello.txt"); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.Warnings(); len(w) != 1 {
		t.Errorf("warnings %q, want one", w)
	}
	for i := 0; i < 3*maxWarnings; i++ {
		f.warn(fmt.Sprintf("warning %d", i))
	}
	if w := f.Warnings(); len(w) != maxWarnings+1 || !strings.Contains(w[maxWarnings], "more warnings") {
		t.Errorf("%d warnings, last %q", len(w), w[len(w)-1])
	}
}

// TestChecksumVariants checks the crc16 descriptor checksums of uninit_bg
// and a metadata_csum_seed filesystem whose UUID changed after mke2fs.
func TestChecksumVariants(t *testing.T) {
	for _, c := range []struct{ name, feature string }{
		{"feat-128", "uninit_bg"},
		{"feat-misc", "metadata_csum_seed"},
		{"feat-inline", "inline_data"},
		{"feat-bigalloc", "bigalloc"},
		{"feat-64k", "metadata_csum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := fixture(t, c.name)
			f, err := openPatched(img, true)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(f.Info().Features, " "), c.feature) {
				t.Fatalf("features %q lack %s", f.Info().Features, c.feature)
			}
			// Descriptor block: block 1, or 2 with 1 KiB blocks.
			gdOff := int64(superOffset/f.bs+1) * int64(f.bs)
			f, err = openPatched(img.flip(gdOff+0x1E), true)
			var ce *ChecksumError
			if !errors.As(err, &ce) || ce.Structure != "group descriptor" || ce.Group != 0 {
				t.Errorf("corrupt descriptor: %v", err)
			}
		})
	}
}

// TestExtentLoop points an index entry of an extent block at the block
// itself: reading the file must fail, quickly, naming the extent block.
func TestExtentLoop(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, false)
	if err != nil {
		t.Fatal(err)
	}
	frag := inodeOf(t, f, "sparse/fragmented")
	child := binary.LittleEndian.Uint32(frag.block[16:])
	bs := int64(f.bs)
	if d := binary.LittleEndian.Uint16(img.img[int64(child)*bs+6:]); d == 0 {
		t.Fatal("the first extent block is a leaf")
	}
	bad := img.put32(int64(child)*bs+12+4, child) // first index entry's ei_leaf_lo
	for _, strict := range []bool{false, true} {
		f, err := openPatched(bad, strict)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = fs.ReadFile(f, "sparse/fragmented")
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("extent block %d", child)) {
			t.Errorf("strict %v: reading a self-referencing extent tree: %v", strict, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		t.Logf("strict %v: %v", strict, err)
	}
}

// TestHugeSize gives a file a size of 2^60 bytes: Stat shows it, reading
// it is an error naming the inode.
func TestHugeSize(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, false)
	if err != nil {
		t.Fatal(err)
	}
	hello := inodeOf(t, f, "hello.txt")
	off := inodeOffset(t, f, hello.ino)
	bad := img.put32(off+0x4, 0).put32(off+0x6C, 1<<28)
	f, err = openPatched(bad, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat("hello.txt")
	if err != nil || fi.Size() != 1<<60 {
		t.Fatalf("Stat: %v, %v", fi, err)
	}
	_, err = f.Open("hello.txt")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("inode %d: size %d exceeds", hello.ino, int64(1)<<60)) {
		t.Errorf("Open: %v", err)
	}
	if !strings.Contains(strings.Join(f.Warnings(), "\n"), "checksum mismatch in inode") {
		t.Errorf("warnings %q", f.Warnings())
	}
}

// TestDirectoryCycle hard-links a directory into its own subtree. The FS
// methods take finite paths, so nothing loops inside fsread: the looping
// entry reads as its ancestor. A walker that follows the tree must keep
// the inode numbers of the directories on its path (Stat.Ino), as vmsh's
// ls -R, find and get do; this test walks that way and finds the cycle.
func TestDirectoryCycle(t *testing.T) {
	img := fixture(t, "ext4")
	f, err := openPatched(img, false)
	if err != nil {
		t.Fatal(err)
	}
	deep := inodeOf(t, f, "deep")
	// deep/d/d holds one entry "d": point it at deep.
	dd := inodeOf(t, f, "deep/d/d")
	sub := inodeOf(t, f, "deep/d/d/d")
	blk := int64(physBlock(t, f, "deep/d/d", 0))
	b := img.img[blk*int64(f.bs) : (blk+1)*int64(f.bs)]
	at := -1
	for off := 0; off+8 <= len(b); {
		rl := int(binary.LittleEndian.Uint16(b[off+4:]))
		if binary.LittleEndian.Uint32(b[off:]) == uint32(sub.ino) && string(b[off+8:off+9]) == "d" {
			at = off
			break
		}
		if rl < 8 {
			break
		}
		off += rl
	}
	if at < 0 || dd.ino == 0 {
		t.Fatal("no entry d in deep/d/d")
	}
	bad := img.put32(blk*int64(f.bs)+int64(at), uint32(deep.ino))
	f, err = openPatched(bad, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat("deep/d/d/d/d/d")
	if err != nil {
		t.Fatalf("Stat through the cycle: %v", err)
	}
	if ino := fi.Sys().(*Stat).Ino; ino != dd.ino {
		t.Errorf("deep/d/d/d/d/d is inode %d, want %d", ino, dd.ino)
	}
	var walk func(name string, path []uint64) error
	steps := 0
	walk = func(name string, path []uint64) error {
		steps++
		if steps > 1000 {
			return errors.New("walk did not stop")
		}
		ents, err := f.ReadDir(name)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			ino := fi.Sys().(*Stat).Ino
			for _, p := range path {
				if p == ino {
					return fmt.Errorf("%s/%s: directory cycle", name, e.Name())
				}
			}
			if err := walk(name+"/"+e.Name(), append(path, ino)); err != nil {
				return err
			}
		}
		return nil
	}
	err = walk("deep", []uint64{rootIno, deep.ino})
	if err == nil || !strings.Contains(err.Error(), "deep/d/d/d: directory cycle") {
		t.Errorf("walk: %v", err)
	}
}

// TestInline reads the inline_data fixture's inline files and
// directories and checks that they are inline.
func TestInline(t *testing.T) {
	img := fixture(t, "feat-inline")
	f, err := openPatched(img, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		inline bool
	}{
		{"size-1", true}, {"size-60", true}, {"size-61", true}, {"size-100", true},
		{"size-4000", false}, {"tiny-dir", true}, {"kernel-dir", true}, {"kernel-file", true}, {"block-dir", false},
	} {
		in := inodeOf(t, f, c.name)
		if got := in.flags&flagInlineData != 0; got != c.inline {
			t.Errorf("%s: inline %v, want %v", c.name, got, c.inline)
		}
	}
	// Inline data past i_block lives in system.data.
	in := inodeOf(t, f, "size-100")
	if v, err := inlineValue(in); err != nil || len(v) != 40 {
		t.Errorf("size-100: system.data of %d bytes, %v", len(v), err)
	}
	// The kernel continues an inline directory in system.data.
	if v, err := inlineValue(inodeOf(t, f, "kernel-dir")); err != nil || len(v) == 0 {
		t.Errorf("kernel-dir: system.data of %d bytes, %v", len(v), err)
	}
	ents, err := f.ReadDir("kernel-dir")
	if err != nil || len(ents) != 6 {
		t.Fatalf("kernel-dir: %v, %v", ents, err)
	}
	b, err := fs.ReadFile(f, "kernel-dir/entry-6")
	if err != nil || string(b) != "6\n" {
		t.Errorf("kernel-dir/entry-6: %q, %v", b, err)
	}
	r, err := f.Open("size-100")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 30)
	n, err := r.(io.ReaderAt).ReadAt(buf, 50)
	whole, _ := fs.ReadFile(f, "size-100")
	if n != 30 || err != nil || !bytes.Equal(buf, whole[50:80]) {
		t.Errorf("ReadAt(30 at 50): %d, %v", n, err)
	}
	n, err = r.(io.ReaderAt).ReadAt(buf, 90)
	if n != 10 || err != io.EOF {
		t.Errorf("ReadAt(30 at 90): %d, %v", n, err)
	}
}

// TestLargeDir reads the 3-level htree of testdata/largedir.ext4.gz
// (large_dir, built by mkfeatures.sh) with Strict, so that every index
// node's checksum is verified, and compares it with the kernel's summary
// in largedir.kernel.
func TestLargeDir(t *testing.T) {
	b := gunzipSmall(filepath.Join("..", "testdata", "largedir.ext4.gz"), 64<<20)
	if b == nil {
		t.Fatal("cannot read testdata/largedir.ext4.gz")
	}
	want, err := os.ReadFile(filepath.Join("..", "testdata", "largedir.kernel"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := openPatched(&patchedImage{img: b}, true)
	if err != nil {
		t.Fatal(err)
	}
	big := inodeOf(t, f, "big")
	root := physBlock(t, f, "big", 0)
	if levels := b[root*f.bs+0x1E]; big.flags&flagIndex == 0 || levels != 2 {
		t.Fatalf("big: index flag %v, %d indirect levels; want a 3-level htree", big.flags&flagIndex != 0, levels)
	}
	ents, err := f.ReadDir("big")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range ents {
		fmt.Fprintf(h, "%s\n", e.Name())
	}
	fi, err := f.Stat("big/f")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("entries %d\nnames-sha256 %x\nnlink %d\n", len(ents), h.Sum(nil), fi.Sys().(*Stat).Nlink)
	if got != string(want) {
		t.Errorf("got\n%swant (the kernel's)\n%s", got, want)
	}
	if w := f.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}
