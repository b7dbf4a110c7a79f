package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
)

// volTemplate is a VG of four PVs of 512 extents of 4 KiB, small enough to
// hold in memory.
const volTemplate = `vgv {
id = "vgvvvv-vvvv-vvvv-vvvv-vvvv-vvvv-vvvvvv"
seqno = 7
extent_size = 8
status = ["RESIZEABLE", "READ", "WRITE"]
physical_volumes {
pv0 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa0" device = "/dev/a" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }
pv1 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa1" device = "/dev/b" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }
pv2 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa2" device = "/dev/c" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }
pv3 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3" device = "/dev/d" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }
}
logical_volumes {
LVS
}
}
`

const (
	testExtent  = 4096
	testPEStart = 4096
	testPVSize  = testPEStart + 512*testExtent
)

// testPVData returns the contents of PV i: every 4-byte word holds the PV
// number and the word's index, so misplaced bytes show where they came
// from.
func testPVData(i int) []byte {
	b := make([]byte, testPVSize)
	for w := 0; w < len(b)/4; w++ {
		le.PutUint32(b[4*w:], uint32(i)<<28|uint32(w))
	}
	return b
}

// testGroup assembles the VG of volTemplate with the given LVs over
// in-memory PVs, leaving out the PVs listed in missing. It returns the PVs'
// contents, which the test may change before reading.
func testGroup(t testing.TB, lvs string, missing ...int) (*Group, [][]byte) {
	t.Helper()
	text := []byte(strings.Replace(volTemplate, "LVS", lvs, 1))
	var devs []*Device
	var data [][]byte
	for i := 0; i < 4; i++ {
		b := testPVData(i)
		data = append(data, b)
		if slices.Contains(missing, i) {
			continue
		}
		devs = append(devs, &Device{Name: fmt.Sprintf("mem%d", i), R: bytes.NewReader(b), Size: int64(len(b)),
			PV: &PV{UUID: fmt.Sprintf("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%d", i), Metadata: text}})
	}
	set, err := Assemble(devs)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Groups) != 1 {
		t.Fatalf("groups %+v, warnings %q", set.Groups, set.Warnings)
	}
	return set.Groups[0], data
}

// pvBytes returns n extents of PV pv from extent start.
func pvBytes(data [][]byte, pv, start, n int) []byte {
	off := testPEStart + start*testExtent
	return data[pv][off : off+n*testExtent]
}

// striped lays chunks of chunk bytes from the stripes in turn, as
// dm-stripe's documentation describes.
func striped(chunk int, stripes ...[]byte) []byte {
	var out []byte
	for row := 0; row*chunk < len(stripes[0]); row++ {
		for _, s := range stripes {
			out = append(out, s[row*chunk:min((row+1)*chunk, len(s))]...)
		}
	}
	return out
}

