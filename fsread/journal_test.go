package fsread

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// jbuilder writes a journal block by block, as jbd2 would, for tests.
type jbuilder struct {
	bs       int
	blocks   [][]byte // journal blocks; 0 is the superblock
	compat   uint32
	incompat uint32
	uuid     [16]byte
	first    uint32
	pos      uint32 // next log block to write
	seed     uint32
}

func newJBuilder(bs, n int, compat, incompat uint32) *jbuilder {
	b := &jbuilder{bs: bs, compat: compat, incompat: incompat, first: 1, pos: 1}
	for i := range b.uuid {
		b.uuid[i] = byte(0x40 + i)
	}
	b.seed = crc32c(^uint32(0), b.uuid[:])
	b.blocks = make([][]byte, n)
	for i := range b.blocks {
		b.blocks[i] = make([]byte, bs)
	}
	return b
}

func (b *jbuilder) csum() bool { return b.incompat&(jIncompatCsumV2|jIncompatCsumV3) != 0 }

// next returns the block at pos and advances pos round the log.
func (b *jbuilder) next() (uint32, []byte) {
	i := b.pos
	b.pos++
	if int(b.pos) >= len(b.blocks) {
		b.pos = b.first
	}
	blk := b.blocks[i]
	clear(blk)
	return i, blk
}

func putHeader(blk []byte, typ, seq uint32) {
	be := binary.BigEndian
	be.PutUint32(blk, jMagic)
	be.PutUint32(blk[4:], typ)
	be.PutUint32(blk[8:], seq)
}

func (b *jbuilder) setTail(blk []byte) {
	if b.csum() {
		binary.BigEndian.PutUint32(blk[b.bs-4:], 0)
		binary.BigEndian.PutUint32(blk[b.bs-4:], crc32c(b.seed, blk))
	}
}

type twrite struct {
	blk  uint64
	data []byte
}

// tx writes one transaction: a descriptor with the writes, a revoke block
// if revokes is not empty, and a commit block written at time when.
// badCommit corrupts the commit block's checksum.
func (b *jbuilder) tx(seq uint32, writes []twrite, revokes []uint64, when uint64, badCommit bool) {
	be := binary.BigEndian
	tb := tagBytes(b.incompat)
	crc := ^uint32(0)
	if len(revokes) > 0 {
		_, r := b.next()
		putHeader(r, jRevoke, seq)
		off := 16
		for _, v := range revokes {
			if b.incompat&jIncompat64Bit != 0 {
				be.PutUint64(r[off:], v)
				off += 8
			} else {
				be.PutUint32(r[off:], uint32(v))
				off += 4
			}
		}
		be.PutUint32(r[12:], uint32(off))
		b.setTail(r)
	}
	if len(writes) > 0 {
		_, d := b.next()
		putHeader(d, jDescriptor, seq)
		off := 12
		var datas [][]byte
		for i, w := range writes {
			t := d[off:]
			flags := uint32(0)
			data := append([]byte(nil), w.data...)
			if be.Uint32(data) == jMagic {
				flags |= jFlagEscape
				be.PutUint32(data, 0)
			}
			if i > 0 {
				flags |= jFlagSameUUID
			}
			if i == len(writes)-1 {
				flags |= jFlagLastTag
			}
			var s [4]byte
			be.PutUint32(s[:], seq)
			c := crc32c(crc32c(b.seed, s[:]), data)
			be.PutUint32(t, uint32(w.blk))
			if b.incompat&jIncompatCsumV3 != 0 {
				be.PutUint32(t[4:], flags)
				be.PutUint32(t[12:], c)
			} else {
				if b.incompat&jIncompatCsumV2 != 0 {
					be.PutUint16(t[4:], uint16(c))
				}
				be.PutUint16(t[6:], uint16(flags))
			}
			if b.incompat&jIncompat64Bit != 0 {
				be.PutUint32(t[8:], uint32(w.blk>>32))
			}
			off += tb
			if i == 0 {
				copy(d[off:], b.uuid[:])
				off += 16
			}
			datas = append(datas, data)
		}
		b.setTail(d)
		crc = crc32be(crc, d)
		for _, data := range datas {
			_, blk := b.next()
			copy(blk, data)
			crc = crc32be(crc, blk)
		}
	}
	_, c := b.next()
	putHeader(c, jCommit, seq)
	be.PutUint64(c[0x30:], when)
	if b.compat&jCompatChecksum != 0 {
		c[12], c[13] = 1, 4
		be.PutUint32(c[16:], crc)
	}
	if b.csum() {
		be.PutUint32(c[16:], crc32c(b.seed, c))
	}
	if badCommit {
		c[16] ^= 0xFF
	}
}

