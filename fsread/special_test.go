package fsread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// checkSparse reads name from fsys and checks it against the chunks it
// was written with, everything else being zero.
func checkSparse(t *testing.T, fsys *FS, name string, size int64, chunks map[int64][]byte) {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != size {
		t.Fatalf("%s: size %d, want %d", name, fi.Size(), size)
	}
	ra := f.(io.ReaderAt)
	for off, want := range chunks {
		got := make([]byte, len(want)+200)
		start := max(off-100, 0)
		n, err := ra.ReadAt(got, start)
		if err != nil && err != io.EOF {
			t.Fatalf("%s: ReadAt %d: %v", name, start, err)
		}
		got = got[:n]
		exp := make([]byte, n)
		copy(exp[off-start:], want)
		if !bytes.Equal(got, exp) {
			t.Errorf("%s: data at %d differs", name, off)
		}
	}
	// Sequential read of the whole file, counting non-zero bytes.
	var nonzero, total int64
	buf := make([]byte, 1<<20)
	zeros := make([]byte, len(buf))
	for {
		n, err := f.Read(buf)
		if !bytes.Equal(buf[:n], zeros[:n]) {
			for _, c := range buf[:n] {
				if c != 0 {
					nonzero++
				}
			}
		}
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var wantNonzero int64
	for _, c := range chunks {
		for _, b := range c {
			if b != 0 {
				wantNonzero++
			}
		}
	}
	if total != size || nonzero != wantNonzero {
		t.Errorf("%s: read %d bytes with %d non-zero, want %d and %d", name, total, nonzero, size, wantNonzero)
	}
}

func TestTripleIndirect(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	// 1 KiB blocks: 12 direct, 256 single, 65536 double; the triple
	// indirect range starts at block 65804.
	const k = 1024
	chunks := map[int64][]byte{
		0:               pattern(1, 5000),
		11 * k:          pattern(2, 3*k),
		300 * k:         pattern(3, 10*k),
		65803*k + 17:    pattern(4, 3000),
		70000 * k:       pattern(5, 100*k),
		3000000*k + 100: pattern(6, 2*k),
	}
	size := int64(3000000*k + 100 + 2*k + 555)
	writeSparse(t, filepath.Join(src, "sparse"), size, chunks)
	for _, opts := range [][]string{
		{"-t", "ext2", "-b", "1024"},
		{"-t", "ext3", "-b", "1024", "-I", "128"},
		{"-t", "ext4", "-b", "1024", "-O", "^extent,^64bit"},
	} {
		t.Run(strings.Join(opts, " "), func(t *testing.T) {
			img := mkfs(t, src, "32M", opts...)
			fsys := openImage(t, img)
			fi, err := fsys.Stat("sparse")
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*Stat); st.Flags&flagExtents != 0 || st.Blocks > 1000 {
				t.Errorf("expected an indirect-mapped sparse file, flags %#x blocks %d", st.Flags, st.Blocks)
			}
			checkSparse(t, fsys, "sparse", size, chunks)
			compareDebugfs(t, fsys, img, 10)
		})
	}
}

func TestLargeSparse(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	const gib = 1 << 30
	chunks := map[int64][]byte{
		0:              pattern(1, 4096),
		4*gib - 100:    pattern(2, 300),
		4*gib + 123456: pattern(3, 70000),
		5*gib + 7:      pattern(4, 4096),
	}
	size := int64(5*gib + 7 + 4096 + 3)
	writeSparse(t, filepath.Join(src, "huge"), size, chunks)
	// A file that is one long hole.
	writeSparse(t, filepath.Join(src, "allhole"), 5*gib, nil)
	for _, opts := range [][]string{{"-t", "ext4"}, {"-t", "ext4", "-b", "65536"}, {"-t", "ext3"}} {
		t.Run(strings.Join(opts, " "), func(t *testing.T) {
			img := mkfs(t, src, "64M", opts...)
			fsys := openImage(t, img)
			checkSparse(t, fsys, "huge", size, chunks)
			checkSparse(t, fsys, "allhole", 5*gib, nil)
			compareDebugfs(t, fsys, img, 10)
		})
	}
}

