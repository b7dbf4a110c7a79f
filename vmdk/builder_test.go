package vmdk

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"fmt"
)

// Test writers of the sparse layouts, laid out as VMware's documents
// describe them (qemu-img writes none of the stream layout with a footer,
// nor COWD or seSparse extents). The tools tests check that qemu reads what
// they write as the reader does.

// sparseSpec says how to build a sparse extent of data.
type sparseSpec struct {
	grainSectors int64 // default 128
	gtes         int64 // entries per grain table, default 512 (hosted)
	version      uint32
	zeroGrain    bool // grains given as zero use entry 1 (hosted)
	compress     bool // deflate grains with markers (stream-optimized)
	rawDeflate   bool // compress without the zlib header
	noMarkers    bool // compressed grains without markers
	footer       bool // grain directory at the end, found through the footer
	desc         string
	// state says what grain g, holding b, becomes; nil: all-zero grains
	// are unallocated, the others stored.
	state func(g int64, b []byte) grainState
}

func (s *sparseSpec) defaults() {
	if s.grainSectors == 0 {
		s.grainSectors = 128
	}
	if s.gtes == 0 {
		s.gtes = 512
	}
	if s.version == 0 {
		s.version = 1
		if s.zeroGrain {
			s.version = 2
		}
		if s.compress {
			s.version = 3
		}
	}
	if s.state == nil {
		s.state = func(g int64, b []byte) grainState {
			if isZeros(b) {
				return grainUnalloc
			}
			return grainData
		}
	}
}

