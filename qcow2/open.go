package qcow2

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Open opens the qcow2 image f, whose name is path, with its backing chain
// and external data file.
//
// path is used in messages and to resolve the relative names of the files
// the image refers to, which are opened through open; open may be nil for
// an image that refers to no other file. Backing files are read in the
// format the image records for them (or Options.BackingFormat): "qcow2" is
// read by this package, "raw" as it is, and any other through
// Options.OpenFormat. A backing file of unrecorded format is probed for the
// qcow2 magic.
//
// Close on the returned image closes every file it opened, but not f.
func Open(f File, path string, open Opener, opts Options) (*Image, error) {
	if opts.MaxChainDepth <= 0 {
		opts.MaxChainDepth = defaultMaxChainDepth
	}
	c := &chain{open: open, opts: opts, caches: newCaches()}
	if path != "" {
		c.visit(path)
	}
	return c.openImage(f, path, opts.Snapshot, opts.BackingFormat, 0)
}

// chain is the state shared while a backing chain is opened.
type chain struct {
	open   Opener
	opts   Options
	caches *caches
	seen   []fileID // files of the chain so far, top first
	nextID uint32
}

// fileID identifies a file for loop detection: its cleaned absolute path,
// and what os.Stat says of it when it is a local file.
type fileID struct {
	abs string
	fi  os.FileInfo
}

// visit records path as part of the chain and reports whether it was
// already there, by path or, for local files, as the same file.
func (c *chain) visit(path string) (loop bool) {
	id := fileID{abs: filepath.Clean(path)}
	if a, err := filepath.Abs(path); err == nil {
		id.abs = a
	}
	if fi, err := os.Stat(path); err == nil {
		id.fi = fi
	}
	for _, s := range c.seen {
		if s.abs == id.abs || s.fi != nil && id.fi != nil && os.SameFile(s.fi, id.fi) {
			return true
		}
	}
	c.seen = append(c.seen, id)
	return false
}

// resolve returns the path of the file named name by the image at path.
// A URL ("nbd://host/export") is passed on as it is.
func resolve(path, name string) string {
	switch {
	case isURL(name):
		return name
	case filepath.IsAbs(name):
		return filepath.Clean(name)
	}
	return filepath.Join(filepath.Dir(path), name)
}

