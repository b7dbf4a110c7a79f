package lvm

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"vmsh/internal/tooltest"
)

// The thin-pool fixture under testdata was made by testdata/mkthin.sh:
// thin.xml was restored with `thin_restore -i thin.xml -o thin-meta` into a
// 1 MiB file, thin.dump is `thin_dump thin-meta`, and thin-meta.gz is
// `gzip -9n thin-meta`.

// thinXML is the XML that thin_dump prints and thin_restore reads.
type thinXML struct {
	Transaction   uint64          `xml:"transaction,attr"`
	DataBlockSize int64           `xml:"data_block_size,attr"`
	NrDataBlocks  uint64          `xml:"nr_data_blocks,attr"`
	Devices       []thinXMLDevice `xml:"device"`
}

type thinXMLDevice struct {
	ID           uint64           `xml:"dev_id,attr"`
	MappedBlocks uint64           `xml:"mapped_blocks,attr"`
	Transaction  uint64           `xml:"transaction,attr"`
	CreationTime uint32           `xml:"creation_time,attr"`
	SnapTime     uint32           `xml:"snap_time,attr"`
	Mappings     []thinXMLMapping `xml:",any"`
}

// thinXMLMapping is a single_mapping or a range_mapping element.
type thinXMLMapping struct {
	XMLName     xml.Name
	OriginBlock uint64 `xml:"origin_block,attr"`
	DataBlock   uint64 `xml:"data_block,attr"`
	OriginBegin uint64 `xml:"origin_begin,attr"`
	DataBegin   uint64 `xml:"data_begin,attr"`
	Length      uint64 `xml:"length,attr"`
}

func parseThinXML(t testing.TB, b []byte) *thinXML {
	t.Helper()
	var x thinXML
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	return &x
}

// thinMap is one device's expected mappings: virtual → data block, and the
// virtual blocks in order.
type thinMap struct {
	m    map[uint64]uint64
	keys []uint64
}

func (d *thinXMLDevice) expand(t testing.TB) *thinMap {
	t.Helper()
	tm := &thinMap{m: make(map[uint64]uint64)}
	add := func(v, db uint64) {
		if _, dup := tm.m[v]; dup {
			t.Fatalf("device %d: virtual block %d mapped twice in the dump", d.ID, v)
		}
		tm.m[v] = db
		tm.keys = append(tm.keys, v)
	}
	for _, mp := range d.Mappings {
		switch mp.XMLName.Local {
		case "single_mapping":
			add(mp.OriginBlock, mp.DataBlock)
		case "range_mapping":
			for i := range mp.Length {
				add(mp.OriginBegin+i, mp.DataBegin+i)
			}
		default:
			t.Fatalf("device %d: unknown element %q", d.ID, mp.XMLName.Local)
		}
	}
	slices.Sort(tm.keys)
	return tm
}

// minRuns is the number of maximal runs (mapped to consecutive data blocks,
// or unmapped) that cover virtual blocks [0, end).
func (tm *thinMap) minRuns(end uint64) int {
	runs := 0
	var next uint64 // first block not yet covered
	for i, k := range tm.keys {
		if k >= end {
			break
		}
		if k > next {
			runs++ // the gap before k
		}
		if i == 0 || tm.keys[i-1] != k-1 || tm.m[k-1] != tm.m[k]-1 {
			runs++
		}
		next = k + 1
	}
	if next < end {
		runs++
	}
	return runs
}

