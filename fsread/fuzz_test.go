package fsread

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fuzzSeeds builds small images with mke2fs when it is installed, and
// adds any small compressed images from the repository's testdata.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	if _, err := exec.LookPath("mke2fs"); err == nil {
		src := f.TempDir()
		writeFile(f, filepath.Join(src, "a"), []byte("hello\n"), 0o644)
		writeFile(f, filepath.Join(src, "d/b"), pattern(1, 5000), 0o600)
		for i := 0; i < 20; i++ {
			writeFile(f, filepath.Join(src, "d/many", fmt.Sprintf("entry-%02d", i)), []byte{byte(i)}, 0o644)
		}
		writeSparse(f, filepath.Join(src, "sparse"), 40000, map[int64][]byte{0: []byte("x"), 20000: []byte("y")})
		os.Symlink("a", filepath.Join(src, "fast"))
		os.Symlink(strings.Repeat("d/../", 15)+"a", filepath.Join(src, "slow"))
		syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644)
		for _, opts := range [][]string{
			{"-t", "ext4", "-b", "1024", "-N", "48", "-O", "^has_journal,^resize_inode"},
			{"-t", "ext2", "-b", "1024", "-N", "48", "-r", "1"},
			{"-t", "ext4", "-b", "1024", "-N", "48", "-I", "128", "-O", "^has_journal,^resize_inode,^64bit,^metadata_csum"},
			{"-t", "ext4", "-b", "4096", "-N", "48", "-O", "^has_journal,^resize_inode"},
		} {
			img := filepath.Join(f.TempDir(), "seed.img")
			size := "192K"
			if opts[3] == "4096" {
				size = "256K"
			}
			args := append([]string{"-q", "-F"}, opts...)
			args = append(args, "-d", src, img, size)
			if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
				f.Logf("mke2fs %v: %v\n%s", opts, err, out)
				continue
			}
			if b, err := os.ReadFile(img); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	gzs, _ := filepath.Glob(filepath.Join("..", "testdata", "*.img.gz"))
	for _, name := range gzs {
		if b := gunzipSmall(name, 2<<20); b != nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// gunzipSmall returns the decompressed file, or nil if it is larger than
// limit or unreadable.
func gunzipSmall(name string, limit int64) []byte {
	fh, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil || int64(len(b)) > limit {
		return nil
	}
	return b
}

// exercise walks fsys with bounded work, calling every accessor, and
// copies each file with CopyTo, up to a budget. It reports only what it
// read; errors are expected on corrupt input.
func exercise(fsys *FS) (files int, bytesRead int64) {
	_ = fsys.Info()
	_ = fsys.Warnings()
	const maxEntries = 300
	const maxBytes = 4 << 20
	buf := make([]byte, 8192)
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		files++
		if files > maxEntries {
			return fs.SkipAll
		}
		if d != nil {
			d.Info()
			_ = d.Type()
		}
		fsys.Stat(p)
		fi, err := fsys.Lstat(p)
		if err != nil {
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			fsys.ReadLink(p)
		}
		fsys.Xattrs(p)
		f, err := fsys.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		f.Stat()
		switch f := f.(type) {
		case fs.ReadDirFile:
			for i := 0; i < 5; i++ {
				if _, err := f.ReadDir(7); err != nil {
					break
				}
			}
		case *file:
			for bytesRead < maxBytes {
				n, err := f.Read(buf)
				bytesRead += int64(n)
				if err != nil {
					break
				}
			}
			if size := f.d.size; size > 0 {
				for _, off := range []int64{0, size / 2, size - 1, size + 10} {
					n, _ := f.ReadAt(buf[:100], off)
					bytesRead += int64(n)
				}
			}
			f.Seek(0, io.SeekStart)
			n, _ := f.CopyTo(context.Background(), &budget{left: maxBytes})
			bytesRead += n
			f.Seek(-1, io.SeekEnd)
			for off, i := int64(0), 0; i < 64; i++ {
				end, _, err := f.Region(off)
				if err != nil {
					break
				}
				if end <= off {
					panic(fmt.Sprintf("Region(%d) ends at %d", off, end))
				}
				off = end
			}
		}
		if d != nil {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*Stat); ok {
					if g, err := fsys.OpenInode(st.Ino, d.Name()); err == nil {
						g.Close()
					}
					fsys.InodeXattrs(st.Ino)
				}
			}
		}
		return nil
	})
	return files, bytesRead
}

// budget is a writer that fails once it has taken left bytes, so that
// copying a file that claims to be huge ends.
type budget struct{ left int64 }

var errBudget = errors.New("budget spent")

func (b *budget) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		n := b.left
		b.left = 0
		return int(n), errBudget
	}
	b.left -= int64(len(p))
	return len(p), nil
}

func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Probe(bytes.NewReader(data))
		fsys, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		start := time.Now()
		files, n := exercise(fsys)
		if d := time.Since(start); d > 3*time.Second && os.Getenv("FSREAD_FUZZ_SLOW") != "" {
			t.Fatalf("slow input: %v for %d files, %d bytes", d, files, n)
		}
	})
}

// TestFuzzSeeds checks that the fuzz seeds are usable images, so that
// fuzzing starts from something that reaches deep into the parser.
func TestFuzzSeeds(t *testing.T) {
	needTools(t, "mke2fs")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), []byte("hello\n"), 0o644)
	img := mkfs(t, src, "192K", "-t", "ext4", "-b", "1024", "-N", "48", "-O", "^has_journal,^resize_inode")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if files, n := exercise(fsys); files < 3 || n < 6 {
		t.Errorf("exercise saw %d files and %d bytes", files, n)
	}
}
