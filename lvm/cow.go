package lvm

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// A snapshot's COW volume holds device-mapper's persistent exception store.
// Chunk 0 is a header; chunk 1 is the first metadata area, a chunk of
// exceptions {old chunk on the origin, new chunk in this store}, two
// little-endian 64-bit numbers each; the data chunks those exceptions name
// follow it, then the next metadata area, and so on. The list ends at the
// first exception whose new chunk is 0.

var (
	// ErrInvalidSnapshot means the kernel marked the snapshot invalid,
	// because its COW volume filled up or the snapshot was dropped; its
	// contents are lost.
	ErrInvalidSnapshot = errors.New("lvm: snapshot is invalid (overflowed or dropped)")

	// ErrNoCOWHeader means the COW volume starts with zeros instead of an
	// exception store header: the snapshot was never activated, or is a
	// transient one whose exceptions lived only in memory.
	ErrNoCOWHeader = errors.New("lvm: snapshot COW volume has no exception store header (never activated, or transient)")
)

const (
	cowMagic         = 0x70416e53 // "SnAp" in little-endian
	cowVersion       = 1
	cowExceptionSize = 16
	cowMaxChunk      = 1 << 30 // bytes in a chunk
	cowReadSize      = 64 << 10
)

// COWStore is the table of a snapshot's exceptions: which chunks of the
// origin were copied to the COW volume before the origin changed, and
// where. It is read once by OpenCOW, kept in memory as runs of consecutive
// exceptions (at most one per exception, so bounded by the volume's size),
// and is safe for concurrent use. A snapshot being merged into its origin
// reads as the exceptions not merged yet.
type COWStore struct {
	chunkSize int64
	runs      []cowRun // sorted by old, not overlapping
	n         int      // exceptions
}

// cowRun is n consecutive origin chunks from old stored in consecutive
// chunks from new.
type cowRun struct{ old, new, n uint64 }

// OpenCOW reads the exception store on the COW volume r, which is size
// bytes long. It returns an error wrapping ErrNoCOWHeader for a store that
// was never written, ErrInvalidSnapshot for an invalid snapshot, and a
// *FormatError for damage. Every exception must name a data chunk inside
// the volume; when an origin chunk has several, the last one counts.
func OpenCOW(r io.ReaderAt, size int64) (*COWStore, error) {
	h := make([]byte, 16)
	if err := readAt(r, size, h, 0); err != nil {
		return nil, err
	}
	magic, valid, version, sectors := le.Uint32(h), le.Uint32(h[4:]), le.Uint32(h[8:]), le.Uint32(h[12:])
	bad := func(off int64, format string, args ...any) (*COWStore, error) {
		return nil, &FormatError{Off: off, Msg: "snapshot exception store: " + fmt.Sprintf(format, args...)}
	}
	switch {
	case magic == 0:
		return nil, ErrNoCOWHeader
	case magic != cowMagic:
		return bad(0, "bad magic %#08x, want %#08x", magic, cowMagic)
	case valid == 0:
		return nil, ErrInvalidSnapshot
	case version != cowVersion:
		return nil, fmt.Errorf("lvm: snapshot exception store version %d: %w", version, errors.ErrUnsupported)
	case sectors == 0 || sectors&(sectors-1) != 0 || int64(sectors)*sectorSize > cowMaxChunk:
		return bad(12, "chunk size %d sectors is not a power of two up to %d bytes", sectors, cowMaxChunk)
	}
	c := &COWStore{chunkSize: int64(sectors) * sectorSize}
	chunks := uint64(size / c.chunkSize)
	if chunks < 2 {
		return bad(0, "volume of %d bytes holds no metadata area of %d bytes", size, c.chunkSize)
	}
	perArea := uint64(c.chunkSize / cowExceptionSize)
	stride := perArea + 1 // a metadata area and its data chunks

	type exception struct{ old, new uint64 }
	var ex []exception // in store order
	buf := make([]byte, min(c.chunkSize, cowReadSize))
	// A full area is followed by another; the kernel invalidates a
	// snapshot whose next area would not fit, so the volume's end also
	// ends the list.
areas:
	for area := uint64(0); 1+area*stride < chunks; area++ {
		off := int64(1+area*stride) * c.chunkSize
		for i := uint64(0); i < perArea; i++ {
			p := i * cowExceptionSize % uint64(len(buf))
			if p == 0 {
				if err := readAt(r, size, buf, off+int64(i*cowExceptionSize)); err != nil {
					return nil, err
				}
			}
			e := exception{old: le.Uint64(buf[p:]), new: le.Uint64(buf[p+8:])}
			if e.new == 0 {
				break areas
			}
			at := off + int64(i*cowExceptionSize)
			switch {
			case e.new >= chunks:
				return bad(at, "exception %d maps origin chunk %d to chunk %d beyond the volume's %d chunks", len(ex), e.old, e.new, chunks)
			case (e.new-1)%stride == 0:
				return bad(at, "exception %d maps origin chunk %d to chunk %d, a metadata area", len(ex), e.old, e.new)
			case e.old > math.MaxInt64/uint64(c.chunkSize):
				return bad(at, "exception %d names origin chunk %d, beyond any volume", len(ex), e.old)
			}
			ex = append(ex, e)
		}
	}

	// Sort by origin chunk, the later of two exceptions for one chunk
	// winning, and merge neighbours into runs.
	slices.SortStableFunc(ex, func(a, b exception) int { return cmp.Compare(a.old, b.old) })
	for i, e := range ex {
		if i+1 < len(ex) && ex[i+1].old == e.old {
			continue
		}
		c.n++
		if k := len(c.runs) - 1; k >= 0 {
			if last := &c.runs[k]; last.old+last.n == e.old && last.new+last.n == e.new {
				last.n++
				continue
			}
		}
		c.runs = append(c.runs, cowRun{old: e.old, new: e.new, n: 1})
	}
	c.runs = slices.Clip(c.runs)
	return c, nil
}

// ChunkSize returns the size of the snapshot's chunks in bytes.
func (c *COWStore) ChunkSize() int64 { return c.chunkSize }

// Exceptions returns the number of origin chunks the store holds copies of.
func (c *COWStore) Exceptions() int { return c.n }

// Lookup returns the chunk of the COW volume that holds origin chunk
// chunk as the snapshot sees it, or ok false when the snapshot still
// shares that chunk with the origin.
func (c *COWStore) Lookup(chunk uint64) (newChunk uint64, ok bool) {
	newChunk, _, ok = c.LookupRun(chunk, 1)
	return newChunk, ok
}

// LookupRun is Lookup for up to limit chunks (at least 1) from chunk: it
// returns n, how many of them are alike, stored in consecutive chunks from
// newChunk when ok, or all shared with the origin when not.
func (c *COWStore) LookupRun(chunk, limit uint64) (newChunk, n uint64, ok bool) {
	limit = max(min(limit, math.MaxUint64-chunk), 1)
	// i is the first run starting after chunk.
	i, _ := slices.BinarySearchFunc(c.runs, chunk, func(r cowRun, k uint64) int {
		if r.old <= k {
			return -1
		}
		return 1
	})
	if i > 0 {
		if r := c.runs[i-1]; chunk-r.old < r.n {
			return r.new + chunk - r.old, min(r.n-(chunk-r.old), limit), true
		}
	}
	if i < len(c.runs) {
		limit = min(limit, c.runs[i].old-chunk)
	}
	return 0, limit, false
}