// TestDeepExtents builds files whose extent trees have depth 1 and 2.
func TestDeepExtents(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	const k = 1024
	var sizes []int64
	for _, n := range []int{3, 50, 400, 2000} {
		chunks := map[int64][]byte{}
		for i := 0; i < n; i++ {
			chunks[int64(i)*3*k] = pattern(i+1, k)
		}
		size := int64(n*3*k + 5)
		sizes = append(sizes, size)
		writeSparse(t, filepath.Join(src, fmt.Sprintf("frag%d", n)), size, chunks)
	}
	img := mkfs(t, src, "32M", "-t", "ext4", "-b", "1024")
	fsys := openImage(t, img)
	out := runTool(t, "debugfs", "-R", "stat /frag2000", img)
	if !strings.Contains(out, "(ETB1)") {
		t.Errorf("debugfs stat /frag2000 does not show a depth-2 tree:\n%.600s", out)
	}
	for i, n := range []int{3, 50, 400, 2000} {
		name := fmt.Sprintf("frag%d", n)
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != sizes[i] {
			t.Fatalf("%s: %d bytes, want %d", name, len(b), sizes[i])
		}
		for j := 0; j < n; j++ {
			off := j * 3 * k
			if !bytes.Equal(b[off:off+k], pattern(j+1, k)) || !bytes.Equal(b[off+k:min(off+3*k, len(b))], make([]byte, min(2*k, len(b)-off-k))) {
				t.Fatalf("%s: chunk %d wrong", name, j)
			}
		}
	}
	compareDebugfs(t, fsys, img, 10)
}

func TestHtree(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	const n = 3000
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("file-%05d-%s", i, strings.Repeat("x", i%200))
		writeFile(t, filepath.Join(src, "big", name), []byte(name), 0o644)
	}
	for _, opts := range [][]string{{"-t", "ext3"}, {"-t", "ext4", "-b", "1024"}, {"-t", "ext4", "-O", "large_dir"}} {
		t.Run(strings.Join(opts, " "), func(t *testing.T) {
			img := mkfs(t, src, "64M", opts...)
			runTool(t, "e2fsck", "-fyD", img)
			fsys := openImage(t, img)
			fi, err := fsys.Stat("big")
			if err != nil {
				t.Fatal(err)
			}
			if fi.Sys().(*Stat).Flags&flagIndex == 0 {
				t.Errorf("directory is not indexed (flags %#x)", fi.Sys().(*Stat).Flags)
			}
			ents, err := fsys.ReadDir("big")
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != n {
				t.Fatalf("ReadDir: %d entries, want %d", len(ents), n)
			}
			for _, e := range ents {
				b, err := fs.ReadFile(fsys, "big/"+e.Name())
				if err != nil || string(b) != e.Name() {
					t.Fatalf("ReadFile(%q) = %q, %v", e.Name(), b, err)
				}
			}
			if _, err := fsys.Stat("big/file-00001-y"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing name: %v", err)
			}
			if err := fstest.TestFS(fsys, "big/file-00000-"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	img := mkfs(t, src, "8M", "-t", "ext4")
	cmds := filepath.Join(t.TempDir(), "cmds")
	os.WriteFile(cmds, []byte(strings.Join([]string{
		"set_inode_field /f mtime 0x80000000",
		"set_inode_field /f mtime_extra 0x12345679", // epoch 1, 76354974 ns
		"set_inode_field /f atime 0xFFFFFFFF",       // -1 s
		"set_inode_field /f atime_extra 0x00000008", // 2 ns
		"set_inode_field /f ctime 0x00000005",
		"set_inode_field /f ctime_extra 0x00000003", // epoch 3
		"set_inode_field /f crtime 0x10",
		"set_inode_field /f crtime_extra 0xEE6B27FC", // 999999999 ns
		"set_inode_field /f uid 0x12345678",
		"set_inode_field /f gid 0x9abcdef0",
		"",
	}, "\n")), 0o644)
	runTool(t, "debugfs", "-w", "-f", cmds, img)
	fsys := openImage(t, img)
	fi, err := fsys.Stat("f")
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*Stat)
	for _, tc := range []struct {
		name      string
		got, want time.Time
	}{
		{"mtime", st.Mtime, time.Unix(1<<31, 76354974)},
		{"atime", st.Atime, time.Unix(-1, 2)},
		{"ctime", st.Ctime, time.Unix(5+3<<32, 0)},
		{"crtime", st.Crtime, time.Unix(16, 999999999)},
		{"ModTime", fi.ModTime(), time.Unix(1<<31, 76354974)},
	} {
		if !tc.got.Equal(tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if st.Uid != 0x12345678 || st.Gid != 0x9abcdef0 {
		t.Errorf("owner %#x:%#x", st.Uid, st.Gid)
	}
	compareDebugfs(t, fsys, img, 10)

	// 128-byte inodes have no extra time fields.
	img = mkfs(t, src, "8M", "-t", "ext4", "-I", "128")
	fsys = openImage(t, img)
	fi, err = fsys.Stat("f")
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*Stat); !st.Crtime.IsZero() || st.Mtime.Nanosecond() != 0 {
		t.Errorf("128-byte inode: crtime %v mtime %v", st.Crtime, st.Mtime)
	}
}

// patchSuper changes the 32-bit superblock field at off with fn.
func patchSuper(t *testing.T, img string, off int64, fn func(uint32) uint32) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 1024+off); err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[:], fn(binary.LittleEndian.Uint32(b[:])))
	if _, err := f.WriteAt(b[:], 1024+off); err != nil {
		t.Fatal(err)
	}
}

