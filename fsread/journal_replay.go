package fsread

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"vmsh/internal/devio"
)

const (
	logChunkBytes = 1 << 20 // journal bytes read at once
	maxOverlay    = 1 << 30 // bytes of replayed blocks kept in memory
	overlaySlab   = 1 << 20 // replayed blocks are stored in slabs of this size
	sbJournalUUID = 0xD0    // s_journal_uuid
	sbJournalInum = 0xE0    // s_journal_inum
	sbJournalDev  = 0xE4    // s_journal_dev
	sbLastOrphan  = 0xE8    // s_last_orphan
)

// recoverJournal ends OpenOptions. When the superblock says the journal
// needs recovery (needs_recovery) and the journal is in an inode of the
// filesystem, the committed transactions of the journal are replayed in
// memory, the way the Linux kernel's jbd2 recovery does (scan, revoke,
// replay), into an overlay of blocks that every later read sees, and the
// filesystem is opened again over it. The image is never written.
//
// Info reports what was replayed; Warnings reports a journal that could
// not be replayed (the filesystem is then shown as it is on disk), a
// journal checksum failure that ended the replay, fast commits that were
// not applied, and orphan inodes the kernel would delete or truncate when
// mounting.
func (f *FS) recoverJournal(opts Options) (*FS, error) {
	if ov, ok := f.r.(*overlay); ok {
		// f is the filesystem after replay: the kernel clears
		// needs_recovery once it has replayed the journal.
		f.sb.incompat &^= incompatRecover
		feats := f.info.Features[:0:0]
		for _, n := range f.info.Features {
			if n != incompatNames[incompatRecover] {
				feats = append(feats, n)
			}
		}
		f.info.Features = feats
		f.info.Replayed = true
		f.info.ReplayTransactions = ov.transactions
		f.info.ReplayBlocks = ov.writes
		f.info.ReplayFastCommits = ov.fastCommits
		if sb, err := f.rawSuper(); err == nil {
			f.replayWarnings(sb)
		}
		f.warnings = append(f.warnings, ov.warnings...)
		return f, nil
	}
	if f.sb.incompat&incompatRecover == 0 {
		return f, nil
	}
	if opts.NoReplay {
		f.warnings = append(f.warnings, "ext4: needs_recovery set, journal not replayed (no-replay); showing on-disk state")
		return f, nil
	}
	ov, err := f.replayJournal()
	if err != nil {
		f.warnings = append(f.warnings, fmt.Sprintf("ext4: needs_recovery set, journal not replayed: %v; showing on-disk state", err))
		return f, nil
	}
	g, err := OpenOptions(ov, f.size, opts)
	if err != nil {
		return nil, fmt.Errorf("ext4: after journal replay: %w", err)
	}
	if fc := ov.fc; fc != nil {
		// The fast commits are applied over the replayed blocks, and the
		// filesystem is opened again so that nothing read before they
		// were applied stays cached.
		ov.fc = nil
		if why := g.applyFastCommit(ov, fc); why != "" {
			ov.warnings = append(ov.warnings, fmt.Sprintf("ext4: fast-commit area not replayed: %d fast commits after transaction %d (%s) are not applied: %s", fc.commits, ov.fcAfter, fc.summary(), why))
		} else {
			ov.fastCommits = fc.commits
		}
		if g, err = OpenOptions(ov, f.size, opts); err != nil {
			return nil, fmt.Errorf("ext4: after fast-commit replay: %w", err)
		}
	}
	return g, nil
}

// replayWarnings adds the warnings about what replay leaves undone.
func (f *FS) replayWarnings(sb []byte) {
	le := binary.LittleEndian
	if le.Uint32(sb[sbLastOrphan:]) != 0 || f.sb.roCompat&roCompatOrphanPresent != 0 {
		f.warnings = append(f.warnings, "ext4: orphan inodes present: the kernel would delete or truncate them when mounting; shown as they are")
	}
}

// rawSuper reads the superblock's bytes.
func (f *FS) rawSuper() ([]byte, error) {
	sb := make([]byte, superSize)
	if err := f.readFull(sb, superOffset, "superblock"); err != nil {
		return nil, err
	}
	return sb, nil
}

// journalLocation reads the journal fields of the superblock.
func (f *FS) journalLocation() (ino uint32, uuid [16]byte, dev uint32, sb []byte, err error) {
	sb, err = f.rawSuper()
	if err != nil {
		return 0, uuid, 0, nil, err
	}
	le := binary.LittleEndian
	copy(uuid[:], sb[sbJournalUUID:])
	return le.Uint32(sb[sbJournalInum:]), uuid, le.Uint32(sb[sbJournalDev:]), sb, nil
}

