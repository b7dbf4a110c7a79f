package transport

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"vmsh/qcow2"
	"vmsh/vmdk"
)

// Formats are the image formats Options.Format may name.
var Formats = []string{"raw", "qcow2", "vmdk"}

// imageDisk is the virtual disk of an image file (qcow2, VMDK) over the
// file or export that holds it.
type imageDisk struct {
	img interface {
		io.ReaderAt
		Size() int64
		Close() error
	}
	base   Disk   // the file or export holding the image
	format string // "qcow2", "vmdk"
}

func (d *imageDisk) ReadAt(p []byte, off int64) (int, error) { return d.img.ReadAt(p, off) }
func (d *imageDisk) Size() int64                             { return d.img.Size() }

// Close closes the image (and the backing, extent and parent files it
// opened), then the file or export holding it.
func (d *imageDisk) Close() error {
	return errors.Join(d.img.Close(), d.base.Close())
}

// Format names the image format, and the transport when it is not a file.
func (d *imageDisk) Format() string {
	if _, ok := d.base.(*nbdDisk); ok {
		return d.format + " (nbd)"
	}
	return d.format
}

// The status of the connection under the image, when it is one.

func (d *imageDisk) Name() string {
	if n, ok := d.base.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

func (d *imageDisk) State() string {
	if s, ok := d.base.(interface{ State() string }); ok {
		return s.State()
	}
	return "open"
}

func (d *imageDisk) Reconnects() int {
	if n, ok := d.base.(*nbdDisk); ok {
		return n.Reconnects()
	}
	return 0
}

func (d *imageDisk) LastError() (error, time.Time) {
	if n, ok := d.base.(*nbdDisk); ok {
		return n.LastError()
	}
	return nil, time.Time{}
}

// detectFormat names the format of the image whose first bytes are in d:
// "qcow2", "vmdk" or "raw". Formats vmsh does not read are refused by name.
func detectFormat(spec string, d Disk) (string, error) {
	var buf [512]byte
	n, err := d.ReadAt(buf[:], 0)
	if err != nil && err != io.EOF {
		return "", err // the disk's errors name it
	}
	head := buf[:n]
	switch {
	case qcow2.Detect(head):
		return "qcow2", nil
	case vmdk.Detect(head):
		return "vmdk", nil
	}
	s := string(head)
	switch {
	case strings.HasPrefix(s, "vhdxfile"):
		return "", fmt.Errorf("transport: %s: VHDX image format: %w", spec, errUnsupported)
	case strings.HasPrefix(s, "<<< ") && strings.Contains(s, "Disk Image >>>"):
		return "", fmt.Errorf("transport: %s: VDI image format: %w", spec, errUnsupported)
	case strings.HasPrefix(s, "QFI") && len(s) > 4 && s[3] == 0xfb:
		return "qcow2", nil
	}
	return "raw", nil
}

// openImage reads the image of the given format in base, which is spec
// opened as raw bytes; path is the local path to resolve the names of
// other files against ("" for a network disk: spec is used).
func openImage(spec, path, format string, base Disk, o Options) (Disk, error) {
	if o.Snapshot != "" && format != "qcow2" {
		return nil, fmt.Errorf("transport: %s: --snapshot needs a qcow2 image, not %s", spec, format)
	}
	if path == "" {
		path = spec
	}
	switch format {
	case "raw":
		return base, nil
	case "qcow2":
		img, err := qcow2.Open(base, path, qcow2Opener(o), qcow2.Options{Snapshot: o.Snapshot, OpenFormat: otherFormat(o)})
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		return &imageDisk{img: img, base: base, format: format}, nil
	case "vmdk":
		img, err := vmdk.Open(base, path, vmdkOpener(o), vmdk.Options{})
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		return &imageDisk{img: img, base: base, format: format}, nil
	}
	return nil, fmt.Errorf("transport: %s: unknown image format %q (%s)", spec, format, strings.Join(Formats, ", "))
}

// openRaw opens a file an image names (backing file, extent, parent) as
// raw bytes: a local path, or a URL for a network disk.
func openRaw(name string, o Options) (Disk, error) {
	if _, ok := urlScheme(name); ok {
		return openURL(name, o)
	}
	return openFile(name, name)
}

func qcow2Opener(o Options) qcow2.Opener {
	return func(path string) (qcow2.File, error) { return openRaw(path, o) }
}

func vmdkOpener(o Options) vmdk.Opener {
	return func(path string) (vmdk.File, error) { return openRaw(path, o) }
}

// otherFormat opens a qcow2 image's backing file in a format other than
// raw and qcow2, or detects the format of one the image does not name.
func otherFormat(o Options) func(path, format string) (qcow2.File, error) {
	return func(path, format string) (qcow2.File, error) {
		f, err := openRaw(path, o)
		if err != nil {
			return nil, err
		}
		if format == "" {
			if format, err = detectFormat(path, f); err != nil {
				f.Close()
				return nil, err
			}
		}
		switch format {
		case "raw":
			return f, nil
		case "vmdk":
			img, err := vmdk.Open(f, path, vmdkOpener(o), vmdk.Options{})
			if err != nil {
				f.Close()
				return nil, err
			}
			return &imageDisk{img: img, base: f, format: format}, nil
		}
		f.Close()
		return nil, fmt.Errorf("%s: backing format %q: %w", path, format, errUnsupported)
	}
}

// statusReporter is what the worker's status looks for in a disk; the
// checks below keep the method sets from drifting apart.
type statusReporter interface {
	Name() string
	Format() string
	State() string
	Reconnects() int
	LastError() (error, time.Time)
}

var (
	_ statusReporter = (*nbdDisk)(nil)
	_ statusReporter = (*imageDisk)(nil)
	_ interface {
		Format() string
		State() string
	} = (*fileDisk)(nil)
)
