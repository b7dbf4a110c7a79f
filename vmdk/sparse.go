package vmdk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sparse extents map a grain (a fixed run of sectors) through two levels:
// a grain directory, read whole when the extent is opened, points at grain
// tables, which point at grains. Three layouts share that shape:
//
//   - hosted sparse ("KDMV"): 32-bit sector numbers, 512 entries per table;
//     a table entry of 1 is a grain of zeros when the header's
//     zeroed-grain flag is set; grains may be compressed, each behind a
//     marker {lba uint64, size uint32} when markers are used
//     (streamOptimized), and the header may say the directory is at the end
//     (GD_AT_END), in which case a footer, a copy of the header that is
//     right, sits just before the end-of-stream marker;
//   - ESX sparse ("COWD", VMFSSPARSE extents): 32-bit sector numbers, 4096
//     entries per table;
//   - seSparse (SESPARSE extents): 64-bit entries whose top nibble says
//     what they are, tables and grains found in regions the header names.

const (
	sectorSize  = 512
	magicHosted = "KDMV"
	magicCOWD   = "COWD"
	gdAtEnd     = ^uint64(0)

	flagNLTest    = 1 << 0  // the newline test bytes are valid
	flagRGD       = 1 << 1  // a redundant grain directory is kept
	flagZeroGrain = 1 << 2  // a grain table entry of 1 is a grain of zeros
	flagMarkers   = 1 << 17 // grains and metadata carry markers

	compressNone    = 0
	compressDeflate = 1

	markerEOS    = 0
	markerFooter = 3

	// maxGrainSectors is qemu's bound on a grain (1 GiB). Uncompressed
	// grains are never buffered, so the bound matters only to arithmetic.
	maxGrainSectors = 1 << 21
	// maxInflatedGrain bounds a compressed grain, which is inflated in
	// memory.
	maxInflatedGrain = 2 << 20
	maxHostedGTEs    = 512
	cowdGTEs         = 4096
	cowdHeaderSize   = 2048
	maxGDEntries     = 1 << 22 // grain tables per extent (32 MiB of directory)
	// maxChainGDEntries bounds the directories of all the extents of an
	// image and its parents together, however often a descriptor names
	// the same file: 2^24 grain tables cover 512 TiB in grains of 64 KiB.
	maxChainGDEntries = 1 << 24

	seConstMagic    = 0xcafebabe
	seVolatileMagic = 0xcafecafe
	seVersion       = 0x0000000200000001
	seGrainSectors  = 8
	seGTSectors     = 64
	seGTAllocated   = 0x10000000 // top 32 bits of a directory entry with a table
)

var le = binary.LittleEndian

type sparseKind uint8

const (
	kindHosted sparseKind = iota
	kindCOWD
	kindSE
)

// grainState is what a grain table entry says of its grain.
type grainState uint8

const (
	grainUnalloc    grainState = iota // not here: the parent's, or zeros
	grainZero                         // zeros, whatever the parent holds
	grainData                         // stored as is at an offset
	grainCompressed                   // stored compressed at an offset
)

// span is a byte range [lo, hi) of a file holding metadata.
type span struct {
	lo, hi int64
	what   string
}

// sparse is an open sparse extent file.
type sparse struct {
	name  string // the file's path, for messages
	f     File
	fsize int64
	kind  sparseKind
	id    uint64 // cache key
	c     *caches

	version    int
	capacity   int64 // sectors, as the header says
	bytes      int64 // bytes of the extent that are read (at most capacity)
	grainBytes int64
	gtEntries  int64
	entrySize  int64
	gdOff      int64    // byte offset of the grain directory
	gd         []uint64 // directory entries, one per grain table, as stored
	compressed bool
	markers    bool
	zeroGrain  bool
	meta       []span // header, descriptor, directories: grains and tables must not overlap them

	// seSparse: the regions grain tables and grains must lie in.
	seTables, seGrains span

	warnings []string
}

// hostedHeader is the 512-byte header (and footer) of a hosted sparse
// extent.
type hostedHeader struct {
	version   uint32
	flags     uint32
	capacity  uint64 // sectors
	grainSize uint64 // sectors
	descOff   uint64 // sectors
	descSize  uint64 // sectors
	gtes      uint32 // entries per grain table
	rgdOff    uint64 // sectors
	gdOff     uint64 // sectors
	overhead  uint64 // sectors
	unclean   bool
	nl        [4]byte
	compress  uint16
}