// replayJournal scans the journal and builds the overlay of replayed
// blocks over f.r.
func (f *FS) replayJournal() (*overlay, error) {
	if f.sb.compat&compatHasJournal == 0 {
		return nil, fmt.Errorf("no journal (has_journal not set)")
	}
	ino, uuid, dev, _, err := f.journalLocation()
	if err != nil {
		return nil, err
	}
	var (
		src   logSource
		total uint64
		jsb   uint32 // journal block of the journal superblock
	)
	switch {
	case ino == 0 && uuid != [16]byte{} && f.opts.ExternalJournal != nil:
		d, err := openJournalDev(f.opts.ExternalJournal, f.opts.ExternalJournalSize, uuid, f.bs)
		if err != nil {
			return nil, fmt.Errorf("external journal %s: %w", uuidString(uuid), err)
		}
		src, total, jsb = d, uint64(d.total), d.super
	case ino == 0 && uuid != [16]byte{}:
		return nil, fmt.Errorf("the journal is on an external device (journal UUID %s, device %#x)", uuidString(uuid), dev)
	case ino == 0:
		return nil, fmt.Errorf("no journal inode and no external journal")
	default:
		in, err := f.inode(uint64(ino))
		if err != nil {
			return nil, fmt.Errorf("journal inode %d: %w", ino, err)
		}
		if !in.isReg() {
			return nil, fmt.Errorf("journal inode %d is not a regular file", ino)
		}
		total = in.size / f.bs
		if total < jMinLogBlocks {
			return nil, fmt.Errorf("journal inode %d: %d bytes is too small", ino, in.size)
		}
		// The journal's blocks are blocks of the image: a journal longer
		// than the image is corrupt, and would only make the scan longer.
		total = min(total, jMaxBlocks, f.sb.blocksCount, uint64(f.size)/f.bs)
		src = &fsLog{f: f, in: in, total: uint32(total)}
	}
	jb, err := src.logBlock(jsb)
	if err != nil {
		return nil, err
	}
	js, err := parseJournalSuper(jb, uint32(f.bs), total)
	if err != nil {
		return nil, err
	}
	if js.csumV23 && js.superCsum != js.checksum {
		return nil, fmt.Errorf("journal superblock checksum mismatch (stored %#x, computed %#x)", js.checksum, js.superCsum)
	}
	sc, err := scanJournal(js, src)
	if err != nil {
		return nil, err
	}
	ov, err := buildOverlay(f.r, js, sc, src, f.bs, f.sb.blocksCount)
	if err != nil {
		return nil, err
	}
	ov.size = f.size
	ov.transactions = int(sc.end - sc.start)
	ov.warnings = append(sc.warnings, ov.warnings...)
	if sc.fc != nil {
		ov.warnings = append(ov.warnings, sc.fc.warnings...)
		if sc.fc.commits > 0 {
			ov.fc, ov.fcAfter = sc.fc, sc.end-1
		}
	}
	return ov, nil
}

// buildOverlay reads the final contents of every block the scanned
// transactions write.
func buildOverlay(base io.ReaderAt, js *jsuper, sc *jscan, src logSource, bs, fsBlocks uint64) (*overlay, error) {
	groups := sc.finalWrites()
	ov := &overlay{base: base, bs: bs}
	// Read the last write of each block in log order, so the reads are
	// sequential.
	type pick struct {
		g int // index into groups
		k int // index into groups[g]
	}
	picks := make([]pick, 0, len(groups))
	skipped := 0
	for i, g := range groups {
		if g[0].fsBlock >= fsBlocks {
			skipped++
			continue
		}
		picks = append(picks, pick{i, 0})
	}
	if skipped > 0 {
		ov.warnf("%d logged blocks lie beyond the filesystem's %d blocks and were not replayed", skipped, fsBlocks)
	}
	if uint64(len(picks))*bs > maxOverlay {
		return nil, fmt.Errorf("journal replays %d blocks, more than the %d MiB allowed", len(picks), maxOverlay>>20)
	}
	logOrder := func(p pick) uint32 {
		// Order by position in the log from its start, so a wrapped log
		// is read in the order it was written.
		i := groups[p.g][p.k].logIdx
		if i < js.start {
			i += js.logEnd
		}
		return i
	}
	sort.Slice(picks, func(a, b int) bool { return logOrder(picks[a]) < logOrder(picks[b]) })
	var slab []byte
	blocks := make(map[uint64][]byte, len(picks))
	for _, p := range picks {
		g := groups[p.g]
		var data []byte
		for k := p.k; k < len(g); k++ {
			w := g[k]
			b, err := src.logBlock(w.logIdx)
			if err != nil {
				return nil, err
			}
			if js.csumV23 && !js.dataOK(w, b) {
				ov.warnf("transaction %d: logged copy of block %d (journal block %d) fails its checksum; not replayed (the kernel refuses to mount)", w.seq, w.fsBlock, w.logIdx)
				continue
			}
			data = b
			if len(slab) < int(bs) {
				slab = make([]byte, max(overlaySlab, bs))
			}
			dst := slab[:bs:bs]
			slab = slab[bs:]
			copy(dst, data)
			if w.escaped {
				binary.BigEndian.PutUint32(dst, jMagic)
			}
			blocks[w.fsBlock] = dst
			break
		}
	}
	ov.keys = make([]uint64, 0, len(blocks))
	for k := range blocks {
		ov.keys = append(ov.keys, k)
	}
	sort.Slice(ov.keys, func(i, j int) bool { return ov.keys[i] < ov.keys[j] })
	ov.vals = make([][]byte, len(ov.keys))
	for i, k := range ov.keys {
		ov.vals[i] = blocks[k]
	}
	// Count writes the way the kernel does: every non-revoked write of a
	// replayed transaction.
	ov.writes = 0
	for _, g := range groups {
		if g[0].fsBlock < fsBlocks {
			ov.writes += len(g)
		}
	}
	return ov, nil
}

