package fsread

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// Inode fields the fast-commit replay writes.
const (
	iLinks       = 0x1A // i_links_count
	iBlocksLo    = 0x1C // i_blocks_lo
	iFlags       = 0x20 // i_flags
	iBlock       = 0x28 // i_block
	iGeneration  = 0x64 // i_generation, the end of i_block
	iBlocksHi    = 0x74 // l_i_blocks_high
	iChecksumLo  = 0x7C
	iChecksumHi  = 0x82
	goodOldInode = 128
	rootExtents  = 4       // extents an inode's i_block holds
	maxInitLen   = 32768   // longest initialized extent
	maxUnwritLen = 32767   // longest unwritten extent
	linkMax      = 65000   // EXT4_LINK_MAX
	dirTailSize  = 12      // checksum tail of a directory leaf block
	dirTailType  = 0xDE    // its file type byte
	fcMaxDirBlks = 1 << 16 // directory blocks searched for one dentry tag
	fcMaxBlocks  = 1 << 14 // distinct blocks read by the whole apply phase
	fcMaxVisits  = 1 << 18 // directory blocks searched by all tags together
)

// fcRefused is why the fast commits cannot be applied exactly.
type fcRefused struct {
	tag int    // index of the tag in the scan
	msg string // why
}

// fcApplier applies the tags of the valid fast commits, as the kernel's
// fast-commit replay phase does, to copies of the blocks they change;
// nothing reaches the overlay unless every tag applies.
type fcApplier struct {
	f     *FS // the filesystem after jbd2 replay
	dirty map[uint64][]byte
	cur   int // index of the tag being applied
	work  int // directory blocks searched so far
}

func (a *fcApplier) refuse(format string, args ...any) error {
	return &fcRefused{tag: a.cur, msg: fmt.Sprintf(format, args...)}
}

func (e *fcRefused) Error() string { return e.msg }

// block returns the block's contents as the tags applied so far left
// them; the slice may be changed in place.
func (a *fcApplier) block(blk uint64) ([]byte, error) {
	if b, ok := a.dirty[blk]; ok {
		return b, nil
	}
	if blk >= a.f.sb.blocksCount {
		return nil, a.refuse("block %d lies beyond the filesystem", blk)
	}
	if len(a.dirty) >= fcMaxBlocks {
		return nil, a.refuse("more than %d blocks read", fcMaxBlocks)
	}
	b := make([]byte, a.f.bs)
	if err := a.f.readFull(b, int64(blk*a.f.bs), "block %d", blk); err != nil {
		return nil, err
	}
	a.dirty[blk] = b
	return b, nil
}

// rawInode returns the on-disk bytes of inode ino, to be changed in
// place.
func (a *fcApplier) rawInode(ino uint64) ([]byte, error) {
	f := a.f
	if ino == 0 || ino > uint64(f.sb.inodesCount) {
		return nil, a.refuse("inode %d out of range", ino)
	}
	if ino != rootIno && ino < uint64(max(f.sb.firstIno, 11)) {
		return nil, a.refuse("inode %d is reserved", ino)
	}
	ipg := uint64(f.sb.inodesPerGroup)
	gd, err := f.groupDesc((ino - 1) / ipg)
	if err != nil {
		return nil, err
	}
	if f.sb.roCompat&(roCompatGdtCsum|roCompatMetadataCsum) != 0 && gd.flags&bgInodeUninit != 0 {
		// The kernel would initialize the group's inode bitmap and
		// descriptor, which are not replayed here.
		return nil, a.refuse("inode %d lies in a block group whose inode table is uninitialized", ino)
	}
	off := gd.inodeTable*f.bs + (ino-1)%ipg*f.inodeSize
	b, err := a.block(off / f.bs)
	if err != nil {
		return nil, err
	}
	o := off % f.bs
	if o+f.inodeSize > uint64(len(b)) {
		return nil, a.refuse("inode %d straddles a block", ino)
	}
	return b[o : o+f.inodeSize : o+f.inodeSize], nil
}