func parseHostedHeader(b []byte) hostedHeader {
	var h hostedHeader
	h.version = le.Uint32(b[4:])
	h.flags = le.Uint32(b[8:])
	h.capacity = le.Uint64(b[12:])
	h.grainSize = le.Uint64(b[20:])
	h.descOff = le.Uint64(b[28:])
	h.descSize = le.Uint64(b[36:])
	h.gtes = le.Uint32(b[44:])
	h.rgdOff = le.Uint64(b[48:])
	h.gdOff = le.Uint64(b[56:])
	h.overhead = le.Uint64(b[64:])
	h.unclean = b[72] != 0
	copy(h.nl[:], b[73:77])
	h.compress = le.Uint16(b[77:])
	return h
}

// readHostedHeader reads the header of a hosted sparse extent, and its
// footer instead when the header puts the grain directory at the end.
func readHostedHeader(f File, name string, fsize int64) (hostedHeader, error) {
	var b [sectorSize]byte
	if err := readFull(f, name, fsize, b[:], 0); err != nil {
		return hostedHeader{}, err
	}
	h := parseHostedHeader(b[:])
	if h.gdOff != gdAtEnd || h.capacity == 0 && h.descOff != 0 {
		return h, nil
	}
	// The footer marker, the footer and the end-of-stream marker are the
	// last three sectors.
	at := fsize - 3*sectorSize
	if at < sectorSize {
		return h, formatErr(name, 0, "the header puts the grain directory at the end, but the file is too small for a footer")
	}
	foot := make([]byte, 3*sectorSize)
	if err := readFull(f, name, fsize, foot, at); err != nil {
		return h, err
	}
	marker, hdr, eos := foot[:sectorSize], foot[sectorSize:2*sectorSize], foot[2*sectorSize:]
	if le.Uint32(marker[8:]) != 0 || le.Uint32(marker[12:]) != markerFooter ||
		string(hdr[:4]) != magicHosted ||
		le.Uint64(eos) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != markerEOS {
		return h, formatErr(name, at, "the header puts the grain directory at the end, but there is no footer and end-of-stream marker there (an incomplete stream?)")
	}
	h = parseHostedHeader(hdr)
	if h.gdOff == gdAtEnd {
		return h, formatErr(name, at+sectorSize, "the footer puts the grain directory at the end too")
	}
	return h, nil
}

// sectorsToBytes converts a sector number read from a file of fsize bytes
// into a byte offset, or reports that it lies beyond the file.
func sectorsToBytes(v uint64, fsize int64) (int64, bool) {
	if v > uint64(fsize)/sectorSize {
		return 0, false
	}
	return int64(v) * sectorSize, true
}

// gdEntries returns how many grain tables cover capacity sectors.
func gdEntries(capacity, perTable int64) int64 {
	return (capacity + perTable - 1) / perTable
}

