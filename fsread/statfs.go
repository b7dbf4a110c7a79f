package fsread

import (
	"encoding/binary"
	"slices"
)

// StatFS counts the space and inodes of a filesystem as Linux's statfs
// reports them for it mounted with the default options (bsddf), by the
// ext4 driver or, for ext2, the ext2 driver, which counts the same way on
// ext2's features. Counts of blocks are in units of BlockSize.
type StatFS struct {
	BlockSize   int64
	Blocks      uint64 // f_blocks: all blocks less the metadata overhead
	FreeBlocks  uint64 // f_bfree: blocks not in use
	AvailBlocks uint64 // f_bavail: free blocks less the reserved ones, at least 0
	Inodes      uint64 // f_files
	FreeInodes  uint64 // f_ffree
	Overhead    uint64 // blocks of metadata left out of Blocks
	Reserved    uint64 // blocks only root may use: s_r_blocks_count, and the ext4 driver's own reserve
}

// StatFS counts the filesystem's space and inodes. Free blocks and inodes
// are summed over the block group descriptors, as the kernel does when it
// mounts, rather than taken from the superblock, which may be stale. The
// overhead is the superblock copies, group descriptors and reserved GDT
// blocks, bitmaps, inode tables and internal journal; with bigalloc, the
// superblock's s_overhead_clusters when set.
func (f *FS) StatFS() (StatFS, error) {
	raw, err := f.rawSuper()
	if err != nil {
		return StatFS{}, err
	}
	le := binary.LittleEndian
	sb := f.sb
	is64 := sb.incompat&incompat64Bit != 0
	rBlocks := uint64(le.Uint32(raw[0x08:]))
	if is64 {
		rBlocks |= uint64(le.Uint32(raw[0x154:])) << 32
	}
	reservedGDT := uint64(le.Uint16(raw[0xCE:]))
	storedOverhead := uint64(le.Uint32(raw[0x248:]))
	bigalloc := sb.roCompat&roCompatBigalloc != 0
	clusterBits := uint32(0)
	if bigalloc {
		clusterBits = sb.logClusterSize - sb.logBlockSize
	}

	st := StatFS{BlockSize: int64(f.bs), Inodes: uint64(sb.inodesCount)}
	// One pass over the descriptors: free counts, and with bigalloc the
	// places of the bitmaps and inode tables.
	var places []place
	needPlaces := bigalloc && (storedOverhead == 0 || storedOverhead > sb.blocksCount)
	var freeClusters uint64
	var blk []byte
	cur := ^uint64(0)
	for g := uint64(0); g < f.groups; g++ {
		bi := g / f.descPerBlk
		if bi != cur {
			loc := f.descBlockLoc(bi)
			if loc >= sb.blocksCount {
				return StatFS{}, formatErr(-1, "group descriptor block %d for group %d beyond the filesystem", loc, g)
			}
			if blk == nil {
				blk = make([]byte, f.bs)
			}
			if err := f.readFull(blk, int64(loc*f.bs), "group descriptor block %d", loc); err != nil {
				return StatFS{}, err
			}
			if err := f.verifyDescBlock(bi, loc, blk); err != nil {
				return StatFS{}, err
			}
			cur = bi
		}
		d := blk[(g%f.descPerBlk)*f.descSize:][:f.descSize]
		fc, fi := uint64(le.Uint16(d[0x0C:])), uint64(le.Uint16(d[0x0E:]))
		p := place{uint64(le.Uint32(d[0x00:])), uint64(le.Uint32(d[0x04:])), uint64(le.Uint32(d[0x08:]))}
		if f.descSize >= 64 {
			fc |= uint64(le.Uint16(d[0x2C:])) << 16
			fi |= uint64(le.Uint16(d[0x2E:])) << 16
			p.blockBitmap |= uint64(le.Uint32(d[0x20:])) << 32
			p.inodeBitmap |= uint64(le.Uint32(d[0x24:])) << 32
			p.inodeTable |= uint64(le.Uint32(d[0x28:])) << 32
		}
		freeClusters += fc
		st.FreeInodes += fi
		if needPlaces {
			places = append(places, p)
		}
	}
	st.FreeBlocks = freeClusters << clusterBits

	itb := uint64(sb.inodesPerGroup) * f.inodeSize / f.bs // inode table blocks per group
	gdbCount := (f.groups + f.descPerBlk - 1) / f.descPerBlk
	switch {
	case !bigalloc:
		o := uint64(sb.firstDataBlock)
		for g := uint64(0); g < f.groups; g++ {
			if f.hasSuper(g) {
				o += 1 + reservedGDT
			}
			o += f.numGDB(g, gdbCount) + itb + 2
		}
		st.Overhead = o + f.journalBlocks()
	case !needPlaces:
		st.Overhead = storedOverhead << clusterBits
	default:
		o := uint64(sb.firstDataBlock) >> clusterBits
		o += f.bigallocOverhead(places, itb, clusterBits)
		ratio := uint64(1) << clusterBits
		o += (f.journalBlocks() + ratio - 1) / ratio
		st.Overhead = o << clusterBits
	}
	st.Blocks = sb.blocksCount - min(st.Overhead, sb.blocksCount)

	st.Reserved = rBlocks
	if sb.incompat&incompatExtents != 0 {
		// The ext4 driver keeps 2% of the clusters, at most 4096, for
		// itself when extents are in use.
		st.Reserved += min((sb.blocksCount>>clusterBits)/50, 4096) << clusterBits
	}
	if st.FreeBlocks > st.Reserved {
		st.AvailBlocks = st.FreeBlocks - st.Reserved
	}
	return st, nil
}