// super writes the journal superblock: the log starts at start with
// transaction seq.
func (b *jbuilder) super(start, seq uint32) {
	be := binary.BigEndian
	s := b.blocks[0]
	clear(s)
	putHeader(s, jSuperV2, 0)
	be.PutUint32(s[0x0C:], uint32(b.bs))
	be.PutUint32(s[0x10:], uint32(len(b.blocks)))
	be.PutUint32(s[0x14:], b.first)
	be.PutUint32(s[0x18:], seq)
	be.PutUint32(s[0x1C:], start)
	be.PutUint32(s[0x24:], b.compat)
	be.PutUint32(s[0x28:], b.incompat)
	copy(s[0x30:], b.uuid[:])
	be.PutUint32(s[0x40:], 1)
	if b.csum() {
		s[0x50] = jCrc32cType
		be.PutUint32(s[0xFC:], crc32c(^uint32(0), s[:1024]))
	}
}

type memLog [][]byte

func (m memLog) logBlock(i uint32) ([]byte, error) {
	if int(i) >= len(m) {
		return nil, fmt.Errorf("journal block %d beyond %d", i, len(m))
	}
	return m[i], nil
}

// replayMem replays the built journal over a zeroed filesystem of fsBlocks
// blocks and returns the overlay and the scan.
func (b *jbuilder) replay(t testing.TB, fsBlocks uint64) (*overlay, *jscan) {
	t.Helper()
	js, err := parseJournalSuper(b.blocks[0], uint32(b.bs), uint64(len(b.blocks)))
	if err != nil {
		t.Fatal(err)
	}
	if js.csumV23 && js.superCsum != js.checksum {
		t.Fatalf("superblock checksum %#x, computed %#x", js.checksum, js.superCsum)
	}
	sc, err := scanJournal(js, memLog(b.blocks))
	if err != nil {
		t.Fatal(err)
	}
	base := bytes.NewReader(make([]byte, int(fsBlocks)*b.bs))
	ov, err := buildOverlay(base, js, sc, memLog(b.blocks), uint64(b.bs), fsBlocks)
	if err != nil {
		t.Fatal(err)
	}
	return ov, sc
}

func fill(bs int, v byte) []byte { return bytes.Repeat([]byte{v}, bs) }

func readBlock(t testing.TB, ov *overlay, blk, bs int) []byte {
	t.Helper()
	p := make([]byte, bs)
	if _, err := ov.ReadAt(p, int64(blk*bs)); err != nil {
		t.Fatal(err)
	}
	return p
}

var featureSets = []struct {
	name             string
	compat, incompat uint32
}{
	{"plain32", 0, jIncompatRevoke},
	{"plain64", 0, jIncompatRevoke | jIncompat64Bit},
	{"v1", jCompatChecksum, jIncompatRevoke},
	{"v2-32", 0, jIncompatRevoke | jIncompatCsumV2},
	{"v2-64", 0, jIncompatRevoke | jIncompatCsumV2 | jIncompat64Bit},
	{"v3-32", 0, jIncompatRevoke | jIncompatCsumV3},
	{"v3-64", 0, jIncompatRevoke | jIncompatCsumV3 | jIncompat64Bit},
	{"v3-async", 0, jIncompatRevoke | jIncompatCsumV3 | jIncompat64Bit | jIncompatAsyncCommit},
}

func TestJournalTagBytes(t *testing.T) {
	for _, c := range []struct {
		incompat uint32
		want     int
	}{
		{0, 8}, {jIncompat64Bit, 12}, {jIncompatCsumV2, 10},
		{jIncompatCsumV2 | jIncompat64Bit, 14}, {jIncompatCsumV3, 16},
		{jIncompatCsumV3 | jIncompat64Bit, 16},
	} {
		if got := tagBytes(c.incompat); got != c.want {
			t.Errorf("tagBytes(%#x) = %d, want %d", c.incompat, got, c.want)
		}
	}
}