// checkVolume compares the whole volume with want, then reads at random
// offsets and lengths, many across segment and chunk boundaries, and
// copies the same with WriteRange.
func checkVolume(t *testing.T, v *Volume, want []byte) {
	t.Helper()
	if v.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", v.Size(), len(want))
	}
	got := make([]byte, len(want))
	if n, err := v.ReadAt(got, 0); n != len(want) || err != nil && err != io.EOF {
		t.Fatalf("ReadAt whole volume: %d, %v", n, err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("byte %d is %#x, want %#x (word %#08x, want %#08x)", i, got[i], want[i], le.Uint32(got[i&^3:]), le.Uint32(want[i&^3:]))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		off := rng.IntN(len(want))
		n := rng.IntN(min(len(want)-off, 3*testExtent) + 1)
		p := make([]byte, n)
		if m, err := v.ReadAt(p, int64(off)); m != n || err != nil && !(err == io.EOF && off+n == len(want)) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, m, err)
		}
		if i := firstDiff(p, want[off:off+n]); i >= 0 {
			t.Fatalf("ReadAt(%d bytes at %d): byte %d differs", n, off, i)
		}
	}
	if err := iotest.TestReader(io.NewSectionReader(v, 0, v.Size()), want); err != nil {
		t.Fatal(err)
	}
	checkWriteRange(t, v, want)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func openLV(t *testing.T, g *Group, name string) *Volume {
	t.Helper()
	v, err := g.Open(name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return v
}

func TestVolumeLinearStriped(t *testing.T) {
	g, data := testGroup(t, `
multi { id = "m" status = ["READ", "WRITE", "VISIBLE"] segment_count = 4
	segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv0", 10] }
	segment2 { start_extent = 3 extent_count = 6 type = "striped" stripe_count = 2 stripe_size = 2 stripes = ["pv1", 0, "pv2", 5] }
	segment3 { start_extent = 9 extent_count = 9 type = "striped" stripe_count = 3 stripe_size = 24 stripes = ["pv3", 1, "pv0", 40, "pv1", 100] }
	segment4 { start_extent = 18 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv2", 510] } }
s2 { id = "s" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 2 stripe_size = 8 stripes = ["pv3", 200, "pv3", 300] } }
on_lv { id = "o" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 2 stripe_size = 1 stripes = ["s2", 1, "multi", 10] } }`)
	var want []byte
	want = append(want, pvBytes(data, 0, 10, 3)...)
	want = append(want, striped(1024, pvBytes(data, 1, 0, 3), pvBytes(data, 2, 5, 3))...)
	want = append(want, striped(12288, pvBytes(data, 3, 1, 3), pvBytes(data, 0, 40, 3), pvBytes(data, 1, 100, 3))...)
	want = append(want, pvBytes(data, 2, 510, 2)...)
	checkVolume(t, openLV(t, g, "multi"), want)

	s2 := striped(4096, pvBytes(data, 3, 200, 2), pvBytes(data, 3, 300, 2))
	checkVolume(t, openLV(t, g, "s2"), s2)
	// An LV striped over two others: extents 1 of s2 and 10 of multi.
	checkVolume(t, openLV(t, g, "on_lv"), striped(512, s2[testExtent:2*testExtent], want[10*testExtent:11*testExtent]))
}

func TestVolumeBounds(t *testing.T) {
	g, data := testGroup(t, lin("l", 2, "pv0", 0))
	v := openLV(t, g, "l")
	if v.LV().Name != "l" || v.Size() != 2*testExtent {
		t.Fatalf("LV %s, size %d", v.LV().Name, v.Size())
	}
	p := make([]byte, 100)
	if n, err := v.ReadAt(p, v.Size()-40); n != 40 || err != io.EOF || !bytes.Equal(p[:40], pvBytes(data, 0, 0, 2)[2*testExtent-40:]) {
		t.Errorf("read across the end: %d, %v", n, err)
	}
	if n, err := v.ReadAt(p, v.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v", n, err)
	}
	if n, err := v.ReadAt(p[:0], v.Size()+5); n != 0 || err != nil {
		t.Errorf("empty read past the end: %d, %v", n, err)
	}
	if _, err := v.ReadAt(p, -1); err == nil {
		t.Error("negative offset: no error")
	}
	if _, err := g.Open("nosuch"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(nosuch) = %v", err)
	}
}

// faultyReader fails reads that touch [from, to).
type faultyReader struct {
	r        io.ReaderAt
	from, to int64
	reads    int
}

func (f *faultyReader) ReadAt(p []byte, off int64) (int, error) {
	f.reads++
	if off < f.to && off+int64(len(p)) > f.from {
		return 0, fmt.Errorf("bad sector near %d", f.from)
	}
	return f.r.ReadAt(p, off)
}

func TestVolumeMirror(t *testing.T) {
	g, data := testGroup(t, `
m { id = "m" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "mirror" mirror_count = 2 mirror_log = "m_mlog" region_size = 1024
		mirrors = ["m_mimage_0", 0, "m_mimage_1", 0] } }
r1 { id = "r" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "raid1" device_count = 3 region_size = 1024
		raids = ["r1_rmeta_0", "r1_rimage_0", "r1_rmeta_1", "r1_rimage_1", "r1_rmeta_2", "r1_rimage_2"] } }
`+lin("m_mimage_0", 4, "pv0", 0)+lin("m_mimage_1", 4, "pv1", 0)+lin("m_mlog", 1, "pv2", 0)+
		lin("r1_rmeta_0", 1, "pv0", 10)+lin("r1_rmeta_1", 1, "pv1", 10)+lin("r1_rmeta_2", 1, "pv2", 10)+
		strings.Replace(lin("r1_rimage_0", 4, "pv0", 11), `["READ"]`, `["READ", "REBUILD"]`, 1)+
		strings.Replace(lin("r1_rimage_1", 4, "pv1", 11), `["READ"]`, `["READ", "WRITEMOSTLY"]`, 1)+
		lin("r1_rimage_2", 4, "pv2", 11))
	// Both mirror legs hold the same data; leg 0 has a bad spot.
	leg := pvBytes(data, 0, 0, 4)
	copy(pvBytes(data, 1, 0, 4), leg)
	bad := &faultyReader{r: g.Devices[0].R, from: testPEStart + 5000, to: testPEStart + 5100}
	g.Devices[0].R = bad
	checkVolume(t, openLV(t, g, "m"), leg)
	if bad.reads == 0 {
		t.Error("leg 0 was never read")
	}
	// With both legs bad at the same place the read fails, naming both.
	g.Devices[1].R = &faultyReader{r: g.Devices[1].R, from: testPEStart + 5000, to: testPEStart + 5100}
	v := openLV(t, g, "m")
	if _, err := v.ReadAt(make([]byte, 10), 5050); err == nil || strings.Count(err.Error(), "bad sector") != 2 {
		t.Errorf("both legs bad: %v", err)
	}
	if _, err := v.ReadAt(make([]byte, 10), 6000); err != nil {
		t.Errorf("both legs good elsewhere: %v", err)
	}

	// raid1: image 0 is being rebuilt and never read, image 1 is
	// write-mostly and read only when image 2 fails.
	r1 := openLV(t, g, "r1")
	checkVolume(t, r1, pvBytes(data, 2, 11, 4))
	g.Devices[2].R = &faultyReader{r: bytes.NewReader(data[2]), from: 0, to: testPVSize}
	r1 = openLV(t, g, "r1")
	checkVolume(t, r1, pvBytes(data, 1, 11, 4))
}

func TestVolumeMissingPV(t *testing.T) {
	g, data := testGroup(t, lin("on0", 2, "pv0", 0)+lin("on3", 2, "pv3", 0)+`
m { id = "m" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "mirror" mirror_count = 2 mirrors = ["pv3", 10, "pv1", 10] } }
r1 { id = "r" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "raid1" device_count = 2 region_size = 1024
		raids = ["r1_rmeta_0", "r1_rimage_0", "r1_rmeta_1", "r1_rimage_1"] } }
r5 { id = "r5" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "raid5" device_count = 3 region_size = 1024 stripe_size = 8
		raids = ["r5_rimage_0", "r5_rimage_1", "r5_rimage_2"] } }
`+lin("r1_rmeta_0", 1, "pv3", 20)+lin("r1_rimage_0", 2, "pv3", 21)+lin("r1_rmeta_1", 1, "pv2", 20)+lin("r1_rimage_1", 2, "pv2", 21)+
		lin("r5_rimage_0", 2, "pv0", 30)+lin("r5_rimage_1", 2, "pv1", 30)+lin("r5_rimage_2", 2, "pv3", 30), 3)
	if m := g.Missing(); len(m) != 1 || m[0].Name != "pv3" || !g.VG.PVs[3].Missing || g.Devices[3] != nil {
		t.Fatalf("Missing() = %+v", m)
	}
	if len(g.Warnings) != 1 || !strings.Contains(g.Warnings[0], "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3") || !strings.Contains(g.Warnings[0], "/dev/d") {
		t.Errorf("warnings %q", g.Warnings)
	}
	checkVolume(t, openLV(t, g, "on0"), pvBytes(data, 0, 0, 2))
	_, err := g.Open("on3")
	var me *MissingPVError
	if !errors.As(err, &me) || !errors.Is(err, ErrMissingPV) || me.UUID != "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3" ||
		!strings.Contains(err.Error(), me.UUID) || !strings.Contains(err.Error(), "/dev/d") {
		t.Errorf("Open(on3) = %v", err)
	}
	// Mirrors and raid1 read from what remains, and say so.
	m := openLV(t, g, "m")
	checkVolume(t, m, pvBytes(data, 1, 10, 2))
	if len(m.Warnings()) != 1 || !strings.Contains(m.Warnings()[0], "aaaaa3") {
		t.Errorf("mirror warnings %q", m.Warnings())
	}
	r1 := openLV(t, g, "r1")
	checkVolume(t, r1, pvBytes(data, 2, 21, 2))
	if len(r1.Warnings()) != 1 || !strings.Contains(r1.Warnings()[0], "r1_rimage_0") {
		t.Errorf("raid1 warnings %q", r1.Warnings())
	}
	// raid5 with a data leg gone names it.
	if _, err := g.Open("r5"); !errors.Is(err, ErrMissingPV) || !strings.Contains(err.Error(), "r5_rimage_2") {
		t.Errorf("Open(r5) = %v", err)
	}
	for name, want := range map[string]byte{"on0": '-', "on3": 'p', "m": 'p', "r1": 'p', "r1_rimage_1": '-'} {
		if a := g.VG.LV(name).Attr(g.VG); a[8] != want {
			t.Errorf("%s: attr %s, health %c", name, a, want)
		}
	}
	if a := g.VG.Attr(); a != "wz-pn-" {
		t.Errorf("VG attr %s", a)
	}
	if d := g.DevicesOf(g.VG.LV("m")); d[0] != "[unknown](10),mem1(10)" {
		t.Errorf("devices %q", d)
	}
}

func TestVolumeVirtual(t *testing.T) {
	g, _ := testGroup(t, `
z { id = "z" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 2 type = "zero" }
	segment2 { start_extent = 2 extent_count = 1 type = "error" } }
c { id = "c" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "cache" cache_pool = "x" origin = "y" } }`)
	v := openLV(t, g, "z")
	p := bytes.Repeat([]byte{1}, 2*testExtent)
	if n, err := v.ReadAt(p, 0); n != len(p) || err != nil || !bytes.Equal(p, make([]byte, len(p))) {
		t.Errorf("zero segment: %d, %v", n, err)
	}
	if _, err := v.ReadAt(p[:10], 2*testExtent-5); !errors.Is(err, syscall.EIO) {
		t.Errorf("error segment: %v", err)
	}
	if _, err := g.Open("c"); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), `"cache"`) {
		t.Errorf("cache: %v", err)
	}
}