// live reports whether the kernel's ext4_iget would find inode b in
// use: an inode without links is taken as deleted.
func live(b []byte) bool { return binary.LittleEndian.Uint16(b[iLinks:]) != 0 }

// setInodeCsum recomputes the checksum of raw inode b.
func (a *fcApplier) setInodeCsum(ino uint64, b []byte) {
	f := a.f
	if !f.hasMetadataCsum() {
		return
	}
	le := binary.LittleEndian
	hasHi := len(b) > goodOldInode && goodOldInode+int(le.Uint16(b[0x80:])) >= 0x84
	le.PutUint16(b[iChecksumLo:], 0)
	if hasHi {
		le.PutUint16(b[iChecksumHi:], 0)
	}
	c := crc32c(f.inodeSeed(ino, le.Uint32(b[iGeneration:])), b)
	le.PutUint16(b[iChecksumLo:], uint16(c))
	if hasHi {
		le.PutUint16(b[iChecksumHi:], uint16(c>>16))
	}
}

// fcExtent is one extent of an inode's tree, decoded.
type fcExtent struct {
	lblk, n   uint32
	pblk      uint64
	unwritten bool
}

func (e fcExtent) end() uint64 { return uint64(e.lblk) + uint64(e.n) }

// decodeExtent decodes a 12-byte struct ext4_extent.
func decodeExtent(b []byte) fcExtent {
	le := binary.LittleEndian
	e := fcExtent{lblk: le.Uint32(b), n: uint32(le.Uint16(b[4:]))}
	if e.n > maxInitLen {
		e.n -= maxInitLen
		e.unwritten = true
	}
	e.pblk = uint64(le.Uint16(b[6:]))<<32 | uint64(le.Uint32(b[8:]))
	return e
}

// rootExtentsOf decodes the extents of an inode whose tree is held in
// its i_block (depth 0); deeper trees are refused.
func (a *fcApplier) rootExtentsOf(ino uint64, b []byte) ([]fcExtent, error) {
	le := binary.LittleEndian
	if le.Uint32(b[iFlags:])&flagExtents == 0 {
		return nil, a.refuse("inode %d is not extent-mapped", ino)
	}
	h, ok := parseExtHeader(b[iBlock:iGeneration])
	if !ok || h.max > rootExtents {
		return nil, a.refuse("inode %d: bad extent tree root", ino)
	}
	if h.depth != 0 {
		return nil, a.refuse("inode %d: extent tree of depth %d (only trees held in the inode are changed)", ino, h.depth)
	}
	exts := make([]fcExtent, 0, h.entries)
	for i := 0; i < int(h.entries); i++ {
		e := decodeExtent(b[iBlock+12+12*i:])
		if len(exts) > 0 && uint64(e.lblk) < exts[len(exts)-1].end() || e.end() > maxLogical {
			return nil, a.refuse("inode %d: extents overlap or are out of order", ino)
		}
		exts = append(exts, e)
	}
	return exts, nil
}

// storeRoot writes exts into the inode's i_block, which must hold them.
func (a *fcApplier) storeRoot(ino uint64, b []byte, exts []fcExtent, why string) error {
	if len(exts) > rootExtents {
		return a.refuse("inode %d: %s would need %d extents, more than the inode holds (the kernel would allocate an extent tree block)", ino, why, len(exts))
	}
	le := binary.LittleEndian
	root := b[iBlock:iGeneration]
	le.PutUint16(root[2:], uint16(len(exts)))
	for i := 12; i < len(root); i++ {
		root[i] = 0
	}
	for i, e := range exts {
		x := root[12+12*i:]
		n := e.n
		if e.unwritten {
			n += maxInitLen
		}
		le.PutUint32(x, e.lblk)
		le.PutUint16(x[4:], uint16(n))
		le.PutUint16(x[6:], uint16(e.pblk>>32))
		le.PutUint32(x[8:], uint32(e.pblk))
	}
	return nil
}

