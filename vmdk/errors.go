package vmdk

import (
	"fmt"
	"io"
)

// FormatError reports a damaged or hostile structure in one of an image's
// files.
type FormatError struct {
	File string // the file at fault, as opened
	Off  int64  // byte offset in File of the structure at fault
	Msg  string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("vmdk: %s: %s (at byte offset %d)", e.File, e.Msg, e.Off)
}

func formatErr(file string, off int64, format string, args ...any) error {
	return &FormatError{File: file, Off: off, Msg: fmt.Sprintf(format, args...)}
}

// readFull reads len(b) bytes at off from r, a file of size bytes named
// name. Bytes beyond size are a FormatError, a short read an I/O error
// wrapping io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, name string, size int64, b []byte, off int64) error {
	if off < 0 || off > size || int64(len(b)) > size-off {
		return formatErr(name, off, "%d bytes at offset %d reach beyond the end of the file (%d bytes)", len(b), off, size)
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("vmdk: %s: reading %d bytes at offset %d: %w", name, len(b), off, err)
}
