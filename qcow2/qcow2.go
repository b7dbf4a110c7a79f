// Package qcow2 reads QEMU's qcow2 disk images, read-only: versions 2 and
// 3, standard and extended L2 entries (subclusters), zero and unallocated
// clusters, clusters compressed with deflate or zstd, backing files to any
// depth, an external data file, and internal snapshots. The format is the
// one qemu's docs/interop/qcow2.txt describes.
//
// Open returns an *Image, the virtual disk as an io.ReaderAt. The files an
// image refers to, a backing file or an external data file, are named
// relative to the image's directory and opened through an Opener the
// caller gives; formats other than qcow2 and raw for a backing file come
// from a hook, Options.OpenFormat. Encrypted
// images (AES or LUKS) and qcow version 1 images are refused with errors
// wrapping errors.ErrUnsupported; so are incompatible features this
// package does not know, named as the image's feature name table names them.
// Reference counts are never needed, since nothing is written.
//
// # Security
//
// Images are untrusted input. Every offset and size read from an image is
// checked against the file's size and the format's limits before it sizes
// an allocation or a read: the L1 table, L2 tables, data clusters,
// compressed clusters (whose output is bounded by the cluster size), the
// snapshot table and the header extensions. A table or cluster that lies
// past the end of its file, or a data cluster that points at the image's own
// metadata, gives a *FormatError naming the guest offset and the host
// offset. L2 tables live in a bounded cache shared by a whole backing chain,
// the chain's depth is bounded (Options.MaxChainDepth), and a chain that
// leads back to an image already in it is refused.
package qcow2

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// File is a file an image is read from: the image itself, its backing
// file or its external data file. ReadAt must be safe for concurrent use.
type File interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Opener opens, read-only, a file that an image refers to: a backing file
// or an external data file. Open resolves a relative name against the
// directory of the image that names it, so path is the resolved path; a
// name that is a URL ("nbd://host/export") is passed on unchanged.
type Opener func(path string) (File, error)

// Options adjust how an image is opened. The zero value reads the active
// state of the image, follows backing files in the formats the images
// record, and allows 64 levels of backing files.
type Options struct {
	// Snapshot names the internal snapshot to read, by id or by name (an
	// id is tried first); "" reads the image's active state. It applies to
	// the top image only, never to its backing files. The disk then has
	// the size it had when the snapshot was taken, as `qemu-img snapshot
	// -a` restores it.
	Snapshot string

	// MaxChainDepth bounds the number of backing files below the top
	// image; 0 means 64.
	MaxChainDepth int

	// BackingFormat, when set, is the format of the top image's backing
	// file, overriding the backing format the image records. Images further
	// down the chain always use their own.
	BackingFormat string

	// OpenFormat opens a backing file whose format is neither "raw" nor
	// "qcow2" (for example "vmdk") and returns its virtual disk. It is also
	// called with format "" for a backing file of unrecorded format that
	// does not start with the qcow2 magic, so that the caller may detect
	// other formats; it then returns the file itself for a raw one. When
	// OpenFormat is nil, such a file is read as raw and other formats are
	// refused.
	OpenFormat func(path, format string) (File, error)
}

const defaultMaxChainDepth = 64

// FormatError reports a damaged or hostile qcow2 structure.
type FormatError struct {
	Path string // the image's name, as given to Open or as the chain resolved it
	Off  int64  // byte offset in the image (or data) file of the structure at fault
	Msg  string // what is wrong, naming the structure and its offsets
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("qcow2: %s: %s", e.Path, e.Msg)
}

// unsupported is a named feature this package does not read. It matches
// errors.ErrUnsupported.
type unsupported string

func (e unsupported) Error() string        { return string(e) }
func (e unsupported) Is(target error) bool { return target == errors.ErrUnsupported }

var (
	// ErrEncrypted is the error (wrapped, with the image's name) for an
	// encrypted image. It matches errors.ErrUnsupported.
	ErrEncrypted error = unsupported("encrypted images (AES/LUKS) are not supported")

	// ErrVersion1 is the error (wrapped, with the image's name) for an
	// image in the original qcow format, version 1. It matches
	// errors.ErrUnsupported.
	ErrVersion1 error = unsupported("qcow version 1 images are not supported")

	// ErrNotQcow2 is the error (wrapped, with the image's name) for a file
	// that does not start with the qcow magic.
	ErrNotQcow2 = errors.New("not a qcow2 image (no QFI\\xfb magic)")
)

// magic is the first four bytes of every qcow image.
const magic = "QFI\xfb"

// Detect reports whether head, the first bytes of a file, starts with the
// qcow magic. Version 1 images match too; Open refuses them by name.
func Detect(head []byte) bool {
	return len(head) >= len(magic) && string(head[:len(magic)]) == magic
}