// cutRange removes logical blocks [lo, hi) from exts, splitting the
// extents that straddle its ends.
func cutRange(exts []fcExtent, lo, hi uint64) []fcExtent {
	var out []fcExtent
	for _, e := range exts {
		if e.end() <= lo || uint64(e.lblk) >= hi {
			out = append(out, e)
			continue
		}
		if uint64(e.lblk) < lo {
			out = append(out, fcExtent{e.lblk, uint32(lo - uint64(e.lblk)), e.pblk, e.unwritten})
		}
		if e.end() > hi {
			d := hi - uint64(e.lblk)
			out = append(out, fcExtent{uint32(hi), uint32(e.end() - hi), e.pblk + d, e.unwritten})
		}
	}
	return out
}

// mergeable reports whether the kernel would join x and its successor y
// (ext4_can_extents_be_merged).
func mergeable(x, y fcExtent) bool {
	limit := uint32(maxInitLen)
	if x.unwritten {
		limit = maxUnwritLen
	}
	return x.unwritten == y.unwritten && x.end() == uint64(y.lblk) &&
		x.pblk+uint64(x.n) == y.pblk && x.n+y.n <= limit
}

// applyAddRange applies an ADD_RANGE tag: the range is mapped to the
// logged blocks, in the logged state, as the kernel's replay leaves it
// (the parts already mapped differently are remapped, the unmapped parts
// inserted); the new extent joins its neighbours where they are
// contiguous, as ext4_ext_insert_extent does.
func (a *fcApplier) applyAddRange(val []byte) error {
	le := binary.LittleEndian
	ino := uint64(le.Uint32(val))
	b, err := a.rawInode(ino)
	if err != nil || !live(b) {
		return err // the kernel skips an inode it cannot get
	}
	ex := decodeExtent(val[4:])
	if ex.n == 0 {
		return nil
	}
	if ex.end() > maxLogical {
		return a.refuse("inode %d: range %d+%d beyond the largest logical block", ino, ex.lblk, ex.n)
	}
	exts, err := a.rootExtentsOf(ino, b)
	if err != nil {
		return err
	}
	exts = cutRange(exts, uint64(ex.lblk), ex.end())
	i := sort.Search(len(exts), func(i int) bool { return exts[i].lblk > ex.lblk })
	exts = append(exts[:i], append([]fcExtent{ex}, exts[i:]...)...)
	if i+1 < len(exts) && mergeable(exts[i], exts[i+1]) {
		exts[i].n += exts[i+1].n
		exts = append(exts[:i+1], exts[i+2:]...)
	}
	if i > 0 && mergeable(exts[i-1], exts[i]) {
		exts[i-1].n += exts[i].n
		exts = append(exts[:i], exts[i+1:]...)
	}
	if err := a.storeRoot(ino, b, exts, "ADD_RANGE"); err != nil {
		return err
	}
	a.setInodeCsum(ino, b)
	return nil
}

// applyDelRange applies a DEL_RANGE tag: the logical range is unmapped,
// as ext4_ext_remove_space does.
func (a *fcApplier) applyDelRange(val []byte) error {
	le := binary.LittleEndian
	ino := uint64(le.Uint32(val))
	b, err := a.rawInode(ino)
	if err != nil || !live(b) {
		return err
	}
	lo, n := uint64(le.Uint32(val[4:])), uint64(le.Uint32(val[8:]))
	if n == 0 || lo+n > maxLogical {
		return a.refuse("inode %d: range %d+%d is empty or beyond the largest logical block", ino, lo, n)
	}
	exts, err := a.rootExtentsOf(ino, b)
	if err != nil {
		return err
	}
	if err := a.storeRoot(ino, b, cutRange(exts, lo, lo+n), "DEL_RANGE"); err != nil {
		return err
	}
	a.setInodeCsum(ino, b)
	return nil
}

