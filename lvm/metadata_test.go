package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

func seedImage(t testing.TB) []byte { return tooltest.Gunzip(t, "testdata/pv.img.gz") }

func TestSeedImage(t *testing.T) {
	img := seedImage(t)
	pv, err := ReadLabel(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.UUID) != 32 || len(pv.DataAreas) != 1 || len(pv.MetaAreas) != 1 || pv.DataAreas[0].Offset != 1<<20 {
		t.Fatalf("PV %+v", pv)
	}
	vg, err := ParseVG(pv.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	if vg.Name != "vgt" || vg.Seqno != 3 || len(vg.LVs) != 2 || vg.PVs[0].ID != FormattedUUID(pv.UUID) {
		t.Fatalf("VG %+v", vg)
	}
	if s := vg.LVs[1].Segments[0]; s.Type != "striped" || s.Stripes[0] != (Stripe{PV: "pv0", StartExtent: 3}) || s.ExtentCount != 2 {
		t.Fatalf("segment %+v", s)
	}

	// Damage: each checksum-covered region must be noticed.
	for _, off := range []int{512 + 30, 4096 + 100, bytes.Index(img, []byte("seqno = 3"))} {
		bad := bytes.Clone(img)
		bad[off] ^= 0x40
		_, err := ReadLabel(bytes.NewReader(bad), int64(len(bad)))
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("byte %d flipped: err = %v, want a *FormatError", off, err)
		}
	}
	// Every truncation gives an error, not a panic.
	for _, n := range []int{0, 511, 600, 4096, 4096 + 600, 8192} {
		_, err := ReadLabel(bytes.NewReader(img[:n]), int64(n))
		if err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := ReadLabel(bytes.NewReader(make([]byte, 4096)), 4096); !errors.Is(err, ErrNoLabel) {
		t.Errorf("zeros: err = %v, want ErrNoLabel", err)
	}
}

func TestParseText(t *testing.T) {
	text := `# comment
top {
	s = "a \"quoted\" \\ str" # trailing comment
	n = -42
	f = 1.5
	empty = []
	nested = [[], ["x", 1]]
	list = [ "pv0", 0,
		"pv1", 7 ]
	inner { k = 1 }
}
contents = "Text Format Volume Group"
`
	top, err := ParseText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	s := top.Section("top")
	if s == nil || top.Values["contents"].Str != "Text Format Volume Group" {
		t.Fatalf("top %+v", top)
	}
	if got := s.Values["s"].Str; got != `a "quoted" \ str` {
		t.Errorf("s = %q", got)
	}
	if v := s.Values["n"]; v.Kind != Int || v.Int != -42 {
		t.Errorf("n = %+v", v)
	}
	if v := s.Values["f"]; v.Kind != Float || v.Str != "1.5" {
		t.Errorf("f = %+v", v)
	}
	if v := s.Values["empty"]; v.Kind != List || len(v.Items) != 0 {
		t.Errorf("empty = %+v", v)
	}
	if v := s.Values["nested"]; len(v.Items) != 2 || len(v.Items[1].Items) != 2 {
		t.Errorf("nested = %+v", v)
	}
	if v := s.Values["list"]; len(v.Items) != 4 || v.Items[3].Int != 7 {
		t.Errorf("list = %+v", v)
	}
	if got := strings.Join(s.Keys, ","); got != "s,n,f,empty,nested,list" {
		t.Errorf("keys %s", got)
	}
	if s.Section("inner").Values["k"].Int != 1 {
		t.Errorf("inner")
	}
}

func TestParseTextErrors(t *testing.T) {
	for _, tt := range []struct {
		text string
		line int
	}{
		{"a {\n b = 1\n", 3},
		{"a = \"x\n\ny", 3},
		{"a = 1\n}\n", 2},
		{"a\n= [1 2]", 2},
		{"a = 1\nb = 99999999999999999999999", 2},
		{"a = 1\na = 2", 2},
		{"x { }\nx { }", 2},
		{"a = ,", 1},
		{"a b", 1},
		{"a = " + strings.Repeat("[", 100) + strings.Repeat("]", 100), 1},
		{strings.Repeat("a {\n", 100) + strings.Repeat("}\n", 100), 65},
	} {
		_, err := ParseText([]byte(tt.text))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != tt.line {
			t.Errorf("%q: err = %v, want a SyntaxError on line %d", tt.text, err, tt.line)
		}
	}
}

const vgTemplate = `vg {
id = "ID"
seqno = 5
extent_size = 8192
physical_volumes {
pv0 { id = "A" device = "/dev/x" pe_start = 2048 pe_count = 100 }
pv1 { id = "B" pe_start = 2048 pe_count = 50 }
}
logical_volumes {
LVS
}
}
`

func vgText(lvs string) []byte { return []byte(strings.Replace(vgTemplate, "LVS", lvs, 1)) }

func TestParseVG(t *testing.T) {
	vg, err := ParseVG(vgText(`
lv0 { id = "L" status = ["READ"] segment_count = 2
  segment1 { start_extent = 0 extent_count = 10 type = "striped" stripe_count = 2 stripe_size = 128 stripes = ["pv0", 0, "pv1", 0] }
  segment2 { start_extent = 10 extent_count = 5 type = "striped" stripe_count = 1 stripes = ["pv0", 50] }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if vg.Seqno != 5 || vg.ExtentSize != 8192 || len(vg.PVs) != 2 || vg.PVs[0].Device != "/dev/x" {
		t.Fatalf("%+v", vg)
	}
	lv := vg.LVs[0]
	if len(lv.Segments) != 2 || lv.Segments[0].StripeSize != 128 || lv.Segments[0].Stripes[1] != (Stripe{PV: "pv1", StartExtent: 0}) {
		t.Fatalf("%+v", lv)
	}
	if lv.Extents() != 15 || vg.PVs[0].Allocated != 10 || vg.PVs[1].FreeExtents() != 45 || vg.FreeExtents() != 135 {
		t.Errorf("extents %d, allocated %d, free %d of %d", lv.Extents(), vg.PVs[0].Allocated, vg.PVs[1].FreeExtents(), vg.FreeExtents())
	}
}

// allTypes holds an LV of every segment type, laid out the way lvm2 lays
// them out, on the PVs of vgTemplate.
const allTypes = `
lin { id = "1" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 0] } }
base { id = "2" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 8 type = "striped" stripe_count = 1 stripes = ["pv0", 4] } }
layered { id = "3" status = ["READ", "WRITE", "VISIBLE"] allocation_policy = "contiguous" segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["base", 2] } }
m { id = "4" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "mirror" mirror_count = 2 mirror_log = "m_mlog" region_size = 1024
		mirrors = ["m_mimage_0", 0, "m_mimage_1", 0] } }
