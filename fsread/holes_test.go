package fsread_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"vmsh/fsread"
	"vmsh/internal/fixturetest"
	"vmsh/internal/tooltest"
)

// regionImages are fixtures with sparse files: extents (with unwritten
// ones in ext4's sparse/prealloc), indirect block maps (ext2-1k) and
// bigalloc clusters.
var regionImages = []string{"ext4", "ext2-1k", "feat-bigalloc"}

// dataRegions lists the data of the file as [start, end) pairs, merged,
// from Region.
func dataRegions(t *testing.T, rf fsread.RegionFile, size int64) [][2]int64 {
	t.Helper()
	var out [][2]int64
	off := int64(0)
	for calls := 0; ; calls++ {
		if calls > 1<<20 {
			t.Fatalf("no end after %d calls", calls)
		}
		end, data, err := rf.Region(off)
		if err == io.EOF {
			if off < size {
				t.Fatalf("io.EOF at %d, before the size %d", off, size)
			}
			break
		}
		if err != nil {
			t.Fatalf("Region(%d): %v", off, err)
		}
		if end <= off || end > size {
			t.Fatalf("Region(%d) ends at %d, size %d", off, end, size)
		}
		if data {
			if n := len(out); n > 0 && out[n-1][1] == off {
				out[n-1][1] = end
			} else {
				out = append(out, [2]int64{off, end})
			}
		}
		off = end
	}
	return out
}

// openFixture opens a committed fixture image.
func openFixture(t *testing.T, name string) (*fsread.FS, *os.File) {
	t.Helper()
	f, size, err := fixturetest.OpenImage("../testdata", name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fsys, err := fsread.Open(f, size)
	if err != nil {
		t.Fatal(err)
	}
	return fsys, f
}

// walkRegular calls fn for every regular file of fsys.
func walkRegular(t *testing.T, fsys fs.FS, fn func(name string, size int64)) {
	t.Helper()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			fn(p, fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The regions of every file cover it, holes read as zeros, and the data
// regions hold all of its non-zero bytes.
func TestRegionsCoverData(t *testing.T) {
	for _, name := range regionImages {
		t.Run(name, func(t *testing.T) {
			fsys, _ := openFixture(t, name)
			sparse := 0
			walkRegular(t, fsys, func(p string, size int64) {
				f, err := fsys.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				rf := f.(fsread.RegionFile)
				ra := f.(io.ReaderAt)
				data := dataRegions(t, rf, size)
				if size > 0 && (len(data) != 1 || data[0] != [2]int64{0, size}) {
					sparse++
				}
				off := int64(0)
				check := func(end int64, wantZero bool) {
					if end-off > 8<<20 {
						// A long hole: its two ends.
						e := off + 4<<20
						check1(t, p, ra, off, e)
						off = end - 4<<20
					}
					for off < end {
						n := min(end-off, 1<<20)
						b := make([]byte, n)
						if _, err := ra.ReadAt(b, off); err != nil && err != io.EOF {
							t.Fatalf("%s: ReadAt(%d): %v", p, off, err)
						}
						if wantZero && bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
							t.Fatalf("%s: hole at %d..%d holds data", p, off, off+n)
						}
						off += n
					}
				}
				for _, r := range data {
					check(r[0], true)
					off = r[1] // data may hold zeros
				}
				check(size, true)
			})
			if sparse == 0 {
				t.Errorf("%s: no file with holes", name)
			}
		})
	}
	fsys, _ := openFixture(t, "ext4")
	f, err := fsys.Open("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	rf := f.(fsread.RegionFile)
	if _, _, err := rf.Region(-1); err == nil {
		t.Error("Region(-1) gave no error")
	}
	if _, _, err := rf.Region(1 << 40); err != io.EOF {
		t.Errorf("Region past the end: %v, want io.EOF", err)
	}
	f.Close()
	if _, _, err := rf.Region(0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Region after Close: %v", err)
	}
	// Inline data is all data.
	fsys, _ = openFixture(t, "feat-inline")
	f, err = fsys.Open("size-59")
	if err != nil {
		t.Fatal(err)
	}
	if got := dataRegions(t, f.(fsread.RegionFile), 59); len(got) != 1 || got[0] != [2]int64{0, 59} {
		t.Errorf("inline file regions %v", got)
	}
}

// check1 checks that [off, end) of a file reads as zeros.
func check1(t *testing.T, p string, ra io.ReaderAt, off, end int64) {
	t.Helper()
	b := make([]byte, end-off)
	if _, err := ra.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatalf("%s: ReadAt(%d): %v", p, off, err)
	}
	if bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
		t.Fatalf("%s: hole at %d..%d holds data", p, off, end)
	}
}

// kernelRegions lists the data of a file as lseek's SEEK_DATA and
// SEEK_HOLE report it.
func kernelRegions(name string) ([][2]int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd := int(f.Fd())
	var out [][2]int64
	off := int64(0)
	for {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		out = append(out, [2]int64{start, end})
		off = end
	}
}

// The regions are the kernel's: Region and SEEK_DATA/SEEK_HOLE on a
// read-only loop mount of the same image agree on every file.
func TestRegionsKernel(t *testing.T) {
	tooltest.Need(t, "mount", "umount")
	tooltest.NeedRoot(t, "a loop mount")
	for _, name := range regionImages {
		t.Run(name, func(t *testing.T) {
			fsys, img := openFixture(t, name)
			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-o", "ro,loop", img.Name(), mnt).CombinedOutput(); err != nil {
				tooltest.SkipOrFail(t, "mount: %v: %s", err, out)
			}
			defer exec.Command("umount", mnt).Run()
			n := 0
			walkRegular(t, fsys, func(p string, size int64) {
				f, err := fsys.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				got := dataRegions(t, f.(fsread.RegionFile), size)
				want, err := kernelRegions(filepath.Join(mnt, p))
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: regions %v, kernel %v", p, got, want)
				}
				if len(want) > 1 || len(want) == 1 && want[0] != [2]int64{0, size} {
					n++
				}
			})
			if n == 0 || t.Failed() {
				t.Logf("%d files with holes compared", n)
			}
			if strings.HasPrefix(name, "ext4") {
				// The unwritten extents of sparse/prealloc are holes.
				f, _ := fsys.Open("sparse/prealloc")
				if got := dataRegions(t, f.(fsread.RegionFile), 25*4096+123); len(got) != 1 || got[0] != [2]int64{0, 4096} {
					t.Errorf("sparse/prealloc: %v, want only its first block as data", got)
				}
				f.Close()
			}
		})
	}
}