// applyInode applies an INODE tag as ext4_fc_replay_inode does: the
// logged inode replaces the on-disk one except i_block, which is kept
// for an extent-mapped inode (given an empty tree if it has none) and
// taken from the log for an inline one; i_blocks is recomputed from the
// extents, and the checksum.
func (a *fcApplier) applyInode(val []byte) error {
	le := binary.LittleEndian
	ino := uint64(le.Uint32(val))
	logged := val[4:]
	if len(logged) < goodOldInode || uint64(len(logged)) > a.f.inodeSize {
		return a.refuse("inode %d: logged inode of %d bytes (the inode size is %d)", ino, len(logged), a.f.inodeSize)
	}
	flags := le.Uint32(logged[iFlags:])
	if flags&(flagExtents|flagInlineData) == 0 {
		return a.refuse("inode %d is neither extent-mapped nor inline (the kernel keeps its on-disk i_block)", ino)
	}
	if !live(logged) {
		return a.refuse("inode %d is logged without links", ino)
	}
	b, err := a.rawInode(ino)
	if err != nil {
		return err
	}
	copy(b[:iBlock], logged[:iBlock])
	copy(b[iGeneration:], logged[iGeneration:])
	if flags&flagInlineData != 0 {
		copy(b[iBlock:iGeneration], logged[iBlock:iGeneration])
	} else {
		if le.Uint16(b[iBlock:]) != extentMagic {
			root := b[iBlock : iBlock+12]
			clear(root)
			le.PutUint16(root, extentMagic)
			le.PutUint16(root[4:], rootExtents)
		}
		visits := 0
		data, tree, any, err := a.treeBlocks(ino, b, b[iBlock:iGeneration], -1, &visits)
		if err != nil {
			return err
		}
		blocks := data + tree
		if !any {
			blocks = 0
		}
		if a.f.sb.roCompat&roCompatBigalloc != 0 {
			return a.refuse("inode %d: i_blocks of a bigalloc filesystem", ino)
		}
		blocks *= a.f.bs / 512
		if blocks > 0xFFFFFFFF {
			return a.refuse("inode %d: %d sectors do not fit i_blocks_lo", ino, blocks)
		}
		le.PutUint32(b[iBlocksLo:], uint32(blocks))
		le.PutUint16(b[iBlocksHi:], 0)
		le.PutUint32(b[iFlags:], flags&^flagHugeFile)
	}
	a.setInodeCsum(ino, b)
	return nil
}

// maxTreeVisits bounds the extent tree blocks read to recompute one
// inode's i_blocks.
const maxTreeVisits = 1 << 16

// treeBlocks counts what ext4_ext_replay_set_iblocks counts in the
// extent tree node of inode ino (raw inode b) at the given depth (-1: the
// root's own): the blocks its extents map, and the tree blocks below it
// on the paths to extents; any reports whether it holds an extent.
func (a *fcApplier) treeBlocks(ino uint64, b, node []byte, depth int, visits *int) (data, tree uint64, any bool, err error) {
	le := binary.LittleEndian
	h, ok := parseExtHeader(node)
	if !ok || depth >= 0 && int(h.depth) != depth || h.depth > maxExtentDepth {
		return 0, 0, false, a.refuse("inode %d: bad extent tree node", ino)
	}
	if h.depth == 0 {
		for i := 0; i < int(h.entries); i++ {
			data += uint64(decodeExtent(node[12+12*i:]).n)
		}
		return data, 0, h.entries > 0, nil
	}
	for i := 0; i < int(h.entries); i++ {
		x := node[12+12*i:]
		child := uint64(le.Uint16(x[8:]))<<32 | uint64(le.Uint32(x[4:]))
		if *visits++; *visits > maxTreeVisits {
			return 0, 0, false, a.refuse("inode %d: extent tree of more than %d blocks", ino, maxTreeVisits)
		}
		cb, err := a.block(child)
		if err != nil {
			return 0, 0, false, err
		}
		if a.f.hasMetadataCsum() {
			ch, ok := parseExtHeader(cb)
			end := 12 + 12*int(ch.max)
			if !ok || end+4 > len(cb) || crc32c(a.f.inodeSeed(ino, le.Uint32(b[iGeneration:])), cb[:end]) != le.Uint32(cb[end:]) {
				return 0, 0, false, a.refuse("inode %d: extent tree block %d fails its checksum", ino, child)
			}
		}
		d, t, got, err := a.treeBlocks(ino, b, cb, int(h.depth)-1, visits)
		if err != nil {
			return 0, 0, false, err
		}
		if got {
			data, tree, any = data+d, tree+t+1, true
		}
	}
	return data, tree, any, nil
}