m_mimage_0 { id = "5" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 12] } }
m_mimage_1 { id = "6" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv1", 0] } }
m_mlog { id = "7" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 16] } }
r1 { id = "8" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "raid1" device_count = 2 region_size = 1024
		raids = ["r1_rmeta_0", "r1_rimage_0", "r1_rmeta_1", "r1_rimage_1"] } }
r1_rmeta_0 { id = "9" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 17] } }
r1_rimage_0 { id = "10" status = ["READ", "WRITE", "WRITEMOSTLY"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 18] } }
r1_rmeta_1 { id = "11" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 4] } }
r1_rimage_1 { id = "12" status = ["READ", "WRITE", "REBUILD"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv1", 5] } }
r5 { id = "13" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "raid5_ls" device_count = 3 region_size = 1024 stripe_size = 16
		raids = ["r5_rmeta_0", "r5_rimage_0", "r5_rmeta_1", "r5_rimage_1", "r5_rmeta_2", "r5_rimage_2"] } }
r5_rmeta_0 { id = "14" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 22] } }
r5_rimage_0 { id = "15" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 23] } }
r5_rmeta_1 { id = "16" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 9] } }
r5_rimage_1 { id = "17" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv1", 10] } }
r5_rmeta_2 { id = "18" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 25] } }
r5_rimage_2 { id = "19" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 26] } }
r0 { id = "20" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "raid0" stripe_count = 2 stripe_size = 16
		raid0_lvs = ["r0_rimage_0", "r0_rimage_1"] } }
