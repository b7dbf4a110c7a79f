package lvm

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testDevice returns a device carrying PV n of volTemplate with the given
// metadata text (nil for none).
func testDevice(name string, n int, text []byte) *Device {
	b := testPVData(n)
	return &Device{Name: name, R: bytes.NewReader(b), Size: int64(len(b)),
		PV: &PV{UUID: fmt.Sprintf("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%d", n), Metadata: text}}
}

// vgMeta returns volTemplate's VG with seqno and name changed and the LVs
// given.
func vgMeta(name string, seqno int, lvs string) []byte {
	s := strings.Replace(volTemplate, "LVS", lvs, 1)
	s = strings.Replace(s, "seqno = 7", fmt.Sprintf("seqno = %d", seqno), 1)
	return []byte(strings.Replace(s, "vgv {", name+" {", 1))
}

func hasWarning(t *testing.T, warnings []string, parts ...string) {
	t.Helper()
	for _, w := range warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no warning containing %q in %q", parts, warnings)
}

func TestAssemble(t *testing.T) {
	v7 := vgMeta("vgv", 7, lin("a", 1, "pv0", 0))
	v8 := vgMeta("vgv", 8, lin("a", 1, "pv0", 0)+lin("b", 1, "pv1", 0))
	v8b := vgMeta("vgv", 8, lin("a", 1, "pv0", 0)+lin("c", 1, "pv1", 0))
	devs := []*Device{
		testDevice("sda", 0, v7),
		testDevice("sdb", 1, v8),
		testDevice("sdc", 2, v8b),
		testDevice("sdd", 3, nil), // metadata areas ignored
		testDevice("sde", 3, v8),  // the same PV again
	}
	set, err := Assemble(devs)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Groups) != 1 || len(set.Orphans) != 0 {
		t.Fatalf("groups %d, orphans %d", len(set.Groups), len(set.Orphans))
	}
	g := set.Groups[0]
	if g.VG.Seqno != 8 || g.VG.LV("b") == nil || len(g.Missing()) != 0 {
		t.Errorf("VG seqno %d, LVs %v, missing %v", g.VG.Seqno, g.VG.LVs, g.Missing())
	}
	for i, want := range []string{"sda", "sdb", "sdc", "sdd"} {
		if g.Devices[i].Name != want {
			t.Errorf("PV %d on %s, want %s", i, g.Devices[i].Name, want)
		}
	}
	hasWarning(t, g.Warnings, "sda", "seqno 7", "seqno 8", "sdb")
	hasWarning(t, g.Warnings, "sdb", "sdc", "seqno 8", "differ")
	hasWarning(t, set.Warnings, "sdd", "sde", "same PV UUID", "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3")
	for _, w := range g.Warnings {
		if !slices.Contains(set.Warnings, w) {
			t.Errorf("group warning %q not in the set's", w)
		}
	}
}

func TestAssembleOrphansAndDamage(t *testing.T) {
	// VG "one" lists only pv0 and pv1; pv2 once belonged to it (its copy
	// is older and still lists it), pv3 is an orphan PV.
	one := []byte(strings.Replace(string(vgMeta("one", 9, "")), `pv2 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa2" device = "/dev/c" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }`, "", 1))
	one = []byte(strings.Replace(string(one), `pv3 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3" device = "/dev/d" status = ["ALLOCATABLE"] pe_start = 8 pe_count = 512 }`, "", 1))
	old := vgMeta("one", 5, "")
	set, err := Assemble([]*Device{
		testDevice("sda", 0, one),
		testDevice("sdb", 1, []byte("one { id = ")), // damaged
		testDevice("sdc", 2, old),
		testDevice("sdd", 3, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Groups) != 1 || len(set.Groups[0].VG.PVs) != 2 {
		t.Fatalf("groups %+v", set.Groups)
	}
	g := set.Groups[0]
	if g.Devices[0].Name != "sda" || g.Devices[1].Name != "sdb" {
		t.Errorf("devices %v %v", g.Devices[0], g.Devices[1])
	}
	if len(set.Orphans) != 2 || set.Orphans[0].Name != "sdc" || set.Orphans[1].Name != "sdd" {
		t.Errorf("orphans %v", set.Orphans)
	}
	hasWarning(t, set.Warnings, "sdb", "metadata left out", "line 1")
	hasWarning(t, set.Warnings, "sdc", "seqno 5", "one", "does not list it")

	// A PV the metadata marks missing is left out even when present.
	marked := []byte(strings.Replace(string(vgMeta("two", 3, lin("x", 1, "pv1", 0))),
		`pv1 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa1" device = "/dev/b" status = ["ALLOCATABLE"]`,
		`pv1 { id = "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa1" device = "/dev/b" status = ["ALLOCATABLE"] flags = ["MISSING"]`, 1))
	small := testDevice("sdb", 1, marked)
	set, err = Assemble([]*Device{testDevice("sda", 0, marked), small, testDevice("sdc", 2, marked)})
	if err != nil {
		t.Fatal(err)
	}
	g = set.Groups[0]
	if m := g.Missing(); len(m) != 2 || m[0].Name != "pv1" || m[1].Name != "pv3" {
		t.Errorf("missing %v", m)
	}
	hasWarning(t, g.Warnings, "pv1", "on sdb", "marks it missing")
	if len(g.Warnings) != 2 {
		t.Errorf("warnings %q, want one for pv1 and one for pv3", g.Warnings)
	}
	hasWarning(t, g.Warnings, "pv3", "aaaaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaa3", "/dev/d", "missing")
	if _, err := g.Open("x"); err == nil || !strings.Contains(err.Error(), "aaaaa1") {
		t.Errorf("Open(x) = %v", err)
	}
	if a := g.VG.LV("x").Attr(g.VG); a[8] != 'p' {
		t.Errorf("attr %s", a)
	}

	// Two VGs with one name; a device too small for its PV.
	other := []byte(strings.Replace(string(vgMeta("two", 1, "")), "vgvvvv-vvvv", "wwwwww-wwww", 1))
	short := testDevice("sdf", 3, other)
	short.Size = 1000
	set, err = Assemble([]*Device{testDevice("sda", 0, marked), short})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Groups) != 2 || set.Groups[0].VG.Name != "two" || set.Groups[1].VG.Name != "two" {
		t.Fatalf("groups %+v", set.Groups)
	}
	hasWarning(t, set.Warnings, "two volume groups are named two")
	hasWarning(t, set.Warnings, "sdf is 1000 bytes", "pv3")

	if _, err := Assemble([]*Device{{Name: "x"}}); err == nil {
		t.Error("device without a label: no error")
	}
	if set, err := Assemble(nil); err != nil || len(set.Groups) != 0 {
		t.Errorf("no devices: %v, %v", set, err)
	}
}