// dirBlocks calls fn with each block of the linear directory dino, in
// order, until fn returns true; a hole is refused (the kernel would
// allocate a block there).
func (a *fcApplier) dirBlocks(dino uint64, db []byte, fn func(blk []byte, lblk uint64) (bool, error)) (bool, error) {
	f := a.f
	le := binary.LittleEndian
	if le.Uint16(db)&sIFMT != sIFDIR {
		return false, a.refuse("inode %d is not a directory", dino)
	}
	fl := le.Uint32(db[iFlags:])
	switch {
	case fl&flagIndex != 0:
		return false, a.refuse("directory %d is an htree directory", dino)
	case fl&flagInlineData != 0:
		return false, a.refuse("directory %d has inline data", dino)
	case fl&(flagEncrypt|flagCasefold) != 0:
		return false, a.refuse("directory %d is encrypted or casefolded", dino)
	}
	in, err := f.parseInode(dino, bytes.Clone(db), -1)
	if err != nil {
		return false, err
	}
	n := in.size / f.bs
	if n > fcMaxDirBlks {
		return false, a.refuse("directory %d of %d blocks", dino, n)
	}
	for lb := uint64(0); lb < n; lb++ {
		if a.work++; a.work > fcMaxVisits {
			return false, a.refuse("more than %d directory blocks searched", fcMaxVisits)
		}
		w, err := f.mapWindow(in, lb)
		if err != nil {
			return false, err
		}
		r := w.find(lb)
		if r.hole {
			return false, a.refuse("directory %d: block %d is a hole", dino, lb)
		}
		blk, err := a.block(r.pblk + lb - r.lblk)
		if err != nil {
			return false, err
		}
		if f.hasMetadataCsum() {
			t := blk[len(blk)-dirTailSize:]
			if le.Uint32(t) != 0 || le.Uint16(t[4:]) != dirTailSize || t[6] != 0 || t[7] != dirTailType {
				return false, a.refuse("directory %d: block %d has no checksum tail", dino, lb)
			}
			if crc32c(f.inodeSeed(dino, in.st.Generation), blk[:len(blk)-dirTailSize]) != le.Uint32(t[8:]) {
				return false, a.refuse("directory %d: block %d fails its checksum", dino, lb)
			}
		}
		done, err := fn(blk, lb)
		if done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// setDirCsum recomputes the checksum tail of a directory leaf block.
func (a *fcApplier) setDirCsum(dino uint64, db, blk []byte) {
	if !a.f.hasMetadataCsum() {
		return
	}
	le := binary.LittleEndian
	t := len(blk) - dirTailSize
	le.PutUint32(blk[t+8:], crc32c(a.f.inodeSeed(dino, le.Uint32(db[iGeneration:])), blk[:t]))
}

// dirRecLen is the record length a name of n bytes needs.
func dirRecLen(n int) uint64 { return uint64(n+8+3) &^ 3 }

// entryOK is ext4_check_dir_entry for the entry at off of a block whose
// entries end at limit.
func (a *fcApplier) entryOK(blk []byte, off, limit uint64) (rl uint64, ok bool) {
	le := binary.LittleEndian
	if off+8 > limit {
		return 0, false
	}
	rl = a.f.recLen(le.Uint16(blk[off+4:]))
	nl := int(blk[off+6])
	return rl, rl >= dirRecLen(1) && rl%4 == 0 && rl >= dirRecLen(nl) && off+rl <= limit &&
		uint64(le.Uint32(blk[off:])) <= uint64(a.f.sb.inodesCount)
}

// nameAt reports whether the live entry at off is named name.
func nameAt(blk []byte, off uint64, name []byte) bool {
	le := binary.LittleEndian
	nl := uint64(blk[off+6])
	return le.Uint32(blk[off:]) != 0 && nl == uint64(len(name)) && off+8+nl <= uint64(len(blk)) &&
		bytes.Equal(blk[off+8:off+8+nl], name)
}

// applyLink applies a CREAT_DENTRY or LINK tag as the kernel's
// __ext4_link does: the name is added to the parent in the first block
// with room (ext4_find_dest_de, ext4_insert_dentry), unless it is found
// there first; a LINK adds a link to the inode, a CREAT_DENTRY sets its
// links to one.
func (a *fcApplier) applyLink(val []byte, creat bool) error {
	le := binary.LittleEndian
	f := a.f
	dino, ino, name := uint64(le.Uint32(val)), uint64(le.Uint32(val[4:])), val[8:]
	ib, err := a.rawInode(ino)
	if err != nil || !live(ib) {
		return err
	}
	mode := le.Uint16(ib)
	if mode&sIFMT == sIFDIR {
		return a.refuse("directory %d created or linked (the kernel would write its first block)", ino)
	}
	db, err := a.rawInode(dino)
	if err != nil {
		return err
	}
	if !live(db) {
		// The kernel links nothing, but still gives a created inode
		// one link.
		if creat {
			le.PutUint16(ib[iLinks:], 1)
			a.setInodeCsum(ino, ib)
		}
		return nil
	}
	need := dirRecLen(len(name))
	var ftype byte
	if f.sb.incompat&incompatFiletype != 0 {
		ftype = map[uint16]byte{sIFREG: 1, sIFDIR: 2, sIFCHR: 3, sIFBLK: 4, sIFIFO: 5, sIFSOCK: 6, sIFLNK: 7}[mode&sIFMT]
	}
	exists := false
	added, err := a.dirBlocks(dino, db, func(blk []byte, lb uint64) (bool, error) {
		limit := uint64(len(blk))
		if f.hasMetadataCsum() {
			limit -= dirTailSize
		}
		for off := uint64(0); off+need <= limit; {
			rl, ok := a.entryOK(blk, off, limit)
			if !ok {
				return false, a.refuse("directory %d: block %d: bad entry at offset %d", dino, lb, off)
			}
			if nameAt(blk, off, name) {
				exists = true
				return true, nil
			}
			used := uint64(0)
			if le.Uint32(blk[off:]) != 0 {
				used = dirRecLen(int(blk[off+6]))
			}
			if rl-used >= need {
				de := blk[off:]
				if used != 0 {
					le.PutUint16(de[4:], uint16(used))
					de = blk[off+used:]
					le.PutUint16(de[4:], uint16(rl-used))
				}
				le.PutUint32(de, uint32(ino))
				de[6], de[7] = byte(len(name)), ftype
				copy(de[8:], name)
				a.setDirCsum(dino, db, blk)
				return true, nil
			}
			off += rl
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if !added {
		return a.refuse("directory %d has no room for %q (the kernel would allocate or index a block)", dino, name)
	}
	links := le.Uint16(ib[iLinks:])
	switch {
	case creat:
		links = 1
	case exists:
		return nil
	case links >= linkMax:
		return a.refuse("inode %d has %d links", ino, links)
	default:
		links++
	}
	le.PutUint16(ib[iLinks:], links)
	a.setInodeCsum(ino, ib)
	return nil
}

// applyUnlink applies an UNLINK tag as the kernel's __ext4_unlink does
// in replay: the first entry of the name is found; if it names the
// inode it is removed (its record joins the previous entry's, or, first
// in its block, it is emptied); the inode loses a link either way.
func (a *fcApplier) applyUnlink(val []byte) error {
	le := binary.LittleEndian
	dino, ino, name := uint64(le.Uint32(val)), uint64(le.Uint32(val[4:])), val[8:]
	ib, err := a.rawInode(ino)
	if err != nil || !live(ib) {
		return err
	}
	db, err := a.rawInode(dino)
	if err != nil || !live(db) {
		return err
	}
	found, err := a.dirBlocks(dino, db, func(blk []byte, lb uint64) (bool, error) {
		bs := uint64(len(blk))
		for off := uint64(0); off+8 < bs; {
			if off+8+uint64(blk[off+6]) <= bs && nameAt(blk, off, name) {
				if _, ok := a.entryOK(blk, off, bs); !ok {
					return false, a.refuse("directory %d: block %d: bad entry at offset %d", dino, lb, off)
				}
				if uint64(le.Uint32(blk[off:])) == ino {
					return true, a.deleteEntry(dino, db, blk, lb, off)
				}
				return true, nil
			}
			rl := a.f.recLen(le.Uint16(blk[off+4:]))
			if rl == 0 {
				return false, a.refuse("directory %d: block %d: zero record length at offset %d", dino, lb, off)
			}
			off += rl
		}
		return false, nil
	})
	if err != nil || !found {
		return err
	}
	if links := le.Uint16(ib[iLinks:]); links > 0 {
		le.PutUint16(ib[iLinks:], links-1)
		a.setInodeCsum(ino, ib)
	}
	return nil
}

// deleteEntry removes the entry at del as ext4_generic_delete_entry does.
func (a *fcApplier) deleteEntry(dino uint64, db, blk []byte, lb, del uint64) error {
	le := binary.LittleEndian
	limit := uint64(len(blk))
	if a.f.hasMetadataCsum() {
		limit -= dirTailSize
	}
	prev := int64(-1)
	for off := uint64(0); off < limit; {
		rl, ok := a.entryOK(blk, off, uint64(len(blk)))
		if !ok {
			return a.refuse("directory %d: block %d: bad entry at offset %d", dino, lb, off)
		}
		if off == del {
			if prev >= 0 {
				p := uint64(prev)
				le.PutUint16(blk[p+4:], uint16(a.f.recLen(le.Uint16(blk[p+4:]))+rl))
				clear(blk[off : off+rl])
			} else {
				le.PutUint32(blk[off:], 0)
				clear(blk[off+6 : off+rl])
			}
			a.setDirCsum(dino, db, blk)
			return nil
		}
		prev = int64(off)
		off += rl
	}
	return a.refuse("directory %d: block %d: entry at %d not reached", dino, lb, del)
}

// applyFastCommit applies the tags of fc to the blocks f reads and, if
// every one applies, adds the blocks changed to ov. It returns the
// reason nothing was applied, naming the tag, or "".
func (f *FS) applyFastCommit(ov *overlay, fc *fcScan) string {
	if f.bs >= 65536 {
		return "64 KiB blocks"
	}
	a := &fcApplier{f: f, dirty: map[uint64][]byte{}}
	for i, t := range fc.tags {
		a.cur = i
		var err error
		switch t.tag {
		case fcAddRange:
			err = a.applyAddRange(t.val)
		case fcDelRange:
			err = a.applyDelRange(t.val)
		case fcCreat, fcLink:
			err = a.applyLink(t.val, t.tag == fcCreat)
		case fcUnlink:
			err = a.applyUnlink(t.val)
		case fcInode:
			err = a.applyInode(t.val)
		}
		if err != nil {
			return fmt.Sprintf("tag %d (%s): %v", i+1, fcTagNames[t.tag], err)
		}
	}
	ov.put(a.dirty)
	return ""
}

// put replaces the overlay's blocks with those of m.
func (o *overlay) put(m map[uint64][]byte) {
	if len(m) == 0 {
		return
	}
	all := make(map[uint64][]byte, len(o.keys)+len(m))
	for i, k := range o.keys {
		all[k] = o.vals[i]
	}
	for k, v := range m {
		all[k] = v
	}
	o.keys = o.keys[:0]
	for k := range all {
		o.keys = append(o.keys, k)
	}
	sort.Slice(o.keys, func(i, j int) bool { return o.keys[i] < o.keys[j] })
	o.vals = make([][]byte, len(o.keys))
	for i, k := range o.keys {
		o.vals[i] = all[k]
	}
}
