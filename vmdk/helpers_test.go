package vmdk

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// memFile is a File over bytes.
type memFile struct {
	*bytes.Reader
	closed *int // counts Close calls, if set
}

func newMemFile(b []byte) *memFile { return &memFile{Reader: bytes.NewReader(b)} }

func (m *memFile) Close() error {
	if m.closed != nil {
		*m.closed++
	}
	return nil
}

// memFS is a set of files by path, and an Opener over it that counts the
// files it opened and closed.
type memFS struct {
	mu     sync.Mutex
	files  map[string][]byte
	opened []string
	open   int // files open now
}

func newMemFS() *memFS { return &memFS{files: make(map[string][]byte)} }

func (m *memFS) add(name string, b []byte) { m.files[filepath.Clean(name)] = b }

func (m *memFS) opener(path string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	m.opened = append(m.opened, path)
	m.open++
	return &memCounted{Reader: bytes.NewReader(b), m: m}, nil
}

type memCounted struct {
	*bytes.Reader
	m    *memFS
	done bool
}

func (c *memCounted) Close() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if !c.done {
		c.done = true
		c.m.open--
	}
	return nil
}

// openMem opens the image name of m.
func (m *memFS) openImage(t testing.TB, name string) (*Image, error) {
	t.Helper()
	b, ok := m.files[filepath.Clean(name)]
	if !ok {
		t.Fatalf("no file %s", name)
	}
	return Open(newMemFile(b), name, m.opener, Options{})
}

// osFile is a File over an *os.File.
type osFile struct {
	*os.File
	size int64
}

func (f *osFile) Size() int64 { return f.size }

func openOS(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{File: f, size: fi.Size()}, nil
}

// openPath opens the image at path from the host's files.
func openPath(t testing.TB, path string) *Image {
	t.Helper()
	f, err := openOS(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	im, err := Open(f, path, openOS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

// checkRandomReads compares reads of random lengths at random offsets of
// im with want.
func checkRandomReads(t testing.TB, im *Image, want []byte, seed uint64, count int) {
	t.Helper()
	if im.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", im.Size(), len(want))
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, 1<<20)
	for range count {
		off := rng.Int64N(int64(len(want)))
		n := 1 + rng.IntN(min(len(buf), 300<<10))
		got, err := im.ReadAt(buf[:n], off)
		end := min(off+int64(n), int64(len(want)))
		if got != int(end-off) || (err != nil) != (end < off+int64(n)) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, got, err)
		}
		if !bytes.Equal(buf[:got], want[off:end]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes (first difference at %d)", n, off, off+int64(firstDiff(buf[:got], want[off:end])))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// testDisk returns size bytes of varied content: random runs, text, runs
// of zeros, and holes grains wide, chosen by seed.
func testDisk(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, size)
	for off := 0; off < size; {
		n := min(size-off, 512*(1+rng.IntN(300)))
		switch rng.IntN(5) {
		case 0, 1: // zeros: holes
		case 2:
			for i := 0; i < n; i += 8 {
				le.PutUint64(b[off+i:], rng.Uint64()) // n is a multiple of 512
			}
		case 3:
			line := fmt.Sprintf("sector text at %d ", off)
			for i := range n {
				b[off+i] = line[i%len(line)]
			}
		case 4:
			// Mostly zeros with a few bytes set: compresses well, is not a hole.
			for i := 0; i < n; i += 4096 {
				b[off+i] = 0xa5
			}
		}
		off += n
	}
	return b
}