// thinCheck compares a pool with what thin_dump printed. Wrong answers are
// reported as failures; errors from the pool are returned (the first one),
// with the number of them, so that damaged copies can be checked too: for
// those, an error is fine and a wrong answer is not. perBlock adds a Lookup
// of every virtual block below 1<<20 and around each mapping to the run
// walk.
func thinCheck(t *testing.T, meta []byte, want *thinXML, perBlock bool) (*ThinPool, int, error) {
	t.Helper()
	nerr := 0
	var first error
	fail := func(err error) {
		if nerr == 0 {
			first = err
		}
		nerr++
	}
	p, err := OpenThinPool(bytes.NewReader(meta), int64(len(meta)))
	if err != nil {
		fail(err)
		return nil, nerr, first
	}
	if got, want := p.DataBlockSize(), want.DataBlockSize*512; got != want {
		t.Errorf("DataBlockSize %d, want %d", got, want)
	}
	if got, want := p.DataBlocks(), want.NrDataBlocks; got != want {
		t.Errorf("DataBlocks %d, want %d", got, want)
	}
	if got, want := p.TransactionID(), want.Transaction; got != want {
		t.Errorf("TransactionID %d, want %d", got, want)
	}
	var wantIDs []uint64
	for _, d := range want.Devices {
		wantIDs = append(wantIDs, d.ID)
	}
	if ids, err := p.Devices(); err != nil {
		fail(err)
	} else if !slices.Equal(ids, wantIDs) {
		t.Errorf("Devices %v, want %v", ids, wantIDs)
	}
	for _, wd := range want.Devices {
		d, err := p.Device(wd.ID)
		if err != nil {
			fail(err)
			continue
		}
		if d.ID != wd.ID || d.MappedBlocks != wd.MappedBlocks || d.TransactionID != wd.Transaction ||
			d.CreationTime != wd.CreationTime || d.SnapshotTime != wd.SnapTime {
			t.Errorf("device %d: %+v, want %+v", wd.ID, d, wd)
		}
		tm := wd.expand(t)
		end := uint64(100)
		if n := len(tm.keys); n > 0 {
			end += tm.keys[n-1]
		}
		if perBlock {
			check := func(v uint64) error {
				db, ok, err := d.Lookup(v)
				if err != nil {
					return err
				}
				wdb, wok := tm.m[v]
				if ok != wok || db != wdb {
					t.Errorf("device %d block %d: Lookup %d, %v, want %d, %v", wd.ID, v, db, ok, wdb, wok)
				}
				return nil
			}
			for v := range min(end, 1<<20) {
				if err := check(v); err != nil {
					fail(err)
					break
				}
			}
			for _, k := range tm.keys {
				if err := errors.Join(check(k-1), check(k), check(k+1)); err != nil {
					fail(err)
					break
				}
			}
			for _, v := range []uint64{end, 1 << 40, math.MaxUint64 - 1, math.MaxUint64} {
				if err := check(v); err != nil {
					fail(err)
				}
			}
		}
		// The run walk covers every block below end.
		runs := 0
		var walkErr error
		for v := uint64(0); v < end; {
			r, err := d.LookupRun(v, end-v)
			if err != nil {
				fail(err)
				walkErr = err
				break
			}
			runs++
			if r.VBlock != v || r.Len < 1 || r.Len > end-v {
				t.Fatalf("device %d: LookupRun(%d, %d) = %+v", wd.ID, v, end-v, r)
			}
			if r.Mapped {
				for k := range r.Len {
					if db, ok := tm.m[v+k]; !ok || db != r.DBlock+k {
						t.Fatalf("device %d: run %+v: block %d maps to %d, %v", wd.ID, r, v+k, db, ok)
					}
				}
			} else {
				i, _ := slices.BinarySearch(tm.keys, v)
				if i < len(tm.keys) && tm.keys[i] < v+r.Len {
					t.Fatalf("device %d: unmapped run %+v holds mapped block %d", wd.ID, r, tm.keys[i])
				}
			}
			v += r.Len
		}
		// Runs are maximal but for splits at leaf boundaries; a leaf holds
		// at least a few dozen entries.
		if min := tm.minRuns(end); walkErr == nil && (runs < min || runs > min+len(tm.keys)/32+2) {
			t.Errorf("device %d: %d runs cover blocks [0, %d), the fewest possible is %d", wd.ID, runs, end, min)
		}
	}
	// Ids the pool does not have.
	missing := []uint64{math.MaxUint64, 1 << 24}
	for id := range uint64(20) {
		missing = append(missing, id)
	}
	for _, id := range missing {
		if slices.Contains(wantIDs, id) {
			continue
		}
		_, err := p.Device(id)
		if err == nil {
			t.Errorf("Device(%d) of a pool without it: no error", id)
		} else if errors.Is(err, ErrNoThinDevice) {
			if s := strconv.FormatUint(id, 10); !strings.HasSuffix(err.Error(), " "+s) {
				t.Errorf("Device(%d): error %q does not name the id", id, err)
			}
		} else {
			fail(err)
		}
	}
	return p, nerr, first
}