func TestVolumeDeviceTooSmall(t *testing.T) {
	g, _ := testGroup(t, lin("l", 2, "pv0", 510))
	g.Devices[0].Size -= 100
	if _, err := g.Open("l"); err == nil || !strings.Contains(err.Error(), "has only") {
		t.Errorf("err = %v", err)
	}
}

func TestVolumeLinearAllocs(t *testing.T) {
	g, _ := testGroup(t, lin("l", 64, "pv0", 0)+`
two { id = "t" status = ["READ", "WRITE", "VISIBLE"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv1", 0] }
	segment2 { start_extent = 3 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv2", 0] } }`)
	p := make([]byte, 10000)
	for _, name := range []string{"l", "two"} {
		v := openLV(t, g, name)
		if n := testing.AllocsPerRun(100, func() { v.ReadAt(p, 3*testExtent-5000) }); n != 0 {
			t.Errorf("%s: %v allocations per ReadAt", name, n)
		}
	}
}

// BenchmarkLinearRead reads a 1 GiB file in 1 MiB reads straight from the
// file ("raw") and through a linear LV that maps it ("lv"), so the two
// throughputs show what the LV layer costs.
func BenchmarkLinearRead(b *testing.B) {
	const size = 1 << 30
	name := filepath.Join(b.TempDir(), "pv")
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(testPEStart + size); err != nil {
		b.Fatal(err)
	}
	// Some data, so the file is not all hole.
	chunk := bytes.Repeat([]byte("vmsh"), 1<<18)
	for off := int64(testPEStart); off < testPEStart+size; off += 64 << 20 {
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	text := fmt.Sprintf(`vg { id = "v" seqno = 1 extent_size = 8192
physical_volumes { pv0 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa0" pe_start = 8 pe_count = 256 } }
logical_volumes { l { id = "l" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 256 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } } } }`)
	set, err := Assemble([]*Device{{Name: "pv", R: f, Size: testPEStart + size,
		PV: &PV{UUID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0", Metadata: []byte(text)}}})
	if err != nil || len(set.Groups) != 1 {
		b.Fatal(err, set.Warnings)
	}
	v, err := set.Groups[0].Open("l")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	// Warm the page cache, so both runs read from memory.
	for off := int64(0); off < size; off += int64(len(buf)) {
		f.ReadAt(buf, testPEStart+off)
	}
	read := func(b *testing.B, r io.ReaderAt, base int64) {
		b.SetBytes(size)
		for b.Loop() {
			for off := int64(0); off < size; off += int64(len(buf)) {
				if _, err := r.ReadAt(buf, base+off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("raw", func(b *testing.B) { read(b, f, testPEStart) })
	b.Run("lv", func(b *testing.B) { read(b, v, 0) })
}

// thinLVs is a pool whose metadata is goodThinImage (device 1 maps virtual
// blocks 0 and 5 to data blocks 7 and 9; blocks are 64 KiB) and thin
// volumes on it, one with an external origin of 50 extents.
const thinLVs = `
pool { id = "p" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 160 type = "thin-pool" metadata = "pool_tmeta" pool = "pool_tdata"
		transaction_id = 0 chunk_size = 128 zero_new_blocks = 1 } }
thin1 { id = "t1" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 128 type = "thin" thin_pool = "pool" transaction_id = 0 device_id = 1 } }
thin2 { id = "t2" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 128 type = "thin" thin_pool = "pool" transaction_id = 0 device_id = 2 } }
thin3 { id = "t3" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 128 type = "thin" thin_pool = "pool" transaction_id = 0 device_id = 1 external_origin = "ext" } }
` + `pool_tmeta { id = "pm" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 16 type = "striped" stripe_count = 1 stripes = ["pv0", 100] } }
pool_tdata { id = "pd" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 160 type = "striped" stripe_count = 1 stripes = ["pv1", 0] } }
ext { id = "e" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 50 type = "striped" stripe_count = 1 stripes = ["pv2", 0] } }
`

func TestVolumeThin(t *testing.T) {
	g, data := testGroup(t, thinLVs)
	copy(pvBytes(data, 0, 100, 16), goodThinImage())
	const block = 64 << 10
	tdata := pvBytes(data, 1, 0, 160)
	want := make([]byte, 128*testExtent)
	copy(want[0:block], tdata[7*block:])
	copy(want[5*block:6*block], tdata[9*block:])
	checkVolume(t, openLV(t, g, "thin1"), want)

	// Unmapped blocks of thin3 come from its external origin as far as it
	// reaches, then read as zeros.
	ext := pvBytes(data, 2, 0, 50)
	want3 := make([]byte, len(want))
	copy(want3, ext)
	copy(want3[0:block], tdata[7*block:])
	copy(want3[5*block:6*block], tdata[9*block:])
	checkVolume(t, openLV(t, g, "thin3"), want3)

	// The pool reads as its data LV.
	checkVolume(t, openLV(t, g, "pool"), tdata)

	if _, err := g.Open("thin2"); !errors.Is(err, ErrNoThinDevice) || !strings.Contains(err.Error(), "thin2") {
		t.Errorf("thin2 has no device in the pool: %v", err)
	}
	g, data = testGroup(t, strings.Replace(thinLVs, "chunk_size = 128", "chunk_size = 256", 1))
	copy(pvBytes(data, 0, 100, 16), goodThinImage())
	if _, err := g.Open("thin1"); err == nil || !strings.Contains(err.Error(), "65536-byte data blocks") {
		t.Errorf("chunk size differs from the pool's: %v", err)
	}
	g, data = testGroup(t, strings.Replace(thinLVs, "transaction_id = 0 chunk_size", "transaction_id = 4 chunk_size", 1))
	copy(pvBytes(data, 0, 100, 16), goodThinImage())
	if v := openLV(t, g, "thin1"); len(v.Warnings()) != 1 || !strings.Contains(v.Warnings()[0], "transaction 0 in the pool, 4") {
		t.Errorf("transaction differs: warnings %q", v.Warnings())
	}
}

const snapLVs = `
orig { id = "o" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 1 stripes = ["pv2", 300] } }
snap { id = "s" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv3", 0] } }
snapshot0 { id = "s0" status = ["READ"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 8 type = "snapshot" chunk_size = 8 origin = "orig" COW = "snap" } }
`

func TestVolumeSnapshot(t *testing.T) {
	for _, merging := range []bool{false, true} {
		lvs := strings.Replace(snapLVs, "COW", "cow_store", 1)
		if merging {
			lvs = strings.Replace(snapLVs, "COW", "merging_store", 1)
		}
		g, data := testGroup(t, lvs)
		cow, news := cowImage(8, []uint64{1, 3}, 0)
		if cow.size != 4*testExtent {
			t.Fatalf("COW store of %d bytes", cow.size)
		}
		copy(pvBytes(data, 3, 0, 4), cow.bytes())
		want := bytes.Clone(pvBytes(data, 2, 300, 8))
		copy(want[1*testExtent:2*testExtent], pvBytes(data, 3, int(news[0]), 1))
		copy(want[3*testExtent:4*testExtent], pvBytes(data, 3, int(news[1]), 1))
		// The snapshot and its internal LV read the same; a merging
		// snapshot's origin reads as the merged result.
		checkVolume(t, openLV(t, g, "snap"), want)
		checkVolume(t, openLV(t, g, "snapshot0"), want)
		if merging {
			checkVolume(t, openLV(t, g, "orig"), want)
		} else {
			checkVolume(t, openLV(t, g, "orig"), pvBytes(data, 2, 300, 8))
		}
	}
	// A snapshot whose store was never written is refused by name.
	g, data := testGroup(t, strings.Replace(snapLVs, "COW", "cow_store", 1))
	clear(pvBytes(data, 3, 0, 4))
	if _, err := g.Open("snap"); !errors.Is(err, ErrNoCOWHeader) || !strings.Contains(err.Error(), "snapshot vgv/snap") {
		t.Errorf("transient snapshot: %v", err)
	}
}

func TestVolumeConcurrent(t *testing.T) {
	g, data := testGroup(t, thinLVs+strings.Replace(strings.Replace(snapLVs, "COW", "cow_store", 1), "pv2", "pv3", 1))
	copy(pvBytes(data, 0, 100, 16), goodThinImage())
	cow, _ := cowImage(8, []uint64{1, 3}, 0)
	copy(pvBytes(data, 3, 0, 4), cow.bytes())
	for _, name := range []string{"thin3", "snap"} {
		v := openLV(t, g, name)
		want := make([]byte, v.Size())
		if _, err := v.ReadAt(want, 0); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		for w := range 8 {
			go func() {
				rng := rand.New(rand.NewPCG(uint64(w), 9))
				for range 200 {
					off := rng.Int64N(v.Size())
					p := make([]byte, rng.Int64N(v.Size()-off)+1)
					if _, err := v.ReadAt(p, off); err != nil && err != io.EOF {
						done <- err
						return
					}
					if !bytes.Equal(p, want[off:off+int64(len(p))]) {
						done <- fmt.Errorf("%s: %d bytes at %d differ", name, len(p), off)
						return
					}
				}
				done <- nil
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
