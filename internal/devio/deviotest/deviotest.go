// Package deviotest gives tests a device that shows whether a bulk copy
// was passed down to it (devio.RangeWriter) or read.
package deviotest

import (
	"bytes"
	"context"
	"io"
	"sync"

	"vmsh/internal/devio"
)

// Call is one WriteRange call a Recorder saw.
type Call struct{ Off, N int64 }

// Recorder is a device over R that is a devio.RangeWriter, as the disk
// worker's client is: it records the ranges it is asked to write, writes
// them itself (by reading R), and counts the ReadAt calls. It is safe for
// concurrent use.
type Recorder struct {
	R     io.ReaderAt
	mu    sync.Mutex
	calls []Call
	reads int
}

// NewRecorder returns a Recorder over b.
func NewRecorder(b []byte) *Recorder { return &Recorder{R: bytes.NewReader(b)} }

func (d *Recorder) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	d.reads++
	d.mu.Unlock()
	return d.R.ReadAt(p, off)
}

func (d *Recorder) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	d.mu.Lock()
	d.calls = append(d.calls, Call{off, n})
	d.mu.Unlock()
	return devio.Copy(ctx, d.R, w, off, n)
}

// Take returns the WriteRange calls and the count of ReadAt calls seen
// since the last Take.
func (d *Recorder) Take() ([]Call, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, r := d.calls, d.reads
	d.calls, d.reads = nil, 0
	return c, r
}
