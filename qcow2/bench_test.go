package qcow2

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"vmsh/internal/tooltest"
)

// BenchmarkRead reads a disk of random data (256 MiB, or
// VMSH_BENCH_MIB mebibytes) from start to end in 1 MiB ReadAt calls, from
// the raw file and from a qcow2 image qemu-img converted it to (64 KiB
// clusters), both in the page cache; and its first 64 MiB in 4 KiB reads.
func BenchmarkRead(b *testing.B) {
	tooltest.Need(b, "qemu-img")
	mib := int64(256)
	if s := os.Getenv("VMSH_BENCH_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("VMSH_BENCH_MIB=%q", s)
		}
		mib = n
	}
	size := mib << 20
	dir := b.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for range size >> 20 {
		r.Read(buf)
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	img := filepath.Join(dir, "disk.qcow2")
	tooltest.Run(b, "", "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, img)

	readAll := func(b *testing.B, r io.ReaderAt) {
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Small reads, as a filesystem makes them: the first 64 MiB in 4 KiB
	// ReadAt calls, so that the cost of mapping each read shows.
	const smallSpan = 64 << 20
	small := func(b *testing.B, r io.ReaderAt) {
		b.SetBytes(min(size, smallSpan))
		b.ReportAllocs()
		for b.Loop() {
			for off := int64(0); off < min(size, smallSpan); off += 4096 {
				if _, err := r.ReadAt(buf[:4096], off); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("raw", func(b *testing.B) {
		f, err := openOS(raw)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		readAll(b, f) // into the page cache
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			readAll(b, f)
		}
	})
	b.Run("qcow2", func(b *testing.B) {
		f, err := openOS(img)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cf := &countingFile{File: f}
		m, err := Open(cf, img, openOS, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		readAll(b, m)
		b.SetBytes(size)
		b.ReportAllocs()
		cf.reads.Store(0)
		for b.Loop() {
			readAll(b, m)
		}
		// Underlying ReadAt calls per 1 MiB read: 1 when clusters are
		// contiguous, a few more where L2 tables sit between them.
		b.ReportMetric(float64(cf.reads.Load())/float64(b.N)/float64(size>>20), "preads/MiB")
	})

	b.Run("raw-4k", func(b *testing.B) {
		f, err := openOS(raw)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		small(b, f)
	})
	b.Run("qcow2-4k", func(b *testing.B) {
		m, err := openPath(b, img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		small(b, m)
	})
}

// countingFile counts the ReadAt calls made on a File.
type countingFile struct {
	File
	reads atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.File.ReadAt(p, off)
}