// isURL reports whether name starts with a URL scheme and "://": a letter
// followed by letters, digits, '+', '-' or '.'.
func isURL(name string) bool {
	scheme, _, ok := strings.Cut(name, "://")
	if !ok || scheme == "" {
		return false
	}
	for i, c := range scheme {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// openImage opens one qcow2 image of the chain, depth levels below the top,
// and (recursively) its backing file.
func (c *chain) openImage(f File, path, snapshot, backingFormat string, depth int) (_ *Image, err error) {
	m := &Image{f: f, data: f, path: path, id: c.nextID, caches: c.caches}
	c.nextID++
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	fsize := max(f.Size(), 0)
	m.fileSize, m.dataSize = fsize, fsize

	// The header fits in the first cluster, at most 2 MiB; read its fixed
	// part to learn the cluster size, then the cluster.
	head := make([]byte, min(fsize, headerV3Len+8))
	if err := m.readMeta(head, 0, "header"); err != nil {
		return nil, err
	}
	h, err := parseHeader(head, path)
	if err != nil {
		return nil, err
	}
	m.hdr = *h
	m.clusterBits = uint(h.clusterBits)
	m.clusterSize = 1 << h.clusterBits
	first := make([]byte, min(fsize, m.clusterSize))
	if err := m.readMeta(first, 0, "header cluster"); err != nil {
		return nil, err
	}
	e, err := parseExtensions(h, first, path)
	if err != nil {
		return nil, err
	}
	m.exts = *e
	if m.warnings, err = checkFeatures(h, e, path); err != nil {
		return nil, err
	}
	m.compression = compression(h.compressionType)
	m.extendedL2 = h.incompat&incompatExtendedL2 != 0
	m.l2Bits = m.clusterBits - 3
	if m.extendedL2 {
		m.l2Bits = m.clusterBits - 4
		m.subclusterSz = m.clusterSize / subclusters
	}
	m.meta = append(m.meta, span{0, m.clusterSize, "header cluster"})
	if h.refcountOff != 0 {
		m.meta = append(m.meta, span{int64(min(h.refcountOff, 1<<62)), int64(h.refcountClusters) << m.clusterBits, "refcount table"})
	}

	if m.snapshots, err = m.readSnapshots(); err != nil {
		return nil, err
	}
	if h.l1Size > 0 && uint64(h.l1Size)*8 <= maxL1Bytes {
		m.meta = append(m.meta, span{int64(min(h.l1Off, 1<<62)), int64(h.l1Size) * 8, "L1 table"})
	}
	m.size = int64(h.size)
	l1Off, l1Size := h.l1Off, h.l1Size
	if snapshot != "" {
		s := m.findSnapshot(snapshot)
		if s == nil {
			return nil, fmt.Errorf("qcow2: %s: no internal snapshot with id or name %q", path, snapshot)
		}
		m.snapshot = s
		m.size = s.Size
		l1Off, l1Size = uint64(s.l1Off), s.l1Size
	}
	if err := m.loadL1(l1Off, l1Size, snapshot != ""); err != nil {
		return nil, err
	}

	if h.incompat&incompatDataFile != 0 {
		if c.open == nil {
			return nil, fmt.Errorf("qcow2: %s: external data file %q: no opener to open it", path, e.dataFile)
		}
		dpath := resolve(path, e.dataFile)
		d, err := c.open(dpath)
		if err != nil {
			return nil, fmt.Errorf("qcow2: %s: external data file %q: %w", path, e.dataFile, err)
		}
		m.owned = append(m.owned, d)
		m.data = d
		m.dataSize = max(d.Size(), 0)
		m.hasDataFile = true
		m.meta = nil // metadata is in the image file, data in the other
	}

	if e.backingName != "" {
		format := e.backingFormat
		if backingFormat != "" {
			format = backingFormat
		}
		if err := c.openBacking(m, format, depth); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// openBacking opens the backing file of m, which is depth levels below the
// top, in the given format ("" to probe).
func (c *chain) openBacking(m *Image, format string, depth int) error {
	name := m.exts.backingName
	fail := func(err error) error {
		return fmt.Errorf("qcow2: %s: backing file %q: %w", m.path, name, err)
	}
	if depth+1 > c.opts.MaxChainDepth {
		return fail(fmt.Errorf("backing chain deeper than %d images", c.opts.MaxChainDepth))
	}
	if strings.HasPrefix(name, "json:") {
		return fail(unsupported("json: backing file specifications are not supported"))
	}
	path := resolve(m.path, name)
	if c.visit(path) {
		return fail(fmt.Errorf("loop in the backing chain: %s is already in it", path))
	}
	layer := Layer{Name: name, Path: path, Format: format}

	var b File
	switch format {
	case "qcow2", "raw", "file", "":
		if c.open == nil {
			return fail(errors.New("no opener to open it"))
		}
		f, err := c.open(path)
		if err != nil {
			return fail(err)
		}
		b = f
		if format == "" {
			var head [4]byte
			n, err := f.ReadAt(head[:], 0)
			if err != nil && err != io.EOF {
				f.Close()
				return fail(err)
			}
			switch {
			case Detect(head[:n]):
				format = "qcow2"
			case c.opts.OpenFormat != nil:
				f.Close()
				b, err = c.opts.OpenFormat(path, "")
				if err != nil {
					return fail(err)
				}
			}
		}
		if format == "qcow2" {
			layer.Format = format
			bm, err := c.openImage(f, path, "", "", depth+1)
			if err != nil {
				f.Close()
				return err // names the backing file already
			}
			bm.owned = append(bm.owned, f)
			m.chainInfo = append(m.chainInfo, layer)
			m.chainInfo = append(m.chainInfo, bm.chainInfo...)
			b = bm
		} else {
			m.chainInfo = append(m.chainInfo, layer)
		}
	default:
		if c.opts.OpenFormat == nil {
			return fail(fmt.Errorf("format %q: %w", format, unsupported("backing file format not supported")))
		}
		f, err := c.opts.OpenFormat(path, format)
		if err != nil {
			return fail(err)
		}
		b = f
		m.chainInfo = append(m.chainInfo, layer)
	}
	m.owned = append(m.owned, b)
	m.backing = b
	m.backingSize = max(b.Size(), 0)
	return nil
}

// readMeta reads len(b) bytes of the image file at off, which must lie
// inside it; what names the structure for errors.
func (m *Image) readMeta(b []byte, off int64, what string) error {
	size := m.f.Size()
	if off < 0 || off > size || int64(len(b)) > size-off {
		return &FormatError{Path: m.path, Off: off, Msg: fmt.Sprintf("%s at %#x (%d bytes) runs past the end of the file (%#x bytes)", what, off, len(b), size)}
	}
	n, err := m.f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("qcow2: %s: reading %s at %#x: %w", m.path, what, off, err)
}

// loadL1 reads the L1 table at off of n entries, keeping the entries that
// cover the virtual size. snapshot says whether it is a snapshot's table.
func (m *Image) loadL1(off uint64, n uint32, snapshot bool) error {
	what := "L1 table"
	if snapshot {
		what = "snapshot L1 table"
	}
	bad := func(format string, args ...any) error {
		return &FormatError{Path: m.path, Off: int64(min(off, 1<<62)), Msg: what + ": " + fmt.Sprintf(format, args...)}
	}
	if uint64(n)*8 > maxL1Bytes {
		return bad("%d entries exceed the limit of %d", n, maxL1Bytes/8)
	}
	perL1 := uint64(1) << (m.clusterBits + m.l2Bits) // guest bytes one L1 entry covers
	need := (uint64(m.size) + perL1 - 1) / perL1
	keep := min(uint64(n), need)
	if keep == 0 {
		return nil
	}
	if off%uint64(m.clusterSize) != 0 {
		return bad("offset %#x is not cluster aligned", off)
	}
	if off > uint64(m.f.Size()) || uint64(n)*8 > uint64(m.f.Size())-off {
		return bad("%d entries at %#x run past the end of the file (%#x bytes)", n, off, m.f.Size())
	}
	m.l1 = make([]byte, keep*8)
	m.l1Off = int64(off)
	return m.readMeta(m.l1, m.l1Off, what)
}
