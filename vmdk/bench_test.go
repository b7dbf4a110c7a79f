package vmdk

import (
	"bytes"
	"sync/atomic"
	"testing"
)

// countingFile counts the ReadAt calls made on a File.
type countingFile struct {
	*bytes.Reader
	reads atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.Reader.ReadAt(p, off)
}

func (c *countingFile) Close() error { return nil }

// fullDisk returns size bytes with no grain of zeros, so that every grain
// is stored.
func fullDisk(size int) []byte {
	b := testDisk(size, 50)
	for i := 0; i < len(b); i += 512 {
		b[i] = 1
	}
	return b
}

// TestCoalescedReads checks that a large read of grains stored one after
// the other is one ReadAt of the extent file, and costs no allocation.
func TestCoalescedReads(t *testing.T) {
	data := fullDisk(8 << 20)
	cf := &countingFile{Reader: bytes.NewReader(buildHosted(data, sparseSpec{}))}
	im, err := Open(cf, "c.vmdk", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	if _, err := im.ReadAt(buf, 1<<20); err != nil { // loads the grain tables
		t.Fatal(err)
	}
	before := cf.reads.Load()
	if _, err := im.ReadAt(buf, 1<<20+512); err != nil {
		t.Fatal(err)
	}
	if n := cf.reads.Load() - before; n != 1 {
		t.Errorf("a 4 MiB read of contiguous grains made %d ReadAt calls, want 1", n)
	}
	if !bytes.Equal(buf, data[1<<20+512:][:len(buf)]) {
		t.Fatal("wrong bytes")
	}
	allocs := testing.AllocsPerRun(20, func() { im.ReadAt(buf[:1<<20], 3<<20) })
	if allocs != 0 {
		t.Errorf("%v allocations per 1 MiB read of uncompressed grains, want 0", allocs)
	}
}

func benchmarkRead(b *testing.B, img []byte, size int) {
	im, err := Open(newMemFile(img), "b.vmdk", nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	off := int64(0)
	for b.Loop() {
		if _, err := im.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if off += int64(len(buf)); off+int64(len(buf)) > int64(size) {
			off = 0
		}
	}
}

// BenchmarkReadHosted reads 1 MiB at a time from a hosted sparse image
// held in memory, every grain stored.
func BenchmarkReadHosted(b *testing.B) {
	const size = 64 << 20
	benchmarkRead(b, buildHosted(fullDisk(size), sparseSpec{}), size)
}

// BenchmarkReadStream does the same with compressed grains; the disk is
// larger than the inflated-grain cache, so every grain is inflated.
func BenchmarkReadStream(b *testing.B) {
	const size = 32 << 20
	benchmarkRead(b, buildHosted(fullDisk(size), sparseSpec{compress: true, footer: true}), size)
}