// overlay is an io.ReaderAt that reads base with some blocks replaced.
// It is also a devio.RangeWriter, which passes the ranges of blocks it
// does not replace down to base.
type overlay struct {
	base         io.ReaderAt
	size         int64 // bytes of base the filesystem reads; WriteRange writes none past it
	bs           uint64
	keys         []uint64 // sorted block numbers
	vals         [][]byte // their contents
	writes       int      // block writes replayed
	transactions int      // transactions replayed
	fc           *fcScan  // fast commits not yet applied
	fcAfter      uint32   // the transaction they follow
	fastCommits  int      // fast commits applied
	warnings     []string
}

func (o *overlay) warnf(format string, args ...any) {
	o.warnings = append(o.warnings, "ext4: journal: "+fmt.Sprintf(format, args...))
}

// ReadAt reads from the base and then copies the replayed blocks that
// overlap p over what it read.
func (o *overlay) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.base.ReadAt(p, off)
	if off < 0 || len(o.keys) == 0 || len(p) == 0 {
		return n, err
	}
	first := uint64(off) / o.bs
	end := uint64(off) + uint64(len(p))
	i := sort.Search(len(o.keys), func(i int) bool { return o.keys[i] >= first })
	for ; i < len(o.keys) && o.keys[i]*o.bs < end; i++ {
		bo := int64(o.keys[i] * o.bs)
		src := o.vals[i]
		dst := p
		if bo < off {
			src = src[off-bo:]
		} else {
			dst = p[bo-off:]
		}
		// Only the part the base could read is patched: the overlay
		// never makes the image longer.
		if lim := int64(n) - (int64(len(p)) - int64(len(dst))); lim < int64(len(dst)) {
			if lim <= 0 {
				break
			}
			dst = dst[:lim]
		}
		copy(dst, src)
	}
	return n, err
}

// WriteRange writes the n bytes at off to w, as ReadAt would read them:
// the runs of blocks that the journal does not replace are passed down to
// base with devio.WriteRange, the replaced blocks are written from
// memory. As with ReadAt, the overlay never makes the image longer: a
// range past size writes the bytes before it and returns
// io.ErrUnexpectedEOF.
func (o *overlay) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	switch {
	case n <= 0:
		return 0, nil
	case off < 0:
		return 0, fmt.Errorf("ext4: journal overlay: copy at negative offset %d", off)
	case off >= o.size:
		return 0, io.ErrUnexpectedEOF
	}
	short := n > o.size-off
	if short {
		n = o.size - off
	}
	bs := int64(o.bs)
	end := off + n
	i := sort.Search(len(o.keys), func(i int) bool { return o.keys[i] >= uint64(off)/o.bs })
	var done int64
	for pos := off; pos < end; pos = off + done {
		next := end // where the next replaced block starts
		if i < len(o.keys) {
			next = min(next, int64(o.keys[i])*bs)
		}
		if next > pos {
			m, err := devio.WriteRange(ctx, o.base, w, pos, next-pos)
			done += m
			if err != nil {
				return done, err
			}
			continue
		}
		// pos lies in replaced block i.
		if err := ctx.Err(); err != nil {
			return done, err
		}
		b := o.vals[i][pos-int64(o.keys[i])*bs:]
		b = b[:min(int64(len(b)), end-pos)]
		k, err := w.Write(b)
		done += int64(k)
		if err == nil && k < len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return done, err
		}
		i++
	}
	if short {
		return done, io.ErrUnexpectedEOF
	}
	return done, nil
}

// fsLog reads the journal through the journal inode's block map, a chunk
// of consecutive journal blocks at a time.
type fsLog struct {
	f     *FS
	in    *inode
	total uint32
	win   *window
	lo, n uint32 // cached journal blocks [lo, lo+n)
	buf   []byte
}

