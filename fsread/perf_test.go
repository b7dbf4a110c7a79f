package fsread

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingReader counts the ReadAt calls made on an image and their sizes.
type countingReader struct {
	r     io.ReaderAt
	calls atomic.Int64
	bytes atomic.Int64
	mu    sync.Mutex
	sizes []int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(p)))
	c.mu.Lock()
	c.sizes = append(c.sizes, len(p))
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

func (c *countingReader) reset() {
	c.calls.Store(0)
	c.bytes.Store(0)
	c.mu.Lock()
	c.sizes = nil
	c.mu.Unlock()
}

func openCounting(t testing.TB, img string) (*FS, *countingReader) {
	t.Helper()
	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, _ := fh.Stat()
	cr := &countingReader{r: fh}
	fsys, err := Open(cr, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return fsys, cr
}

// TestReadCoalescing checks that small sequential reads become large
// image reads, and that a big ReadAt of a contiguous file is one image
// read.
func TestReadCoalescing(t *testing.T) {
	needTools(t, "mke2fs")
	src := t.TempDir()
	const size = 24 << 20
	data := pattern(7, size)
	writeFile(t, filepath.Join(src, "big"), data, 0o644)
	img := mkfs(t, src, "64M", "-t", "ext4", "-E", "lazy_itable_init=0")
	fsys, cr := openCounting(t, img)

	f, err := fsys.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr.reset()
	buf := make([]byte, 4096)
	var got int
	for {
		n, err := f.Read(buf)
		if n > 0 && string(buf[:n]) != string(data[got:got+n]) {
			t.Fatalf("data differs at %d", got)
		}
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got != size {
		t.Fatalf("read %d bytes, want %d", got, size)
	}
	calls := cr.calls.Load()
	t.Logf("sequential 4 KiB reads of %d MiB: %d image reads, sizes %v", size>>20, calls, cr.sizes)
	// The file's extents, as debugfs lists them: one image read per
	// physically contiguous run is the best possible.
	runs := 0
	for _, line := range strings.Split(runTool(t, "debugfs", "-R", "ex /big", img), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "0/") {
			runs++
		}
	}
	t.Logf("%d extents", runs)
	if calls > int64(runs)+6 || int(cr.bytes.Load())/int(calls) < 1<<20 {
		t.Errorf("sequential read made %d image reads averaging %d bytes", calls, cr.bytes.Load()/calls)
	}

	cr.reset()
	all := make([]byte, size)
	if n, err := f.(io.ReaderAt).ReadAt(all, 0); n != size || err != nil {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if string(all) != string(data) {
		t.Fatal("ReadAt data differs")
	}
	t.Logf("one ReadAt of %d MiB: %d image reads, sizes %v", size>>20, cr.calls.Load(), cr.sizes)
	if cr.calls.Load() > int64(runs) {
		t.Errorf("ReadAt of a contiguous file made %d image reads", cr.calls.Load())
	}

	// Concurrent ReadAt calls on one open file.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			b := make([]byte, 100000)
			for i := 0; i < 50; i++ {
				off := int64((g*7919 + i*104729) % (size - len(b)))
				if _, err := f.(io.ReaderAt).ReadAt(b, off); err != nil {
					t.Error(err)
					return
				}
				if string(b) != string(data[off:off+int64(len(b))]) {
					t.Errorf("concurrent ReadAt at %d differs", off)
					return
				}
			}
		}(g)
	}
	wg.Wait()

	// Listing a directory and stating its entries reads inode tables in
	// chunks, not inode by inode.
	cr.reset()
	ents, err := fsys.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if _, err := e.Info(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("ls -l of the root: %d image reads", cr.calls.Load())
}

// TestConcurrentSmallReads reads one open file a few bytes at a time from
// several goroutines at once, through ReadAt (sequentially and at random
// offsets) and through Read and Seek, and closes it while they run.
func TestConcurrentSmallReads(t *testing.T) {
	needTools(t, "mke2fs")
	src := t.TempDir()
	const size = 300000
	data := pattern(5, size)
	writeFile(t, filepath.Join(src, "f"), data, 0o644)
	fsys := openImage(t, mkfs(t, src, "8M", "-t", "ext4"))
	f, err := fsys.Open("f")
	if err != nil {
		t.Fatal(err)
	}
	ra := f.(io.ReaderAt)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1+g*3)
			x := uint64(g + 1)
			for i := range size / 2 {
				off := int64(i * len(buf) % size)
				if g%2 == 1 {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					off = int64(x % size)
				}
				n, err := ra.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					t.Errorf("ReadAt(%d, %d): %v", len(buf), off, err)
					return
				}
				if string(buf[:n]) != string(data[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d, %d) differs", len(buf), off)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sk := f.(io.Seeker)
		for pass := range 3 {
			start := int64(pass * 1000)
			if _, err := sk.Seek(start, io.SeekStart); err != nil {
				t.Error(err)
				return
			}
			var got []byte
			buf := make([]byte, 1+pass)
			for {
				n, err := f.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
			if string(got) != string(data[start:]) {
				t.Errorf("Read from %d: %d bytes differ", start, len(got))
				return
			}
		}
	}()
	wg.Wait()

	// Close while small ReadAt calls run: they return data or fs.ErrClosed.
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2)
		for i := 0; ; i++ {
			off := int64(i * 2 % size)
			n, err := ra.ReadAt(b, off)
			if errors.Is(err, fs.ErrClosed) {
				return
			}
			if err != nil || string(b[:n]) != string(data[off:off+2]) {
				t.Errorf("ReadAt(2, %d) = %d, %v", off, n, err)
				return
			}
		}
	}()
	f.Close()
	<-done
}

