package fsread

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"vmsh/internal/devio"
)

// CopyTo writes the file from its Read position to its end to w and
// moves the position past what it wrote, as io.WriterTo's WriteTo does,
// but stops when ctx is done, returning ctx's error. It is how a caller
// copies a whole file out fast: the file's data is not read here but
// handed down to the device the filesystem reads, with w as given
// (devio.WriteRange), so that a device that can write its bytes to w
// itself does; holes are written as zeros. A file with inline data is
// read and written. If w has a Flush method, as buffered writers do
// (bufio.Writer, a disk worker's output stream), CopyTo calls it at the
// end, so that a failure of bytes still on their way is its own error,
// with the file's name. Regular files opened from an FS have CopyTo;
// reach it through an interface:
//
//	interface{ CopyTo(context.Context, io.Writer) (int64, error) }
func (fl *file) CopyTo(ctx context.Context, w io.Writer) (int64, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed.Load() {
		return 0, &fs.PathError{Op: "read", Path: fl.name, Err: fs.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var done int64
	if fl.pos >= fl.raOff && fl.pos < fl.raOff+int64(fl.raLen) {
		// What Read has read ahead is written from memory.
		b := fl.ra[fl.pos-fl.raOff : fl.raLen]
		k, err := w.Write(b)
		fl.pos += int64(k)
		done += int64(k)
		if err == nil && k < len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return done, fl.copyErr(ctx, err)
		}
	}
	m, err := fl.d.writeTo(ctx, w, fl.pos)
	fl.pos += m
	done += m
	if f, ok := w.(interface{ Flush() error }); ok && err == nil {
		err = f.Flush()
	}
	return done, fl.copyErr(ctx, err)
}

// copyErr returns the error CopyTo returns for err: ctx's own when ctx
// is done, else err with the file's name.
func (fl *file) copyErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return &fs.PathError{Op: "copy", Path: fl.name, Err: err}
}

// writeTo writes the data from off to the end to w. It walks the block
// map as ReadAt does: physically contiguous runs are passed down to the
// image as one range, holes are written as zeros.
func (d *dataReader) writeTo(ctx context.Context, w io.Writer, off int64) (int64, error) {
	if off < 0 || off >= d.size {
		return 0, nil
	}
	if d.in.flags&flagInlineData != 0 {
		return devio.Copy(ctx, d, w, off, d.size-off)
	}
	f := d.fs
	var done int64
	var pendPhys, pendLen int64 // the data run not written yet
	flush := func() error {
		if pendLen == 0 {
			return nil
		}
		m, err := f.writeRange(ctx, w, pendPhys, pendLen, d.in.ino)
		done += m
		pendLen = 0
		return err
	}
	for pos := off; pos < d.size; {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		n, phys, err := d.span(pos, d.size-pos)
		if err != nil {
			if ferr := flush(); ferr != nil {
				return done, ferr
			}
			return done, err
		}
		if phys < 0 {
			if err := flush(); err != nil {
				return done, err
			}
			m, err := devio.WriteZeros(ctx, w, n)
			done += m
			if err != nil {
				return done, err
			}
		} else {
			if err := f.outside(phys, n, "inode %d: data", d.in.ino); err != nil {
				// What comes before the run is written; a run merged with
				// others stays within the image.
				if ferr := flush(); ferr != nil {
					return done, ferr
				}
				return done, err
			}
			if pendLen > 0 && pendPhys+pendLen == phys {
				pendLen += n
			} else {
				if err := flush(); err != nil {
					return done, err
				}
				pendPhys, pendLen = phys, n
			}
		}
		pos += n
	}
	return done, flush()
}

// writeRange writes the n bytes of the image at off, data of inode ino,
// to w through the device the filesystem reads (devio.WriteRange). The
// caller has checked that they lie within the image.
func (f *FS) writeRange(ctx context.Context, w io.Writer, off, n int64, ino uint64) (int64, error) {
	m, err := devio.WriteRange(ctx, f.r, w, off, n)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("ext4: inode %d: data: copying %d bytes at offset %d: %w", ino, n, off, err)
	}
	return m, err
}
