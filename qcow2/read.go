package qcow2

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// kind says where the bytes of an extent come from.
type kind uint8

const (
	kindZero       kind = iota // reads as zeros
	kindBacking                // unallocated: the backing file's bytes, or zeros
	kindData                   // stored at a host offset of the data file
	kindCompressed             // a compressed cluster
)

// extent is a run of guest bytes read the same way.
type extent struct {
	kind kind
	host int64  // kindData: host offset of the first byte
	desc uint64 // kindCompressed: the cluster descriptor
	n    int64  // bytes
}

// cursor remembers the L2 table of the last lookup, so that a read
// through consecutive clusters looks each table up once.
type cursor struct {
	l1i   int64  // L1 index of table; -1 before the first lookup
	l2off int64  // host offset of table
	table []byte // nil when the L1 entry is unallocated
}

// ReadAt reads len(p) bytes of the virtual disk at off. Like os.File, it
// returns io.EOF with fewer bytes when the read reaches the end of the
// disk. It is safe for concurrent use.
func (m *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: %s: read at negative offset %d", m.path, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= m.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(len(p)) > m.size-off {
		p = p[:m.size-off]
	}
	n, err := m.read(p, off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// read fills p, which lies inside the disk, from guest offset off. Runs
// of clusters stored back to back in the data file are read with one
// ReadAt, and so are runs of zero or unallocated clusters.
func (m *Image) read(p []byte, off int64) (int, error) {
	cur := cursor{l1i: -1}
	done := 0
	for done < len(p) {
		pos, rest := off+int64(done), int64(len(p)-done)
		e, err := m.extentAt(&cur, pos, rest)
		if err != nil {
			return done, err
		}
		for e.kind != kindCompressed && e.n < rest {
			next, err := m.extentAt(&cur, pos+e.n, rest-e.n)
			if err != nil || next.kind != e.kind || e.kind == kindData && next.host != e.host+e.n {
				break // an error comes back when the loop gets there
			}
			e.n += next.n
		}
		b := p[done : done+int(e.n)]
		switch e.kind {
		case kindZero:
			clear(b)
		case kindBacking:
			err = m.readBacking(b, pos)
		case kindData:
			err = m.readData(b, e.host, pos)
		case kindCompressed:
			err = m.readCompressed(b, pos, e.desc)
		}
		if err != nil {
			return done, err
		}
		done += len(b)
	}
	return done, nil
}

// extentAt maps the guest bytes [off, off+limit) from their start: it
// returns how the first of them are read, as far as they are read the same
// way inside one cluster (or, for unallocated L2 tables, the range the L1
// entry covers).
func (m *Image) extentAt(cur *cursor, off, limit int64) (extent, error) {
	vc := off >> m.clusterBits // guest cluster
	inCluster := off & (m.clusterSize - 1)
	n := min(m.clusterSize-inCluster, limit)
	l1i := vc >> m.l2Bits
	if l1i >= int64(len(m.l1)/8) {
		return extent{kind: kindBacking, n: limit}, nil
	}
	if cur.l1i != l1i {
		if err := m.loadL2(cur, l1i, off); err != nil {
			return extent{}, err
		}
	}
	if cur.table == nil {
		end := (l1i + 1) << (m.clusterBits + m.l2Bits)
		return extent{kind: kindBacking, n: min(end-off, limit)}, nil
	}
	l2i := vc & (1<<m.l2Bits - 1)
	if !m.extendedL2 {
		return m.standardEntry(cur, be.Uint64(cur.table[l2i*8:]), off, inCluster, n)
	}
	return m.extendedEntry(cur, be.Uint64(cur.table[l2i*16:]), be.Uint64(cur.table[l2i*16+8:]), off, inCluster, n)
}

// standardEntry maps n bytes at guest offset off, inCluster bytes into its
// cluster, whose L2 entry is e.
func (m *Image) standardEntry(cur *cursor, e uint64, off, inCluster, n int64) (extent, error) {
	if e&l2Compressed != 0 {
		return m.compressedEntry(e, off, n)
	}
	host := int64(e & offsetMask)
	switch {
	case e&l2Zero != 0:
		return extent{kind: kindZero, n: n}, nil
	case host == 0 && !(m.hasDataFile && e&l2Copied != 0):
		return extent{kind: kindBacking, n: n}, nil
	}
	return m.dataExtent(cur, host, off, inCluster, n)
}

// extendedEntry maps n bytes at guest offset off, inCluster bytes into its
// cluster, whose extended L2 entry is e with subcluster bitmap bm, as far
// as the subclusters from off on are in the same state.
func (m *Image) extendedEntry(cur *cursor, e, bm uint64, off, inCluster, n int64) (extent, error) {
	if e&l2Compressed != 0 {
		return m.compressedEntry(e, off, n)
	}
	host := int64(e & offsetMask)
	alloc, zero := uint32(bm), uint32(bm>>32)
	if alloc&zero != 0 {
		return extent{}, m.l2Error(cur, off, "extended L2 entry %#016x %#016x has subclusters both allocated and zero", e, bm)
	}
	if host == 0 && !(m.hasDataFile && e&l2Copied != 0) && alloc != 0 {
		return extent{}, m.l2Error(cur, off, "extended L2 entry %#016x %#016x has allocated subclusters but no host cluster", e, bm)
	}
	sc := uint(inCluster / m.subclusterSz)
	var k kind
	var same uint32 // subclusters in the state of sc
	switch {
	case alloc&(1<<sc) != 0:
		k, same = kindData, alloc
	case zero&(1<<sc) != 0:
		k, same = kindZero, zero
	default:
		k, same = kindBacking, ^(alloc | zero)
	}
	run := uint(bits.TrailingZeros32(^(same >> sc))) // subclusters from sc on in that state
	n = min(n, int64(sc+run)*m.subclusterSz-inCluster)
	if k != kindData {
		return extent{kind: k, n: n}, nil
	}
	return m.dataExtent(cur, host, off, inCluster, n)
}

// dataExtent checks and returns the extent of n bytes of the data cluster
// at host offset host, inCluster bytes into it, for guest offset off.
func (m *Image) dataExtent(cur *cursor, host, off, inCluster, n int64) (extent, error) {
	if host&(m.clusterSize-1) != 0 {
		return extent{}, m.l2Error(cur, off, "data cluster at %#x is not cluster aligned", host)
	}
	at := host + inCluster
	if at >= m.dataSize || n > m.dataSize-at {
		return extent{}, &FormatError{Path: m.path, Off: cur.l2off, Msg: fmt.Sprintf(
			"cluster at guest offset %#x: host offset %#x is past the end of the %s (%#x bytes)",
			off-inCluster, at, m.dataName(), m.dataSize)}
	}
	if !m.hasDataFile {
		if host == cur.l2off {
			return extent{}, m.l2Error(cur, off, "data cluster at %#x is the L2 table itself", host)
		}
		if s, ok := m.overlapsMeta(at, n); ok {
			return extent{}, m.l2Error(cur, off, "data cluster at %#x overlaps the %s at %#x", host, s.what, s.off)
		}
	}
	return extent{kind: kindData, host: at, n: n}, nil
}

// compressedEntry checks and returns the extent of n bytes of the
// compressed cluster with L2 entry e, at guest offset off.
func (m *Image) compressedEntry(e uint64, off, n int64) (extent, error) {
	if m.hasDataFile {
		return extent{}, &FormatError{Path: m.path, Off: m.l1Off, Msg: fmt.Sprintf(
			"cluster at guest offset %#x is compressed, which an image with an external data file cannot be",
			off&^(m.clusterSize-1))}
	}
	return extent{kind: kindCompressed, desc: e & compressedMask, n: n}, nil
}

func (m *Image) dataName() string {
	if m.hasDataFile {
		return "external data file"
	}
	return "file"
}

// l2Error reports a bad L2 entry for guest offset off.
func (m *Image) l2Error(cur *cursor, off int64, format string, args ...any) error {
	return &FormatError{Path: m.path, Off: cur.l2off, Msg: fmt.Sprintf("L2 table at %#x, cluster at guest offset %#x: ",
		cur.l2off, off&^(m.clusterSize-1)) + fmt.Sprintf(format, args...)}
}

// overlapsMeta returns the metadata range that [off, off+n) overlaps.
func (m *Image) overlapsMeta(off, n int64) (span, bool) {
	for _, s := range m.meta {
		if off < s.off+s.n && s.off < off+n {
			return s, true
		}
	}
	return span{}, false
}

// loadL2 points cur at the L2 table of L1 entry l1i, looked up for guest
// offset off.
func (m *Image) loadL2(cur *cursor, l1i, off int64) error {
	e := be.Uint64(m.l1[l1i*8:])
	l2off := int64(e & offsetMask)
	cur.l1i, cur.l2off, cur.table = l1i, l2off, nil
	if l2off == 0 {
		return nil
	}
	bad := func(format string, args ...any) error {
		return &FormatError{Path: m.path, Off: m.l1Off + l1i*8, Msg: fmt.Sprintf("L2 table at %#x for guest offset %#x: ",
			l2off, off) + fmt.Sprintf(format, args...)}
	}
	if l2off&(m.clusterSize-1) != 0 {
		return bad("not cluster aligned")
	}
	if l2off > m.fileSize-m.clusterSize {
		return bad("past the end of the file (%#x bytes)", m.fileSize)
	}
	if s, ok := m.overlapsMeta(l2off, m.clusterSize); ok {
		return bad("overlaps the %s at %#x", s.what, s.off)
	}
	key := cacheKey{m.id, uint64(l2off)}
	if t := m.caches.l2.get(key); t != nil {
		cur.table = t
		return nil
	}
	t := make([]byte, m.clusterSize)
	if err := m.readMeta(t, l2off, "L2 table"); err != nil {
		return err
	}
	m.caches.l2.add(key, t)
	cur.table = t
	return nil
}

// readData reads b from host offset host of the data file, for guest
// offset off.
func (m *Image) readData(b []byte, host, off int64) error {
	n, err := m.data.ReadAt(b, host)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("qcow2: %s: reading guest offset %#x at host offset %#x of the %s: %w", m.path, off, host, m.dataName(), err)
}

// readBacking reads b from the backing file at off, with zeros past its
// end or without one.
func (m *Image) readBacking(b []byte, off int64) error {
	if m.backing == nil || off >= m.backingSize {
		clear(b)
		return nil
	}
	k := int64(len(b))
	if k > m.backingSize-off {
		k = m.backingSize - off
		clear(b[k:])
	}
	n, err := m.backing.ReadAt(b[:k], off)
	if int64(n) == k {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if _, ok := m.backing.(*Image); ok {
		return err // names the backing image already
	}
	return fmt.Errorf("qcow2: %s: reading the backing file %q at %#x: %w", m.path, m.exts.backingName, off, err)
}

// readCompressed reads b, which lies in one cluster, from guest offset
// off of the compressed cluster with descriptor desc. A whole cluster is
// decompressed straight into b; parts of clusters go through the cache.
func (m *Image) readCompressed(b []byte, off int64, desc uint64) error {
	inCluster := off & (m.clusterSize - 1)
	if inCluster == 0 && int64(len(b)) == m.clusterSize {
		return m.decompressCluster(b, desc, off)
	}
	key := cacheKey{m.id, desc}
	c := m.caches.clusters.get(key)
	if c == nil {
		c = make([]byte, m.clusterSize)
		if err := m.decompressCluster(c, desc, off); err != nil {
			return err
		}
		m.caches.clusters.add(key, c)
	}
	copy(b, c[inCluster:])
	return nil
}

// decompressCluster decodes the compressed cluster with descriptor desc,
// for guest offset off, into dst, one cluster long.
func (m *Image) decompressCluster(dst []byte, desc uint64, off int64) error {
	x := 62 - (m.clusterBits - 8) // bits of the host offset
	coff := int64(desc & (1<<x - 1))
	sectors := int64(desc>>x)&(1<<(m.clusterBits-8)-1) + 1
	csize := sectors*sectorSize - coff&(sectorSize-1)
	bad := func(format string, args ...any) error {
		return &FormatError{Path: m.path, Off: coff, Msg: fmt.Sprintf("compressed cluster at guest offset %#x, host offset %#x (%d bytes): ",
			off&^(m.clusterSize-1), coff, csize) + fmt.Sprintf(format, args...)}
	}
	if coff >= m.fileSize {
		return bad("past the end of the file (%#x bytes)", m.fileSize)
	}
	if s, ok := m.overlapsMeta(coff, 1); ok {
		return bad("inside the %s at %#x", s.what, s.off)
	}
	// The last sector of the last compressed cluster may be cut short.
	csize = min(csize, m.fileSize-coff)
	buf := getBuf(int(csize))
	defer putBuf(buf)
	if err := m.readMeta(*buf, coff, "compressed cluster"); err != nil {
		return err
	}
	if err := decompress(m.compression, dst, *buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return bad("%s data ends before a whole cluster", m.compression)
		}
		return bad("%s: %v", m.compression, err)
	}
	return nil
}
