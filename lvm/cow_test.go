package lvm

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// No tool writes a persistent exception store without device-mapper in the
// kernel, and this machine has none, so the stores here are built by
// cowImage following the documented layout (the kernel's
// Documentation/admin-guide/device-mapper/snapshot.rst and
// dm-snap-persistent.c): a header chunk, then metadata areas of one chunk
// each followed by the data chunks they describe, new chunks handed out in
// order skipping the areas, as the kernel does.

// cowVolume is a sparse COW volume: the sectors written, zeros elsewhere.
// Stores with large chunks are mostly unwritten data chunks.
type cowVolume struct {
	size    int64
	sectors map[int64][]byte
}

func (v *cowVolume) put(off int64, b []byte) {
	for len(b) > 0 {
		s := v.sectors[off/sectorSize]
		if s == nil {
			s = make([]byte, sectorSize)
			v.sectors[off/sectorSize] = s
		}
		n := copy(s[off%sectorSize:], b)
		b, off = b[n:], off+int64(n)
	}
}

func (v *cowVolume) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > v.size-off {
		n = int(v.size - off)
	}
	for i := 0; i < n; {
		s, o := (off+int64(i))/sectorSize, (off+int64(i))%sectorSize
		k := min(n-i, int(sectorSize-o))
		if sec := v.sectors[s]; sec != nil {
			copy(p[i:i+k], sec[o:])
		} else {
			clear(p[i : i+k])
		}
		i += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// bytes returns the whole volume.
func (v *cowVolume) bytes() []byte {
	b := make([]byte, v.size)
	v.ReadAt(b, 0)
	return b
}

// cowImage is a store of chunks of sectors sectors holding one exception
// per entry of olds, in order; each data chunk starts with its origin chunk
// number and the exception's index. The volume ends right after the last
// data chunk, or after extra more chunks.
func cowImage(sectors uint32, olds []uint64, extra int) (img *cowVolume, news []uint64) {
	cs := uint64(sectors) * sectorSize
	perArea := cs / cowExceptionSize
	stride := perArea + 1
	next := uint64(2) // chunk 0 is the header, chunk 1 the first area
	for range olds {
		news = append(news, next)
		next++
		if next%stride == 1 {
			next++
		}
	}
	img = &cowVolume{size: int64((next + uint64(extra)) * cs), sectors: map[int64][]byte{}}
	h := make([]byte, 16)
	le.PutUint32(h, cowMagic)
	le.PutUint32(h[4:], 1)
	le.PutUint32(h[8:], cowVersion)
	le.PutUint32(h[12:], sectors)
	img.put(0, h)
	for i, old := range olds {
		area := uint64(i) / perArea
		e := (1+area*stride)*cs + uint64(i)%perArea*cowExceptionSize
		img.put(int64(e), append(le.AppendUint64(nil, old), le.AppendUint64(nil, news[i])...))
		img.put(int64(news[i]*cs), append(le.AppendUint64(nil, old), le.AppendUint64(nil, uint64(i))...))
	}
	return img, news
}

// cowCheck compares a store with the exceptions it was built from, where
// want maps each origin chunk to its exception's index, and checks the
// data chunks it points at.
func cowCheck(t *testing.T, img *cowVolume, want map[uint64]int, news []uint64) {
	t.Helper()
	c, err := OpenCOW(img, img.size)
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ChunkSize()
	if c.Exceptions() != len(want) {
		t.Errorf("Exceptions %d, want %d", c.Exceptions(), len(want))
	}
	end := uint64(10)
	for old := range want {
		end = max(end, old+10)
	}
	for old := range end {
		nc, ok := c.Lookup(old)
		i, wok := want[old]
		if ok != wok || ok && nc != news[i] {
			t.Fatalf("Lookup(%d) = %d, %v; want %v", old, nc, ok, wok)
		}
		if ok {
			b := make([]byte, 16)
			if _, err := img.ReadAt(b, int64(nc)*cs); err != nil || le.Uint64(b) != old || le.Uint64(b[8:]) != uint64(i) {
				t.Fatalf("Lookup(%d) = %d, a chunk that does not hold its copy", old, nc)
			}
		}
	}
	for _, old := range []uint64{end, 1 << 40, math.MaxUint64} {
		if _, ok := c.Lookup(old); ok {
			t.Errorf("Lookup(%d) found", old)
		}
	}
	// Runs cover every chunk alike and are as long as they can be.
	runs, fewest := 0, 0
	for old := range end {
		_, prevOK := want[old-1]
		i, ok := want[old]
		if old == 0 || ok != prevOK || ok && news[i] != news[want[old-1]]+1 {
			fewest++
		}
	}
	for old := uint64(0); old < end; {
		nc, n, ok := c.LookupRun(old, end-old)
		if n < 1 || n > end-old {
			t.Fatalf("LookupRun(%d, %d) = %d, %d, %v", old, end-old, nc, n, ok)
		}
		for k := range n {
			i, wok := want[old+k]
			if wok != ok || ok && news[i] != nc+k {
				t.Fatalf("LookupRun(%d, %d) = %d, %d, %v: wrong for chunk %d", old, end-old, nc, n, ok, old+k)
			}
		}
		old += n
		runs++
	}
	if runs != fewest {
		t.Errorf("%d runs, the fewest possible is %d", runs, fewest)
	}
}

func TestCOW(t *testing.T) {
	rng := rand.New(rand.NewPCG(0x536e4170, 1))
	for _, sectors := range []uint32{1, 8, 32, 256} {
		perArea := int(sectors) * sectorSize / cowExceptionSize
		// Exceptions filling some areas exactly and part of the next:
		// runs of consecutive origin chunks, scattered ones, and origin
		// chunks written twice (the later exception counts).
		for _, count := range []int{0, 1, perArea - 1, perArea, perArea + 1, 3*perArea + 7} {
			var olds []uint64
			for len(olds) < count {
				switch r := rng.IntN(10); {
				case r < 3:
					start := rng.Uint64N(5000)
					for k := range min(1+rng.IntN(40), count-len(olds)) {
						olds = append(olds, start+uint64(k))
					}
				case r == 3 && len(olds) > 0:
					olds = append(olds, olds[rng.IntN(len(olds))])
				default:
					olds = append(olds, rng.Uint64N(20000))
				}
			}
			want := map[uint64]int{}
			for i, old := range olds {
				want[old] = i
			}
			for _, extra := range []int{0, 3} {
				img, news := cowImage(sectors, olds, extra)
				c, err := OpenCOW(img, img.size)
				if err != nil {
					t.Fatalf("chunk %d sectors, %d exceptions: %v", sectors, count, err)
				}
				if c.ChunkSize() != int64(sectors)*512 {
					t.Errorf("ChunkSize %d", c.ChunkSize())
				}
				cowCheck(t, img, want, news)
			}
		}
	}
}

func TestCOWErrors(t *testing.T) {
	vol, _ := cowImage(8, []uint64{5, 6, 7}, 2)
	img := vol.bytes()
	const cs = 8 * sectorSize
	entry := func(i int) int { return cs + 16*i } // exception i in area 0
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		is     error
		want   string
	}{
		{"invalid", func(b []byte) []byte { le.PutUint32(b[4:], 0); return b }, ErrInvalidSnapshot, "snapshot is invalid (overflowed or dropped)"},
		{"zero header", func(b []byte) []byte { clear(b[:16]); return b }, ErrNoCOWHeader, "never activated, or transient"},
		{"version", func(b []byte) []byte { le.PutUint32(b[8:], 2); return b }, errors.ErrUnsupported, "version 2"},
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }, nil, "bad magic"},
		{"chunk size zero", func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }, nil, "chunk size 0 sectors"},
		{"chunk size not a power of two", func(b []byte) []byte { le.PutUint32(b[12:], 24); return b }, nil, "chunk size 24 sectors"},
		{"chunk size huge", func(b []byte) []byte { le.PutUint32(b[12:], 1<<31); return b }, nil, "chunk size 2147483648 sectors"},
		{"chunk larger than the volume", func(b []byte) []byte { le.PutUint32(b[12:], 1<<20); return b }, nil, "holds no metadata area"},
		{"too short for a header", func(b []byte) []byte { return b[:10] }, nil, "reach beyond the volume"},
		{"header only", func(b []byte) []byte { return b[:cs] }, nil, "holds no metadata area"},
		{"new chunk beyond", func(b []byte) []byte { le.PutUint64(b[entry(1)+8:], 100); return b }, nil, "exception 1 maps origin chunk 6 to chunk 100 beyond the volume's 7 chunks"},
		{"new chunk is the area", func(b []byte) []byte { le.PutUint64(b[entry(2)+8:], 1); return b }, nil, "to chunk 1, a metadata area"},
		{"new chunk is the next area", func(b []byte) []byte {
			b = append(b, make([]byte, 300*cs)...)
			le.PutUint64(b[entry(0)+8:], 1+257)
			return b
		}, nil, "to chunk 258, a metadata area"},
		{"origin chunk overflows", func(b []byte) []byte { le.PutUint64(b[entry(0):], math.MaxUint64/2); return b }, nil, "beyond any volume"},
		{"truncated data", func(b []byte) []byte { return b[:4*cs] }, nil, "to chunk 4 beyond the volume's 4 chunks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(bytes.Clone(img))
			_, err := OpenCOW(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			var fe *FormatError
			if tc.is != nil && !errors.Is(err, tc.is) || tc.is == nil && !errors.As(err, &fe) {
				t.Errorf("error %q: want %v", err, tc.is)
			}
		})
	}

	// The list ends at the first exception with new chunk 0, even with
	// entries after it.
	b := bytes.Clone(img)
	le.PutUint64(b[entry(1)+8:], 0)
	c, err := OpenCOW(bytes.NewReader(b), int64(len(b)))
	if err != nil || c.Exceptions() != 1 {
		t.Fatalf("list cut after one exception: %v, %v", c, err)
	}
	if nc, ok := c.Lookup(5); !ok || nc != 2 {
		t.Errorf("Lookup(5) = %d, %v", nc, ok)
	}
	if _, ok := c.Lookup(7); ok {
		t.Error("Lookup(7) after the end of the list found")
	}
}

// TestCOWTruncated opens every truncation of a store of several areas at a
// sector boundary: an error or a subset of the exceptions, never a panic
// or a wrong chunk.
func TestCOWTruncated(t *testing.T) {
	var olds []uint64
	for i := range 200 {
		olds = append(olds, uint64(i*7%300))
	}
	vol, news := cowImage(2, olds, 0)
	img := vol.bytes()
	want := map[uint64]uint64{}
	for i, old := range olds {
		want[old] = news[i]
	}
	for size := 0; size <= len(img); size += sectorSize {
		c, err := OpenCOW(bytes.NewReader(img[:size]), int64(size))
		if err != nil {
			continue
		}
		for old := range uint64(310) {
			if nc, ok := c.Lookup(old); ok && (nc != want[old] || int64(nc+1)*c.ChunkSize() > int64(size)) {
				t.Fatalf("size %d: Lookup(%d) = %d, want %d", size, old, nc, want[old])
			}
		}
	}
}
