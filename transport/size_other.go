//go:build !linux

package transport

import (
	"io"
	"os"
)

// blockDeviceSize finds the size of the device f is open on by seeking to
// its end (ReadAt does not use the file offset).
func blockDeviceSize(f *os.File) (int64, error) {
	return f.Seek(0, io.SeekEnd)
}
