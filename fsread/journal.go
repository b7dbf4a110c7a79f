package fsread

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// The jbd2 journal, as the Linux kernel's ext4 documentation describes its
// on-disk format. Every field is big-endian.
const (
	jMagic = 0xC03B3998

	jDescriptor = 1
	jCommit     = 2
	jSuperV1    = 3
	jSuperV2    = 4
	jRevoke     = 5

	jCompatChecksum = 0x1 // journal checksum v1 (crc32_be in the commit block)

	jIncompatRevoke      = 0x1
	jIncompat64Bit       = 0x2
	jIncompatAsyncCommit = 0x4
	jIncompatCsumV2      = 0x8
	jIncompatCsumV3      = 0x10
	jIncompatFastCommit  = 0x20
	jKnownIncompat       = jIncompatRevoke | jIncompat64Bit | jIncompatAsyncCommit |
		jIncompatCsumV2 | jIncompatCsumV3 | jIncompatFastCommit

	jFlagEscape   = 0x1
	jFlagSameUUID = 0x2
	jFlagLastTag  = 0x8

	jCrc32cType = 4 // s_checksum_type for csum v2/v3

	jMinLogBlocks      = 2       // a superblock and at least one log block
	jDefaultFastCommit = 256     // fast-commit blocks when s_num_fc_blks is 0
	jMaxBlocks         = 1 << 30 // more than any mke2fs journal (2^30 blocks)
	jMaxRevokes        = 1 << 22 // revoke records kept; more ends the scan
)

// jsuper is the decoded journal superblock.
type jsuper struct {
	bs        uint32
	maxlen    uint32
	first     uint32
	sequence  uint32
	start     uint32
	compat    uint32
	incompat  uint32
	uuid      [16]byte
	numFC     uint32
	csumType  uint8
	v2        bool
	logEnd    uint32 // one past the last block of the circular log
	fcFirst   uint32 // first fast-commit block, if any
	tagBytes  int
	csumV23   bool
	csumSeed  uint32
	checksum  uint32 // s_checksum as stored
	nrUsers   uint32
	superCsum uint32 // s_checksum computed
}

// parseJournalSuper decodes and checks a journal superblock of a journal
// that is total blocks long with blocks of bs bytes.
func parseJournalSuper(b []byte, bs uint32, total uint64) (*jsuper, error) {
	be := binary.BigEndian
	if len(b) < 1024 {
		return nil, fmt.Errorf("journal superblock: %d bytes", len(b))
	}
	if be.Uint32(b) != jMagic {
		return nil, fmt.Errorf("journal superblock: bad magic %#x", be.Uint32(b))
	}
	s := &jsuper{
		bs:       be.Uint32(b[0x0C:]),
		maxlen:   be.Uint32(b[0x10:]),
		first:    be.Uint32(b[0x14:]),
		sequence: be.Uint32(b[0x18:]),
		start:    be.Uint32(b[0x1C:]),
	}
	switch be.Uint32(b[4:]) {
	case jSuperV1:
	case jSuperV2:
		s.v2 = true
		s.compat = be.Uint32(b[0x24:])
		s.incompat = be.Uint32(b[0x28:])
		copy(s.uuid[:], b[0x30:0x40])
		s.nrUsers = be.Uint32(b[0x40:])
		s.csumType = b[0x50]
		s.numFC = be.Uint32(b[0x54:])
		s.checksum = be.Uint32(b[0xFC:])
	default:
		return nil, fmt.Errorf("journal superblock: block type %d is not a superblock", be.Uint32(b[4:]))
	}
	if s.bs != bs {
		return nil, fmt.Errorf("journal block size %d differs from the filesystem's %d", s.bs, bs)
	}
	if unk := s.incompat &^ jKnownIncompat; unk != 0 {
		return nil, fmt.Errorf("journal has unknown incompatible features %#x", unk)
	}
	if uint64(s.maxlen) > total {
		return nil, fmt.Errorf("journal superblock says %d blocks, the journal has %d", s.maxlen, total)
	}
	if s.maxlen < jMinLogBlocks || s.maxlen > jMaxBlocks || s.first == 0 || s.first >= s.maxlen {
		return nil, fmt.Errorf("journal superblock: first block %d, length %d invalid", s.first, s.maxlen)
	}
	s.logEnd = s.maxlen
	if s.incompat&jIncompatFastCommit != 0 {
		n := s.numFC
		if n == 0 {
			n = jDefaultFastCommit
		}
		if n >= s.maxlen-s.first {
			return nil, fmt.Errorf("journal: %d fast-commit blocks leave no log in %d blocks", n, s.maxlen)
		}
		s.logEnd = s.maxlen - n
		s.fcFirst = s.logEnd + 1
	}
	if s.start != 0 && (s.start < s.first || s.start >= s.logEnd) {
		return nil, fmt.Errorf("journal: log start %d outside the log [%d, %d)", s.start, s.first, s.logEnd)
	}
	s.csumV23 = s.incompat&(jIncompatCsumV2|jIncompatCsumV3) != 0
	if s.csumV23 {
		if s.csumType != jCrc32cType {
			return nil, fmt.Errorf("journal: checksum type %d is not crc32c", s.csumType)
		}
		s.csumSeed = crc32c(^uint32(0), s.uuid[:])
		var c [1024]byte
		copy(c[:], b[:1024])
		binary.BigEndian.PutUint32(c[0xFC:], 0)
		s.superCsum = crc32c(^uint32(0), c[:])
	}
	s.tagBytes = tagBytes(s.incompat)
	return s, nil
}