func TestUnsupported(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "small"), []byte("tiny"), 0o644)
	writeFile(t, filepath.Join(src, "large"), pattern(1, 100000), 0o644)
	writeFile(t, filepath.Join(src, "d/x"), []byte("x"), 0o644)

	t.Run("inline_data", func(t *testing.T) {
		img := mkfs(t, src, "8M", "-t", "ext4", "-O", "inline_data")
		fsys := openImage(t, img)
		if b, err := fs.ReadFile(fsys, "small"); err != nil || string(b) != "tiny" {
			t.Errorf("reading an inline file: %q, %v", b, err)
		}
		if b, err := fs.ReadFile(fsys, "large"); err != nil || !bytes.Equal(b, pattern(1, 100000)) {
			t.Errorf("reading a normal file: %v", err)
		}
		if ents, err := fsys.ReadDir("d"); err != nil || len(ents) != 1 || ents[0].Name() != "x" {
			t.Errorf("reading an inline directory: %v, %v", ents, err)
		}
		if fi, err := fsys.Stat("small"); err != nil || fi.Size() != 4 {
			t.Errorf("Stat of an inline file: %v, %v", fi, err)
		}
	})
	t.Run("bigalloc", func(t *testing.T) {
		// 1 KiB blocks (mke2fs's choice for 64 MiB) and a first data
		// block of 0: the descriptors follow the superblock in block 1.
		img := mkfs(t, src, "64M", "-t", "ext4", "-O", "bigalloc", "-C", "16384")
		fsys := openImage(t, img)
		if b, err := fs.ReadFile(fsys, "large"); err != nil || !bytes.Equal(b, pattern(1, 100000)) {
			t.Errorf("reading a file: %v", err)
		}
		if b, err := fs.ReadFile(fsys, "d/x"); err != nil || string(b) != "x" {
			t.Errorf("reading a small file: %q, %v", b, err)
		}
	})
	t.Run("needs_recovery", func(t *testing.T) {
		img := mkfs(t, src, "8M", "-t", "ext4")
		runTool(t, "debugfs", "-w", "-R", "feature needs_recovery", img)
		// The journal is empty: replay applies nothing and clears the flag.
		fsys := openImage(t, img)
		if i := fsys.Info(); !i.Replayed || i.ReplayTransactions != 0 || strings.Contains(strings.Join(i.Features, " "), "needs_recovery") {
			t.Errorf("replayed %v, %d transactions, features %q", i.Replayed, i.ReplayTransactions, i.Features)
		}
		f, _ := os.Open(img)
		defer f.Close()
		fsys, err := OpenOptions(f, 8<<20, Options{NoReplay: true})
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Join(fsys.Warnings(), "\n"); !strings.Contains(w, "journal not replayed") {
			t.Errorf("warnings %q", w)
		}
		if !strings.Contains(strings.Join(fsys.Info().Features, " "), "needs_recovery") {
			t.Errorf("features %q", fsys.Info().Features)
		}
	})
	t.Run("unknown incompat", func(t *testing.T) {
		img := mkfs(t, src, "8M", "-t", "ext4")
		patchSuper(t, img, 0x60, func(v uint32) uint32 { return v | 1<<31 | 1<<20 })
		f, _ := os.Open(img)
		defer f.Close()
		_, err := Open(f, 8<<20)
		if err == nil || !strings.Contains(err.Error(), "FEATURE_I31") || !strings.Contains(err.Error(), "FEATURE_I20") {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("unknown ro_compat", func(t *testing.T) {
		img := mkfs(t, src, "8M", "-t", "ext4")
		patchSuper(t, img, 0x64, func(v uint32) uint32 { return v | 1<<30 })
		fsys := openImage(t, img)
		if w := strings.Join(fsys.Warnings(), "\n"); !strings.Contains(w, "FEATURE_R30") {
			t.Errorf("warnings %q", w)
		}
	})
	t.Run("not ext", func(t *testing.T) {
		_, err := Open(bytes.NewReader(make([]byte, 1<<20)), 1<<20)
		if !errors.Is(err, ErrNotExt) {
			t.Errorf("Open(zeros): %v", err)
		}
		_, err = Probe(bytes.NewReader(make([]byte, 100)))
		if err == nil {
			t.Error("Probe of 100 bytes succeeded")
		}
	})
}

func TestInfo(t *testing.T) {
	needTools(t, "mke2fs", "dumpe2fs")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	img := mkfs(t, src, "16M", "-t", "ext4", "-L", "mylabel", "-U", "0123abcd-4567-89ab-cdef-0123456789ab", "-M", "/mnt/x")
	f, _ := os.Open(img)
	defer f.Close()
	info, err := Probe(f)
	if err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "dumpe2fs", "-h", img)
	field := func(k string) string {
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(line, k+":"); ok {
				return strings.TrimSpace(rest)
			}
		}
		return ""
	}
	check := func(name, got, want string) {
		if got != want {
			t.Errorf("%s = %q, dumpe2fs says %q", name, got, want)
		}
	}
	check("Label", info.Label, field("Filesystem volume name"))
	check("UUID", info.UUID, field("Filesystem UUID"))
	check("Features", strings.Join(info.Features, " "), field("Filesystem features"))
	check("LastMounted", info.LastMounted, field("Last mounted on"))
	check("Blocks", fmt.Sprint(info.Blocks), field("Block count"))
	check("FreeBlocks", fmt.Sprint(info.FreeBlocks), field("Free blocks"))
	check("Inodes", fmt.Sprint(info.Inodes), field("Inode count"))
	check("FreeInodes", fmt.Sprint(info.FreeInodes), field("Free inodes"))
	check("BlockSize", fmt.Sprint(info.BlockSize), field("Block size"))
	check("Size", fmt.Sprint(info.Size), fmt.Sprint(16<<20))
	check("Type", info.Type, "ext4")
	fsys := openImage(t, img)
	if fmt.Sprint(fsys.Info()) != fmt.Sprint(info) {
		t.Errorf("FS.Info %v differs from Probe %v", fsys.Info(), info)
	}
}

