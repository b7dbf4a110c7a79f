package vmdk

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"io"
	"sync"
)

// Compressed grains hold deflate data; VMware and qemu both write it with
// a zlib header and trailer (RFC 1950), and raw deflate (RFC 1951), which
// the format's documents name, is accepted too.

const markerSize = 12 // lba uint64, size uint32

// maxCompressed bounds the stored size of a compressed grain of
// grainBytes: deflate grows incompressible data by a few bytes in 64 KiB.
func maxCompressed(grainBytes int64) int64 { return 2*grainBytes + sectorSize }

var errInflatedTooLong = errors.New("inflates to more than a grain")

// inflater holds reusable decompressors.
type inflater struct {
	br  bytes.Reader
	zr  io.ReadCloser // zlib
	fr  io.ReadCloser // raw deflate
	buf []byte        // compressed bytes
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// inflate returns grain g, stored compressed at byte off of the extent,
// inflated to a full grain (the tail of a last, partial grain is zeros).
// at is the byte offset of the grain's table and entryAt that of its
// entry, for checks and messages.
func (s *sparse) inflate(g, off, at, entryAt int64) ([]byte, error) {
	key := cacheKey{s.id, g}
	if b, ok := s.c.grains.get(key); ok {
		return b, nil
	}
	z := inflaters.Get().(*inflater)
	defer inflaters.Put(z)
	limit := maxCompressed(s.grainBytes)
	var data []byte
	if s.markers {
		var h [markerSize]byte
		if err := readFull(s.f, s.name, s.fsize, h[:], off); err != nil {
			return nil, err
		}
		lba, size := le.Uint64(h[:]), int64(le.Uint32(h[8:]))
		want := uint64(g * s.grainBytes / sectorSize)
		if lba != want {
			return nil, formatErr(s.name, off, "grain %d: its marker says sector %d, want %d", g, lba, want)
		}
		if size == 0 || size > limit {
			return nil, formatErr(s.name, off, "grain %d: compressed size %d is out of range (1 to %d)", g, size, limit)
		}
		if off+markerSize+size > s.fsize {
			return nil, formatErr(s.name, off, "grain %d: %d compressed bytes reach beyond the end of the file", g, size)
		}
		if err := s.checkGrain(g, off, off+markerSize+size, at, entryAt); err != nil {
			return nil, err
		}
		data = z.buffer(size)
		if err := readFull(s.f, s.name, s.fsize, data, off+markerSize); err != nil {
			return nil, err
		}
	} else {
		// No marker: the stream ends where deflate says it ends.
		data = z.buffer(min(limit, s.fsize-off))
		if err := readFull(s.f, s.name, s.fsize, data, off); err != nil {
			return nil, err
		}
	}
	out := make([]byte, s.grainBytes)
	n, err := z.inflate(out, data)
	if err != nil {
		return nil, formatErr(s.name, off, "grain %d: %v", g, err)
	}
	if need := min(s.grainBytes, s.bytes-g*s.grainBytes); int64(n) < need {
		return nil, formatErr(s.name, off, "grain %d inflates to %d bytes, want %d", g, n, need)
	}
	s.c.grains.put(key, out)
	return out, nil
}

// buffer returns a buffer of n bytes, reused between calls.
func (z *inflater) buffer(n int64) []byte {
	if int64(cap(z.buf)) < n {
		z.buf = make([]byte, n)
	}
	return z.buf[:n]
}

// inflate decompresses data into out and returns how many bytes it wrote.
// Data that would inflate to more than len(out) bytes is an error.
func (z *inflater) inflate(out, data []byte) (int, error) {
	if isZlib(data) {
		n, err := z.run(out, data, true)
		if err == nil {
			return n, nil
		}
		// A raw deflate stream whose first bytes happen to look like a zlib
		// header.
		if n2, err2 := z.run(out, data, false); err2 == nil {
			return n2, nil
		}
		return n, err
	}
	return z.run(out, data, false)
}

func (z *inflater) run(out, data []byte, zlibHeader bool) (int, error) {
	z.br.Reset(data)
	var r io.Reader
	if zlibHeader {
		if z.zr == nil {
			zr, err := zlib.NewReader(&z.br)
			if err != nil {
				return 0, err
			}
			z.zr = zr
		} else if err := z.zr.(zlib.Resetter).Reset(&z.br, nil); err != nil {
			return 0, err
		}
		r = z.zr
	} else {
		if z.fr == nil {
			z.fr = flate.NewReader(&z.br)
		} else if err := z.fr.(flate.Resetter).Reset(&z.br, nil); err != nil {
			return 0, err
		}
		r = z.fr
	}
	// Read by hand: io.ReadFull would turn a clean early end into
	// io.ErrUnexpectedEOF, which is also what a truncated stream gives.
	n, idle := 0, 0
	for n < len(out) {
		m, err := r.Read(out[n:])
		n += m
		if idle = idle + 1; m > 0 {
			idle = 0
		} else if idle > 100 {
			return n, io.ErrNoProgress
		}
		if err == io.EOF {
			// A short grain; the checksum, if any, was checked at its end.
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	// out is full: the stream must end here.
	var one [1]byte
	switch m, err := io.ReadFull(r, one[:]); {
	case m > 0:
		return n, errInflatedTooLong
	case err != io.EOF:
		return n, err
	}
	return n, nil
}

// isZlib reports whether b starts with a zlib header for deflate without a
// preset dictionary.
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && b[1]&0x20 == 0 &&
		(uint16(b[0])<<8|uint16(b[1]))%31 == 0
}