func thinFixture(t testing.TB) ([]byte, *thinXML) {
	meta := tooltest.Gunzip(t, "testdata/thin-meta.gz")
	dump, err := os.ReadFile("testdata/thin.dump")
	if err != nil {
		t.Fatal(err)
	}
	return meta, parseThinXML(t, dump)
}

func TestThinFixture(t *testing.T) {
	meta, want := thinFixture(t)
	if len(want.Devices) != 4 {
		t.Fatalf("thin.dump has %d devices", len(want.Devices))
	}
	p, nerr, err := thinCheck(t, meta, want, true)
	if err != nil {
		t.Fatalf("%d errors, the first: %v", nerr, err)
	}
	if p.NeedsCheck() {
		t.Error("NeedsCheck on a clean pool")
	}
	// The scattered device's tree has internal nodes.
	d, err := p.Device(1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.node(d.root); err != nil || n.leaf {
		t.Errorf("device 1's root node: %+v, %v; want an internal node", n, err)
	}
}

// TestThinConcurrent runs lookups from several goroutines through a cache
// too small for the tree, so nodes are evicted and read again.
func TestThinConcurrent(t *testing.T) {
	meta, want := thinFixture(t)
	p, err := OpenThinPool(bytes.NewReader(meta), int64(len(meta)))
	if err != nil {
		t.Fatal(err)
	}
	p.cacheMax = 3
	var wg sync.WaitGroup
	for _, wd := range want.Devices {
		tm := wd.expand(t)
		d, err := p.Device(wd.ID)
		if err != nil {
			t.Fatal(err)
		}
		for g := range 3 {
			wg.Go(func() {
				for i, k := range tm.keys {
					if i%3 != g {
						continue
					}
					db, ok, err := d.Lookup(k)
					if err != nil || !ok || db != tm.m[k] {
						t.Errorf("device %d block %d: %d, %v, %v; want %d", wd.ID, k, db, ok, err, tm.m[k])
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if n := p.lru.Len(); n > 3 || len(p.cache) != n {
		t.Errorf("cache holds %d nodes (%d in the map), limit 3", n, len(p.cache))
	}
}

// TestThinCorrupt flips bytes in every block of the fixture: each damaged
// copy must give an error or the right answers, never a wrong answer or a
// panic, and damage to any node a lookup reads must be an error that names
// its block.
func TestThinCorrupt(t *testing.T) {
	meta, want := thinFixture(t)
	p, _, err := thinCheck(t, meta, want, false)
	if err != nil {
		t.Fatal(err)
	}
	used, last := thinUsedBlocks(p)
	t.Logf("%d of %d metadata blocks hold nodes read by the lookups", len(used), len(meta)/thinBlockSize)
	detected := 0
	for b := uint64(0); b <= last+4 && int(b+1)*thinBlockSize <= len(meta); b++ {
		for _, off := range []int{int(b*131+17) % thinBlockSize, 16, 2} {
			bad := bytes.Clone(meta)
			bad[int(b)*thinBlockSize+off] ^= 0x10
			_, nerr, err := thinCheck(t, bad, want, false)
			if t.Failed() {
				t.Fatalf("block %d byte %d flipped: wrong answers", b, off)
			}
			if !used[b] {
				if err != nil {
					t.Errorf("block %d (not a node read) byte %d flipped: %v", b, off, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("block %d byte %d flipped: no error", b, off)
				continue
			}
			var fe *FormatError
			name := fmt.Sprintf("block %d:", b)
			if b == 0 {
				name = "superblock"
			}
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), name) {
				t.Errorf("block %d byte %d flipped: error %q (%d errors) does not name the block", b, off, err, nerr)
			}
			detected++
		}
	}
	t.Logf("%d damaged copies detected", detected)
}

// thinUsedBlocks returns the blocks a pool has read (all still cached) and
// the last of them.
func thinUsedBlocks(p *ThinPool) (map[uint64]bool, uint64) {
	used := map[uint64]bool{0: true}
	last := uint64(0)
	for b := range p.cache {
		used[b] = true
		last = max(last, b)
	}
	return used, last
}

// TestThinTools restores hand-written XML with thin_restore and compares
// every lookup with what thin_dump reads back from the same metadata.
func TestThinTools(t *testing.T) {
	tooltest.Need(t, "thin_restore", "thin_dump")
	if testing.Short() {
		t.Skip("short")
	}
	x, counts := thinToolXML()
	dir := t.TempDir()
	xmlPath, meta := filepath.Join(dir, "x.xml"), filepath.Join(dir, "meta")
	if err := os.WriteFile(xmlPath, x, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(meta, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("thin_restore", "-i", xmlPath, "-o", meta).CombinedOutput(); err != nil {
		t.Fatalf("thin_restore: %v\n%s", err, out)
	}
	dump, err := exec.Command("thin_dump", meta).Output()
	if err != nil {
		t.Fatalf("thin_dump: %v", err)
	}
	want := parseThinXML(t, dump)
	for i, wd := range want.Devices {
		if got := uint64(len(wd.expand(t).keys)); got != counts[i] {
			t.Fatalf("thin_dump shows %d mappings for device %d, the XML had %d", got, wd.ID, counts[i])
		}
	}
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	p, nerr, err := thinCheck(t, b, want, true)
	if err != nil {
		t.Fatalf("%d errors, the first: %v", nerr, err)
	}
	d, _ := p.Device(want.Devices[0].ID)
	depth := 0
	for block := d.root; ; depth++ {
		n, _ := p.node(block)
		if n.leaf {
			break
		}
		block = n.value64(0)
	}
	t.Logf("%d devices, %d mappings in all; device %d's tree has %d levels above its leaves", len(want.Devices), sum(counts), d.ID, depth)
	if depth < 2 {
		t.Error("fewer than two levels of internal nodes in the largest device's tree")
	}
	for _, root := range []uint64{p.detailsRoot, p.mappingRoot} {
		if n, err := p.node(root); err != nil || n.leaf {
			t.Errorf("root %d: %+v, %v; want an internal node", root, n, err)
		}
	}
}

func sum(s []uint64) (n uint64) {
	for _, v := range s {
		n += v
	}
	return n
}

// thinToolXML writes the XML for TestThinTools and the number of mappings
// of each device, in device order: 70,000 scattered single mappings, runs
// of range mappings, a device sharing data blocks with another (as a
// snapshot does), an empty device, mappings at huge virtual blocks, a few
// hundred small devices, and the largest device id.
func thinToolXML() ([]byte, []uint64) {
	rng := rand.New(rand.NewPCG(4, 27022010))
	const dataBlocks = 1 << 24
	var b bytes.Buffer
	fmt.Fprintf(&b, "<superblock uuid=\"\" time=\"9\" transaction=\"77\" flags=\"0\" version=\"2\" data_block_size=\"256\" nr_data_blocks=\"%d\">\n", dataBlocks)
	var counts []uint64
	device := func(id uint64, body string, n uint64) {
		fmt.Fprintf(&b, "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"%d\" creation_time=\"%d\" snap_time=\"%d\">\n%s  </device>\n", id, n, id%50, id%7, id%9, body)
		counts = append(counts, n)
	}
	single := func(s *strings.Builder, v, d uint64) {
		fmt.Fprintf(s, "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", v, d, v%5)
	}
	span := func(s *strings.Builder, v, d, n uint64) {
		fmt.Fprintf(s, "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"1\"/>\n", v, d, n)
	}
	nextData := uint64(1000)

	var s strings.Builder
	perm := rng.Perm(70000)
	v := uint64(0)
	for i := range 70000 {
		v += 1 + rng.Uint64N(12)
		single(&s, v, 2_000_000+uint64(perm[i])*3)
	}
	device(0, s.String(), 70000)

	s.Reset()
	var shared strings.Builder
	n, sharedN := uint64(0), uint64(0)
	v = 3
	for i := range 400 {
		l := 1 + rng.Uint64N(200)
		span(&s, v, nextData, l)
		if i%4 == 0 {
			span(&shared, v, nextData, l)
			sharedN += l
		}
		n += l
		v += l + rng.Uint64N(3)*rng.Uint64N(50)
		nextData += l + rng.Uint64N(2)
	}
	device(1, s.String(), n)

	for i := range 300 {
		single(&shared, v+uint64(i)*7, nextData)
		nextData++
	}
	device(2, shared.String(), sharedN+300)

	device(3, "", 0)

	s.Reset()
	for i := range uint64(600) {
		single(&s, 1<<40+i*i*1000003, nextData)
		nextData++
	}
	span(&s, 1<<50, nextData, 100)
	nextData += 100
	device(8, s.String(), 700)

	// Enough devices for internal nodes in the device details tree and the
	// mapping tree's top level.
	for id := uint64(100); id < 500; id += 1 + id%3 {
		s.Reset()
		for k := range id % 4 {
			single(&s, k*id, nextData)
			nextData++
		}
		device(id, s.String(), id%4)
	}

	s.Reset()
	span(&s, 0, nextData, 5)
	single(&s, 10, dataBlocks-1)
	device(1<<24-1, s.String(), 6)

	b.WriteString("</superblock>\n")
	return b.Bytes(), counts
}

// thinImage builds thin-pool metadata by hand, block by block, following
// the on-disk format, for damage that thin_restore never writes.
type thinImage []byte

func newThinImage(blocks int) thinImage { return make(thinImage, blocks*thinBlockSize) }

func (m thinImage) block(b uint64) []byte { return m[b*thinBlockSize : (b+1)*thinBlockSize] }

// super writes a superblock with the two roots and data blocks of 64 KiB.
func (m thinImage) super(mappingRoot, detailsRoot, dataBlocks uint64) {
	s := m.block(0)
	clear(s)
	le.PutUint64(s[32:], thinMagic)
	le.PutUint32(s[40:], 2)
	le.PutUint64(s[64:], dataBlocks)
	le.PutUint64(s[192:], uint64(len(m)/thinBlockSize))
	le.PutUint64(s[320:], mappingRoot)
	le.PutUint64(s[328:], detailsRoot)
	le.PutUint32(s[336:], 128)
	le.PutUint32(s[340:], 8)
	m.sum(0)
}

// node writes a btree node of the largest capacity for vsize; vals holds
// one value of vsize bytes per key.
func (m thinImage) node(b uint64, flags uint32, vsize int, keys []uint64, vals ...[]byte) {
	n := m.block(b)
	clear(n)
	maxEntries := (thinBlockSize - nodeHeaderSize) / (8 + vsize) / 3 * 3
	le.PutUint32(n[4:], flags)
	le.PutUint64(n[8:], b)
	le.PutUint32(n[16:], uint32(len(keys)))
	le.PutUint32(n[20:], uint32(maxEntries))
	le.PutUint32(n[24:], uint32(vsize))
	for i, k := range keys {
		le.PutUint64(n[nodeHeaderSize+8*i:], k)
		copy(n[nodeHeaderSize+8*maxEntries+vsize*i:], vals[i])
	}
	m.sum(b)
}

func (m thinImage) sum(b uint64) {
	salt := uint32(thinNodeXor)
	if b == 0 {
		salt = thinSuperXor
	}
	blk := m.block(b)
	le.PutUint32(blk, thinChecksum(blk[4:], salt))
}

func u64(v uint64) []byte { return le.AppendUint64(nil, v) }

func details(mapped uint64) []byte { return append(u64(mapped), make([]byte, 16)...) }

// goodThinImage is a pool with device 1 mapping virtual blocks 0 and 5 to
// data blocks 7 and 9: the mapping tree's top level in block 1, the
// device's tree in block 2, the details in block 3.
func goodThinImage() thinImage {
	m := newThinImage(16)
	m.super(1, 3, 100)
	m.node(1, nodeLeaf, 8, []uint64{1}, u64(2))
	m.node(2, nodeLeaf, 8, []uint64{0, 5}, u64(7<<24|1), u64(9<<24))
	m.node(3, nodeLeaf, thinDetailsSize, []uint64{1}, details(2))
	return m
}

// thinLookupAll opens the pool and looks up blocks 0-9 of device 1,
// returning the first error.
func thinLookupAll(m thinImage) error {
	p, err := OpenThinPool(bytes.NewReader(m), int64(len(m)))
	if err != nil {
		return err
	}
	if _, err := p.Devices(); err != nil {
		return err
	}
	d, err := p.Device(1)
	if err != nil {
		return err
	}
	for v := range uint64(10) {
		if _, _, err := d.Lookup(v); err != nil {
			return err
		}
		if _, err := d.LookupRun(v, 100); err != nil {
			return err
		}
	}
	return nil
}

func TestThinHostile(t *testing.T) {
	good := goodThinImage()
	if err := thinLookupAll(good); err != nil {
		t.Fatal(err)
	}
	p, _ := OpenThinPool(bytes.NewReader(good), int64(len(good)))
	d, _ := p.Device(1)
	for v, want := range map[uint64]ThinRun{
		0: {VBlock: 0, Len: 1, Mapped: true, DBlock: 7},
		1: {VBlock: 1, Len: 4},
		5: {VBlock: 5, Len: 1, Mapped: true, DBlock: 9},
		6: {VBlock: 6, Len: 100},
	} {
		if r, err := d.LookupRun(v, 100); err != nil || r != want {
			t.Errorf("LookupRun(%d, 100) = %+v, %v; want %+v", v, r, err, want)
		}
	}

	tests := []struct {
		name   string
		damage func(m thinImage) thinImage
		want   string // in the error
	}{
		{"superblock checksum", func(m thinImage) thinImage { m[100] ^= 1; return m }, "superblock: checksum"},
		{"superblock magic", func(m thinImage) thinImage { m[32] ^= 1; m.sum(0); return m }, "bad magic"},
		{"data block size", func(m thinImage) thinImage { le.PutUint32(m[336:], 100); m.sum(0); return m }, "data block size 100"},
		{"metadata block size", func(m thinImage) thinImage { le.PutUint32(m[340:], 16); m.sum(0); return m }, "metadata block size"},
		{"version", func(m thinImage) thinImage { le.PutUint32(m[40:], 3); m.sum(0); return m }, "version 3"},
		{"incompatible feature", func(m thinImage) thinImage { le.PutUint32(m[360:], 1); m.sum(0); return m }, "incompatible"},
		{"root outside", func(m thinImage) thinImage { m.super(1, 16, 100); return m }, "device details root 16 outside"},
		{"root is the superblock", func(m thinImage) thinImage { m.super(0, 3, 100); return m }, "data mapping root 0"},
		{"truncated", func(m thinImage) thinImage { return m[:3*thinBlockSize] }, "device details root 3 outside the 3 metadata blocks"},
		{"truncated before a leaf", func(m thinImage) thinImage {
			m.super(1, 2, 100)
			m.node(2, nodeLeaf, thinDetailsSize, []uint64{1}, details(2))
			m.node(1, nodeLeaf, 8, []uint64{1}, u64(3))
			return m[:3*thinBlockSize]
		}, "block 3: btree node outside the 3 metadata blocks"},
		{"too small", func(m thinImage) thinImage { return m[:thinBlockSize] }, "too small"},
		{"space map counts fewer blocks", func(m thinImage) thinImage { le.PutUint64(m[192:], 3); m.sum(0); return m }, "device details root 3 outside the 3 metadata blocks"},
		{"node checksum", func(m thinImage) thinImage { m[2*thinBlockSize+50] ^= 1; return m }, "block 2: btree node checksum"},
		{"node block number", func(m thinImage) thinImage { le.PutUint64(m[2*thinBlockSize+8:], 4); m.sum(2); return m }, "block 2: btree node records block number 4"},
		{"node flags", func(m thinImage) thinImage { le.PutUint32(m[2*thinBlockSize+4:], 3); m.sum(2); return m }, "block 2: btree node flags 0x3"},
		{"entries over capacity", func(m thinImage) thinImage { le.PutUint32(m[2*thinBlockSize+16:], 1000); m.sum(2); return m }, "block 2: btree node has 1000 entries"},
		{"capacity over block", func(m thinImage) thinImage { le.PutUint32(m[2*thinBlockSize+20:], 300); m.sum(2); return m }, "does not fit a block"},
		{"value size zero", func(m thinImage) thinImage { le.PutUint32(m[2*thinBlockSize+24:], 0); m.sum(2); return m }, "block 2: btree node value size 0"},
		{"keys out of order", func(m thinImage) thinImage {
			m.node(2, nodeLeaf, 8, []uint64{5, 0}, u64(7<<24), u64(9<<24))
			return m
		}, "block 2: btree node keys out of order"},
		{"duplicate keys", func(m thinImage) thinImage {
			m.node(2, nodeLeaf, 8, []uint64{5, 5}, u64(7<<24), u64(9<<24))
			return m
		}, "keys out of order"},
		{"details value size", func(m thinImage) thinImage {
			m.node(3, nodeLeaf, 16, []uint64{1}, make([]byte, 16))
			return m
		}, "block 3: leaf value size 16, want 24"},
		{"data block beyond the pool", func(m thinImage) thinImage {
			m.node(2, nodeLeaf, 8, []uint64{0, 5}, u64(7<<24), u64(100<<24))
			return m
		}, "block 2: thin device 1 maps virtual block 5 to data block 100, beyond the pool's 100 data blocks"},
		{"child outside", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, []uint64{0}, u64(99))
			return m
		}, "block 2: child 0 at block 99 outside"},
		{"empty internal node", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, nil)
			return m
		}, "block 2: internal node has no entries"},
		{"internal value size", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 16, []uint64{0}, make([]byte, 16))
			return m
		}, "block 2: btree node value size 16"},
		{"loop to itself", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, []uint64{0}, u64(2))
			return m
		}, "block 2: btree loop"},
		{"loop through two nodes", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, []uint64{0}, u64(4))
			m.node(4, nodeInternal, 8, []uint64{0}, u64(2))
			return m
		}, "block 2: btree loop"},
		{"too deep", func(m thinImage) thinImage {
			m = append(m, make([]byte, 20*thinBlockSize)...)
			m.super(1, 3, 100)
			m.node(2, nodeInternal, 8, []uint64{0}, u64(4))
			for b := uint64(4); b < 35; b++ {
				m.node(b, nodeInternal, 8, []uint64{0}, u64(b+1))
			}
			m.node(35, nodeLeaf, 8, []uint64{0}, u64(7<<24))
			return m
		}, "deeper than 20 levels"},
		{"child key below its parent's", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, []uint64{0, 5}, u64(4), u64(5))
			m.node(4, nodeLeaf, 8, []uint64{0}, u64(7<<24))
			m.node(5, nodeLeaf, 8, []uint64{4, 5}, u64(8<<24), u64(9<<24))
			return m
		}, "block 5: first key 4 below its parent's key 5"},
		{"child key not below the next", func(m thinImage) thinImage {
			m.node(2, nodeInternal, 8, []uint64{0, 5}, u64(4), u64(5))
			m.node(4, nodeLeaf, 8, []uint64{0, 5}, u64(7<<24), u64(8<<24))
			m.node(5, nodeLeaf, 8, []uint64{5}, u64(9<<24))
			return m
		}, "block 4: last key 5 not below its parent's next key 5"},
		{"shared details leaf", func(m thinImage) thinImage {
			m.node(3, nodeInternal, 8, []uint64{0, 10}, u64(4), u64(4))
			m.node(4, nodeLeaf, thinDetailsSize, nil)
			return m
		}, "block 4: reached twice in the device details tree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := thinLookupAll(tc.damage(goodThinImage()))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("error %q is neither a *FormatError nor unsupported", err)
			}
		})
	}

	// A device with details but no mapping tree has nothing mapped.
	m := goodThinImage()
	m.node(3, nodeLeaf, thinDetailsSize, []uint64{1, 2}, details(2), details(0))
	p, err := OpenThinPool(bytes.NewReader(m), int64(len(m)))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := p.Device(2); err != nil {
		t.Error(err)
	} else if r, err := d.LookupRun(3, 1000); err != nil || r != (ThinRun{VBlock: 3, Len: 1000}) {
		t.Errorf("device without a tree: %+v, %v", r, err)
	}
}

// TestThinTruncated opens every truncation of the fixture at a block
// boundary: an error or right answers, never a panic.
func TestThinTruncated(t *testing.T) {
	meta, want := thinFixture(t)
	p, _, err := thinCheck(t, meta, want, false)
	if err != nil {
		t.Fatal(err)
	}
	_, last := thinUsedBlocks(p)
	for n := range int(last) + 3 {
		_, _, err := thinCheck(t, meta[:n*thinBlockSize], want, false)
		if t.Failed() {
			t.Fatalf("truncated to %d blocks: wrong answers", n)
		}
		if n <= int(last) && err == nil {
			t.Errorf("truncated to %d blocks: no error", n)
		}
	}
}

func BenchmarkThinLookup(b *testing.B) {
	meta, want := thinFixture(b)
	p, err := OpenThinPool(bytes.NewReader(meta), int64(len(meta)))
	if err != nil {
		b.Fatal(err)
	}
	d, err := p.Device(1)
	if err != nil {
		b.Fatal(err)
	}
	keys := want.Devices[0].expand(b).keys
	i := 0
	for b.Loop() {
		if _, ok, err := d.Lookup(keys[i%len(keys)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
		i++
	}
}
