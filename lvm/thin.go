package lvm

import (
	"container/list"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"
)

// Thin-pool metadata is device-mapper's persistent-data format: 4096-byte
// blocks, a superblock in block 0, and copy-on-write btrees of 64-bit keys.
// Two trees matter for reading: the data mapping tree, whose top level maps
// a thin device id to the root of that device's tree of virtual block →
// (data block << 24 | time), and the device details tree, which maps a
// device id to its mapped-block count, transaction id and times.

// ErrNoThinDevice means the thin pool has no device with the id asked for.
var ErrNoThinDevice = errors.New("lvm: thin pool has no device with id")

const (
	thinBlockSize   = 4096
	thinMagic       = 27022010
	thinSuperXor    = 160774 // xor salt of the superblock checksum
	thinNodeXor     = 121107 // xor salt of a btree node's checksum
	thinNeedsCheck  = 1      // superblock flag: the kernel asked for thin_check
	thinMaxDepth    = 20     // btree levels followed before giving up
	thinCacheBlocks = 2048   // btree nodes kept in memory per pool (8 MiB)

	// Data block sizes the kernel accepts, in sectors: 64 KiB to 1 GiB in
	// multiples of 64 KiB.
	thinMinDataBlock = 128
	thinMaxDataBlock = 2 << 20

	nodeHeaderSize = 32
	nodeInternal   = 1 // node flag
	nodeLeaf       = 2 // node flag

	thinDetailsSize = 24 // value size of the device details tree
	thinTimeBits    = 24 // low bits of a mapping value holding its time
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// thinChecksum is persistent-data's block checksum: CRC-32C of b seeded
// with all ones and without the final inversion, xored with a salt that
// differs by kind of block.
func thinChecksum(b []byte, salt uint32) uint32 {
	return ^crc32.Checksum(b, castagnoli) ^ salt
}

// ThinPool is thin-pool metadata (a pool's _tmeta LV), read through a
// bounded cache of verified btree nodes. Its methods, and those of its
// devices, are safe for concurrent use.
//
// Every block read is checked before it is used: checksums, the block
// number a block records for itself, node entry counts against their
// capacity, key order, value sizes, key ranges against the parent node,
// and data block numbers against the pool's size. A lookup follows at most
// a fixed number of levels and never the same node twice, so damaged or
// hostile metadata gives a *FormatError naming the block, never a loop.
// A lookup costs one node per level of the tree, nodes coming from the
// cache after the first read.
//
// What is read is the pool's committed transaction; a metadata snapshot
// that userspace may hold (the superblock's held root) is not used.
type ThinPool struct {
	r       io.ReaderAt
	nblocks uint64 // metadata blocks that may be referenced

	dataBlockSize int64  // bytes
	dataBlocks    uint64 // blocks in the pool's data device
	transaction   uint64
	flags         uint32
	mappingRoot   uint64
	detailsRoot   uint64

	mu       sync.Mutex
	cache    map[uint64]*list.Element // of *thinNode
	lru      list.List                // most recently used at the front
	cacheMax int                      // nodes kept in cache
}

// OpenThinPool reads the superblock of the thin-pool metadata meta, which
// is size bytes long, and the roots of its two btrees.
func OpenThinPool(meta io.ReaderAt, size int64) (*ThinPool, error) {
	if size < 2*thinBlockSize {
		return nil, &FormatError{Off: 0, Msg: fmt.Sprintf("thin-pool metadata of %d bytes is too small", size)}
	}
	b := make([]byte, thinBlockSize)
	if err := readAt(meta, size, b, 0); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) (*ThinPool, error) {
		return nil, &FormatError{Off: 0, Msg: "thin-pool superblock: " + fmt.Sprintf(format, args...)}
	}
	if m := le.Uint64(b[32:]); m != thinMagic {
		return bad("bad magic %d, want %d", m, thinMagic)
	}
	if want, got := le.Uint32(b), thinChecksum(b[4:], thinSuperXor); want != got {
		return bad("checksum %#08x, computed %#08x", want, got)
	}
	if n := le.Uint64(b[8:]); n != 0 {
		return bad("records block number %d, want 0", n)
	}
	if v := le.Uint32(b[40:]); v != 1 && v != 2 {
		return nil, fmt.Errorf("lvm: thin-pool metadata version %d: %w", v, errors.ErrUnsupported)
	}
	if f := le.Uint32(b[360:]); f != 0 {
		return nil, fmt.Errorf("lvm: thin-pool metadata incompatible features %#x: %w", f, errors.ErrUnsupported)
	}
	if s := le.Uint32(b[340:]); s != thinBlockSize/sectorSize {
		return bad("metadata block size %d sectors, want %d", s, thinBlockSize/sectorSize)
	}
	dbs := le.Uint32(b[336:])
	if dbs < thinMinDataBlock || dbs > thinMaxDataBlock || dbs%thinMinDataBlock != 0 {
		return bad("data block size %d sectors out of range", dbs)
	}
	p := &ThinPool{
		r:             meta,
		nblocks:       uint64(size / thinBlockSize),
		dataBlockSize: int64(dbs) * sectorSize,
		flags:         le.Uint32(b[4:]),
		transaction:   le.Uint64(b[48:]),
		dataBlocks:    le.Uint64(b[64:]), // the data space map's block count
		mappingRoot:   le.Uint64(b[320:]),
		detailsRoot:   le.Uint64(b[328:]),
		cache:         make(map[uint64]*list.Element),
		cacheMax:      thinCacheBlocks,
	}
	// The metadata space map records how many blocks the pool's metadata
	// device has; a volume larger than that holds nothing the trees may
	// point at.
	if n := le.Uint64(b[192:]); n != 0 && n < p.nblocks {
		p.nblocks = n
	}
	if p.dataBlocks > math.MaxInt64/uint64(p.dataBlockSize) {
		return bad("%d data blocks of %d bytes overflow", p.dataBlocks, p.dataBlockSize)
	}
	for _, root := range []struct {
		what  string
		block uint64
	}{{"data mapping", p.mappingRoot}, {"device details", p.detailsRoot}} {
		if root.block == 0 || root.block >= p.nblocks {
			return bad("%s root %d outside the %d metadata blocks", root.what, root.block, p.nblocks)
		}
		if _, err := p.node(root.block); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// DataBlockSize returns the size of the pool's data blocks in bytes.
func (p *ThinPool) DataBlockSize() int64 { return p.dataBlockSize }

// DataBlocks returns the number of data blocks the pool's data device holds,
// as its space map records it. Every mapping points below it.
func (p *ThinPool) DataBlocks() uint64 { return p.dataBlocks }

// TransactionID returns the pool's transaction id, which lvm2 records in
// the thin-pool segment's transaction_id.
func (p *ThinPool) TransactionID() uint64 { return p.transaction }

// NeedsCheck reports whether the kernel flagged the metadata for a repair
// check (thin_check) before the pool is used again.
func (p *ThinPool) NeedsCheck() bool { return p.flags&thinNeedsCheck != 0 }

// Devices returns the ids of the pool's thin devices in increasing order,
// walking the whole device details tree.
func (p *ThinPool) Devices() ([]uint64, error) {
	var ids []uint64
	seen := make(map[uint64]bool)
	var walk func(block, lo, hi uint64, hasHi bool, depth int) error
	walk = func(block, lo, hi uint64, hasHi bool, depth int) error {
		if seen[block] {
			return p.bad(block, "reached twice in the device details tree")
		}
		seen[block] = true
		n, err := p.child(block, lo, hi, hasHi, depth, thinDetailsSize)
		if err != nil {
			return err
		}
		if n.leaf {
			for i := range n.n {
				ids = append(ids, n.key(i))
			}
			return nil
		}
		for i := range n.n {
			chi, chasHi := hi, hasHi
			if i+1 < n.n {
				chi, chasHi = n.key(i+1), true
			}
			if err := walk(n.value64(i), n.key(i), chi, chasHi, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(p.detailsRoot, 0, 0, false, 0); err != nil {
		return nil, err
	}
	return ids, nil
}

// ThinDevice is one thin volume of a pool. The counts and times come from
// the pool's device details tree.
type ThinDevice struct {
	ID            uint64
	MappedBlocks  uint64 // data blocks mapped, as the pool counts them
	TransactionID uint64 // the pool's transaction when the device last changed
	CreationTime  uint32 // the pool's time (a snapshot counter) at creation
	SnapshotTime  uint32 // the pool's time when last snapshotted

	pool *ThinPool
	root uint64 // root of the device's mapping tree, 0 when it has none
}

// Device returns the thin device with the given id; the error wraps
// ErrNoThinDevice when the pool has none.
func (p *ThinPool) Device(id uint64) (*ThinDevice, error) {
	v, ok, err := p.lookup(p.detailsRoot, id, thinDetailsSize)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrNoThinDevice, id)
	}
	d := &ThinDevice{
		ID:            id,
		MappedBlocks:  le.Uint64(v),
		TransactionID: le.Uint64(v[8:]),
		CreationTime:  le.Uint32(v[16:]),
		SnapshotTime:  le.Uint32(v[20:]),
		pool:          p,
	}
	v, ok, err = p.lookup(p.mappingRoot, id, 8)
	if err != nil {
		return nil, err
	}
	if ok {
		// A device with details but no mapping tree has nothing mapped.
		d.root = le.Uint64(v)
		if _, err := p.child(d.root, 0, 0, false, 0, 8); err != nil {
			return nil, fmt.Errorf("thin device %d: %w", id, err)
		}
	}
	return d, nil
}

// Lookup returns the data block that virtual block vblock of the device
// maps to, or mapped false when the block is unmapped (it reads as zeros).
func (d *ThinDevice) Lookup(vblock uint64) (dblock uint64, mapped bool, err error) {
	r, err := d.LookupRun(vblock, 1)
	return r.DBlock, r.Mapped, err
}

// ThinRun is a run of consecutive virtual blocks of a thin device that are
// either all unmapped or mapped to consecutive data blocks.
type ThinRun struct {
	VBlock uint64 // the first virtual block
	Len    uint64 // blocks in the run, at least 1
	Mapped bool
	DBlock uint64 // the data block of VBlock when Mapped
}

// LookupRun returns the run of at most limit blocks (at least 1) that
// starts at virtual block vblock, so that a large read needs one lookup per
// run rather than per block. A mapped run ends where the next virtual block
// is unmapped or not mapped to the next data block; an unmapped run ends at
// the next mapped block. Runs may end early at a btree leaf's boundary.
func (d *ThinDevice) LookupRun(vblock, limit uint64) (ThinRun, error) {
	limit = max(min(limit, math.MaxUint64-vblock), 1)
	run := ThinRun{VBlock: vblock, Len: limit}
	if d.root == 0 {
		return run, nil
	}
	p := d.pool
	var path [thinMaxDepth]uint64
	var lo, hi uint64
	hasHi := false
	block := d.root
	for depth := 0; ; depth++ {
		if err := checkPath(p, path[:], depth, block); err != nil {
			return run, err
		}
		n, err := p.child(block, lo, hi, hasHi, depth, 8)
		if err != nil {
			return run, fmt.Errorf("thin device %d: %w", d.ID, err)
		}
		i := n.search(vblock)
		if !n.leaf && i >= 0 {
			lo = n.key(i)
			if i+1 < n.n {
				hi, hasHi = n.key(i+1), true
			}
			path[depth] = block
			block = n.value64(i)
			continue
		}
		if n.leaf && i >= 0 && n.key(i) == vblock {
			run.Mapped = true
			run.DBlock, err = d.dataBlock(n, i)
			if err != nil {
				return run, err
			}
			run.Len = 1
			for j := i + 1; j < n.n && run.Len < limit; j++ {
				if n.key(j) != vblock+run.Len {
					break
				}
				db, err := d.dataBlock(n, j)
				if err != nil {
					return run, err
				}
				if db != run.DBlock+run.Len {
					break
				}
				run.Len++
			}
			return run, nil
		}
		// Unmapped: the gap reaches the next key here, or the end of this
		// node's key range.
		if i+1 < n.n {
			hi, hasHi = n.key(i+1), true
		}
		if hasHi && hi-vblock < run.Len {
			run.Len = hi - vblock
		}
		return run, nil
	}
}

// dataBlock decodes the data block of entry i of a leaf of the device's
// mapping tree and checks it against the pool's size.
func (d *ThinDevice) dataBlock(n *thinNode, i int) (uint64, error) {
	db := n.value64(i) >> thinTimeBits
	if db >= d.pool.dataBlocks {
		return 0, d.pool.bad(n.block, fmt.Sprintf("thin device %d maps virtual block %d to data block %d, beyond the pool's %d data blocks", d.ID, n.key(i), db, d.pool.dataBlocks))
	}
	return db, nil
}

// checkPath refuses a descent that has gone too deep or come back to a
// node already on its path.
func checkPath(p *ThinPool, path []uint64, depth int, block uint64) error {
	if depth >= len(path) {
		return p.bad(block, fmt.Sprintf("btree deeper than %d levels", len(path)))
	}
	for _, b := range path[:depth] {
		if b == block {
			return p.bad(block, "btree loop: node reached twice on one path")
		}
	}
	return nil
}

// lookup finds key in the single-level btree at root whose leaves hold
// values of vsize bytes.
func (p *ThinPool) lookup(root, key uint64, vsize int) ([]byte, bool, error) {
	var path [thinMaxDepth]uint64
	var lo, hi uint64
	hasHi := false
	block := root
	for depth := 0; ; depth++ {
		if err := checkPath(p, path[:], depth, block); err != nil {
			return nil, false, err
		}
		n, err := p.child(block, lo, hi, hasHi, depth, vsize)
		if err != nil {
			return nil, false, err
		}
		i := n.search(key)
		if i < 0 {
			return nil, false, nil
		}
		if n.leaf {
			if n.key(i) != key {
				return nil, false, nil
			}
			return n.value(i), true, nil
		}
		lo = n.key(i)
		if i+1 < n.n {
			hi, hasHi = n.key(i+1), true
		}
		path[depth] = block
		block = n.value64(i)
	}
}

// child reads node block, reached at the given depth through a parent that
// gave it the key range [lo, hi) (no upper bound unless hasHi), and checks
// it fits there: keys inside the range, internal nodes not empty and
// holding block numbers, leaves holding values of vsize bytes.
func (p *ThinPool) child(block, lo, hi uint64, hasHi bool, depth, vsize int) (*thinNode, error) {
	if depth >= thinMaxDepth {
		return nil, p.bad(block, fmt.Sprintf("btree deeper than %d levels", thinMaxDepth))
	}
	n, err := p.node(block)
	if err != nil {
		return nil, err
	}
	switch {
	case n.leaf && n.vsize != vsize:
		return nil, p.bad(block, fmt.Sprintf("leaf value size %d, want %d", n.vsize, vsize))
	case !n.leaf && n.vsize != 8:
		return nil, p.bad(block, fmt.Sprintf("internal node value size %d, want 8", n.vsize))
	case !n.leaf && n.n == 0:
		return nil, p.bad(block, "internal node has no entries")
	}
	if n.n > 0 {
		if first := n.key(0); first < lo {
			return nil, p.bad(block, fmt.Sprintf("first key %d below its parent's key %d", first, lo))
		}
		if last := n.key(n.n - 1); hasHi && last >= hi {
			return nil, p.bad(block, fmt.Sprintf("last key %d not below its parent's next key %d", last, hi))
		}
	}
	return n, nil
}

// bad returns a FormatError for metadata block block.
func (p *ThinPool) bad(block uint64, msg string) error {
	off := int64(math.MaxInt64)
	if block <= math.MaxInt64/thinBlockSize {
		off = int64(block) * thinBlockSize
	}
	return &FormatError{Off: off, Msg: fmt.Sprintf("thin-pool metadata block %d: %s", block, msg)}
}

// thinNode is a verified btree node: n sorted keys and their values.
type thinNode struct {
	block uint64
	leaf  bool
	n     int
	vsize int
	keys  []byte // n little-endian 64-bit keys
	vals  []byte // n values of vsize bytes
}

func (n *thinNode) key(i int) uint64     { return le.Uint64(n.keys[8*i:]) }
func (n *thinNode) value(i int) []byte   { return n.vals[n.vsize*i : n.vsize*(i+1)] }
func (n *thinNode) value64(i int) uint64 { return le.Uint64(n.vals[8*i:]) }

// search returns the index of the last key not above k, or -1.
func (n *thinNode) search(k uint64) int {
	lo, hi := 0, n.n // keys[:lo] <= k < keys[hi:]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.key(m) <= k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// node returns btree node block from the cache, or reads and verifies it.
func (p *ThinPool) node(block uint64) (*thinNode, error) {
	if block == 0 || block >= p.nblocks {
		return nil, p.bad(block, fmt.Sprintf("btree node outside the %d metadata blocks", p.nblocks))
	}
	p.mu.Lock()
	if e, ok := p.cache[block]; ok {
		p.lru.MoveToFront(e)
		p.mu.Unlock()
		return e.Value.(*thinNode), nil
	}
	p.mu.Unlock()

	b := make([]byte, thinBlockSize)
	if err := readAt(p.r, int64(p.nblocks)*thinBlockSize, b, int64(block)*thinBlockSize); err != nil {
		return nil, err
	}
	n, err := p.parseNode(block, b)
	if err != nil {
		return nil, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.cache[block]; ok { // read meanwhile by another lookup
		return e.Value.(*thinNode), nil
	}
	p.cache[block] = p.lru.PushFront(n)
	if p.lru.Len() > p.cacheMax {
		old := p.lru.Back()
		p.lru.Remove(old)
		delete(p.cache, old.Value.(*thinNode).block)
	}
	return n, nil
}

// parseNode verifies the header, checksum and key order of node block,
// whose bytes are b.
func (p *ThinPool) parseNode(block uint64, b []byte) (*thinNode, error) {
	if want, got := le.Uint32(b), thinChecksum(b[4:], thinNodeXor); want != got {
		return nil, p.bad(block, fmt.Sprintf("btree node checksum %#08x, computed %#08x", want, got))
	}
	if n := le.Uint64(b[8:]); n != block {
		return nil, p.bad(block, fmt.Sprintf("btree node records block number %d", n))
	}
	flags := le.Uint32(b[4:])
	nr, maxEntries, vsize := uint64(le.Uint32(b[16:])), uint64(le.Uint32(b[20:])), uint64(le.Uint32(b[24:]))
	switch {
	case flags != nodeInternal && flags != nodeLeaf:
		return nil, p.bad(block, fmt.Sprintf("btree node flags %#x", flags))
	case vsize == 0 || vsize > thinBlockSize || flags == nodeInternal && vsize != 8:
		return nil, p.bad(block, fmt.Sprintf("btree node value size %d", vsize))
	case nodeHeaderSize+maxEntries*(8+vsize) > thinBlockSize:
		return nil, p.bad(block, fmt.Sprintf("btree node of %d entries of %d-byte values does not fit a block", maxEntries, vsize))
	case nr > maxEntries:
		return nil, p.bad(block, fmt.Sprintf("btree node has %d entries, at most %d", nr, maxEntries))
	}
	valsOff := nodeHeaderSize + 8*maxEntries
	n := &thinNode{
		block: block,
		leaf:  flags == nodeLeaf,
		n:     int(nr),
		vsize: int(vsize),
		keys:  b[nodeHeaderSize : nodeHeaderSize+8*nr],
		vals:  b[valsOff : valsOff+nr*vsize],
	}
	for i := 1; i < n.n; i++ {
		if n.key(i-1) >= n.key(i) {
			return nil, p.bad(block, fmt.Sprintf("btree node keys out of order at entry %d", i))
		}
	}
	if !n.leaf {
		for i := range n.n {
			if c := n.value64(i); c == 0 || c >= p.nblocks {
				return nil, p.bad(block, fmt.Sprintf("child %d at block %d outside the %d metadata blocks", i, c, p.nblocks))
			}
		}
	}
	return n, nil
}