func TestJournalReplay(t *testing.T) {
	const bs = 1024
	for _, fs := range featureSets {
		t.Run(fs.name, func(t *testing.T) {
			b := newJBuilder(bs, 64, fs.compat, fs.incompat)
			escaped := fill(bs, 7)
			binary.BigEndian.PutUint32(escaped, jMagic)
			b.tx(10, []twrite{{5, fill(bs, 1)}, {6, fill(bs, 2)}}, nil, 100, false)
			b.tx(11, []twrite{{5, fill(bs, 3)}, {9, escaped}}, nil, 101, false)
			b.super(1, 10)
			ov, sc := b.replay(t, 100)
			if sc.end-sc.start != 2 || ov.writes != 4 || len(sc.warnings) != 0 {
				t.Fatalf("%d transactions, %d writes, warnings %q", sc.end-sc.start, ov.writes, sc.warnings)
			}
			for blk, want := range map[int][]byte{5: fill(bs, 3), 6: fill(bs, 2), 9: escaped, 7: make([]byte, bs)} {
				if got := readBlock(t, ov, blk, bs); !bytes.Equal(got, want) {
					t.Errorf("block %d: % x...", blk, got[:8])
				}
			}
			// A read spanning several blocks sees each of them.
			p := make([]byte, 3*bs)
			ov.ReadAt(p[:], 4*bs+bs/2)
			if p[0] != 0 || p[bs/2] != 3 || p[bs/2+bs] != 2 || p[3*bs-1] != 0 {
				t.Errorf("spanning read: %d %d %d %d", p[0], p[bs/2], p[bs/2+bs], p[3*bs-1])
			}
		})
	}
}

func TestJournalWrap(t *testing.T) {
	const bs = 1024
	for _, fs := range featureSets {
		t.Run(fs.name, func(t *testing.T) {
			b := newJBuilder(bs, 16, fs.compat, fs.incompat)
			b.pos = 12
			// 4 + 4 + 4 blocks from block 12 of a 15-block log: the
			// second transaction wraps to block 1.
			b.tx(7, []twrite{{20, fill(bs, 1)}, {21, fill(bs, 2)}}, nil, 1, false)
			b.tx(8, []twrite{{21, fill(bs, 3)}, {22, fill(bs, 4)}}, nil, 2, false)
			b.tx(9, []twrite{{23, fill(bs, 5)}, {20, fill(bs, 6)}}, nil, 3, false)
			b.super(12, 7)
			ov, sc := b.replay(t, 100)
			if sc.end-sc.start != 3 {
				t.Fatalf("%d transactions (%q)", sc.end-sc.start, sc.warnings)
			}
			for blk, v := range map[int]byte{20: 6, 21: 3, 22: 4, 23: 5} {
				if got := readBlock(t, ov, blk, bs); got[0] != v || got[bs-1] != v {
					t.Errorf("block %d = %d, want %d", blk, got[0], v)
				}
			}
		})
	}
}

func TestJournalRevoke(t *testing.T) {
	const bs = 1024
	for _, fs := range featureSets {
		t.Run(fs.name, func(t *testing.T) {
			b := newJBuilder(bs, 64, fs.compat, fs.incompat)
			big := uint64(8)
			if fs.incompat&jIncompat64Bit != 0 {
				big = 1<<32 + 5
			}
			b.tx(1, []twrite{{5, fill(bs, 1)}, {6, fill(bs, 1)}, {big, fill(bs, 1)}}, nil, 1, false)
			// Revokes in transaction 2 cancel writes of 1 and 2, not 3.
			b.tx(2, []twrite{{6, fill(bs, 2)}, {7, fill(bs, 2)}}, []uint64{6, 7, big}, 2, false)
			b.tx(3, []twrite{{7, fill(bs, 3)}}, nil, 3, false)
			b.super(1, 1)
			ov, sc := b.replay(t, 1<<12)
			if sc.end-sc.start != 3 {
				t.Fatalf("%d transactions (%q)", sc.end-sc.start, sc.warnings)
			}
			for blk, v := range map[int]byte{5: 1, 6: 0, 7: 3, 8: 0} {
				if got := readBlock(t, ov, blk, bs); got[0] != v {
					t.Errorf("block %d = %d, want %d", blk, got[0], v)
				}
			}
			if fs.incompat&jIncompat64Bit != 0 {
				if _, ok := sc.revoked[big]; !ok {
					t.Errorf("64-bit revoke record for %d missing: %v", big, sc.revoked)
				}
				for _, w := range sc.writes {
					if w.fsBlock == big && w.seq == 1 && !sc.revokedAt(big, 1) {
						t.Errorf("write of %d in transaction 1 not revoked", big)
					}
				}
			}
		})
	}
}

