package lvm

import (
	"bytes"
	"errors"
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
	if s := vg.LVs[1].Segments[0]; s.Type != "striped" || s.Stripes[0] != (Stripe{"pv0", 3}) || s.ExtentCount != 2 {
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
}
thin { id = "T" segment_count = 1
  segment1 { start_extent = 0 extent_count = 1000000 type = "thin" thin_pool = "pool" }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if vg.Seqno != 5 || vg.ExtentSize != 8192 || len(vg.PVs) != 2 || vg.PVs[0].Device != "/dev/x" {
		t.Fatalf("%+v", vg)
	}
	lv := vg.LVs[0]
	if len(lv.Segments) != 2 || lv.Segments[0].StripeSize != 128 || lv.Segments[0].Stripes[1] != (Stripe{"pv1", 0}) {
		t.Fatalf("%+v", lv)
	}
	if vg.LVs[1].Segments[0].Type != "thin" || vg.LVs[1].Segments[0].Section.Values["thin_pool"].Str != "pool" {
		t.Fatalf("%+v", vg.LVs[1])
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
		{"short stripes", seg(`extent_count = 6 type = "striped" stripe_count = 2 stripe_size = 8 stripes = ["pv0", 0]`), "pairs"},
		{"overlap on PV", seg(`extent_count = 6 type = "striped" stripe_count = 1 stripes = ["pv0", 0]`) +
			`lv1 { id = "M" segment_count = 1 segment1 { start_extent = 0 extent_count = 3 type = "striped" stripe_count = 1 stripes = ["pv0", 5] } }`, "both map"},
		{"overlapping segments", `lv0 { id = "L" segment_count = 2
			segment1 { start_extent = 0 extent_count = 5 type = "striped" stripe_count = 1 stripes = ["pv0", 0] }
			segment2 { start_extent = 3 extent_count = 5 type = "striped" stripe_count = 1 stripes = ["pv0", 10] } }`, "overlap"},
		{"missing segment", `lv0 { id = "L" segment_count = 1 segment2 { } }`, "segment1 is missing"},
		{"no type", seg(`extent_count = 6`), "type"},
	} {
		_, err := ParseVG(vgText(tt.lvs))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