func (l *fsLog) phys(idx uint32) (run, error) {
	lb := uint64(idx)
	if l.win == nil || lb < l.win.lo || lb >= l.win.hi {
		w, err := l.f.mapWindow(l.in, lb)
		if err != nil {
			return run{}, err
		}
		if lb < w.lo || lb >= w.hi || len(w.runs) == 0 {
			return run{}, formatErr(-1, "journal inode %d: no mapping for block %d", l.in.ino, idx)
		}
		l.win = w
	}
	r := l.win.find(lb)
	if r.hole {
		return run{}, formatErr(-1, "journal inode %d: block %d is a hole", l.in.ino, idx)
	}
	d := lb - r.lblk
	return run{lblk: lb, pblk: r.pblk + d, n: min(r.n-d, l.win.hi-lb)}, nil
}

func (l *fsLog) logBlock(idx uint32) ([]byte, error) {
	if idx >= l.total {
		return nil, formatErr(-1, "journal block %d beyond the journal's %d blocks", idx, l.total)
	}
	bs := uint32(l.f.bs)
	if idx >= l.lo && idx < l.lo+l.n {
		o := (idx - l.lo) * bs
		return l.buf[o : o+bs : o+bs], nil
	}
	n := min(max(logChunkBytes/bs, 1), l.total-idx)
	buf := make([]byte, n*bs) // fresh: blocks handed out earlier stay valid
	for got := uint32(0); got < n; {
		r, err := l.phys(idx + got)
		if err != nil {
			if got == 0 {
				return nil, err
			}
			n = got
			break
		}
		k := min(uint32(min(r.n, uint64(n-got))), n-got)
		dst := buf[got*bs : (got+k)*bs]
		if err := l.f.readFull(dst, int64(r.pblk*l.f.bs), "journal block %d", idx+got); err != nil {
			if got == 0 {
				return nil, err
			}
			n = got
			break
		}
		got += k
	}
	l.lo, l.n, l.buf = idx, n, buf[:n*bs]
	return l.buf[:bs:bs], nil
}

// devLog reads an external journal device. Unlike an internal journal,
// whose blocks are numbered from the journal superblock, a journal
// device's log blocks are numbered from the start of the device: the
// device's own ext4 superblock occupies the block holding byte 1024, the
// journal superblock is in the block after it, and the log's first block
// (s_first) and length (s_maxlen) count from block 0.
type devLog struct {
	r     io.ReaderAt
	bs    uint32
	total uint32 // blocks on the device
	super uint32 // block of the journal superblock
	lo, n uint32 // cached blocks [lo, lo+n)
	buf   []byte
}

// openJournalDev checks that r, of size bytes, is the journal device
// named by uuid with blocks of bs bytes.
func openJournalDev(r io.ReaderAt, size int64, uuid [16]byte, bs uint64) (*devLog, error) {
	s, err := readSuper(r)
	if err != nil {
		return nil, err
	}
	if s.incompat&incompatJournalDev == 0 {
		return nil, fmt.Errorf("the device given is not a journal device (no journal_dev feature)")
	}
	if s.uuid != uuid {
		return nil, fmt.Errorf("the device given is journal %s", uuidString(s.uuid))
	}
	if uint64(s.blockSize) != bs {
		return nil, fmt.Errorf("journal device block size %d differs from the filesystem's %d", s.blockSize, bs)
	}
	total := s.blocksCount
	if size >= 0 {
		total = min(total, uint64(size)/bs)
	}
	total = min(total, jMaxBlocks)
	super := uint32(superOffset/bs) + 1
	if total < uint64(super)+jMinLogBlocks {
		return nil, fmt.Errorf("journal device of %d blocks is too small", total)
	}
	return &devLog{r: r, bs: uint32(bs), total: uint32(total), super: super}, nil
}

func (l *devLog) logBlock(idx uint32) ([]byte, error) {
	if idx >= l.total {
		return nil, formatErr(-1, "journal block %d beyond the journal device's %d blocks", idx, l.total)
	}
	bs := l.bs
	if idx >= l.lo && idx < l.lo+l.n {
		o := (idx - l.lo) * bs
		return l.buf[o : o+bs : o+bs], nil
	}
	n := min(max(logChunkBytes/bs, 1), l.total-idx)
	buf := make([]byte, n*bs) // fresh: blocks handed out earlier stay valid
	got, err := l.r.ReadAt(buf, int64(idx)*int64(bs))
	if got < int(bs) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("ext4: reading journal device block %d: %w", idx, err)
	}
	n = uint32(got) / bs
	l.lo, l.n, l.buf = idx, n, buf[:n*bs]
	return l.buf[:bs:bs], nil
}

// Compile-time checks that the overlay is a reader and passes copies
// down.
var (
	_ io.ReaderAt       = (*overlay)(nil)
	_ devio.RangeWriter = (*overlay)(nil)
)
