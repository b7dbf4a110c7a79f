package fsread_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/devio/deviotest"
	"vmsh/internal/fixturetest"
)

// copier is how a caller reaches CopyTo on a file fsread opened.
type copier interface {
	CopyTo(context.Context, io.Writer) (int64, error)
}

// openRangeFixture opens a committed fixture image through a Recorder.
func openRangeFixture(t *testing.T, name string) (*fsread.FS, *deviotest.Recorder) {
	t.Helper()
	f, size, err := fixturetest.OpenImage("../testdata", name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	img := &deviotest.Recorder{R: f}
	fsys, err := fsread.Open(img, size)
	if err != nil {
		t.Fatal(err)
	}
	return fsys, img
}

// sameWriter checks what is written against what r reads.
type sameWriter struct {
	r   io.Reader
	off int64
	buf []byte
}

func (w *sameWriter) Write(p []byte) (int, error) {
	if cap(w.buf) < len(p) {
		w.buf = make([]byte, len(p))
	}
	b := w.buf[:len(p)]
	if n, err := io.ReadFull(w.r, b); err != nil {
		return 0, fmt.Errorf("%d bytes written at %d, Read gives %d: %v", len(p), w.off, n, err)
	}
	for i := range p {
		if p[i] != b[i] {
			return i, fmt.Errorf("byte %d is %#x, Read gives %#x", w.off+int64(i), p[i], b[i])
		}
	}
	w.off += int64(len(p))
	return len(p), nil
}

// atEOF reports whether r has nothing more to read.
func atEOF(r io.Reader) bool {
	n, err := r.Read(make([]byte, 1))
	return n == 0 && err == io.EOF
}

// dataBytes returns the bytes of the file's data regions.
func dataBytes(t *testing.T, f fs.File, size int64) int64 {
	var n int64
	for _, r := range dataRegions(t, f.(fsread.RegionFile), size) {
		n += r[1] - r[0]
	}
	return n
}

const inlineDataFlag = 0x10000000 // EXT4_INLINE_DATA_FL

// copyImages are fixtures whose files CopyTo copies: sparse, unwritten
// and fragmented files and one over 4 GiB (ext4), indirect block maps
// with 1 KiB blocks (ext2-1k), inline data, bigalloc clusters, 64 KiB
// blocks, and filesystems read through a replayed journal.
var copyImages = []string{"ext4", "ext2-1k", "feat-inline", "feat-bigalloc", "feat-64k", "ext3-journal", "ext4-journal"}

// TestCopyToFixtures copies every regular file of the fixtures with
// CopyTo and compares it with what Read reads. Every byte of a file's
// data regions reaches the image as a WriteRange range, except in files
// with inline data; with a replayed journal, blocks the journal replaced
// are written from memory instead.
func TestCopyToFixtures(t *testing.T) {
	for _, name := range copyImages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fsys, img := openRangeFixture(t, name)
			replayed := fsys.Info().Replayed
			if strings.Contains(name, "journal") && !replayed {
				t.Fatalf("journal not replayed: %q", fsys.Warnings())
			}
			files, inline, passed := 0, 0, int64(0)
			walkRegular(t, fsys, func(p string, size int64) {
				if testing.Short() && size > 1<<30 {
					return
				}
				f, err := fsys.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				ref, err := fsys.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer ref.Close()
				fi, err := f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				isInline := fi.Sys().(*fsread.Stat).Flags&inlineDataFlag != 0
				data := dataBytes(t, f, size)
				img.Take()
				sw := &sameWriter{r: ref}
				n, err := f.(copier).CopyTo(context.Background(), sw)
				if err != nil || n != size || !atEOF(ref) {
					t.Fatalf("%s: CopyTo: %d, %v; size %d", p, n, err, size)
				}
				var down int64
				calls, _ := img.Take()
				for _, c := range calls {
					down += c.N
				}
				switch {
				case isInline && down != 0:
					t.Errorf("%s: inline data, yet %d bytes passed down", p, down)
				case !isInline && !replayed && down != data:
					t.Errorf("%s: %d bytes passed down, the file has %d bytes of data", p, down, data)
				case !isInline && down > data:
					t.Errorf("%s: %d bytes passed down, more than its %d bytes of data", p, down, data)
				}
				// At the end, nothing more.
				if n, err := f.(copier).CopyTo(context.Background(), sw); n != 0 || err != nil {
					t.Errorf("%s: CopyTo at the end: %d, %v", p, n, err)
				}
				files++
				passed += down
				if isInline {
					inline++
				}
			})
			t.Logf("%d files, %d with inline data; %d bytes passed down", files, inline, passed)
			if files == 0 || passed == 0 {
				t.Errorf("%d files, %d bytes passed down", files, passed)
			}
			if name == "feat-inline" && inline == 0 {
				t.Error("no file with inline data")
			}
		})
	}
}

// TestCopyToRuns checks the ranges a sparse and a fragmented file pass
// down: one for each run of data, of its length, at most the file's size.
func TestCopyToRuns(t *testing.T) {
	fsys, img := openRangeFixture(t, "ext4")
	for _, p := range []string{"sparse/hole-start", "sparse/hole-middle", "sparse/hole-end", "sparse/fragmented", "sparse/all-hole", "sparse/prealloc"} {
		f, err := fsys.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		regions := dataRegions(t, f.(fsread.RegionFile), fi.Size())
		img.Take()
		var buf bytes.Buffer
		if _, err := f.(copier).CopyTo(context.Background(), &buf); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		calls, _ := img.Take()
		if len(calls) != len(regions) {
			t.Errorf("%s: %d ranges passed down, for %d regions of data", p, len(calls), len(regions))
		} else {
			for i, c := range calls {
				if r := regions[i]; c.N != r[1]-r[0] {
					t.Errorf("%s: range %d of %d bytes, region %v", p, i, c.N, r)
				}
			}
		}
		f.Close()
	}
}

