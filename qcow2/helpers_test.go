package qcow2

import (
	"bytes"
	"os"
	"testing"
)

// osFile is a File over an *os.File, as transport would give one.
type osFile struct {
	*os.File
	size int64
}

func (f osFile) Size() int64 { return f.size }

// openOS is an Opener over the local filesystem.
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
	return osFile{f, fi.Size()}, nil
}

// openPath opens the image at path with opts; the test closes both the
// image and its file when it ends.
func openPath(t testing.TB, path string, opts Options) (*Image, error) {
	t.Helper()
	f, err := openOS(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := Open(f, path, openOS, opts)
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// memFile is a File over bytes.
type memFile struct {
	*bytes.Reader
	closed *int // counts Close calls when not nil
}

func newMem(b []byte) memFile { return memFile{Reader: bytes.NewReader(b)} }
func (f memFile) Close() error {
	if f.closed != nil {
		*f.closed++
	}
	return nil
}