// place is where a block group's bitmaps and inode table are.
type place struct{ blockBitmap, inodeBitmap, inodeTable uint64 }

// numGDB is the number of group descriptor blocks group g holds, as the
// ext4 driver counts them; gdbCount is the size of the whole table.
func (f *FS) numGDB(g, gdbCount uint64) uint64 {
	meta := g / f.descPerBlk
	if f.sb.incompat&incompatMetaBG == 0 || meta < uint64(f.sb.firstMetaBG) {
		if !f.hasSuper(g) {
			return 0
		}
		if f.sb.incompat&incompatMetaBG != 0 {
			return uint64(f.sb.firstMetaBG)
		}
		return gdbCount
	}
	first := meta * f.descPerBlk
	if g == first || g == first+1 || g == first+f.descPerBlk-1 {
		return 1
	}
	return 0
}

// journalBlocks is the size in blocks of the internal journal, or 0.
func (f *FS) journalBlocks() uint64 {
	if f.sb.compat&compatHasJournal == 0 || f.sb.journalInum == 0 {
		return 0
	}
	in, err := f.inode(uint64(f.sb.journalInum))
	if err != nil {
		return 0
	}
	return in.size / f.bs
}

// bigallocOverhead counts, group by group, the clusters holding the
// superblock copy, group descriptors, bitmaps and inode tables, as the
// ext4 driver does for a bigalloc filesystem whose superblock does not
// record its overhead. places holds each group's bitmaps and inode table.
func (f *FS) bigallocOverhead(places []place, itb uint64, clusterBits uint32) uint64 {
	bpg := uint64(f.sb.blocksPerGroup)
	first := uint64(f.sb.firstDataBlock)
	type span struct{ from, to uint64 } // clusters of a group, inclusive
	byGroup := map[uint64][]span{}
	mark := func(b, n uint64) {
		if b < first {
			return
		}
		g := (b - first) / bpg
		if g >= f.groups {
			return
		}
		// The kernel counts an inode table only when it ends before the
		// group's last block.
		start := first + g*bpg
		if n > 1 && b+n > start+bpg-1 {
			return
		}
		off := b - start
		byGroup[g] = append(byGroup[g], span{off >> clusterBits, (off + n - 1) >> clusterBits})
	}
	for _, p := range places {
		mark(p.blockBitmap, 1)
		mark(p.inodeBitmap, 1)
		if itb > 0 {
			mark(p.inodeTable, itb)
		}
	}
	gdbCount := (f.groups + f.descPerBlk - 1) / f.descPerBlk
	for g := uint64(0); g < f.groups; g++ {
		s := uint64(0)
		if f.hasSuper(g) {
			byGroup[g] = append(byGroup[g], span{0, 0})
			s = 1
		}
		if j := min(f.numGDB(g, gdbCount), bpg-s); j > 0 {
			byGroup[g] = append(byGroup[g], span{s >> clusterBits, (s + j - 1) >> clusterBits})
		}
	}
	var total uint64
	for _, spans := range byGroup {
		slices.SortFunc(spans, func(a, b span) int {
			switch {
			case a.from < b.from:
				return -1
			case a.from > b.from:
				return 1
			}
			return 0
		})
		end := uint64(0)
		started := false
		for _, sp := range spans {
			if started && sp.from <= end {
				if sp.to > end {
					total += sp.to - end
					end = sp.to
				}
				continue
			}
			total += sp.to - sp.from + 1
			end, started = sp.to, true
		}
	}
	return total
}
