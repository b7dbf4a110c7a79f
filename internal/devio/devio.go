// Package devio lets the layers between a filesystem and the disk worker
// (partitions, logical volumes, a replayed journal) pass a bulk copy down
// to the disk, so that a file's bytes can go from the disk to their
// destination without passing through every layer's buffers.
package devio

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
)

// A RangeWriter is a device that can write a range of itself to w.
// WriteRange writes the n bytes at off to w, in order, and returns how many
// it wrote; fewer than n only with an error (io.ErrUnexpectedEOF at the
// end of the device). It stops when ctx is done. A device that cannot do
// better than reading and writing leaves it to the function WriteRange.
type RangeWriter interface {
	WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error)
}

// bufSize is the size of the buffer the fallback copies through.
const bufSize = 1 << 20

// bufPool holds buffers of bufSize bytes, so that copying a file of many
// big runs does not make a new buffer for each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// errNegativeOffset is the error of a range that starts before a device.
var errNegativeOffset = errors.New("devio: negative offset")

// WriteRange writes the n bytes of r at off to w: through r's own
// WriteRange when r is a RangeWriter, else by reading and writing through
// a buffer. A range of no bytes writes nothing and succeeds.
func WriteRange(ctx context.Context, r io.ReaderAt, w io.Writer, off, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	if rw, ok := r.(RangeWriter); ok {
		return rw.WriteRange(ctx, w, off, n)
	}
	return Copy(ctx, r, w, off, n)
}

// Copy writes the n bytes of r at off to w by reading and writing through
// a buffer, checking ctx between pieces. It is WriteRange for devices
// that have no better way.
func Copy(ctx context.Context, r io.ReaderAt, w io.Writer, off, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	var buf []byte
	if n < bufSize {
		buf = make([]byte, n)
	} else {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf = *bp
	}
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		p := buf[:min(int64(len(buf)), n-done)]
		m, err := r.ReadAt(p, off+done)
		switch {
		case m == len(p):
			err = nil // a full read ending at the end of r may say io.EOF
		case err == nil || err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		if m > 0 {
			k, werr := writeAll(w, p[:m])
			done += int64(k)
			if werr != nil {
				return done, werr
			}
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// writeAll writes p to w, calling a write that wrote less than p without
// an error io.ErrShortWrite.
func writeAll(w io.Writer, p []byte) (int, error) {
	k, err := w.Write(p)
	if err == nil && k < len(p) {
		err = io.ErrShortWrite
	}
	return k, err
}

// zeros is a buffer of zeros for WriteZeros, made on first use.
var zeros = sync.OnceValue(func() []byte { return make([]byte, bufSize) })

// WriteZeros writes n zero bytes to w, at most 1 MiB per Write, checking
// ctx between writes. It is for a layer that writes a hole itself.
func WriteZeros(ctx context.Context, w io.Writer, n int64) (int64, error) {
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		z := zeros()
		k, err := writeAll(w, z[:min(int64(len(z)), n-done)])
		done += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Section is the part of a device from Off, Size bytes long: an
// io.SectionReader that also passes WriteRange down to the device.
type Section struct {
	R    io.ReaderAt
	Off  int64
	Size int64
}

// NewSection returns the section of r from off, size bytes long. A size
// that would end the section past the largest offset is cut there, as
// io.NewSectionReader does.
func NewSection(r io.ReaderAt, off, size int64) *Section {
	if off >= 0 && size > math.MaxInt64-off {
		size = math.MaxInt64 - off
	}
	return &Section{R: r, Off: off, Size: size}
}

// ReadAt reads within the section; at its end it returns io.EOF.
func (s *Section) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.Size {
		return 0, io.EOF
	}
	short := false
	if max := s.Size - off; int64(len(p)) > max {
		p, short = p[:max], true
	}
	n, err := s.R.ReadAt(p, s.Off+off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// WriteRange writes the section's n bytes at off to w through the device.
// A range past the section's end writes what there is and returns
// io.ErrUnexpectedEOF.
func (s *Section) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return Within(s.Size, off, n, func(off, n int64) (int64, error) {
		return WriteRange(ctx, s.R, w, s.Off+off, n)
	})
}

// Within runs write for the part of the range [off, off+n) that lies in a
// device of size bytes, and is how a RangeWriter keeps to its end: an
// empty range writes nothing, a negative offset is an error, and a range
// that runs past the end writes what there is and returns
// io.ErrUnexpectedEOF.
func Within(size, off, n int64, write func(off, n int64) (int64, error)) (int64, error) {
	switch {
	case n <= 0:
		return 0, nil
	case off < 0:
		return 0, errNegativeOffset
	case off >= size:
		return 0, io.ErrUnexpectedEOF
	}
	short := n > size-off
	if short {
		n = size - off
	}
	m, err := write(off, n)
	if err == nil && short {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}