func BenchmarkRead(b *testing.B) {
	needTools(b, "mke2fs")
	src := b.TempDir()
	const size = 256 << 20
	writeFile(b, filepath.Join(src, "big"), pattern(9, size), 0o644)
	img := mkfs(b, src, "300M", "-t", "ext4")
	fsys, cr := openCounting(b, img)
	for _, bufSize := range []int{8 << 10, 1 << 20} {
		b.Run(sizeName(bufSize), func(b *testing.B) {
			buf := make([]byte, bufSize)
			cr.reset()
			b.SetBytes(size)
			for b.Loop() {
				f, err := fsys.Open("big")
				if err != nil {
					b.Fatal(err)
				}
				var n int64
				for {
					m, err := f.Read(buf)
					n += int64(m)
					if err != nil {
						break
					}
				}
				f.Close()
				if n != size {
					b.Fatalf("read %d bytes", n)
				}
			}
			b.ReportMetric(float64(cr.calls.Load())/float64(b.N), "readats/op")
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB-reads"
	}
	return itoa(n>>10) + "KiB-reads"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkSmallRead reads a 1 MiB file a few bytes at a time, through
// Read and through ReadAt, as io.ReadAll with a small buffer and
// iotest.TestReader (and so fstest.TestFS) do. The reported time is per
// call.
func BenchmarkSmallRead(b *testing.B) {
	needTools(b, "mke2fs")
	src := b.TempDir()
	const size = 1 << 20
	data := pattern(11, size)
	writeFile(b, filepath.Join(src, "f"), data, 0o644)
	img := mkfs(b, src, "8M", "-t", "ext4")
	fsys := openImage(b, img)
	for _, n := range []int{1, 7, 512} {
		b.Run("Read-"+itoa(n), func(b *testing.B) {
			buf := make([]byte, n)
			var f fs.File
			for b.Loop() {
				if f == nil {
					var err error
					if f, err = fsys.Open("f"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := f.Read(buf); err == io.EOF {
					f.Close()
					f = nil
				} else if err != nil {
					b.Fatal(err)
				}
			}
			if f != nil {
				f.Close()
			}
		})
		b.Run("ReadAt-"+itoa(n), func(b *testing.B) {
			f, err := fsys.Open("f")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			ra := f.(io.ReaderAt)
			buf := make([]byte, n)
			off := int64(0)
			for b.Loop() {
				if off+int64(n) > size {
					off = 0
				}
				if _, err := ra.ReadAt(buf, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
				off += int64(n)
			}
		})
	}
}