func TestJournalBadCommit(t *testing.T) {
	const bs = 1024
	for _, fs := range featureSets {
		if fs.compat == 0 && fs.incompat&(jIncompatCsumV2|jIncompatCsumV3) == 0 {
			continue // no checksum to fail
		}
		t.Run(fs.name, func(t *testing.T) {
			b := newJBuilder(bs, 64, fs.compat, fs.incompat)
			b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 10, false)
			b.tx(2, []twrite{{5, fill(bs, 2)}, {6, fill(bs, 2)}}, nil, 11, true)
			b.tx(3, []twrite{{7, fill(bs, 3)}}, nil, 12, false)
			b.super(1, 1)
			ov, sc := b.replay(t, 100)
			if sc.end-sc.start != 1 {
				t.Fatalf("%d transactions replayed, want 1", sc.end-sc.start)
			}
			if w := strings.Join(sc.warnings, "\n"); !strings.Contains(w, "transaction 2: commit block checksum mismatch") {
				t.Errorf("warnings %q", w)
			}
			for blk, v := range map[int]byte{5: 1, 6: 0, 7: 0} {
				if got := readBlock(t, ov, blk, bs); got[0] != v {
					t.Errorf("block %d = %d, want %d", blk, got[0], v)
				}
			}
		})
	}
}

// A bad commit block older than the one before it is a stale block from an
// earlier pass round the log: the log ends there without a warning.
func TestJournalStaleCommit(t *testing.T) {
	const bs = 1024
	b := newJBuilder(bs, 64, 0, jIncompatCsumV3)
	b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 10, false)
	b.tx(2, []twrite{{5, fill(bs, 2)}}, nil, 5, true)
	b.super(1, 1)
	_, sc := b.replay(t, 100)
	if sc.end-sc.start != 1 || len(sc.warnings) != 0 {
		t.Errorf("%d transactions, warnings %q", sc.end-sc.start, sc.warnings)
	}
}

func TestJournalBadData(t *testing.T) {
	const bs = 1024
	b := newJBuilder(bs, 64, 0, jIncompatCsumV3|jIncompat64Bit)
	b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 10, false)
	b.tx(2, []twrite{{5, fill(bs, 2)}}, nil, 11, false)
	b.blocks[5][100] ^= 1 // transaction 2's copy of block 5
	b.super(1, 1)
	ov, _ := b.replay(t, 100)
	if got := readBlock(t, ov, 5, bs); got[0] != 1 {
		t.Errorf("block 5 = %d, want the last good copy (1)", got[0])
	}
	if w := strings.Join(ov.warnings, "\n"); !strings.Contains(w, "fails its checksum") {
		t.Errorf("warnings %q", w)
	}
}

func TestJournalEnds(t *testing.T) {
	const bs = 1024
	b := newJBuilder(bs, 64, 0, jIncompatRevoke)
	b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 1, false)
	b.tx(3, []twrite{{5, fill(bs, 3)}}, nil, 3, false) // sequence gap
	b.super(1, 1)
	if _, sc := b.replay(t, 100); sc.end-sc.start != 1 {
		t.Errorf("%d transactions across a sequence gap", sc.end-sc.start)
	}
	// An uncommitted transaction is not replayed.
	b = newJBuilder(bs, 64, 0, jIncompatRevoke)
	b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 1, false)
	b.tx(2, []twrite{{5, fill(bs, 2)}}, nil, 2, false)
	clear(b.blocks[b.pos-1]) // the commit block
	b.super(1, 1)
	ov, sc := b.replay(t, 100)
	if sc.end-sc.start != 1 || readBlock(t, ov, 5, bs)[0] != 1 {
		t.Errorf("uncommitted transaction replayed")
	}
	// s_start 0: nothing to replay.
	b.super(0, 1)
	if ov, sc := b.replay(t, 100); sc.end != sc.start || len(ov.keys) != 0 {
		t.Errorf("empty journal replayed %d transactions", sc.end-sc.start)
	}
	// Blocks beyond the filesystem are not replayed.
	b.super(1, 1)
	if ov, _ := b.replay(t, 5); len(ov.keys) != 0 || len(ov.warnings) == 0 {
		t.Errorf("block beyond the filesystem replayed: %v %q", ov.keys, ov.warnings)
	}
}