// newHosted opens a hosted sparse extent whose header is h. desc returns
// the embedded descriptor's text, if any.
func newHosted(f File, name string, fsize int64, h hostedHeader, c *caches) (s *sparse, desc []byte, err error) {
	bad := func(off int64, format string, args ...any) (*sparse, []byte, error) {
		return nil, nil, formatErr(name, off, format, args...)
	}
	if h.version < 1 || h.version > 3 {
		return nil, nil, fmt.Errorf("vmdk: %s: sparse extent version %d: %w", name, h.version, errors.ErrUnsupported)
	}
	if h.flags&flagNLTest != 0 && h.nl != [4]byte{'\n', ' ', '\r', '\n'} {
		return bad(73, "the newline test bytes are %q, want %q: the file was changed by a text-mode transfer", h.nl[:], "\n \r\n")
	}
	switch h.compress {
	case compressNone, compressDeflate:
	default:
		return nil, nil, fmt.Errorf("vmdk: %s: compression algorithm %d: %w", name, h.compress, errors.ErrUnsupported)
	}
	compressed := h.compress == compressDeflate
	if h.capacity == 0 || h.capacity > maxSectors {
		return bad(12, "capacity of %d sectors is out of range", h.capacity)
	}
	if h.grainSize == 0 || h.grainSize > maxGrainSectors || compressed && h.grainSize*sectorSize > maxInflatedGrain {
		return bad(20, "grain size of %d sectors is out of range", h.grainSize)
	}
	if h.gtes == 0 || h.gtes > maxHostedGTEs {
		return bad(44, "%d entries per grain table, want 1 to %d", h.gtes, maxHostedGTEs)
	}
	s = &sparse{
		name:       name,
		f:          f,
		fsize:      fsize,
		kind:       kindHosted,
		c:          c,
		id:         c.nextID.Add(1),
		version:    int(h.version),
		capacity:   int64(h.capacity),
		grainBytes: int64(h.grainSize) * sectorSize,
		gtEntries:  int64(h.gtes),
		entrySize:  4,
		compressed: compressed,
		markers:    h.flags&flagMarkers != 0,
		zeroGrain:  h.flags&flagZeroGrain != 0,
		meta:       []span{{0, sectorSize, "header"}},
	}
	if h.unclean {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: the extent was not closed cleanly", name))
	}
	if h.descOff != 0 && h.descSize != 0 {
		lo, ok := sectorsToBytes(h.descOff, fsize)
		if !ok || h.descSize > maxDescriptor/sectorSize || lo+int64(h.descSize)*sectorSize > fsize {
			return bad(28, "embedded descriptor of %d sectors at sector %d lies beyond the end of the file", h.descSize, h.descOff)
		}
		desc = make([]byte, h.descSize*sectorSize)
		if err := readFull(f, name, fsize, desc, lo); err != nil {
			return nil, nil, err
		}
		s.meta = append(s.meta, span{lo, lo + int64(len(desc)), "embedded descriptor"})
	}
	n := gdEntries(s.capacity, s.gtEntries*int64(h.grainSize))
	if n > maxGDEntries {
		return bad(12, "capacity of %d sectors needs %d grain tables, more than %d", h.capacity, n, maxGDEntries)
	}
	gdOff, ok := sectorsToBytes(h.gdOff, fsize)
	if !ok || gdOff == 0 || gdOff+n*4 > fsize {
		return bad(56, "grain directory of %d entries at sector %d does not lie within the file", n, h.gdOff)
	}
	if h.flags&flagRGD != 0 {
		// The redundant directory is never read, but nothing may overlap it.
		if lo, ok := sectorsToBytes(h.rgdOff, fsize); ok && lo != 0 && lo+n*4 <= fsize && lo != gdOff {
			s.meta = append(s.meta, span{lo, lo + n*4, "redundant grain directory"})
		}
	}
	if err := s.readDirectory(gdOff, n); err != nil {
		return nil, nil, err
	}
	return s, desc, nil
}

// newCOWD opens an ESX sparse extent ("COWD").
func newCOWD(f File, name string, fsize int64, c *caches) (*sparse, error) {
	var b [sectorSize]byte
	if fsize < cowdHeaderSize {
		return nil, formatErr(name, 0, "COWD extent of %d bytes is smaller than its header", fsize)
	}
	if err := readFull(f, name, fsize, b[:], 0); err != nil {
		return nil, err
	}
	version := le.Uint32(b[4:])
	capacity := int64(le.Uint32(b[12:]))
	grain := int64(le.Uint32(b[16:]))
	gdSector := uint64(le.Uint32(b[20:]))
	gdLen := int64(le.Uint32(b[24:]))
	if capacity == 0 {
		return nil, formatErr(name, 12, "capacity of 0 sectors")
	}
	if grain == 0 || grain > maxGrainSectors {
		return nil, formatErr(name, 16, "grain size of %d sectors is out of range", grain)
	}
	s := &sparse{
		name:       name,
		f:          f,
		fsize:      fsize,
		kind:       kindCOWD,
		c:          c,
		id:         c.nextID.Add(1),
		version:    int(version),
		capacity:   capacity,
		grainBytes: grain * sectorSize,
		gtEntries:  cowdGTEs,
		entrySize:  4,
		meta:       []span{{0, cowdHeaderSize, "header"}},
	}
	n := gdEntries(capacity, cowdGTEs*grain)
	if gdLen < n {
		return nil, formatErr(name, 24, "grain directory of %d entries, %d needed for %d sectors", gdLen, n, capacity)
	}
	gdOff, ok := sectorsToBytes(gdSector, fsize)
	if !ok || gdOff < cowdHeaderSize || gdOff+n*4 > fsize {
		return nil, formatErr(name, 20, "grain directory of %d entries at sector %d does not lie within the file", n, gdSector)
	}
	if err := s.readDirectory(gdOff, n); err != nil {
		return nil, err
	}
	return s, nil
}