// TestUninitExtent checks that an uninitialized (preallocated) extent
// reads as zeros even when its blocks hold old data.
func TestUninitExtent(t *testing.T) {
	needTools(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), bytes.Repeat([]byte("A"), 5000), 0o644)
	img := mkfs(t, src, "8M", "-t", "ext4")
	runTool(t, "debugfs", "-w", "-R", "fallocate /f 1 9", img)
	runTool(t, "debugfs", "-w", "-R", "sif /f size 40000", img)
	var uninit [][2]int64
	for _, line := range strings.Split(runTool(t, "debugfs", "-R", "ex /f", img), "\n") {
		f := strings.Fields(line)
		if len(f) >= 10 && f[len(f)-1] == "Uninit" {
			var p0, p1 int64
			fmt.Sscan(f[len(f)-5], &p0)
			fmt.Sscan(f[len(f)-3], &p1)
			uninit = append(uninit, [2]int64{p0, p1})
		}
	}
	if len(uninit) == 0 {
		t.Fatal("debugfs made no uninitialized extent")
	}
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(fh)
	if err != nil {
		t.Fatal(err)
	}
	bs := int64(info.BlockSize)
	for _, r := range uninit {
		junk := bytes.Repeat([]byte{0xAA}, int((r[1]-r[0]+1)*bs))
		if _, err := fh.WriteAt(junk, r[0]*bs); err != nil {
			t.Fatal(err)
		}
	}
	fh.Close()
	fsys := openImage(t, img)
	b, err := fs.ReadFile(fsys, "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 40000 || !bytes.Equal(b[:5000], bytes.Repeat([]byte("A"), 5000)) {
		t.Fatalf("read %d bytes", len(b))
	}
	if i := bytes.IndexByte(b[5000:], 0xAA); i >= 0 {
		t.Errorf("uninitialized extent data visible at offset %d", 5000+i)
	}
}
