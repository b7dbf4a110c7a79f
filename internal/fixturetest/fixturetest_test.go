package fixturetest

import (
	"strings"
	"testing"
)

func line(fields ...string) string { return strings.Join(fields, "\t") }

var lines = []string{
	line(".", "d", "0755", "0", "0", "4096", "4", "1.000000000", "-", "-", "-"),
	line("a", "d", "0755", "0", "0", "4096", "2", "1.000000000", "-", "-", "-"),
	line("a/f", "f", "0644", "0", "0", "3", "1", "1.000000000", "-", "-", "abc"),
	line("a/up", "l", "0777", "0", "0", "5", "1", "1.000000000", "../b", "-", "-"),
	line("b", "l", "0777", "0", "0", "3", "1", "1.000000000", "/a/", "-", "-"),
	line("c", "l", "0777", "0", "0", "1", "1", "1.000000000", "d", "-", "-"),
	line("d", "l", "0777", "0", "0", "1", "1", "1.000000000", "c", "-", "-"),
	line("e", "l", "0777", "0", "0", "3", "1", "1.000000000", "a/f/x", "-", "-"),
}

func TestResolve(t *testing.T) {
	idx := Index(lines)
	if got := idx["."].Entries; got != 7 {
		t.Errorf("root Entries = %d, want 7", got)
	}
	for p, want := range map[string]string{
		"a/f": "a/f", "b": "a", "b/f": "a/f", "a/up/up/f": "a/f", "a/../a/f": "a/f",
		"c": "", "e": "", "missing": "", "a/f/x": "",
	} {
		got := ""
		if e := Resolve(idx, p); e != nil {
			got = e.Path
		}
		if got != want {
			t.Errorf("Resolve(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestTestFSHidden(t *testing.T) {
	ls := append(append([]string(nil), lines...),
		line("big", "d", "0755", "0", "0", "4096", "2", "1.000000000", "-", "-", "-"),
		line("big/huge", "f", "0644", "0", "0", "99999999999", "1", "1.000000000", "-", "-", "-"),
		line("big/small", "f", "0644", "0", "0", "1", "1", "1.000000000", "-", "-", "x"),
		line("to-huge", "l", "0777", "0", "0", "8", "1", "1.000000000", "big/huge", "-", "-"),
		line(`x\y`, "d", "0755", "0", "0", "4096", "2", "1.000000000", "-", "-", "-"),
		line(`x\y/f`, "f", "0644", "0", "0", "1", "1", "1.000000000", "-", "-", "x"),
		line(`x\y/l`, "l", "0777", "0", "0", "7", "1", "1.000000000", "missing", "-", "-"),
	)
	SortLines(ls)
	idx := Index(ls)
	got := testFSHidden(idx)
	want := []string{"big/huge", "c", "d", "e", "to-huge", `x\y`}
	if k := keys(got); strings.Join(k, " ") != strings.Join(want, " ") {
		t.Errorf("testFSHidden = %q, want %q", got, want)
	}
	if exp := testFSExpected(idx, got); strings.Join(exp, " ") != "a b big a/f" {
		t.Errorf("testFSExpected = %q", exp)
	}
}

func TestDiff(t *testing.T) {
	if d := Diff(lines, lines, 10); d != "" {
		t.Errorf("Diff of equal listings = %q", d)
	}
	got := append([]string{}, lines[:2]...)
	got = append(got, line("a/f", "f", "0600", "0", "0", "3", "1", "2.000000000", "-", "-", "abc"))
	got = append(got, lines[4:]...)
	got = append(got, line("z", "p", "0644", "0", "0", "0", "1", "1.000000000", "-", "-", "-"))
	d := Diff(lines, got, 10)
	for _, want := range []string{
		`"a/f": mode: kernel "0644", vmsh "0600"; mtime: kernel "1.000000000", vmsh "2.000000000"`,
		`missing "a/up"`,
		`extra "z"`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff output lacks %q:\n%s", want, d)
		}
	}
	if d := Diff(lines, nil, 2); !strings.Contains(d, "and 6 more differences") {
		t.Errorf("Diff with max 2:\n%s", d)
	}
}

func TestUnhash(t *testing.T) {
	out := unhash(lines, 2)
	if f := strings.Split(out[2], "\t"); f[10] != "-" {
		t.Errorf("unhash kept the sum of a 3-byte file: %q", out[2])
	}
	if out[0] != lines[0] {
		t.Errorf("unhash changed a directory line")
	}
}