func TestJournalSuperErrors(t *testing.T) {
	const bs = 1024
	b := newJBuilder(bs, 64, 0, jIncompatCsumV3)
	b.super(1, 1)
	good := append([]byte(nil), b.blocks[0]...)
	for _, c := range []struct {
		name string
		off  int
		val  uint32
		want string
	}{
		{"magic", 0, 1, "bad magic"},
		{"type", 4, jDescriptor, "not a superblock"},
		{"block size", 0x0C, 4096, "block size"},
		{"maxlen", 0x10, 65, "journal has 64"},
		{"first", 0x14, 64, "first block"},
		{"start", 0x1C, 70, "outside the log"},
		{"incompat", 0x28, 1 << 20, "unknown incompatible"},
	} {
		blk := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(blk[c.off:], c.val)
		if _, err := parseJournalSuper(blk, bs, 64); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	blk := append([]byte(nil), good...)
	blk[0x200] ^= 1
	js, err := parseJournalSuper(blk, bs, 64)
	if err != nil || js.superCsum == js.checksum {
		t.Errorf("superblock checksum not checked: %v", err)
	}
}

// A transaction whose tags claim more blocks than the log holds stops the
// scan when the log has been read once.
func TestJournalBounded(t *testing.T) {
	const bs = 1024
	b := newJBuilder(bs, 8, 0, 0)
	b.super(1, 1)
	var writes []twrite
	for i := 0; i < 40; i++ {
		writes = append(writes, twrite{uint64(i + 10), fill(bs, byte(i))})
	}
	// Write a descriptor with 40 tags by hand into a 7-block log.
	d := b.blocks[1]
	putHeader(d, jDescriptor, 1)
	for i := range writes {
		binary.BigEndian.PutUint32(d[12+8*i:], uint32(i+10))
		binary.BigEndian.PutUint16(d[12+8*i+6:], jFlagSameUUID)
	}
	_, sc := b.replay(t, 100)
	if sc.end != sc.start || len(sc.warnings) == 0 {
		t.Errorf("%d transactions, warnings %q", sc.end-sc.start, sc.warnings)
	}
}

// FuzzJournal runs the journal superblock parser, the scan and the replay
// over arbitrary journals of 1 KiB blocks. It asserts only that nothing
// panics, hangs or allocates without bound.
func FuzzJournal(f *testing.F) {
	const bs = 1024
	for _, fs := range featureSets {
		b := newJBuilder(bs, 24, fs.compat, fs.incompat)
		b.pos = 18
		b.tx(1, []twrite{{5, fill(bs, 1)}, {6, fill(bs, 2)}}, nil, 1, false)
		b.tx(2, []twrite{{5, fill(bs, 3)}}, []uint64{6}, 2, false)
		b.tx(3, []twrite{{7, fill(bs, 3)}}, nil, 3, true)
		b.super(18, 1)
		f.Add(bytes.Join(b.blocks, nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2*bs || len(data) > 256*bs {
			return
		}
		var log memLog
		for i := 0; i+bs <= len(data); i += bs {
			log = append(log, data[i:i+bs])
		}
		js, err := parseJournalSuper(log[0], bs, uint64(len(log)))
		if err != nil {
			return
		}
		sc, err := scanJournal(js, log)
		if err != nil {
			return
		}
		if len(sc.writes) > len(log) {
			t.Fatalf("%d writes from %d blocks", len(sc.writes), len(log))
		}
		base := bytes.NewReader(make([]byte, 64*bs))
		ov, err := buildOverlay(base, js, sc, log, bs, 64)
		if err != nil {
			return
		}
		p := make([]byte, 64*bs)
		ov.ReadAt(p, 0)
		ov.ReadAt(p[:3*bs], 10*bs+100)
	})
}

// TestJournalExternalAndOrphans checks what replay reports but does not do:
// an external journal, and orphan inodes left for the kernel to clean up.
func TestJournalExternalAndOrphans(t *testing.T) {
	needTools(t, "mke2fs", "debugfs")
	t.Run("external", func(t *testing.T) {
		img := mkfs(t, "", "8M", "-t", "ext4")
		runTool(t, "debugfs", "-w", "-R", "ssv journal_inum 0", img)
		runTool(t, "debugfs", "-w", "-R", "ssv journal_uuid 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", img)
		runTool(t, "debugfs", "-w", "-R", "feature needs_recovery", img)
		fsys := openImage(t, img)
		w := strings.Join(fsys.Warnings(), "\n")
		if fsys.Info().Replayed || !strings.Contains(w, "journal not replayed: the journal is on an external device (journal UUID 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") {
			t.Errorf("replayed %v, warnings %q", fsys.Info().Replayed, w)
		}
	})
	t.Run("orphans", func(t *testing.T) {
		img := mkfs(t, "", "8M", "-t", "ext4")
		runTool(t, "debugfs", "-w", "-R", "ssv last_orphan 11", img)
		runTool(t, "debugfs", "-w", "-R", "feature needs_recovery", img)
		fsys := openImage(t, img)
		w := strings.Join(fsys.Warnings(), "\n")
		if !fsys.Info().Replayed || !strings.Contains(w, "orphan inodes present") {
			t.Errorf("replayed %v, warnings %q", fsys.Info().Replayed, w)
		}
	})
}

// fcBlock writes fast-commit tags into b, ending with a TAIL for tid that
// pads the block; the TAIL's checksum is computed from crc, or corrupted
// if bad is set.
func fcBlock(b []byte, head bool, tid uint32, bad bool, tags ...fcTag) {
	le := binary.LittleEndian
	off := 0
	put := func(tag uint16, val []byte) {
		le.PutUint16(b[off:], tag)
		le.PutUint16(b[off+2:], uint16(len(val)))
		copy(b[off+4:], val)
		off += 4 + len(val)
	}
	if head {
		v := make([]byte, 8)
		le.PutUint32(v[4:], tid)
		put(fcHead, v)
	}
	for _, t := range tags {
		put(t.tag, t.val)
	}
	crc := crc32c(0, b[:off])
	le.PutUint16(b[off:], fcTail)
	le.PutUint16(b[off+2:], uint16(len(b)-off-4))
	le.PutUint32(b[off+4:], tid)
	crc = crc32c(crc, b[off:off+8])
	if bad {
		crc++
	}
	le.PutUint32(b[off+8:], crc)
}

// The fast-commit area is scanned as the kernel does: the commits for the
// transaction after the last replayed one, up to the last whose TAIL
// checksum matches, are kept for the apply phase (fastcommit_apply.go).
func TestJournalFastCommit(t *testing.T) {
	const bs = 1024
	inode := fcTag{fcInode, []byte{12, 0, 0, 0, 0xA4, 0x81, 0, 0}}
	unlink := fcTag{fcUnlink, []byte{2, 0, 0, 0, 12, 0, 0, 0, 'x'}}
	for _, c := range []struct {
		tid     uint32
		bad2    bool
		commits int
	}{{3, false, 2}, {3, true, 1}, {7, false, 0}} {
		b := newJBuilder(bs, 32, 0, jIncompatRevoke|jIncompatFastCommit)
		b.blocks = b.blocks[:28] // the log; four fast-commit blocks follow
		b.tx(1, []twrite{{5, fill(bs, 1)}}, nil, 1, false)
		b.tx(2, []twrite{{5, fill(bs, 2)}}, nil, 2, false)
		for i := 0; i < 4; i++ {
			b.blocks = append(b.blocks, make([]byte, bs))
		}
		b.super(1, 1)
		binary.BigEndian.PutUint32(b.blocks[0][0x54:], 4)
		// The first fast-commit block: the log ends at 28.
		fcBlock(b.blocks[29], true, c.tid, false, inode)
		fcBlock(b.blocks[30], false, c.tid, c.bad2, inode, unlink)
		_, sc := b.replay(t, 100)
		got := 0
		if sc.fc != nil {
			got = sc.fc.commits
		}
		if sc.end != 3 || got != c.commits {
			t.Errorf("tid %d, second bad %v: end %d, %d fast commits; want %d", c.tid, c.bad2, sc.end, got, c.commits)
		}
		if c.commits == 2 && (len(sc.fc.tags) != 3 || sc.fc.summary() != "UNLINK ×1, INODE ×2") {
			t.Errorf("tags %v, summary %q", sc.fc.tags, sc.fc.summary())
		}
	}
}

// FuzzFastCommit feeds the fast-commit scan arbitrary areas: it must not
// panic, and keeps no more tags than the area could hold. When mke2fs is
// at hand, the tags found are then applied to a small filesystem, which
// must not panic either, and is read again.
func FuzzFastCommit(f *testing.F) {
	const bs = 1024
	a := make([]byte, 3*bs)
	fcBlock(a[:bs], true, 5, false, fcTag{fcInode, []byte{12, 0, 0, 0, 1, 2, 3, 4}})
	fcBlock(a[bs:2*bs], false, 5, false, fcTag{fcAddRange, make([]byte, 16)}, fcTag{fcCreat, []byte{2, 0, 0, 0, 12, 0, 0, 0, 'a', 'b'}})
	f.Add(a)
	var img []byte
	if _, err := exec.LookPath("mke2fs"); err == nil {
		img = fcImage(f)
		g, _ := fcOpen(f, img)
		victim, data := fcIno(f, g, "victim"), fcIno(f, g, "data.bin")
		raw := fcRaw(f, g, victim)
		b := make([]byte, 3*bs)
		fcBlock(b[:bs], true, 5, false, fcInodeTag(30, raw, 5), fcAddRangeTag(30, 0, firstBlock(f, g, "data.bin"), 1),
			fcDentryTag(fcCreat, rootIno, 30, "new"), fcInodeTag(30, raw, 5))
		fcBlock(b[bs:2*bs], false, 5, false, fcTag{fcDelRange, fcU32s(data, 1, 2)},
			fcDentryTag(fcLink, rootIno, victim, "hard"), fcDentryTag(fcUnlink, rootIno, victim, "victim"))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < bs || len(data) > 64*bs {
			return
		}
		var log memLog
		for i := 0; i+bs <= len(data); i += bs {
			log = append(log, data[i:i+bs])
		}
		fc, err := scanFastCommit(log, 0, uint32(len(log)), 5)
		if err != nil {
			return
		}
		if len(fc.tags) > len(log)*bs/fcTagHeader {
			t.Fatalf("%d tags from %d blocks", len(fc.tags), len(log))
		}
		_ = fc.summary()
		if img == nil || len(fc.tags) == 0 {
			return
		}
		g, ov := fcOpen(t, img)
		if g.applyFastCommit(ov, fc) != "" {
			return
		}
		if h, err := OpenOptions(ov, int64(len(img)), Options{}); err == nil {
			fs.WalkDir(h, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return nil
				}
				if fi, err := d.Info(); err == nil && fi.Size() <= 1<<20 {
					fs.ReadFile(h, p) // logged sizes are bounded only by the fuzzer
				}
				return nil
			})
		}
	})
}