// newSESparse opens an ESXi space-efficient sparse extent. Its layout is
// not published; what is checked follows what qemu accepts.
func newSESparse(f File, name string, fsize int64, c *caches) (*sparse, error) {
	var b [sectorSize]byte
	if err := readFull(f, name, fsize, b[:], 0); err != nil {
		return nil, err
	}
	u := func(i int) uint64 { return le.Uint64(b[8*i:]) }
	unsupported := func(format string, args ...any) error {
		return fmt.Errorf("vmdk: %s: seSparse %s: %w", name, fmt.Sprintf(format, args...), errors.ErrUnsupported)
	}
	if u(0) != seConstMagic {
		return nil, formatErr(name, 0, "seSparse header magic %#x, want %#x", u(0), seConstMagic)
	}
	if u(1) != seVersion {
		return nil, unsupported("version %#x", u(1))
	}
	if u(3) != seGrainSectors {
		return nil, unsupported("grain size of %d sectors", u(3))
	}
	if u(4) != seGTSectors {
		return nil, unsupported("grain table size of %d sectors", u(4))
	}
	if u(5) != 0 {
		return nil, unsupported("flags %#x", u(5))
	}
	for i := 6; i < 10; i++ {
		if u(i) != 0 {
			return nil, unsupported("reserved field %d is %#x", i-5, u(i))
		}
	}
	for _, x := range b[208:] {
		if x != 0 {
			return nil, unsupported("header padding is not zero")
		}
	}
	capacity := u(2)
	if capacity == 0 || capacity > maxSectors {
		return nil, formatErr(name, 16, "capacity of %d sectors is out of range", capacity)
	}
	// region returns the byte range of the region whose sector offset
	// and size are fields i and i+1, clipped to the file.
	region := func(i int, what string) (span, error) {
		lo, ok := sectorsToBytes(u(i), fsize)
		if !ok || u(i+1) > maxSectors {
			return span{}, formatErr(name, int64(8*i), "%s at sector %d (%d sectors) lies beyond the end of the file", what, u(i), u(i+1))
		}
		return span{lo, min(lo+int64(u(i+1))*sectorSize, fsize), what}, nil
	}
	vol, err := region(10, "volatile header")
	if err != nil {
		return nil, err
	}
	var v [sectorSize]byte
	if err := readFull(f, name, fsize, v[:], vol.lo); err != nil {
		return nil, err
	}
	if m := le.Uint64(v[:]); m != seVolatileMagic {
		return nil, formatErr(name, vol.lo, "seSparse volatile header magic %#x, want %#x", m, seVolatileMagic)
	}
	if le.Uint64(v[24:]) != 0 {
		return nil, unsupported("journal needs replaying (the disk was not closed cleanly)")
	}
	gd, err := region(16, "grain directory")
	if err != nil {
		return nil, err
	}
	tables, err := region(18, "grain table region")
	if err != nil {
		return nil, err
	}
	grains, err := region(24, "grain region")
	if err != nil {
		return nil, err
	}
	s := &sparse{
		name:       name,
		f:          f,
		fsize:      fsize,
		kind:       kindSE,
		c:          c,
		id:         c.nextID.Add(1),
		version:    2,
		capacity:   int64(capacity),
		grainBytes: seGrainSectors * sectorSize,
		gtEntries:  seGTSectors * sectorSize / 8,
		entrySize:  8,
		meta:       []span{{0, sectorSize, "header"}, vol},
		seTables:   tables,
		seGrains:   grains,
	}
	n := gdEntries(s.capacity, s.gtEntries*seGrainSectors)
	if n > maxGDEntries || gd.lo+n*8 > gd.hi {
		return nil, formatErr(name, 128, "grain directory of %d bytes is too small for %d sectors", gd.hi-gd.lo, capacity)
	}
	if err := s.readDirectory(gd.lo, n); err != nil {
		return nil, err
	}
	return s, nil
}

