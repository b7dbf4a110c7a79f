// Package sparse copies a stream into a file and leaves a hole wherever the
// stream is all zeros, as cp --sparse=auto does, so a mostly empty disk image
// or database file takes no more room on the host than its data.
package sparse

import (
	"bytes"
	"io"
	"os"
)

// zeros is compared against, a block at a time; bytes.Equal is vectorised.
var zeros = make([]byte, 64<<10)

// Copy copies r into f from offset 0 in reads of len(buf) bytes. A read that
// is all zeros is not written, leaving a hole; at the end f is truncated to
// the length copied, so trailing zeros become a hole too. It returns the
// number of bytes copied.
func Copy(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if !IsZero(buf[:n]) {
				if _, werr := f.WriteAt(buf[:n], off); werr != nil {
					return off, werr
				}
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return off, f.Truncate(off)
		}
		if err != nil {
			return off, err
		}
	}
}

// IsZero reports whether b is all zero bytes.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
