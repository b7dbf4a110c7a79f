package fsread

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// run maps n logical blocks starting at lblk to physical blocks starting
// at pblk, or to nothing (a hole, read as zeros) when hole is set.
type run struct {
	lblk, pblk, n uint64
	hole          bool
}

// window is a part of a file's block map: runs sorted by lblk that cover
// [lo, hi) without gaps. Windows are immutable once built.
type window struct {
	lo, hi uint64
	runs   []run
}

// find returns the run containing lblk, which must lie in [w.lo, w.hi).
func (w *window) find(lblk uint64) run {
	i := sort.Search(len(w.runs), func(i int) bool { return w.runs[i].lblk+w.runs[i].n > lblk })
	return w.runs[i]
}

const (
	extentMagic    = 0xF30A
	maxExtentDepth = 5
	maxLogical     = 1 << 32 // extent trees address 32-bit logical blocks
)

// mapWindow returns the part of in's block map that covers logical block
// lblk.
func (f *FS) mapWindow(in *inode, lblk uint64) (*window, error) {
	if in.flags&flagExtents != 0 {
		if lblk >= maxLogical {
			return f.tailHole(maxLogical), nil
		}
		return f.extentWindow(in, lblk)
	}
	return f.indirectWindow(in, lblk)
}

type extHeader struct {
	entries, max, depth uint16
}

func parseExtHeader(b []byte) (extHeader, bool) {
	le := binary.LittleEndian
	if len(b) < 12 || le.Uint16(b) != extentMagic {
		return extHeader{}, false
	}
	h := extHeader{entries: le.Uint16(b[2:]), max: le.Uint16(b[4:]), depth: le.Uint16(b[6:])}
	if h.entries > h.max || 12+12*int(h.max) > len(b) {
		return extHeader{}, false
	}
	return h, true
}

// extentWindow walks the extent tree of in down to the leaf covering lblk
// and turns that leaf into a window.
func (f *FS) extentWindow(in *inode, lblk uint64) (*window, error) {
	le := binary.LittleEndian
	node := in.block[:]
	lo, hi := uint64(0), uint64(maxLogical)
	where := fmt.Sprintf("inode %d: extent tree root", in.ino)
	nodeOff := int64(-1)
	h, ok := parseExtHeader(node)
	if !ok {
		return nil, formatErr(-1, "%s: bad extent header", where)
	}
	if h.depth > maxExtentDepth {
		return nil, formatErr(-1, "%s: depth %d exceeds %d", where, h.depth, maxExtentDepth)
	}
	depth := h.depth
	for {
		if h.depth != depth {
			return nil, formatErr(nodeOff, "%s: depth %d, expected %d", where, h.depth, depth)
		}
		ents := node[12 : 12+12*int(h.entries)]
		if depth == 0 {
			return f.leafWindow(in, ents, lo, hi, where, nodeOff)
		}
		// Find the last index entry whose first block is <= lblk.
		idx := -1
		prev := uint64(0)
		for i := 0; i < int(h.entries); i++ {
			e := ents[12*i:]
			first := uint64(le.Uint32(e))
			if i > 0 && first <= prev {
				return nil, formatErr(nodeOff, "%s: index entries out of order", where)
			}
			prev = first
			if first <= lblk {
				idx = i
			} else {
				break
			}
		}
		if idx < 0 {
			// lblk precedes every entry: a hole up to the first one.
			end := hi
			if h.entries > 0 {
				end = min(hi, uint64(le.Uint32(ents)))
			}
			return &window{lo: lo, hi: end, runs: []run{{lblk: lo, n: end - lo, hole: true}}}, nil
		}
		e := ents[12*idx:]
		childLo := max(lo, uint64(le.Uint32(e)))
		childHi := hi
		if idx+1 < int(h.entries) {
			childHi = min(hi, uint64(le.Uint32(ents[12*(idx+1):])))
		}
		if childLo >= childHi {
			return nil, formatErr(nodeOff, "%s: index entry %d covers no blocks", where, idx)
		}
		child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
		if child < uint64(f.sb.firstDataBlock) || child >= f.sb.blocksCount {
			return nil, formatErr(nodeOff, "%s: child block %d outside the filesystem", where, child)
		}
		lo, hi = childLo, childHi
		buf := make([]byte, f.bs)
		nodeOff = int64(child * f.bs)
		where = fmt.Sprintf("inode %d: extent block %d", in.ino, child)
		if err := f.readFull(buf, nodeOff, "%s", where); err != nil {
			return nil, err
		}
		node = buf
		h, ok = parseExtHeader(node)
		if !ok {
			return nil, formatErr(nodeOff, "%s: bad extent header", where)
		}
		if err := f.verifyExtentBlock(in, child, node, h); err != nil {
			return nil, err
		}
		depth--
	}
}