// readDirectory reads the n entries of the grain directory at byte off.
func (s *sparse) readDirectory(off, n int64) error {
	if s.c.gdEntries+n > maxChainGDEntries {
		return formatErr(s.name, off, "the grain directories of the image's extents and parents hold more than %d entries", maxChainGDEntries)
	}
	s.c.gdEntries += n
	s.gdOff = off
	size := n * s.entrySize
	s.meta = append(s.meta, span{off, off + size, "grain directory"})
	s.gd = make([]uint64, n)
	// Read in chunks, so a directory that is larger than it should be
	// costs no more than its entries.
	buf := make([]byte, min(size, 64<<10))
	for i := int64(0); i < n; {
		k := min(n-i, int64(len(buf))/s.entrySize)
		b := buf[:k*s.entrySize]
		if err := readFull(s.f, s.name, s.fsize, b, off+i*s.entrySize); err != nil {
			return err
		}
		for j := range k {
			if s.entrySize == 4 {
				s.gd[i+j] = uint64(le.Uint32(b[4*j:]))
			} else {
				s.gd[i+j] = le.Uint64(b[8*j:])
			}
		}
		i += k
	}
	return nil
}

// tableBytes returns the size of one grain table.
func (s *sparse) tableBytes() int64 { return s.gtEntries * s.entrySize }

// overlap returns the metadata [lo, hi) overlaps, or "".
func (s *sparse) overlap(lo, hi int64) string {
	for _, m := range s.meta {
		if lo < m.hi && m.lo < hi {
			return m.what
		}
	}
	return ""
}

// table returns grain table t, its byte offset, and, when the directory
// says the whole table is unallocated or zero, that state and a nil table.
func (s *sparse) table(t int64) (tab []byte, at int64, st grainState, err error) {
	v := s.gd[t]
	entryAt := s.gdOff + t*s.entrySize
	size := s.tableBytes()
	switch {
	case v == 0:
		return nil, 0, grainUnalloc, nil
	case v == 1 && s.zeroGrain:
		// Sector 1 is never a grain table; with zeroed grains in use, it
		// stands for a table of zeroed grains, as 1 does for a grain.
		return nil, 0, grainZero, nil
	case s.kind == kindSE:
		if v>>32 != seGTAllocated {
			return nil, 0, 0, formatErr(s.name, entryAt, "grain directory entry %d is %#x, not a grain table", t, v)
		}
		at = s.seTables.lo + int64(v&0xffffffff)*size
		if at+size > s.seTables.hi {
			return nil, 0, 0, formatErr(s.name, entryAt, "grain table %d (number %d) lies beyond the grain table region", t, v&0xffffffff)
		}
	default:
		at = int64(v) * sectorSize // v < 2^32
		if at+size > s.fsize {
			return nil, 0, 0, formatErr(s.name, entryAt, "grain table %d at offset %d lies beyond the end of the file", t, at)
		}
	}
	if what := s.overlap(at, at+size); what != "" {
		return nil, 0, 0, formatErr(s.name, entryAt, "grain table %d at offset %d overlaps the %s", t, at, what)
	}
	key := cacheKey{s.id, t}
	if b, ok := s.c.tables.get(key); ok {
		return b, at, grainData, nil
	}
	b := make([]byte, size)
	if err := readFull(s.f, s.name, s.fsize, b, at); err != nil {
		return nil, 0, 0, err
	}
	s.c.tables.put(key, b)
	return b, at, grainData, nil
}

// entry decodes the entry of grain g in its table tab, found at byte at,
// and checks that the grain lies in the file clear of the metadata.
func (s *sparse) entry(tab []byte, at, g int64) (grainState, int64, error) {
	i := g % s.gtEntries
	entryAt := at + i*s.entrySize
	var off int64
	if s.kind == kindSE {
		v := le.Uint64(tab[8*i:])
		switch v >> 60 {
		case 0:
			if v != 0 {
				return 0, 0, formatErr(s.name, entryAt, "grain %d: unallocated entry %#x has bits set", g, v)
			}
			return grainUnalloc, 0, nil
		case 1, 2: // unmapped, zeroed
			return grainZero, 0, nil
		case 3:
			n := (v&0x0fff000000000000)>>48 | (v&0x0000ffffffffffff)<<12
			if n >= uint64(s.seGrains.hi-s.seGrains.lo)/uint64(s.grainBytes) {
				return 0, 0, formatErr(s.name, entryAt, "grain %d: grain number %d lies beyond the grain region", g, n)
			}
			off = s.seGrains.lo + int64(n)*s.grainBytes
		default:
			return 0, 0, formatErr(s.name, entryAt, "grain %d: entry %#x of unknown type %d", g, v, v>>60)
		}
	} else {
		v := le.Uint32(tab[4*i:])
		switch {
		case v == 0:
			return grainUnalloc, 0, nil
		case v == 1 && s.zeroGrain:
			return grainZero, 0, nil
		}
		off = int64(v) * sectorSize
		if s.compressed {
			// The length is known only once the marker is read.
			if off >= s.fsize {
				return 0, 0, formatErr(s.name, entryAt, "grain %d at offset %d lies beyond the end of the file", g, off)
			}
			if err := s.checkGrain(g, off, off+1, at, entryAt); err != nil {
				return 0, 0, err
			}
			return grainCompressed, off, nil
		}
	}
	need := min(s.grainBytes, s.bytes-g*s.grainBytes)
	if off+need > s.fsize {
		return 0, 0, formatErr(s.name, entryAt, "grain %d at offset %d lies beyond the end of the file", g, off)
	}
	if err := s.checkGrain(g, off, off+need, at, entryAt); err != nil {
		return 0, 0, err
	}
	return grainData, off, nil
}