func isZeros(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// grainOf returns grain g of data, zero-padded to a full grain.
func grainOf(data []byte, g, gb int64) []byte {
	b := make([]byte, gb)
	if g*gb < int64(len(data)) {
		copy(b, data[g*gb:])
	}
	return b
}

// image is a growing file image.
type image struct{ bytes.Buffer }

func (w *image) pad() {
	for w.Len()%sectorSize != 0 {
		w.WriteByte(0)
	}
}
func (w *image) sector() int64 { return int64(w.Len()) / sectorSize }

func (w *image) put32(at int, v uint32) { le.PutUint32(w.Bytes()[at:], v) }
func (w *image) put64(at int, v uint64) { le.PutUint64(w.Bytes()[at:], v) }

// hostedHeaderBytes encodes a hosted sparse header.
func hostedHeaderBytes(h hostedHeader) []byte {
	b := make([]byte, sectorSize)
	copy(b, magicHosted)
	le.PutUint32(b[4:], h.version)
	le.PutUint32(b[8:], h.flags)
	le.PutUint64(b[12:], h.capacity)
	le.PutUint64(b[20:], h.grainSize)
	le.PutUint64(b[28:], h.descOff)
	le.PutUint64(b[36:], h.descSize)
	le.PutUint32(b[44:], h.gtes)
	le.PutUint64(b[48:], h.rgdOff)
	le.PutUint64(b[56:], h.gdOff)
	le.PutUint64(b[64:], h.overhead)
	copy(b[73:], "\n \r\n")
	le.PutUint16(b[77:], h.compress)
	return b
}

// buildHosted writes data, a multiple of 512 bytes, as a hosted sparse
// extent.
func buildHosted(data []byte, s sparseSpec) []byte {
	s.defaults()
	gb := s.grainSectors * sectorSize
	capacity := int64(len(data)) / sectorSize
	grains := (capacity + s.grainSectors - 1) / s.grainSectors
	nGT := (grains + s.gtes - 1) / s.gtes
	h := hostedHeader{
		version:   s.version,
		flags:     flagNLTest,
		capacity:  uint64(capacity),
		grainSize: uint64(s.grainSectors),
		gtes:      uint32(s.gtes),
	}
	if s.zeroGrain {
		h.flags |= flagZeroGrain
	}
	if s.compress {
		h.compress = compressDeflate
		h.flags |= 1 << 16
		if !s.noMarkers {
			h.flags |= flagMarkers
		}
	}
	var w image
	w.Write(make([]byte, sectorSize))
	if s.desc != "" {
		h.descOff = 1
		w.WriteString(s.desc)
		w.pad()
		h.descSize = uint64(w.sector() - 1)
	}
	gt := make([]uint32, nGT*s.gtes)
	gd := make([]uint32, nGT)
	if !s.compress {
		// Directory and tables first, then the grains.
		h.gdOff = uint64(w.sector())
		gdAt := w.Len()
		w.Write(make([]byte, nGT*4))
		w.pad()
		gtAt := make([]int, nGT)
		for t := range nGT {
			gd[t] = uint32(w.sector())
			gtAt[t] = w.Len()
			w.Write(make([]byte, s.gtes*4))
			w.pad()
		}
		h.overhead = uint64(w.sector())
		for g := range grains {
			b := grainOf(data, g, gb)
			switch s.state(g, b) {
			case grainZero:
				gt[g] = 1
			case grainData:
				gt[g] = uint32(w.sector())
				w.Write(b)
			}
		}
		for t, v := range gd {
			w.put32(gdAt+4*t, v)
		}
		for i, v := range gt {
			w.put32(gtAt[int64(i)/s.gtes]+4*int(int64(i)%s.gtes), v)
		}
		copy(w.Bytes(), hostedHeaderBytes(h))
		return w.Bytes()
	}
	// Stream-optimized: grains of each table, then the table behind a
	// marker; then the directory, the footer and the end-of-stream marker.
	h.overhead = uint64(w.sector())
	marker := func(val uint64, typ uint32) {
		m := make([]byte, sectorSize)
		le.PutUint64(m, val)
		le.PutUint32(m[12:], typ)
		w.Write(m)
	}
	for t := range nGT {
		for g := t * s.gtes; g < min((t+1)*s.gtes, grains); g++ {
			b := grainOf(data, g, gb)
			if end := min((g+1)*gb, int64(len(data))); end < (g+1)*gb {
				b = b[:end-g*gb] // the last grain is written short
			}
			switch s.state(g, grainOf(data, g, gb)) {
			case grainZero:
				gt[g] = 1
			case grainData, grainCompressed:
				gt[g] = uint32(w.sector())
				z := compressBytes(b, s.rawDeflate)
				if !s.noMarkers {
					var m [markerSize]byte
					le.PutUint64(m[:], uint64(g*s.grainSectors))
					le.PutUint32(m[8:], uint32(len(z)))
					w.Write(m[:])
				}
				w.Write(z)
				w.pad()
			}
		}
		marker(uint64(s.gtes*4/sectorSize), 1)
		gd[t] = uint32(w.sector())
		for i := t * s.gtes; i < (t+1)*s.gtes; i++ {
			var e [4]byte
			le.PutUint32(e[:], gt[i])
			w.Write(e[:])
		}
		w.pad()
	}
	marker(uint64((nGT*4+sectorSize-1)/sectorSize), 2)
	h.gdOff = uint64(w.sector())
	for _, v := range gd {
		var e [4]byte
		le.PutUint32(e[:], v)
		w.Write(e[:])
	}
	w.pad()
	if s.footer {
		marker(1, markerFooter)
		w.Write(hostedHeaderBytes(h))
		h.gdOff = gdAtEnd
	}
	marker(0, markerEOS)
	copy(w.Bytes(), hostedHeaderBytes(h))
	return w.Bytes()
}

func compressBytes(b []byte, raw bool) []byte {
	var z bytes.Buffer
	if raw {
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write(b)
		w.Close()
	} else {
		w := zlib.NewWriter(&z)
		w.Write(b)
		w.Close()
	}
	return z.Bytes()
}

// buildCOWD writes data as an ESX sparse ("COWD") extent with grains of
// grainSectors.
func buildCOWD(data []byte, grainSectors int64) []byte {
	gb := grainSectors * sectorSize
	capacity := int64(len(data)) / sectorSize
	grains := (capacity + grainSectors - 1) / grainSectors
	nGT := (grains + cowdGTEs - 1) / cowdGTEs
	var w image
	w.Write(make([]byte, cowdHeaderSize))
	copy(w.Bytes(), magicCOWD)
	w.put32(4, 1)
	w.put32(8, 3)
	w.put32(12, uint32(capacity))
	w.put32(16, uint32(grainSectors))
	w.put32(20, uint32(w.sector()))
	w.put32(24, uint32(nGT))
	gdAt := w.Len()
	w.Write(make([]byte, nGT*4))
	w.pad()
	gtAt := make([]int, nGT)
	for t := range nGT {
		w.put32(gdAt+4*int(t), uint32(w.sector()))
		gtAt[t] = w.Len()
		w.Write(make([]byte, cowdGTEs*4))
	}
	for g := range grains {
		b := grainOf(data, g, gb)
		if isZeros(b) {
			continue
		}
		w.put32(gtAt[g/cowdGTEs]+4*int(g%cowdGTEs), uint32(w.sector()))
		w.Write(b)
	}
	w.put32(28, uint32(w.sector()))
	return w.Bytes()
}

// buildSESparse writes data as an seSparse extent. Grains for which zero
// says so are written as zeroed entries (type 2), or unmapped (type 1)
// when g is odd; other all-zero grains are unallocated.
func buildSESparse(data []byte, zero func(g int64) bool) []byte {
	const gb = seGrainSectors * sectorSize
	const gtes = seGTSectors * sectorSize / 8
	capacity := int64(len(data)) / sectorSize
	grains := (capacity + seGrainSectors - 1) / seGrainSectors
	nGT := (grains + gtes - 1) / gtes
	gdSectors := (nGT*8 + sectorSize - 1) / sectorSize
	gdAt := int64(2 * sectorSize)
	tablesAt := gdAt + gdSectors*sectorSize
	grainsAt := tablesAt + nGT*seGTSectors*sectorSize
	var w image
	w.Write(make([]byte, grainsAt))
	var stored int64
	// Tables are placed in reverse order, to check the directory's
	// numbers are followed.
	for g := range grains {
		b := grainOf(data, g, gb)
		var v uint64
		switch {
		case zero != nil && zero(g):
			v = 2 << 60
			if g%2 == 1 {
				v = 1 << 60
			}
		case isZeros(b):
			continue
		default:
			n := uint64(stored)
			v = 3<<60 | (n&0xfff)<<48 | n>>12
			w.Write(b)
			stored++
		}
		t := g / gtes
		slot := nGT - 1 - t
		le.PutUint64(w.Bytes()[gdAt+8*t:], seGTAllocated<<32|uint64(slot))
		le.PutUint64(w.Bytes()[tablesAt+slot*seGTSectors*sectorSize+8*(g%gtes):], v)
	}
	hdr := w.Bytes()
	put := func(i int, v uint64) { le.PutUint64(hdr[8*i:], v) }
	put(0, seConstMagic)
	put(1, seVersion)
	put(2, uint64(capacity))
	put(3, seGrainSectors)
	put(4, seGTSectors)
	put(10, 1) // volatile header
	put(11, 1)
	put(12, 0) // journal header, journal: not used here
	put(16, uint64(gdAt/sectorSize))
	put(17, uint64(gdSectors))
	put(18, uint64(tablesAt/sectorSize))
	put(19, uint64(nGT*seGTSectors))
	put(24, uint64(grainsAt/sectorSize))
	put(25, uint64(stored*seGrainSectors))
	le.PutUint64(hdr[sectorSize:], seVolatileMagic)
	return w.Bytes()
}

// descriptorText returns a descriptor with the extent lines given.
func descriptorText(createType, parentHint string, parentCID uint32, lines ...string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=%08x\ncreateType=%q\n", parentCID, createType)
	if parentHint != "" {
		fmt.Fprintf(&b, "parentFileNameHint=%q\n", parentHint)
	}
	b.WriteString("\n# Extent description\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n")
	return b.String()
}
