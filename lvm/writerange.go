package lvm

import (
	"context"
	"fmt"
	"io"
	"slices"

	"vmsh/internal/devio"
)

// Bulk copies. A Volume writes a range of itself to a writer by handing
// every piece that lies on a PV down to the device carrying it (through
// devio.WriteRange), so that a device able to write its bytes to the
// destination itself is asked to. Linear and striped segments, LVs
// stacked on LVs and zero segments pass their ranges down or write them
// themselves; every other device (mirrors, RAID, thin volumes, snapshots,
// the error target) reads its pieces and writes them.

var _ devio.RangeWriter = (*Volume)(nil)

// WriteRange writes the n bytes of the volume at off to w, in order, and
// returns how many it wrote. A range past the end writes the bytes before
// it and returns io.ErrUnexpectedEOF. It stops when ctx is done, with
// ctx's error. It is safe for concurrent use.
func (v *Volume) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return devio.Within(v.size, off, n, func(off, n int64) (int64, error) {
		return writeRange(ctx, v.dev, w, off, n)
	})
}

// A rangeDevice is a device that writes a range of itself other than by
// reading it: writeRange is devio.RangeWriter's WriteRange for a range
// that the caller keeps within the device.
type rangeDevice interface {
	device
	writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error)
}

// writeRange writes the n bytes of d at off to w: through d's writeRange
// when d is a rangeDevice, else by reading and writing. The range lies
// within d.
func writeRange(ctx context.Context, d device, w io.Writer, off, n int64) (int64, error) {
	var m int64
	var err error
	if rd, ok := d.(rangeDevice); ok {
		m, err = rd.writeRange(ctx, w, off, n)
	} else {
		m, err = devio.Copy(ctx, &readerAt{d, off + n}, w, off, n)
	}
	if err == nil && m < n {
		// Whatever follows must not be written out of place.
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

func (a *pvArea) writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	m, err := devio.WriteRange(ctx, a.d.R, w, a.base+off, n)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("lvm: copying %d bytes at byte %d of %s: %w", n, a.base+off, a.d.Name, err)
	}
	return m, err
}

func (o *offsetDev) writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return writeRange(ctx, o.d, w, o.base+off, n)
}

// writeRange writes each segment's part of the range in turn.
func (l *lvDev) writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	if len(l.segs) == 1 {
		return writeRange(ctx, l.segs[0], w, off, n)
	}
	i, found := slices.BinarySearch(l.ends, off)
	if found {
		i++
	}
	var done int64
	for done < n && i < len(l.segs) {
		start := int64(0)
		if i > 0 {
			start = l.ends[i-1]
		}
		m := min(n-done, l.ends[i]-off)
		k, err := writeRange(ctx, l.segs[i], w, off-start, m)
		done += k
		if err != nil {
			return done, err
		}
		off += m
		i++
	}
	return done, nil
}

// writeRange writes the range a chunk at a time, each from its leg.
func (s *stripedDev) writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	legs := int64(len(s.legs))
	var done int64
	for done < n {
		c, within := off/s.chunk, off%s.chunk
		m := min(n-done, s.chunk-within)
		k, err := writeRange(ctx, s.legs[c%legs], w, (c/legs)*s.chunk+within, m)
		done += k
		if err != nil {
			return done, err
		}
		off += m
	}
	return done, nil
}

func (zeroDev) writeRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	return devio.WriteZeros(ctx, w, n)
}