// checkGrain checks that the bytes [lo, hi) of grain g, whose entry is at
// entryAt in the table at byte at, overlap neither the metadata nor that
// table.
func (s *sparse) checkGrain(g, lo, hi, at, entryAt int64) error {
	if what := s.overlap(lo, hi); what != "" {
		return formatErr(s.name, entryAt, "grain %d at offset %d overlaps the %s", g, lo, what)
	}
	if lo < at+s.tableBytes() && at < hi {
		return formatErr(s.name, entryAt, "grain %d at offset %d overlaps its own grain table", g, lo)
	}
	return nil
}

// backing serves the bytes of grains an extent does not hold: the parent's,
// or zeros. off is a byte offset on the virtual disk.
type backing interface {
	readBacking(p []byte, off int64) error
}

// run is a stretch of a read that one operation serves: one ReadAt of
// contiguous grains, one clear, or one read from the parent.
type run struct {
	active bool
	st     grainState
	dst, n int   // p[dst:dst+n]
	src    int64 // file offset (grainData) or virtual offset (grainUnalloc)
}

// read fills p from byte off of the extent. Grains the extent does not
// hold are read from b, at their offset on the virtual disk, which is voff
// for p[0]. Contiguous grains are read with one ReadAt straight into p.
func (s *sparse) read(p []byte, off int64, b backing, voff int64) error {
	var (
		r     run
		tab   []byte
		tabT  int64 = -1
		tabAt int64
		tabSt grainState
	)
	for done := 0; done < len(p); {
		pos := off + int64(done)
		g := pos / s.grainBytes
		in := pos - g*s.grainBytes
		n := int(min(int64(len(p)-done), s.grainBytes-in))
		if t := g / s.gtEntries; t != tabT {
			var err error
			if tab, tabAt, tabSt, err = s.table(t); err != nil {
				return err
			}
			tabT = t
		}
		st, goff := tabSt, int64(0)
		if tab != nil {
			var err error
			if st, goff, err = s.entry(tab, tabAt, g); err != nil {
				return err
			}
		}
		switch {
		case st == grainCompressed:
			if err := s.flush(&r, p, b); err != nil {
				return err
			}
			data, err := s.inflate(g, goff, tabAt, tabAt+(g%s.gtEntries)*s.entrySize)
			if err != nil {
				return err
			}
			copy(p[done:done+n], data[in:])
		case r.active && r.st == st && (st != grainData || r.src+int64(r.n) == goff+in):
			r.n += n
		default:
			if err := s.flush(&r, p, b); err != nil {
				return err
			}
			r = run{active: true, st: st, dst: done, n: n, src: goff + in}
			if st == grainUnalloc {
				r.src = voff + int64(done)
			}
		}
		done += n
	}
	return s.flush(&r, p, b)
}

// flush serves the pending run r, if any.
func (s *sparse) flush(r *run, p []byte, b backing) error {
	if !r.active {
		return nil
	}
	r.active = false
	q := p[r.dst : r.dst+r.n]
	switch r.st {
	case grainData:
		return readFull(s.f, s.name, s.fsize, q, r.src)
	case grainZero:
		clear(q)
		return nil
	default:
		return b.readBacking(q, r.src)
	}
}