// TestCopyToPosition checks that CopyTo starts at the Read position,
// whether Read has the bytes there read ahead or not, and moves it.
func TestCopyToPosition(t *testing.T) {
	fsys, _ := openRangeFixture(t, "ext4")
	const p = "sparse/hole-middle"
	want, err := fs.ReadFile(fsys, p)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(want))
	for _, tc := range []struct {
		name       string
		read, seek int64 // bytes to Read first, then where to Seek (-1: nowhere)
	}{
		{"start", 0, -1},
		{"after a Read", 1000, -1},
		{"after a Read, beyond its read-ahead", 100, 3 << 20},
		{"in a hole", 0, 1 << 20},
		{"last byte", 0, size - 1},
		{"at the end", 0, size},
		{"past the end", 0, size + 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fsys.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := io.ReadFull(f, make([]byte, tc.read)); err != nil {
				t.Fatal(err)
			}
			start := tc.read
			if tc.seek >= 0 {
				if start, err = f.(io.Seeker).Seek(tc.seek, io.SeekStart); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			n, err := f.(copier).CopyTo(context.Background(), &buf)
			rest := want[min(start, size):]
			if err != nil || n != int64(len(rest)) || !bytes.Equal(buf.Bytes(), rest) {
				t.Fatalf("CopyTo from %d: %d, %v; bytes differ", start, n, err)
			}
			if pos, _ := f.(io.Seeker).Seek(0, io.SeekCurrent); pos != max(start, size) {
				t.Errorf("position %d after CopyTo, want %d", pos, max(start, size))
			}
		})
	}
}

// cancelAfter cancels a context once it has taken limit bytes, and takes
// them all.
type cancelAfter struct {
	bytes.Buffer
	limit  int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	if w.Len()+len(p) >= w.limit {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// TestCopyToCancel checks that a cancelled context stops CopyTo with the
// context's error, leaving the position after what was written.
func TestCopyToCancel(t *testing.T) {
	fsys, _ := openRangeFixture(t, "ext4")
	for _, p := range []string{"sparse/fragmented", "sparse/hole-start"} {
		want, err := fs.ReadFile(fsys, p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fsys.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if n, err := f.(copier).CopyTo(ctx, io.Discard); n != 0 || err != context.Canceled {
			t.Errorf("%s: cancelled before: %d, %v", p, n, err)
		}

		ctx, cancel = context.WithCancel(context.Background())
		w := &cancelAfter{limit: 10000, cancel: cancel}
		n, err := f.(copier).CopyTo(ctx, w)
		cancel()
		if err != context.Canceled || n != int64(w.Len()) || n >= int64(len(want)) || !bytes.Equal(w.Bytes(), want[:n]) {
			t.Errorf("%s: cancelled while copying: %d, %v; wrote %d of %d bytes", p, n, err, w.Len(), len(want))
		}
		rest, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(rest, want[n:]) {
			t.Errorf("%s: Read after a cancelled CopyTo: %d bytes, %v; want the %d after %d", p, len(rest), err, len(want)-int(n), n)
		}
		f.Close()
		if _, err := f.(copier).CopyTo(context.Background(), io.Discard); err == nil {
			t.Errorf("%s: CopyTo after Close: no error", p)
		}
	}
}

// flushWriter stands for a buffered writer: it keeps what is written and
// counts the calls to Flush, which returns err.
type flushWriter struct {
	bytes.Buffer
	flushes int
	err     error
}

func (w *flushWriter) Flush() error {
	w.flushes++
	return w.err
}

// TestCopyToFlush checks that CopyTo flushes a writer that has a Flush
// method once, after the data, and returns a failed flush as its own
// error, with the file's name.
func TestCopyToFlush(t *testing.T) {
	fsys, _ := openRangeFixture(t, "ext4")
	var name string
	walkRegular(t, fsys, func(p string, size int64) {
		if name == "" && size > 0 && size <= 1<<20 {
			name = p
		}
	})
	if name == "" {
		t.Fatal("no regular file of at most 1 MiB in the fixture")
	}
	want, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	errFull := errors.New("no space left")
	for _, fail := range []error{nil, errFull} {
		f, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		w := &flushWriter{err: fail}
		n, err := f.(copier).CopyTo(context.Background(), w)
		f.Close()
		if w.flushes != 1 {
			t.Errorf("%s: Flush called %d times, want once", name, w.flushes)
		}
		if n != int64(len(want)) || !bytes.Equal(w.Bytes(), want) {
			t.Errorf("%s: CopyTo wrote %d bytes (%d kept), the file has %d", name, n, w.Len(), len(want))
		}
		var pe *fs.PathError
		switch {
		case fail == nil && err != nil:
			t.Errorf("%s: CopyTo: %v", name, err)
		case fail != nil && (!errors.Is(err, fail) || !errors.As(err, &pe) || pe.Op != "copy"):
			t.Errorf("%s: CopyTo with a failing Flush: %v, want a copy error wrapping %v", name, err, fail)
		}
	}
}