r0_rimage_0 { id = "21" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 28] } }
r0_rimage_1 { id = "22" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv1", 12] } }
r6 { id = "23" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "raid6_nr" device_count = 4 region_size = 1024 stripe_size = 16
		raids = ["-", "r6_rimage_0", "-", "r6_rimage_1", "-", "r6_rimage_2", "-", "r6_rimage_3"] } }
r6_rimage_0 { id = "24" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 30] } }
r6_rimage_1 { id = "25" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 31] } }
r6_rimage_2 { id = "26" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 14] } }
r6_rimage_3 { id = "27" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 15] } }
r10 { id = "28" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "raid10" device_count = 4 data_copies = 2 region_size = 1024 stripe_size = 16
		raids = ["r10_rimage_0", "r10_rimage_1", "r10_rimage_2", "r10_rimage_3"] } }
r10_rimage_0 { id = "29" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 32] } }
r10_rimage_1 { id = "30" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 33] } }
r10_rimage_2 { id = "31" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 16] } }
r10_rimage_3 { id = "32" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 17] } }
pool { id = "33" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "thin-pool+METADATA_FORMAT" metadata = "pool_tmeta" pool = "pool_tdata"
		transaction_id = 3 chunk_size = 128 discards = "passdown" zero_new_blocks = 1 } }
pool_tmeta { id = "34" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 36] } }
pool_tdata { id = "35" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 37] } }
lvol0_pmspare { id = "36" status = ["READ", "WRITE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 41] } }
thin1 { id = "37" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 10 type = "thin" thin_pool = "pool" transaction_id = 1 device_id = 1 } }
thin2 { id = "38" status = ["READ", "WRITE", "VISIBLE"] flags = ["ACTIVATION_SKIP"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 10 type = "thin" thin_pool = "pool" transaction_id = 2 device_id = 2 origin = "thin1" } }
thin3 { id = "39" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 10 type = "thin" thin_pool = "pool" transaction_id = 3 device_id = 3 external_origin = "ext" } }
ext { id = "40" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv1", 20] } }
orig { id = "41" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 42] } }
snap { id = "42" status = ["READ", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 44] } }
snapshot0 { id = "43" status = ["READ"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "snapshot" chunk_size = 8 origin = "orig" cow_store = "snap" } }
morig { id = "44" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 45] } }
msnap { id = "45" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 47] } }
snapshot1 { id = "46" status = ["READ"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "snapshot" chunk_size = 8 origin = "morig" merging_store = "msnap" } }
z { id = "47" status = ["READ", "WRITE", "VISIBLE", "FIXED_MINOR"] segment_count = 2
	segment1 { start_extent = 0 extent_count = 2 type = "zero" }
	segment2 { start_extent = 2 extent_count = 1 type = "error" } }
cached { id = "48" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "cache" cache_pool = "cpool" origin = "corig" } }
odd { id = "49" status = ["READ", "WRITE", "VISIBLE"] segment_count = 1
	segment1 { start_extent = 0 extent_count = 2 type = "frobnicate" } }
