// Package transport opens the disks vmsh reads: disk image files and block
// devices, always read-only.
//
// Open is the single entry point. It looks at the spec it is given and picks
// a transport: a "scheme://" prefix selects a network transport (none is
// implemented yet; nbd:// gives an error wrapping errors.ErrUnsupported), and
// anything else is a local path. A local file is then checked for the magic
// numbers of image formats that need their own reader (qcow2, VMDK, VHDX,
// VDI); those formats are not implemented yet either and give an error
// wrapping errors.ErrUnsupported instead of being read as raw bytes.
//
// Nothing in this package ever writes: files and devices are opened O_RDONLY.
package transport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Disk is an open disk: its bytes, its size, and a Close that releases it.
// ReadAt is safe for concurrent use and follows io.ReaderAt (and os.File):
// a read that reaches the end of the disk returns the bytes read and io.EOF.
type Disk interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Open opens the disk named by spec read-only.
//
// A spec is either a local path (an image file or a block device) or a URL
// with a scheme ("nbd://host/export"). Only local paths are supported for
// now. Errors name the spec; a missing path wraps fs.ErrNotExist, and a
// spec for a transport or image format that is not implemented wraps
// errors.ErrUnsupported.
func Open(spec string) (Disk, error) {
	if spec == "" {
		return nil, errors.New("transport: empty disk name")
	}
	if scheme, ok := urlScheme(spec); ok {
		switch scheme {
		case "file":
			return openLocal(spec, strings.TrimPrefix(spec[len(scheme)+1:], "//"))
		case "nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock":
			return nil, fmt.Errorf("transport: %s: NBD: %w", spec, errUnsupported)
		default:
			return nil, fmt.Errorf("transport: %s: unknown scheme %q: %w", spec, scheme, errUnsupported)
		}
	}
	return openLocal(spec, spec)
}

// errUnsupported reads "not supported yet" and wraps errors.ErrUnsupported.
var errUnsupported = fmt.Errorf("not supported yet (%w)", errors.ErrUnsupported)

// urlScheme reports the scheme of a spec of the form "scheme://...", with
// the scheme lower-cased. A scheme is a letter followed by letters, digits,
// '+', '-' or '.', as in RFC 3986. A local path such as "./nbd://x" or
// "dir/a:b" has no scheme. A file:// URL has scheme "file".
func urlScheme(spec string) (string, bool) {
	i := strings.Index(spec, "://")
	if i <= 0 {
		return "", false
	}
	s := spec[:i]
	for j, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// fileDisk is an image file or a block device.
type fileDisk struct {
	f    *os.File
	size int64
}

func (d *fileDisk) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }
func (d *fileDisk) Size() int64                             { return d.size }
func (d *fileDisk) Close() error                            { return d.f.Close() }

// openLocal opens path read-only; spec is what the user typed, for errors.
func openLocal(spec, path string) (Disk, error) {
	// Look before opening: opening a FIFO read-only would block until a
	// writer appears, and a directory is never a disk.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, wrapPathErr(spec, err)
	}
	if err := checkKind(spec, fi.Mode()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, wrapPathErr(spec, err)
	}
	d, err := newFileDisk(spec, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := checkImageFormat(spec, d); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func wrapPathErr(spec string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// The path is already in spec; keep the os error for errors.Is.
		return fmt.Errorf("transport: %s: %w", spec, pe.Err)
	}
	return fmt.Errorf("transport: %s: %w", spec, err)
}

func checkKind(spec string, m fs.FileMode) error {
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0:
		return nil // block device
	case m.IsDir():
		return fmt.Errorf("transport: %s: is a directory, not a disk image", spec)
	default:
		return fmt.Errorf("transport: %s: not a regular file or block device (%s)", spec, m.Type())
	}
}

func newFileDisk(spec string, f *os.File) (*fileDisk, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, wrapPathErr(spec, err)
	}
	// Check again on the open file: the path may have changed since Stat.
	if err := checkKind(spec, fi.Mode()); err != nil {
		return nil, err
	}
	size := fi.Size()
	if fi.Mode()&fs.ModeDevice != 0 {
		size, err = blockDeviceSize(f)
		if err != nil {
			return nil, fmt.Errorf("transport: %s: size of block device: %w", spec, err)
		}
	}
	if size == 0 {
		return nil, fmt.Errorf("transport: %s: empty disk (size 0)", spec)
	}
	if size < 0 {
		return nil, fmt.Errorf("transport: %s: bad size %d", spec, size)
	}
	return &fileDisk{f: f, size: size}, nil
}

// imageFormats are the image formats recognised by their magic at offset 0
// that need a reader of their own. None is implemented yet.
var imageFormats = []struct {
	name  string
	magic string
}{
	{"qcow2", "QFI\xfb"},
	{"VMDK (sparse)", "KDMV"},
	{"VMDK (ESXi COWD)", "COWD"},
	{"VMDK (descriptor)", "# Disk DescriptorFile"},
	{"VHDX", "vhdxfile"},
	{"VDI", "<<< "}, // checked further below
}

// checkImageFormat returns an error wrapping errors.ErrUnsupported if d
// starts with the magic of an image format that is not raw.
func checkImageFormat(spec string, d *fileDisk) error {
	var buf [64]byte
	n, err := d.ReadAt(buf[:], 0)
	if err != nil && err != io.EOF {
		return fmt.Errorf("transport: %s: %w", spec, err)
	}
	head := string(buf[:n])
	for _, f := range imageFormats {
		if !strings.HasPrefix(head, f.magic) {
			continue
		}
		if f.name == "VDI" {
			// "<<< Oracle VM VirtualBox Disk Image >>>", "<<< Sun xVM ...".
			if !strings.Contains(head, "Disk Image >>>") {
				continue
			}
		}
		return fmt.Errorf("transport: %s: %s image format: %w", spec, f.name, errUnsupported)
	}
	return nil
}
