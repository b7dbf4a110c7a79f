package fsread

import (
	"io"
	"io/fs"
	"math"
)

// maxRegionRuns bounds the block map runs one Region call looks at, so a
// file mapped as millions of tiny extents is answered in steps.
const maxRegionRuns = 4096

// A RegionFile is an open file that can say where its data lies, as
// lseek's SEEK_DATA and SEEK_HOLE do on Linux. Regular files opened from
// an [FS] implement it.
type RegionFile interface {
	fs.File
	// Region describes the part of the file that starts at off: data
	// reports whether it holds data (false: a hole, which reads as
	// zeros), and end is where that part ends, at most the file's size.
	// Calls for consecutive offsets may return adjacent regions of the
	// same kind. At or past the end of the file it returns io.EOF.
	Region(off int64) (end int64, data bool, err error)
}

var _ RegionFile = (*file)(nil)

// Region implements [RegionFile]. Holes are the blocks the block map
// does not map and the extents marked unwritten (preallocated but never
// written, which read as zeros); everything else is data, also blocks
// that happen to hold zeros. A file with inline data is all data.
// Boundaries fall on block boundaries, except the end of the file.
func (fl *file) Region(off int64) (end int64, data bool, err error) {
	if fl.closed.Load() {
		return 0, false, &fs.PathError{Op: "seek", Path: fl.name, Err: fs.ErrClosed}
	}
	if off < 0 {
		return 0, false, &fs.PathError{Op: "seek", Path: fl.name, Err: fs.ErrInvalid}
	}
	d := fl.d
	if off >= d.size {
		return 0, false, io.EOF
	}
	if d.in.flags&flagInlineData != 0 {
		return d.size, true, nil
	}
	bs := int64(d.fs.bs)
	lblk := uint64(off / bs)
	first, err := d.runAt(lblk)
	if err != nil {
		return 0, false, fl.wrap("seek", err)
	}
	data = !first.hole
	next := first.lblk + first.n
	for i := 1; i < maxRegionRuns && next < uint64(math.MaxInt64/bs) && int64(next)*bs < d.size; i++ {
		r, err := d.runAt(next)
		if err != nil {
			// Report what is known; the next call meets the error.
			break
		}
		if r.hole == data || r.lblk+r.n <= next {
			break
		}
		next = r.lblk + r.n
	}
	if next >= uint64(math.MaxInt64/bs) {
		return d.size, data, nil
	}
	return min(int64(next)*bs, d.size), data, nil
}