// Image is a qcow2 virtual disk. ReadAt is safe for concurrent use.
//
// A read maps guest clusters through the L1 and L2 tables and reads runs
// of clusters stored back to back with one ReadAt of the underlying file,
// and runs of unallocated clusters with one ReadAt of the backing file. L2
// tables (up to 32 MiB of them) and decompressed clusters read in part (up
// to 8 MiB) are cached, in caches shared by the whole backing chain.
type Image struct {
	f        File // the qcow2 file: header, tables, and data unless external
	data     File // where guest clusters are: f, or the external data file
	fileSize int64
	dataSize int64
	path     string
	owned    []File // closed by Close: backing file, data file, and f when opened by the chain

	size         int64 // virtual size of what is read (the snapshot's, when one is chosen)
	clusterBits  uint
	clusterSize  int64
	l2Bits       uint // log2 of entries per L2 table
	extendedL2   bool
	subclusterSz int64
	compression  compression
	hasDataFile  bool

	l1    []byte // big-endian L1 entries read, at most those covering size
	l1Off int64

	// meta are host ranges of the image file that hold metadata a data
	// cluster must never point at.
	meta []span

	backing     File // nil without a backing file
	backingSize int64

	id     uint32  // this image's number in its chain, for cache keys
	caches *caches // shared by the whole chain

	hdr       header
	exts      extensions
	snapshots []SnapshotInfo
	snapshot  *SnapshotInfo // the one being read, or nil
	chainInfo []Layer
	warnings  []string

	closeOnce sync.Once
	closeErr  error
}

// span is a byte range [off, off+n) of a file holding what.
type span struct {
	off, n int64
	what   string
}

// Size returns the virtual disk's size in bytes (the chosen snapshot's
// size when one is read).
func (m *Image) Size() int64 { return m.size }

// Close closes the files the image opened through its Opener or
// Options.OpenFormat: its backing chain and external data file. It does not
// close the File given to Open, which stays the caller's. Close is
// idempotent.
func (m *Image) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		for i := len(m.owned) - 1; i >= 0; i-- {
			if err := m.owned[i].Close(); err != nil {
				errs = append(errs, err)
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// Layer is one file of a backing chain.
type Layer struct {
	Name   string // as the image above it records it
	Path   string // resolved, as given to the Opener
	Format string // "qcow2", "raw", or what OpenFormat was asked for; "" when probed and not qcow2
}

// Info describes an open image.
type Info struct {
	Version      int    // 2 or 3
	ClusterSize  int64  // bytes
	Size         int64  // virtual size of what is read
	Compression  string // "zlib" (deflate) or "zstd"
	ExtendedL2   bool   // L2 entries with 32 subclusters each
	Subclusters  int    // subclusters per cluster: 32 with extended L2 entries, else 1
	RefcountBits int    // width of a reference count (never read)

	Dirty   bool // refcounts may be stale (harmless for reading)
	Corrupt bool // qemu marked the image corrupt; see Warnings

	IncompatibleFeatures []string // names of the set bits
	CompatibleFeatures   []string
	AutoclearFeatures    []string

	BackingFile   string  // as recorded in the image, "" if none
	BackingFormat string  // as recorded (or overridden), "" if none
	Chain         []Layer // backing files, nearest first, as far as qcow2 images tell

	DataFile    string // external data file as recorded, "" if none
	DataFileRaw bool   // the data file is also a raw image of the disk

	Snapshot  string // id of the internal snapshot read, "" for the active state
	Snapshots int    // internal snapshots in the image
}

// Info returns a description of the image.
func (m *Image) Info() Info {
	h := &m.hdr
	in := Info{
		Version:              int(h.version),
		ClusterSize:          m.clusterSize,
		Size:                 m.size,
		Compression:          m.compression.String(),
		ExtendedL2:           m.extendedL2,
		Subclusters:          1,
		RefcountBits:         1 << h.refcountOrder,
		Dirty:                h.incompat&incompatDirty != 0,
		Corrupt:              h.incompat&incompatCorrupt != 0,
		IncompatibleFeatures: m.exts.featureNames(featIncompatible, h.incompat),
		CompatibleFeatures:   m.exts.featureNames(featCompatible, h.compat),
		AutoclearFeatures:    m.exts.featureNames(featAutoclear, h.autoclear),
		BackingFile:          m.exts.backingName,
		BackingFormat:        m.exts.backingFormat,
		Chain:                append([]Layer(nil), m.chainInfo...),
		DataFile:             m.exts.dataFile,
		DataFileRaw:          m.hasDataFile && h.autoclear&autoclearDataRaw != 0,
		Snapshots:            len(m.snapshots),
	}
	if m.extendedL2 {
		in.Subclusters = subclusters
	}
	if m.snapshot != nil {
		in.Snapshot = m.snapshot.ID
	}
	return in
}

// Warnings returns what is wrong with the image or its backing chain but
// does not stop it being read, such as qemu's corrupt mark.
func (m *Image) Warnings() []string {
	w := append([]string(nil), m.warnings...)
	if b, ok := m.backing.(*Image); ok {
		w = append(w, b.Warnings()...)
	}
	return w
}

// SnapshotInfo describes an internal snapshot.
type SnapshotInfo struct {
	ID          string
	Name        string
	Size        int64         // virtual disk size when the snapshot was taken
	Date        time.Time     // when the snapshot was taken
	VMClock     time.Duration // guest run time at the snapshot
	VMStateSize int64         // bytes of saved VM state, 0 for a disk-only snapshot

	l1Off  int64
	l1Size uint32
}

// Snapshots returns the image's internal snapshots in table order.
func (m *Image) Snapshots() []SnapshotInfo {
	return append([]SnapshotInfo(nil), m.snapshots...)
}