// tagBytes is the size of a descriptor block tag without its UUID.
func tagBytes(incompat uint32) int {
	if incompat&jIncompatCsumV3 != 0 {
		return 16
	}
	n := 12
	if incompat&jIncompatCsumV2 != 0 {
		n += 2
	}
	if incompat&jIncompat64Bit == 0 {
		n -= 4
	}
	return n
}

// crc32be is the kernel's crc32_be(crc, p): the CRC-32 polynomial taken
// most significant bit first, no inversion, as journal checksum v1 uses it.
func crc32be(crc uint32, p []byte) uint32 {
	for _, c := range p {
		crc = crc<<8 ^ crc32beTable[byte(crc>>24)^c]
	}
	return crc
}

var crc32beTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for k := 0; k < 8; k++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// jwrite is one block a committed transaction writes: the contents of log
// block logIdx go to filesystem block fsBlock.
type jwrite struct {
	fsBlock uint64
	logIdx  uint32
	seq     uint32
	escaped bool
	csum    uint32 // tag checksum (csum v2: low 16 bits)
}

// logSource gives the blocks of the journal by their index in it.
type logSource interface {
	logBlock(idx uint32) ([]byte, error)
}

// jscan is the result of scanning a journal: what the kernel's jbd2
// recovery would replay.
type jscan struct {
	start, end uint32 // transactions [start, end) are replayed
	writes     []jwrite
	revoked    map[uint64]uint32 // block -> latest transaction revoking it
	warnings   []string
	fc         *fcScan // the fast commits for transaction end, if any
}

func (sc *jscan) warnf(format string, args ...any) {
	sc.warnings = append(sc.warnings, "ext4: journal: "+fmt.Sprintf(format, args...))
}

// blockTailOK checks the checksum in the last four bytes of a descriptor
// or revoke block (csum v2/v3).
func (s *jsuper) blockTailOK(b []byte) bool {
	want := binary.BigEndian.Uint32(b[len(b)-4:])
	c := crc32c(s.csumSeed, b[:len(b)-4])
	c = crc32c(c, []byte{0, 0, 0, 0})
	return c == want
}

// commitOK checks a commit block's checksum (csum v2/v3).
func (s *jsuper) commitOK(b []byte) bool {
	want := binary.BigEndian.Uint32(b[16:])
	c := crc32c(s.csumSeed, b[:16])
	c = crc32c(c, []byte{0, 0, 0, 0})
	c = crc32c(c, b[20:])
	return c == want
}

// dataOK checks a logged block against its tag's checksum (csum v2/v3).
func (s *jsuper) dataOK(w jwrite, b []byte) bool {
	var seq [4]byte
	binary.BigEndian.PutUint32(seq[:], w.seq)
	c := crc32c(crc32c(s.csumSeed, seq[:]), b)
	if s.incompat&jIncompatCsumV3 != 0 {
		return c == w.csum
	}
	return c&0xFFFF == w.csum
}