`

func TestParseVGSegmentTypes(t *testing.T) {
	vg, err := ParseVG(vgText(allTypes))
	if err != nil {
		t.Fatal(err)
	}
	seg := func(name string) *Segment {
		t.Helper()
		lv := vg.LV(name)
		if lv == nil {
			t.Fatalf("no LV %s", name)
		}
		return &lv.Segments[0]
	}
	if s := seg("layered"); s.Stripes[0] != (Stripe{LV: "base", StartExtent: 2}) || s.SegType() != "linear" {
		t.Errorf("layered: %+v", s)
	}
	if s := seg("m"); s.Mirror == nil || s.Mirror.Log != "m_mlog" || s.Mirror.RegionSize != 1024 || len(s.Stripes) != 2 || s.Stripes[1].LV != "m_mimage_1" {
		t.Errorf("m: %+v %+v", s, s.Mirror)
	}
	if r := seg("r1").RAID; r == nil || r.DataCopies != 2 || r.Metas[1] != "r1_rmeta_1" || r.Images[1] != "r1_rimage_1" || r.Parity != 0 {
		t.Errorf("r1: %+v", r)
	}
	if s := seg("r5"); s.RAID == nil || s.RAID.Parity != 1 || s.StripeSize != 16 || len(s.RAID.Images) != 3 || s.imageExtents() != 2 {
		t.Errorf("r5: %+v %+v", s, s.RAID)
	}
	if s := seg("r0"); s.RAID == nil || s.StripeCount != 2 || s.RAID.Metas[0] != "" || s.RAID.Images[1] != "r0_rimage_1" {
		t.Errorf("r0: %+v %+v", s, s.RAID)
	}
	if r := seg("r6").RAID; r == nil || r.Parity != 2 || r.Metas[3] != "" || r.Images[3] != "r6_rimage_3" || r.layout.algo != algRotatingNRestart {
		t.Errorf("r6: %+v", r)
	}
	if s := seg("r10"); s.RAID == nil || s.RAID.DataCopies != 2 || s.imageExtents() != 1 {
		t.Errorf("r10: %+v", s.RAID)
	}
	if s := seg("pool"); s.Type != "thin-pool" || fmt.Sprint(s.TypeFlags) != "[METADATA_FORMAT]" || s.ThinPool == nil ||
		*s.ThinPool != (ThinPoolSegment{"pool_tmeta", "pool_tdata", 3, 128, true, "passdown"}) {
		t.Errorf("pool: %+v %+v", s, s.ThinPool)
	}
	if th := seg("thin2").Thin; th == nil || *th != (ThinSegment{Pool: "pool", TransactionID: 2, DeviceID: 2, Origin: "thin1"}) {
		t.Errorf("thin2: %+v", th)
	}
	if th := seg("thin3").Thin; th == nil || th.ExternalOrigin != "ext" {
		t.Errorf("thin3: %+v", th)
	}
	if s := seg("snapshot0").Snapshot; s == nil || *s != (SnapshotSegment{"orig", "snap", 8, false}) {
		t.Errorf("snapshot0: %+v", s)
	}
	if s := seg("snapshot1").Snapshot; s == nil || !s.Merging || s.COW != "msnap" {
		t.Errorf("snapshot1: %+v", s)
	}
	if s := seg("cached"); s.Type != "cache" || s.Section.Values["cache_pool"].Str != "cpool" {
		t.Errorf("cached: %+v", s)
	}

	// What lvs prints. The attributes follow lvm2's rules for LVs that are
	// not active; the tools tests check them against lvs itself.
	want := map[string]struct {
		attr, segtype, devices string
		visible                bool
	}{
		"lin":           {"-wi-------", "linear", "pv0(0)", true},
		"base":          {"-wi-------", "linear", "pv0(4)", false},
		"layered":       {"-wc-------", "linear", "base(2)", true},
		"m":             {"mwi---m---", "mirror", "m_mimage_0(0),m_mimage_1(0)", true},
		"m_mimage_0":    {"Iwi---m---", "linear", "pv0(12)", false},
		"m_mlog":        {"lwi---m---", "linear", "pv0(16)", false},
		"r1":            {"rwi---r---", "raid1", "r1_rimage_0(0),r1_rimage_1(0)", true},
		"r1_rimage_0":   {"Iwi---r-w-", "linear", "pv0(18)", false},
		"r1_rimage_1":   {"Iwi---r---", "linear", "pv1(5)", false},
		"r1_rmeta_0":    {"ewi---r---", "linear", "pv0(17)", false},
		"r5":            {"rwi---r---", "raid5_ls", "r5_rimage_0(0),r5_rimage_1(0),r5_rimage_2(0)", true},
		"r0":            {"rwi---r---", "raid0", "r0_rimage_0(0),r0_rimage_1(0)", true},
		"r6":            {"rwi---r---", "raid6_nr", "r6_rimage_0(0),r6_rimage_1(0),r6_rimage_2(0),r6_rimage_3(0)", true},
		"pool":          {"twi---tz--", "thin-pool", "pool_tdata(0)", true},
		"pool_tmeta":    {"ewi-------", "linear", "pv0(36)", false},
		"pool_tdata":    {"Twi-------", "linear", "pv0(37)", false},
		"lvol0_pmspare": {"ewi-------", "linear", "pv0(41)", false},
		"thin1":         {"Vwi---tz--", "thin", "", true},
		"thin2":         {"Vwi---tz-k", "thin", "", true},
		"thin3":         {"Vri---tz--", "thin", "", true},
		"ext":           {"ori-------", "linear", "pv1(20)", true},
		"orig":          {"owi---s---", "linear", "pv0(42)", true},
		"snap":          {"sri---s---", "linear", "pv0(44)", true},
		"snapshot0":     {"-ri-------", "snapshot", "", false},
		"morig":         {"Owi---s---", "linear", "pv0(45)", true},
		"msnap":         {"Swi---s---", "linear", "pv0(47)", false},
		"z":             {"vwim--v---", "zero", "", true},
		"cached":        {"Cwi---C---", "cache", "", true},
		"odd":           {"-wi---u---", "frobnicate", "", true},
	}
	for name, w := range want {
		lv := vg.LV(name)
		attr, devs := lv.Attr(vg), lv.Segments[0].Devices(func(pv string) string { return pv })
		if attr != w.attr || lv.SegType() != w.segtype || devs != w.devices || lv.Visible() != w.visible {
			t.Errorf("%s: attr %s, type %s, devices %q, visible %v; want %s, %s, %q, %v", name, attr, lv.SegType(), devs, lv.Visible(), w.attr, w.segtype, w.devices, w.visible)
		}
	}
	for name, w := range map[string][2]string{"snap": {"", "orig"}, "thin1": {"pool", ""}, "thin2": {"pool", "thin1"},
		"thin3": {"pool", "ext"}, "msnap": {"", "morig"}, "lin": {"", ""}} {
		if lv := vg.LV(name); lv.Pool() != w[0] || lv.Origin() != w[1] {
			t.Errorf("%s: pool %q, origin %q; want %q", name, lv.Pool(), lv.Origin(), w)
		}
	}
	if n, sn := vg.LVCount(), vg.SnapshotCount(); n != 19 || sn != 2 {
		t.Errorf("LVCount %d, SnapshotCount %d", n, sn)
	}
	if a := vg.Attr(); a != "r---n-" {
		t.Errorf("VG attr %s", a)
	}
	if a := vg.PVs[0].Attr(); a != "---" {
		t.Errorf("PV attr %s", a)
	}
	vg.PVs[1].Missing = true
	if a, b, c := vg.LV("m").Attr(vg), vg.LV("thin3").Attr(vg), vg.LV("lin").Attr(vg); a[8] != 'p' || b[8] != 'p' || c[8] != '-' {
		t.Errorf("with pv1 missing: m %s, thin3 %s (its external origin is on pv1), lin %s", a, b, c)
	}
	if a, b := vg.Attr(), vg.PVs[1].Attr(); a != "r--pn-" || b != "--m" {
		t.Errorf("with pv1 missing: VG attr %s, PV attr %s", a, b)
	}
}

func TestParseVGErrors(t *testing.T) {
	seg := func(body string) string {
		return `lv0 { id = "L" segment_count = 1 segment1 { start_extent = 0 ` + body + ` } }`
	}
	for _, tt := range []struct{ name, lvs, want string }{
		{"zero stripes", seg(`extent_count = 2 type = "striped" stripe_count = 0 stripes = []`), "stripe_count = 0"},
		{"absurd extents", seg(`extent_count = 99999999999999999 type = "striped" stripe_count = 1 stripes = ["pv0", 0]`), "extent_count"},
		{"beyond PV", seg(`extent_count = 60 type = "striped" stripe_count = 1 stripes = ["pv1", 0]`), "beyond"},
		{"unknown PV", seg(`extent_count = 6 type = "striped" stripe_count = 1 stripes = ["pv9", 0]`), "unknown PV"},
		{"short stripes", seg(`extent_count = 6 type = "striped" stripe_count = 2 stripe_size = 8 stripes = ["pv0", 0]`), "each followed by an extent"},
		{"overlap on PV", seg(`extent_count = 6 type = "striped" stripe_count = 1 stripes = ["pv0", 0]`) +
			`lv1 { id = "M" segment_count = 1 segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv0", 5] } }`, "both map"},
		{"overlapping segments", `lv0 { id = "L" segment_count = 2
			segment1 { start_extent = 0 extent_count = 5 type = "striped" stripe_count = 1 stripes = ["pv0", 0] }
			segment2 { start_extent = 3 extent_count = 5 type = "striped" stripe_count = 1 stripes = ["pv0", 10] } }`, "overlap"},
		{"missing segment", `lv0 { id = "L" segment_count = 1 segment2 { } }`, "segment1 is missing"},
		{"no type", seg(`extent_count = 6`), "type"},
		{"unknown sub-LV", seg(`extent_count = 2 type = "striped" stripe_count = 1 stripes = ["nosuch", 0]`), `unknown PV or LV "nosuch"`},
		{"beyond sub-LV", seg(`extent_count = 2 type = "striped" stripe_count = 1 stripes = ["lv1", 1]`) +
			lin("lv1", 2, "pv1", 0), `beyond LV "lv1"'s 2 extents`},
		{"self loop", seg(`extent_count = 2 type = "striped" stripe_count = 1 stripes = ["lv0", 0]`), `"lv0" refers to itself through lv0 -> lv0`},
		{"loop", seg(`extent_count = 2 type = "mirror" mirror_count = 1 mirrors = ["a", 0]`) +
			`a { id = "A" segment_count = 1 segment1 { start_extent = 0 extent_count = 2 type = "raid1" device_count = 1 raids = ["b"] } }
			b { id = "B" segment_count = 1 segment1 { start_extent = 0 extent_count = 2 type = "thin" thin_pool = "p" transaction_id = 0 device_id = 1 } }
			p { id = "P" segment_count = 1 segment1 { start_extent = 0 extent_count = 2 type = "thin-pool" metadata = "m" pool = "lv0" transaction_id = 0 chunk_size = 128 } }` +
			lin("m", 1, "pv1", 0), "refers to itself through"},
		{"deep", deepStack(40), "stacked more than 32 deep"},
		{"duplicate LV", lin("x", 1, "pv0", 0) + lin("x", 1, "pv0", 1), `section "x" defined twice`},
		{"small mirror leg", seg(`extent_count = 4 type = "mirror" mirror_count = 2 mirrors = ["l0", 0, "l1", 0]`) +
			lin("l0", 4, "pv0", 0) + lin("l1", 3, "pv1", 0), `area 1 maps extents 0-3 beyond LV "l1"'s 3 extents`},
		{"mirror leg beyond PV", seg(`extent_count = 4 type = "mirror" mirror_count = 2 mirrors = ["pv0", 0, "pv1", 48]`), "beyond pv1's 50 extents"},
		{"small raid image", seg(`extent_count = 4 type = "raid5" device_count = 3 stripe_size = 16 raids = ["i0", "i1", "i2"]`) +
			lin("i0", 2, "pv0", 0) + lin("i1", 2, "pv0", 2) + lin("i2", 1, "pv0", 4), `RAID image "i2" has 1 extents, less than the 2`},
		{"raid without stripe size", seg(`extent_count = 4 type = "raid6" device_count = 4 raids = ["i0", "i1", "i2", "i3"]`), "needs a stripe_size"},
		{"raid count", seg(`extent_count = 4 type = "raid1" device_count = 3 raids = ["i0", "i1"]`) +
			lin("i0", 4, "pv0", 0) + lin("i1", 4, "pv0", 4), "lists 2 devices, want 3"},
		{"raid both counts", seg(`extent_count = 4 type = "raid0" device_count = 2 stripe_count = 2 raids = []`), "one of device_count and stripe_count"},
		{"raid too few", seg(`extent_count = 4 type = "raid6" device_count = 2 stripe_size = 8 raids = []`), "needs more than 2 devices"},
		{"raid meta alone", seg(`extent_count = 4 type = "raid1" device_count = 1 raids = ["x_rmeta_0"]`), "is not followed by a data LV"},
		{"raid10 copies", seg(`extent_count = 4 type = "raid10" device_count = 2 data_copies = 3 stripe_size = 8 raids = []`), "data_copies = 3 is out of range"},
		{"thin pool not a pool", seg(`extent_count = 4 type = "thin" thin_pool = "lv1" transaction_id = 0 device_id = 1`) +
			lin("lv1", 1, "pv0", 0), `thin_pool "lv1" is not a thin pool`},
		{"thin device id", seg(`extent_count = 4 type = "thin" thin_pool = "lv1" transaction_id = 0 device_id = 16777216`), "device_id"},
		{"pool twice", seg(`extent_count = 4 type = "thin-pool" metadata = "lv1" pool = "lv1" transaction_id = 0 chunk_size = 128`) +
			lin("lv1", 4, "pv0", 0), "both metadata and data"},
		{"small pool data", seg(`extent_count = 4 type = "thin-pool" metadata = "lv1" pool = "lv2" transaction_id = 0 chunk_size = 128`) +
			lin("lv1", 1, "pv0", 0) + lin("lv2", 3, "pv0", 1), `data LV "lv2" has 3 extents`},
		{"pool in two segments", `lv0 { id = "L" segment_count = 2
			segment1 { start_extent = 0 extent_count = 4 type = "thin-pool" metadata = "lv1" pool = "lv2" transaction_id = 0 chunk_size = 128 }
			segment2 { start_extent = 4 extent_count = 1 type = "zero" } }` + lin("lv1", 1, "pv0", 0) + lin("lv2", 4, "pv0", 1), "must be the LV's only segment"},
		{"snapshot of itself", seg(`extent_count = 2 type = "snapshot" origin = "lv1" cow_store = "lv1" chunk_size = 8`) +
			lin("lv1", 2, "pv0", 0), "must be two other LVs"},
		{"snapshot bigger than origin", seg(`extent_count = 3 type = "snapshot" origin = "lv1" cow_store = "lv2" chunk_size = 8`) +
			lin("lv1", 2, "pv0", 0) + lin("lv2", 2, "pv0", 2), `origin "lv1" of only 2`},
		{"COW twice", seg(`extent_count = 2 type = "snapshot" origin = "lv1" cow_store = "lv2" chunk_size = 8`) +
			lin("lv1", 2, "pv0", 0) + lin("lv2", 2, "pv0", 2) +
			`s2 { id = "S" segment_count = 1 segment1 { start_extent = 0 extent_count = 2 type = "snapshot" origin = "lv1" cow_store = "lv2" chunk_size = 8 } }`,
			`COW LV "lv2" serves two snapshots`},
		{"COW is an origin", seg(`extent_count = 2 type = "snapshot" origin = "lv1" cow_store = "lv2" chunk_size = 8`) +
			lin("lv1", 2, "pv0", 0) + lin("lv2", 2, "pv0", 2) + lin("lv3", 2, "pv0", 4) +
			`s2 { id = "S" segment_count = 1 segment1 { start_extent = 0 extent_count = 2 type = "snapshot" origin = "lv2" cow_store = "lv3" chunk_size = 8 } }`,
			`COW LV "lv2" is also an origin`},
		{"negative area extent", seg(`extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", -1]`), "is not a PV or LV name and an extent"},
	} {
		_, err := ParseVG(vgText(tt.lvs))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// lin returns the text of a hidden linear LV of n extents on pv from start.
func lin(name string, n int, pv string, start int) string {
	return fmt.Sprintf(`%s { id = "%[1]s" status = ["READ"] segment_count = 1
	segment1 { start_extent = 0 extent_count = %d type = "striped" stripe_count = 1 stripes = ["%s", %d] } }
`, name, n, pv, start)
}

// deepStack returns LVs lv0, s1, s2, ... each striped over the next, n deep.
func deepStack(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("s%d", i)
		if i == 0 {
			name = "lv0"
		}
		fmt.Fprintf(&b, `%s { id = "%[1]s" segment_count = 1 segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["s%d", 0] } }
`, name, i+1)
	}
	b.WriteString(lin(fmt.Sprintf("s%d", n), 1, "pv0", 0))
	return b.String()
}
