// Package transport opens the disks vmsh reads, always read-only: disk
// image files, block devices and NBD exports, and the image formats they
// may hold (raw, qcow2, VMDK).
//
// Open is the single entry point. A "scheme://" prefix selects a network
// transport (nbd://, nbds://, nbd+unix://, nbds+unix://); anything else is a
// local path (or file://). The bytes found there are then read as the
// image format Options.Format names, or the one their magic number says:
// qcow2 (with backing files, external data files and internal snapshots)
// and VMDK (descriptors, sparse, streamOptimized and flat extents, parent
// chains) through their packages, anything else as raw. Formats vmsh does
// not read (VHDX, VDI) are refused by name.
//
// An NBD export survives its connection: a read that fails because the
// connection broke dials again with a capped exponential backoff and is
// retried, until Options.Timeout has passed since the read began.
//
// Nothing in this package ever writes: files and devices are opened
// O_RDONLY and NBD connections only ever send reads.
package transport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"vmsh/nbd"
)

// Disk is an open disk: its bytes, its size, and a Close that releases it.
// ReadAt is safe for concurrent use and follows io.ReaderAt (and os.File):
// a read that reaches the end of the disk returns the bytes read and io.EOF.
type Disk interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// DefaultTimeout bounds a read of a network disk, reconnections included,
// when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options are what opening a disk may need beyond its name.
type Options struct {
	// Format is "raw", "qcow2" or "vmdk"; "" detects it from the magic.
	Format string
	// Snapshot names a qcow2 internal snapshot (by id or name) to read
	// instead of the image's active state.
	Snapshot string
	// TLSCA, TLSCert and TLSKey name PEM files for nbds:// exports: the
	// certificate authorities to trust ("" for the system's) and a client
	// certificate and key for servers that ask for one.
	TLSCA, TLSCert, TLSKey string
	// TLSInsecure accepts any server certificate.
	TLSInsecure bool
	// Timeout bounds connecting to a network disk and each read from it,
	// reconnections included: zero means DefaultTimeout.
	Timeout time.Duration
}

// Open opens the disk named by spec read-only with the default Options.
func Open(spec string) (Disk, error) { return OpenOptions(spec, Options{}) }

// OpenOptions opens the disk named by spec read-only.
//
// A spec is either a local path (an image file or a block device) or a URL
// with a scheme ("nbd://host/export"). Errors name the spec (without any
// credentials it holds); a missing path wraps fs.ErrNotExist, and a
// transport or image format that is not implemented wraps
// errors.ErrUnsupported.
func OpenOptions(spec string, o Options) (Disk, error) {
	if spec == "" {
		return nil, errors.New("transport: empty disk name")
	}
	var base Disk
	var path string
	var err error
	if _, ok := urlScheme(spec); ok {
		base, err = openURL(spec, o)
		if d, ok := base.(*fileDisk); ok {
			path = d.f.Name()
		}
	} else {
		base, err = openFile(spec, spec)
		path = spec
	}
	if err != nil {
		return nil, err
	}
	format := o.Format
	if format == "" {
		if format, err = detectFormat(DisplayName(spec), base); err != nil {
			base.Close()
			return nil, err
		}
	}
	d, err := openImage(DisplayName(spec), path, format, base, o)
	if err != nil {
		base.Close()
		return nil, err
	}
	return d, nil
}

// openURL opens a disk named by a URL, as raw bytes.
func openURL(spec string, o Options) (Disk, error) {
	scheme, _ := urlScheme(spec)
	switch scheme {
	case "file":
		return openFile(spec, strings.TrimPrefix(spec[len(scheme)+1:], "//"))
	case "nbd", "nbds", "nbd+unix", "nbds+unix":
		return openNBD(spec, o)
	case "nbd+vsock", "nbds+vsock":
		return nil, fmt.Errorf("transport: %s: NBD over vsock: %w", DisplayName(spec), errUnsupported)
	}
	return nil, fmt.Errorf("transport: %s: unknown scheme %q: %w", DisplayName(spec), scheme, errUnsupported)
}

// DisplayName is spec without credentials, for messages and listings: an
// NBD URI's user name and query parameters other than the socket are
// dropped.
func DisplayName(spec string) string {
	if scheme, ok := urlScheme(spec); ok && strings.HasPrefix(scheme, "nbd") {
		if u, err := nbd.ParseURI(spec); err == nil {
			return u.Redacted()
		}
		return scheme + "://…"
	}
	return spec
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

// Format and State are what the worker's status shows of a file.
func (d *fileDisk) Format() string { return "raw" }
func (d *fileDisk) State() string  { return "open" }

// openFile opens path read-only, as raw bytes; spec is what the user typed,
// for errors.
func openFile(spec, path string) (Disk, error) {
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
