package fixturetest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDMName(t *testing.T) {
	for _, c := range []struct{ vg, lv, want string }{
		{"vg0", "root", "vg0-root"},
		{"data-vg", "stripe-lv", "data--vg-stripe--lv"},
		{"a--b", "-", "a----b---"},
	} {
		if got := DMName(c.vg, c.lv); got != c.want {
			t.Errorf("DMName(%q, %q) = %q, want %q", c.vg, c.lv, got, c.want)
		}
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadReport(t *testing.T) {
	rep, err := readReport(writeFile(t, "x.lvs", "# vg_name\tlv_name\tdevices\nvg\t[img_0]\t/dev/sda(0)\nvg\tthin\t\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.rows) != 2 || lvName(rep.rows[0]) != "img_0" || rep.rows[1]["devices"] != "" || rep.file != "x.lvs" {
		t.Errorf("rows %q", rep.rows)
	}
	for _, bad := range []string{"", "vg_name\tlv_name\n", "# a\tb\n1\t2\t3\n"} {
		if _, err := readReport(writeFile(t, "bad.lvs", bad)); err == nil {
			t.Errorf("readReport(%q) succeeded", bad)
		}
	}
}

func TestReadSums(t *testing.T) {
	h := strings.Repeat("ab", 32)
	keys, sums, err := readSums(writeFile(t, "x.sha256", h+"  vg/b\n"+h+"  vg/a\n"))
	if err != nil || !slices.Equal(keys, []string{"vg/b", "vg/a"}) || sums["vg/a"] != h {
		t.Errorf("readSums = %q, %q, %v", keys, sums, err)
	}
	for _, bad := range []string{h + " vg/a\n", "abc  vg/a\n", h + "  a\n"} {
		if _, _, err := readSums(writeFile(t, "bad.sha256", bad)); err == nil {
			t.Errorf("readSums(%q) succeeded", bad)
		}
	}
}

// TestNeeds follows sub-LVs and thin pools down to the devices.
func TestNeeds(t *testing.T) {
	rep, err := readReport(writeFile(t, "x.lvs", strings.Join([]string{
		"# vg_name\tlv_name\tsegtype\tdevices",
		"vg\tr1\traid1\tr1_rimage_0(0),r1_rimage_1(0)",
		"vg\t[r1_rimage_0]\tlinear\t/dev/sda1(1)",
		"vg\t[r1_rimage_1]\tlinear\t/dev/sdb(1)",
		"vg\tlong\tlinear\t/dev/sda1(9)",
		"vg\tlong\tlinear\t/dev/sdc(0)",
		"vg\tpool\tthin-pool\tpool_tdata(0)",
		"vg\t[pool_tdata]\tstriped\t/dev/sdd(0),/dev/sde(4)",
		"vg\tthin\tthin\t",
		"",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	for lv, want := range map[string][]string{
		"r1":   {"sda1", "sdb"},
		"long": {"sda1", "sdc"},
		"thin": {"sdd", "sde"},
	} {
		if got := needs(rep, "vg", lv, 0); !slices.Equal(got, want) {
			t.Errorf("needs(%s) = %q, want %q", lv, got, want)
		}
	}
}
