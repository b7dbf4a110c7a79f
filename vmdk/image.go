package vmdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// File is one file of an image: the file given to Open, an extent or a
// parent.
type File interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Opener opens, read-only, a file an image refers to (an extent, a
// parent). Open resolves a relative name against the directory of the
// file that names it and passes the resolved path.
type Opener func(path string) (File, error)

// Options tune Open.
type Options struct {
	// MaxChainDepth bounds how many parents are followed; 0 means 64.
	MaxChainDepth int
}

const defaultMaxChainDepth = 64

// Image is an open VMDK: its virtual disk, read through its extents and
// parents. ReadAt is safe for concurrent use.
type Image struct {
	path   string
	size   int64
	exts   []*extent // in order; exts[i].start increases
	parent *Image
	files  []File // opened through the Opener: extents and the parent's file
	info   Info
}

// Info describes an open image.
type Info struct {
	Path       string // the file given to Open, or the parent's resolved path
	CreateType string // from the descriptor; for a bare sparse extent, "monolithicSparse", "streamOptimized" or "vmfsSparse"
	Version    int    // the descriptor's version, 0 without a descriptor
	CID        uint32 // content id; NoCID without a descriptor
	ParentCID  uint32 // NoCID when the disk has no parent
	// ParentFileNameHint names the parent, as the descriptor writes it.
	ParentFileNameHint string
	Size               int64 // virtual disk size in bytes
	Extents            []ExtentInfo
	DDB                map[string]string // the descriptor's ddb.* keys
	Parent             *Info             // the parent's Info, nil without a parent
	// Warnings are things read past: an extent not closed cleanly, a
	// parentCID that is not the parent's CID, descriptor lines skipped.
	// They include the parent's.
	Warnings []string
}

// ExtentInfo describes one extent of an image.
type ExtentInfo struct {
	Extent            // the descriptor's line; made up from the header without a descriptor
	Path       string // the file read, "" for ZERO and NOACCESS extents
	Format     string // "flat", "zero", "noaccess", "hosted sparse", "stream-optimized", "COWD" or "seSparse"
	Version    int    // a sparse extent's header version
	GrainSize  int64  // a sparse extent's grain size in bytes
	Compressed bool   // a sparse extent whose grains are compressed
}

type extentKind uint8

const (
	extFlat extentKind = iota
	extZero
	extSparse
	extNoAccess
)

// extent is one extent at its place on the virtual disk.
type extent struct {
	start, end int64 // bytes of the virtual disk
	index      int   // in the descriptor, from 0
	kind       extentKind
	path       string
	f          File  // flat extents
	base       int64 // flat extents: byte offset in f
	sp         *sparse
}

// opening is the state shared while an image and its parents are opened.
type opening struct {
	open   Opener
	maxDep int
	c      *caches
	chain  []string // paths of the images being opened, child first
}

// Open opens the VMDK whose first file is f, found at path. f is a text
// descriptor or a sparse extent ("KDMV", "COWD"); path is used to resolve
// the names it refers to and in messages. open opens those; it may be nil
// for an image that refers to no other file.
//
// The Image reads f but does not own it: Close closes every file Open got
// from open (extents, parents), never f, which the caller closes after the
// Image. On error, every file Open got from open is closed.
//
// Errors name the file at fault: a *FormatError for damage, an error
// wrapping errors.ErrUnsupported for what is not read, and the Opener's
// error wrapped as it is (a missing extent or parent wraps fs.ErrNotExist
// when the Opener's error does).
func Open(f File, path string, open Opener, opts Options) (*Image, error) {
	o := &opening{open: open, maxDep: opts.MaxChainDepth, c: newCaches()}
	if o.maxDep <= 0 {
		o.maxDep = defaultMaxChainDepth
	}
	return o.image(f, filepath.Clean(path))
}

// image opens the image in f at path, and its parents.
func (o *opening) image(f File, path string) (_ *Image, err error) {
	if slices.Contains(o.chain, path) {
		return nil, fmt.Errorf("vmdk: %s: parent chain loops: %s", path, strings.Join(append(o.chain, path), " -> "))
	}
	o.chain = append(o.chain, path)
	defer func() { o.chain = o.chain[:len(o.chain)-1] }()

	im := &Image{path: path}
	defer func() {
		if err != nil {
			im.Close()
		}
	}()
	fsize := f.Size()
	if fsize <= 0 {
		return nil, fmt.Errorf("vmdk: %s: empty file", path)
	}
	var head [4]byte
	if err := readFull(f, path, fsize, head[:min(4, fsize)], 0); err != nil {
		return nil, err
	}
	var desc *Descriptor
	switch string(head[:]) {
	case magicHosted:
		h, err := readHostedHeader(f, path, fsize)
		if err != nil {
			return nil, err
		}
		if h.capacity == 0 && h.descOff != 0 {
			// A sparse file holding only a descriptor, whose extents are
			// other files.
			text, err := embeddedText(f, path, fsize, h)
			if err != nil {
				return nil, err
			}
			if desc, err = parseIn(path, text); err != nil {
				return nil, err
			}
			err = o.extents(im, desc)
			if err != nil {
				return nil, err
			}
			break
		}
		sp, text, err := newHosted(f, path, fsize, h, o.c)
		if err != nil {
			return nil, err
		}
		if t := bytes.Trim(text, "\x00 \t\r\n"); len(t) > 0 {
			// The grains are readable without the descriptor, which only
			// adds a parent and names; a damaged one is worth a warning.
			if desc, err = parseIn(path, text); err != nil {
				im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: embedded descriptor skipped: %v", path, err))
				err = nil
			}
		}
		createType := "monolithicSparse"
		if sp.compressed {
			createType = "streamOptimized"
		}
		o.single(im, path, sp, desc, createType)
	case magicCOWD:
		sp, err := newCOWD(f, path, fsize, o.c)
		if err != nil {
			return nil, err
		}
		o.single(im, path, sp, nil, "vmfsSparse")
	default:
		var se [8]byte
		if readFull(f, path, fsize, se[:], 0) == nil && le.Uint64(se[:]) == seConstMagic {
			return nil, fmt.Errorf("vmdk: %s is an seSparse extent: open the descriptor that names it", path)
		}
		if fsize > maxDescriptor {
			return nil, fmt.Errorf("vmdk: %s: not a VMDK: no sparse extent magic, and %d bytes are too many for a descriptor", path, fsize)
		}
		text := make([]byte, fsize)
		if err := readFull(f, path, fsize, text, 0); err != nil {
			return nil, err
		}
		if desc, err = parseIn(path, text); err != nil {
			return nil, err
		}
		if err := o.extents(im, desc); err != nil {
			return nil, err
		}
	}
	if desc != nil {
		im.info.CreateType = desc.CreateType
		im.info.Version = desc.Version
		im.info.CID = desc.CID
		im.info.ParentCID = desc.ParentCID
		im.info.ParentFileNameHint = desc.ParentFileNameHint
		im.info.DDB = desc.DDB
		for _, w := range desc.Warnings {
			im.info.Warnings = append(im.info.Warnings, path+": "+w)
		}
		if desc.ParentFileNameHint != "" {
			if err := o.parent(im, desc); err != nil {
				return nil, err
			}
		} else if desc.ParentCID != NoCID {
			im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: parentCID is %08x but no parentFileNameHint names the parent: grains this disk does not hold read as zeros", path, desc.ParentCID))
		}
	}
	im.info.Path = path
	im.info.Size = im.size
	return im, nil
}

// parseIn parses descriptor text found in the file at path.
func parseIn(path string, text []byte) (*Descriptor, error) {
	d, err := ParseDescriptor(text)
	if err != nil {
		return nil, fmt.Errorf("vmdk: %s: %s", path, strings.TrimPrefix(err.Error(), "vmdk: "))
	}
	return d, nil
}

// embeddedText reads the descriptor embedded in the hosted sparse file f.
func embeddedText(f File, path string, fsize int64, h hostedHeader) ([]byte, error) {
	lo, ok := sectorsToBytes(h.descOff, fsize)
	if !ok || h.descSize == 0 || h.descSize > maxDescriptor/sectorSize || lo+int64(h.descSize)*sectorSize > fsize {
		return nil, formatErr(path, 28, "embedded descriptor of %d sectors at sector %d does not lie within the file", h.descSize, h.descOff)
	}
	text := make([]byte, h.descSize*sectorSize)
	return text, readFull(f, path, fsize, text, lo)
}

// single makes im the one sparse extent sp, which is the file at path.
func (o *opening) single(im *Image, path string, sp *sparse, desc *Descriptor, createType string) {
	sp.bytes = sp.capacity * sectorSize
	im.size = sp.bytes
	e := &extent{start: 0, end: sp.bytes, kind: extSparse, path: path, sp: sp}
	im.exts = []*extent{e}
	line := Extent{Access: "RW", Sectors: sp.capacity, Type: "SPARSE", File: filepath.Base(path)}
	if sp.kind == kindCOWD {
		line.Type = "VMFSSPARSE"
	}
	if desc != nil && len(desc.Extents) == 1 {
		line = desc.Extents[0]
		line.Sectors = sp.capacity
	}
	im.info.CreateType = createType
	im.info.CID, im.info.ParentCID = NoCID, NoCID
	im.info.Extents = []ExtentInfo{sparseInfo(line, path, sp)}
	im.info.Warnings = append(im.info.Warnings, sp.warnings...)
	if desc != nil && desc.Size() != sp.bytes {
		im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: the embedded descriptor's extents add up to %d sectors, the header says %d; the header is used", path, desc.Size()/sectorSize, sp.capacity))
	}
}

func sparseInfo(line Extent, path string, sp *sparse) ExtentInfo {
	x := ExtentInfo{Extent: line, Path: path, Version: sp.version, GrainSize: sp.grainBytes, Compressed: sp.compressed}
	switch {
	case sp.kind == kindCOWD:
		x.Format = "COWD"
	case sp.kind == kindSE:
		x.Format = "seSparse"
	case sp.markers || sp.compressed:
		x.Format = "stream-optimized"
	default:
		x.Format = "hosted sparse"
	}
	return x
}

// resolve returns the path of the file name refers to, from the file at
// from. Names written on Windows (..\base\disk.vmdk) have their
// backslashes read as slashes; a Windows absolute name (C:\VMs\x.vmdk)
// stays as it is, and is not found.
func resolve(from, name string) string {
	if strings.Contains(name, `\`) && filepath.Separator == '/' {
		if len(name) >= 2 && name[1] == ':' || strings.HasPrefix(name, `\\`) {
			return name
		}
		name = strings.ReplaceAll(name, `\`, "/")
	}
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(filepath.Dir(from), name)
}

// openFile opens path through the Opener for im, which will close it.
func (o *opening) openFile(im *Image, path, what string) (File, error) {
	if o.open == nil {
		return nil, fmt.Errorf("vmdk: %s: %s %s cannot be opened: no opener was given", im.path, what, path)
	}
	f, err := o.open(path)
	if err != nil {
		return nil, fmt.Errorf("vmdk: %s: %s: %w", im.path, what, err)
	}
	im.files = append(im.files, f)
	return f, nil
}

// extents opens the extents desc lists, relative to im.path.
func (o *opening) extents(im *Image, desc *Descriptor) error {
	if len(desc.Extents) == 0 {
		return fmt.Errorf("vmdk: %s: the descriptor lists no extent", im.path)
	}
	opened := make(map[string]File) // a file named by several extents is opened once
	var off int64
	for i, line := range desc.Extents {
		e := &extent{start: off, end: off + line.Sectors*sectorSize, index: i}
		x := ExtentInfo{Extent: line}
		what := fmt.Sprintf("extent %d (%s %q)", i+1, line.Type, line.File)
		var err error
		switch {
		case line.Access == "NOACCESS":
			e.kind, x.Format = extNoAccess, "noaccess"
		case line.Type == "ZERO":
			e.kind, x.Format = extZero, "zero"
		case line.Type == "FLAT", line.Type == "VMFS", line.Type == "SPARSE", line.Type == "VMFSSPARSE", line.Type == "SESPARSE":
			e.path = resolve(im.path, line.File)
			x.Path = e.path
			if e.path == im.path {
				return fmt.Errorf("vmdk: %s: %s names the descriptor itself", im.path, what)
			}
			f, ok := opened[e.path]
			if !ok {
				if f, err = o.openFile(im, e.path, what); err != nil {
					return err
				}
				opened[e.path] = f
			}
			if err := o.extentFile(e, &x, f, line, what); err != nil {
				return fmt.Errorf("vmdk: %s: %s: %w", im.path, what, err)
			}
		case line.Type == "VMFSRDM" || line.Type == "VMFSRAW":
			return fmt.Errorf("vmdk: %s: %s: raw device mappings cannot be read from an image file: %w", im.path, what, errors.ErrUnsupported)
		case line.Type == "VSANSPARSE":
			return fmt.Errorf("vmdk: %s: %s: vSAN objects cannot be read from an image file: %w", im.path, what, errors.ErrUnsupported)
		default:
			return fmt.Errorf("vmdk: %s: %s: extent type %s: %w", im.path, what, line.Type, errors.ErrUnsupported)
		}
		im.exts = append(im.exts, e)
		im.info.Extents = append(im.info.Extents, x)
		off = e.end
	}
	im.size = off
	return nil
}

// extentFile sets up e, of type line.Type, over the file f.
func (o *opening) extentFile(e *extent, x *ExtentInfo, f File, line Extent, what string) error {
	fsize := f.Size()
	size := line.Sectors * sectorSize
	switch line.Type {
	case "FLAT", "VMFS":
		e.kind, e.f, e.base, x.Format = extFlat, f, line.Offset*sectorSize, "flat"
		if fsize < e.base || fsize-e.base < size {
			return fmt.Errorf("%s holds %d bytes, fewer than the %d the extent needs from offset %d", e.path, fsize, size, e.base)
		}
		return nil
	}
	var head [4]byte
	if err := readFull(f, e.path, fsize, head[:min(4, fsize)], 0); err != nil {
		return err
	}
	var sp *sparse
	var err error
	switch {
	case line.Type == "SESPARSE":
		sp, err = newSESparse(f, e.path, fsize, o.c)
	case string(head[:]) == magicHosted:
		var h hostedHeader
		if h, err = readHostedHeader(f, e.path, fsize); err != nil {
			return err
		}
		if h.capacity == 0 && h.descOff != 0 {
			return fmt.Errorf("%s holds a descriptor, not grains", e.path)
		}
		sp, _, err = newHosted(f, e.path, fsize, h, o.c)
	case string(head[:]) == magicCOWD:
		sp, err = newCOWD(f, e.path, fsize, o.c)
	default:
		return fmt.Errorf("%s is not a sparse extent: magic %q", e.path, head[:])
	}
	if err != nil {
		return err
	}
	if sp.capacity < line.Sectors {
		return fmt.Errorf("%s holds %d sectors, fewer than the extent's %d", e.path, sp.capacity, line.Sectors)
	}
	sp.bytes = size
	e.kind, e.sp = extSparse, sp
	*x = sparseInfo(line, e.path, sp)
	return nil
}

// parent opens the parent desc names and checks its CID.
func (o *opening) parent(im *Image, desc *Descriptor) error {
	if len(o.chain) > o.maxDep {
		return fmt.Errorf("vmdk: %s: parent chain deeper than %d", im.path, o.maxDep)
	}
	hint := desc.ParentFileNameHint
	path := resolve(im.path, hint)
	f, err := o.openFile(im, path, "parent")
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		// A parent named by an absolute path, as VMware writes them, that
		// moved with its child: look for it next to the child.
		base := hint[strings.LastIndexAny(hint, `/\`)+1:]
		if alt := resolve(im.path, base); base != "" && alt != path {
			if f2, err2 := o.openFile(im, alt, "parent"); err2 == nil {
				im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: parent %s not found; using %s", im.path, path, alt))
				f, err, path = f2, nil, alt
			}
		}
	}
	if err != nil {
		return err
	}
	p, err := o.image(f, path)
	if err != nil {
		return err
	}
	im.parent = p
	info := p.Info()
	if p.size != im.size {
		im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: its parent %s is %d bytes, not %d: beyond the parent's end, grains this disk does not hold read as zeros", im.path, path, p.size, im.size))
	}
	if desc.ParentCID != info.CID {
		im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%s: parentCID %08x is not the CID %08x of its parent %s: the parent changed after this disk was made", im.path, desc.ParentCID, info.CID, path))
	}
	im.info.Warnings = append(im.info.Warnings, info.Warnings...)
	return nil
}

// Size returns the size of the virtual disk in bytes.
func (im *Image) Size() int64 { return im.size }

// Info describes the image, its extents and its parents.
func (im *Image) Info() Info {
	x := im.info
	x.Extents = slices.Clone(x.Extents)
	x.DDB = maps.Clone(x.DDB)
	x.Warnings = slices.Clone(x.Warnings)
	if im.parent != nil {
		p := im.parent.Info()
		x.Parent = &p
	}
	return x
}

// Close closes the files Open got from its Opener, the parents' too. It
// does not close the file given to Open.
func (im *Image) Close() error {
	var errs []error
	for _, f := range im.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	im.files = nil
	if im.parent != nil {
		errs = append(errs, im.parent.Close())
		im.parent = nil
	}
	return errors.Join(errs...)
}

// ReadAt reads len(p) bytes of the virtual disk at off. A read that reaches
// the end of the disk returns the bytes before it and io.EOF.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vmdk: %s: read at negative offset %d", im.path, off)
	}
	if off >= im.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > im.size-off {
		n = int(im.size - off)
	}
	if err := im.read(p[:n], off); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// read fills p from off; the range lies within the disk.
func (im *Image) read(p []byte, off int64) error {
	// The first extent that ends after off.
	i, j := 0, len(im.exts)
	for i < j {
		h := int(uint(i+j) >> 1)
		if im.exts[h].end > off {
			j = h
		} else {
			i = h + 1
		}
	}
	for len(p) > 0 {
		e := im.exts[i]
		n := int(min(int64(len(p)), e.end-off))
		q, rel := p[:n], off-e.start
		var err error
		switch e.kind {
		case extFlat:
			err = readFull(e.f, e.path, e.f.Size(), q, e.base+rel)
		case extZero:
			clear(q)
		case extSparse:
			err = e.sp.read(q, rel, im, off)
		case extNoAccess:
			err = fmt.Errorf("vmdk: %s: extent %d is NOACCESS", im.path, e.index+1)
		}
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
		i++
	}
	return nil
}

// readBacking reads what a sparse extent of im does not hold: the parent's
// bytes, zeros past the parent's end or without a parent.
func (im *Image) readBacking(p []byte, off int64) error {
	if im.parent == nil || off >= im.parent.size {
		clear(p)
		return nil
	}
	n := int(min(int64(len(p)), im.parent.size-off))
	clear(p[n:])
	return im.parent.read(p[:n], off)
}