// leafWindow converts the extents of one leaf, which covers [lo, hi), into
// a window with explicit holes.
func (f *FS) leafWindow(in *inode, ents []byte, lo, hi uint64, where string, off int64) (*window, error) {
	le := binary.LittleEndian
	w := &window{lo: lo, hi: hi}
	next := lo
	for i := 0; i+12 <= len(ents); i += 12 {
		e := ents[i:]
		first := uint64(le.Uint32(e))
		n := uint64(le.Uint16(e[4:]))
		uninit := false
		if n > 32768 {
			n -= 32768
			uninit = true
		}
		pblk := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
		if n == 0 {
			continue
		}
		if !uninit && (pblk < uint64(f.sb.firstDataBlock) || pblk >= f.sb.blocksCount || n > f.sb.blocksCount-pblk) {
			return nil, formatErr(off, "%s: extent %d+%d at logical block %d lies outside the filesystem", where, pblk, n, first)
		}
		if first < next {
			if len(w.runs) > 0 || first+n <= lo {
				return nil, formatErr(off, "%s: extent at logical block %d overlaps the previous one or lies before its index", where, first)
			}
			// The first extent starts before its index entry: keep
			// only the part the index covers.
			pblk += lo - first
			n -= lo - first
			first = lo
		}
		if first >= hi {
			break // beyond what the index says this leaf covers
		}
		end := min(first+n, hi)
		if first > next {
			w.runs = append(w.runs, run{lblk: next, n: first - next, hole: true})
		}
		w.runs = append(w.runs, run{lblk: first, pblk: pblk, n: end - first, hole: uninit})
		next = end
	}
	if next < hi {
		w.runs = append(w.runs, run{lblk: next, n: hi - next, hole: true})
	}
	return w, nil
}

// indirectWindow maps lblk through the classic block map: 12 direct
// pointers, then single, double and triple indirect blocks. The window is
// the range covered by one pointer block (or the direct pointers).
func (f *FS) indirectWindow(in *inode, lblk uint64) (*window, error) {
	le := binary.LittleEndian
	ppb := f.bs / 4 // pointers per block
	var ptrs [15]uint64
	for i := range ptrs {
		ptrs[i] = uint64(le.Uint32(in.block[4*i:]))
	}
	if lblk < 12 {
		return f.ptrWindow(in, ptrs[:12], 0, "direct block pointers", -1)
	}
	base := uint64(12)
	span := ppb // blocks covered by one pointer at this level
	for level := 1; level <= 3; level++ {
		if lblk < base+span {
			return f.walkIndirect(in, ptrs[11+level], level, base, lblk)
		}
		base += span
		span *= ppb
	}
	return f.tailHole(base), nil
}

// tailHole is a window of one hole from lo to the largest block a file
// offset can address.
func (f *FS) tailHole(lo uint64) *window {
	hi := uint64(math.MaxInt64)/f.bs + 1
	return &window{lo: lo, hi: hi, runs: []run{{lblk: lo, n: hi - lo, hole: true}}}
}

// walkIndirect descends from pointer blk at the given level (1 = single
// indirect), whose subtree maps logical blocks starting at base.
func (f *FS) walkIndirect(in *inode, blk uint64, level int, base, lblk uint64) (*window, error) {
	le := binary.LittleEndian
	ppb := f.bs / 4
	span := uint64(1)
	for i := 0; i < level; i++ {
		span *= ppb
	}
	for {
		if blk == 0 {
			return &window{lo: base, hi: base + span, runs: []run{{lblk: base, n: span, hole: true}}}, nil
		}
		if blk < uint64(f.sb.firstDataBlock) || blk >= f.sb.blocksCount {
			return nil, formatErr(-1, "inode %d: indirect block %d outside the filesystem", in.ino, blk)
		}
		buf := make([]byte, f.bs)
		where := fmt.Sprintf("inode %d: indirect block %d", in.ino, blk)
		if err := f.readFull(buf, int64(blk*f.bs), "%s", where); err != nil {
			return nil, err
		}
		span /= ppb
		if level == 1 {
			ptrs := make([]uint64, ppb)
			for i := range ptrs {
				ptrs[i] = uint64(le.Uint32(buf[4*i:]))
			}
			return f.ptrWindow(in, ptrs, base, where, int64(blk*f.bs))
		}
		i := (lblk - base) / span
		blk = uint64(le.Uint32(buf[4*i:]))
		base += i * span
		level--
	}
}

// ptrWindow turns a list of block pointers mapping base, base+1, ... into
// runs, merging physically contiguous pointers.
func (f *FS) ptrWindow(in *inode, ptrs []uint64, base uint64, where string, off int64) (*window, error) {
	w := &window{lo: base, hi: base + uint64(len(ptrs))}
	for i, p := range ptrs {
		l := base + uint64(i)
		if p != 0 && (p < uint64(f.sb.firstDataBlock) || p >= f.sb.blocksCount) {
			return nil, formatErr(off, "inode %d: %s: block pointer %d outside the filesystem", in.ino, where, p)
		}
		if k := len(w.runs); k > 0 {
			last := &w.runs[k-1]
			if p == 0 && last.hole {
				last.n++
				continue
			}
			if p != 0 && !last.hole && last.pblk+last.n == p {
				last.n++
				continue
			}
		}
		w.runs = append(w.runs, run{lblk: l, pblk: p, n: 1, hole: p == 0})
	}
	return w, nil
}