// scanJournal walks the log from its start the way jbd2's recovery scan
// does, and collects the writes and revocations of every transaction that
// was committed intact. It reads only the journal. The walk is bounded by
// the length of the log: a log that claims more is corrupt and ends the
// scan there.
func scanJournal(s *jsuper, src logSource) (*jscan, error) {
	be := binary.BigEndian
	sc := &jscan{start: s.sequence, end: s.sequence, revoked: map[uint64]uint32{}}
	if s.start == 0 {
		return sc, nil // the journal is empty
	}
	logLen := s.logEnd - s.first
	next := s.start
	advance := func() {
		next++
		if next >= s.logEnd {
			next = s.first
		}
	}
	seq := s.sequence
	var (
		lastTime  uint64
		needCheck bool // a descriptor or revoke block failed its checksum
		txWrites  []jwrite
		txRevokes []uint64
		crc       = ^uint32(0)
		v1        = s.compat&jCompatChecksum != 0
		bs        = int(s.bs)
		tail      = 0
		rec       = 4
	)
	if s.csumV23 {
		tail = 4
	}
	if s.incompat&jIncompat64Bit != 0 {
		rec = 8
	}
	used := uint32(0) // log blocks consumed
	// take consumes the next log block, reading it if read is set.
	take := func(read bool) ([]byte, bool, error) {
		if used >= logLen {
			sc.warnf("log longer than the journal (%d blocks) from block %d; scan stopped", logLen, s.start)
			return nil, false, nil
		}
		used++
		var b []byte
		var err error
		if read {
			b, err = src.logBlock(next)
		}
		advance()
		return b, err == nil, err
	}
scan:
	for {
		b, ok, err := take(true)
		if err != nil {
			return nil, err
		}
		if !ok || be.Uint32(b) != jMagic || be.Uint32(b[8:]) != seq {
			break
		}
		switch be.Uint32(b[4:]) {
		case jDescriptor:
			if s.csumV23 && !s.blockTailOK(b) {
				needCheck = true
			}
			check := v1 && !needCheck
			if check {
				crc = crc32be(crc, b)
			}
			for off := 12; off+s.tagBytes <= bs-tail; {
				t := b[off:]
				blk := uint64(be.Uint32(t))
				var flags, csum uint32
				if s.incompat&jIncompatCsumV3 != 0 {
					flags = be.Uint32(t[4:])
					csum = be.Uint32(t[12:])
				} else {
					csum = uint32(be.Uint16(t[4:]))
					flags = uint32(be.Uint16(t[6:]))
				}
				if s.incompat&jIncompat64Bit != 0 {
					blk |= uint64(be.Uint32(t[8:])) << 32
				}
				idx := next
				d, ok, err := take(check)
				if err != nil {
					return nil, err
				}
				if !ok {
					break scan
				}
				if check {
					crc = crc32be(crc, d)
				}
				if !needCheck {
					txWrites = append(txWrites, jwrite{fsBlock: blk, logIdx: idx, seq: seq,
						escaped: flags&jFlagEscape != 0, csum: csum})
				}
				off += s.tagBytes
				if flags&jFlagSameUUID == 0 {
					off += 16
				}
				if flags&jFlagLastTag != 0 {
					break
				}
			}
		case jRevoke:
			if s.csumV23 && !s.blockTailOK(b) {
				needCheck = true
			}
			n := int(be.Uint32(b[12:]))
			if n > bs-tail {
				sc.warnf("transaction %d: revoke block with %d bytes of records; scan stopped", seq, n)
				break scan
			}
			if len(sc.revoked)+len(txRevokes)+n/rec > jMaxRevokes {
				sc.warnf("transaction %d: more than %d revoke records; scan stopped", seq, jMaxRevokes)
				break scan
			}
			for off := 16; off+rec <= n; off += rec {
				if rec == 8 {
					txRevokes = append(txRevokes, be.Uint64(b[off:]))
				} else {
					txRevokes = append(txRevokes, uint64(be.Uint32(b[off:])))
				}
			}
		case jCommit:
			when := be.Uint64(b[0x30:])
			bad := false
			if v1 && !needCheck {
				found := be.Uint32(b[16:])
				typ, size := b[12], b[13]
				if !(crc == found && typ == 1 && size == 4) && !(typ == 0 && size == 0 && found == 0) {
					bad = true
				}
				crc = ^uint32(0)
			}
			if s.csumV23 && !s.commitOK(b) {
				bad = true
			}
			if bad || needCheck {
				if when < lastTime {
					// A stale commit block from an earlier pass round
					// the log: the log ends here.
					break scan
				}
				// With async_commit the kernel scans on past a
				// bad commit block, but replays nothing from that
				// transaction on either: the result is the same.
				if needCheck && !bad {
					sc.warnf("transaction %d: a descriptor or revoke block fails its checksum; the kernel refuses to mount; replaying only the transactions before it", seq)
				} else {
					sc.warnf("transaction %d: commit block checksum mismatch; replay ends before it", seq)
				}
				break scan
			}
			sc.writes = append(sc.writes, txWrites...)
			for _, blk := range txRevokes {
				if r, ok := sc.revoked[blk]; !ok || int32(seq-r) > 0 {
					sc.revoked[blk] = seq
				}
			}
			txWrites, txRevokes = txWrites[:0], txRevokes[:0]
			lastTime = when
			seq++
			sc.end = seq
		default:
			break scan
		}
	}
	if s.fcFirst != 0 && s.fcFirst < s.maxlen {
		fc, err := scanFastCommit(src, s.fcFirst, s.maxlen, sc.end)
		if err != nil {
			return nil, err
		}
		sc.fc = fc
	}
	return sc, nil
}

// revokedAt reports whether a write of blk by transaction seq is cancelled
// by a revoke record of the same or a later replayed transaction.
func (sc *jscan) revokedAt(blk uint64, seq uint32) bool {
	r, ok := sc.revoked[blk]
	return ok && int32(seq-r) <= 0
}

// finalWrites returns, for every block the replay writes, the writes that
// could give its final contents, the last first. Revoked writes are left
// out. The result is sorted by block number.
func (sc *jscan) finalWrites() [][]jwrite {
	ws := make([]jwrite, 0, len(sc.writes))
	for _, w := range sc.writes {
		if !sc.revokedAt(w.fsBlock, w.seq) {
			ws = append(ws, w)
		}
	}
	// Stable by block, keeping log order within a block.
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].fsBlock < ws[j].fsBlock })
	var out [][]jwrite
	for i := 0; i < len(ws); {
		j := i
		for j < len(ws) && ws[j].fsBlock == ws[i].fsBlock {
			j++
		}
		g := ws[i:j]
		for a, b := 0, len(g)-1; a < b; a, b = a+1, b-1 {
			g[a], g[b] = g[b], g[a]
		}
		out = append(out, g)
		i = j
	}
	return out
}