// TestJournalCorrupt damages the journal of the ext3-journal fixture at
// random, many times, and opens and walks each copy: nothing may panic or
// hang, whatever part of the replay the damage reaches.
func TestJournalCorrupt(t *testing.T) {
	orig := gunzipSmall("../testdata/ext3-journal.img.gz", 8<<20)
	if orig == nil {
		t.Fatal("cannot read ../testdata/ext3-journal.img.gz")
	}
	f, err := OpenOptions(bytes.NewReader(orig), int64(len(orig)), Options{NoReplay: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := f.inode(8)
	if err != nil {
		t.Fatal(err)
	}
	src := &fsLog{f: f, in: in, total: uint32(in.size / f.bs)}
	var offs []int64 // byte offsets of the journal's blocks
	for i := uint32(0); i < src.total; i++ {
		r, err := src.phys(i)
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, int64(r.pblk*f.bs))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 1000
	if testing.Short() {
		n = 100
	}
	img := make([]byte, len(orig))
	for it := 0; it < n; it++ {
		copy(img, orig)
		for k := rng.IntN(6); k >= 0; k-- {
			blk := offs[rng.IntN(len(offs))]
			if rng.IntN(4) == 0 {
				blk = offs[0] // the journal superblock
			}
			img[blk+int64(rng.IntN(64))] = byte(rng.IntN(256))
		}
		fsys, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			continue
		}
		exercise(fsys)
	}
}
