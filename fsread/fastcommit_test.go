package fsread_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"vmsh/fsread"
	"vmsh/internal/fixturetest"
)

// TestFastCommitFixture reads testdata/fastcommit.ext4.gz, copied by
// testdata/mkjournal.sh while mounted, whose fast-commit area holds fast
// commits. vmsh scans the area as the kernel does and names, in a
// warning, the fast commits and tags debugfs's logdump decodes there
// (fastcommit.logdump); it does not apply them. Every entry the fast
// commits do not touch lists as the kernel listed it after its replay.
func TestFastCommitFixture(t *testing.T) {
	const dir = "../testdata"
	img := gunzipFile(t, filepath.Join(dir, "fastcommit.ext4.gz"))
	dump, err := os.ReadFile(filepath.Join(dir, "fastcommit.logdump"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	touched := map[string]bool{".": true}
	commits := 0
	dentry := regexp.MustCompile(`^tag (?:CREAT_DENTRY|LINK|UNLINK), parent \d+, ino \d+, name "(.*)"$`)
	for _, l := range strings.Split(string(dump), "\n") {
		tag, _, ok := strings.Cut(strings.TrimPrefix(l, "tag "), ",")
		if !strings.HasPrefix(l, "tag ") || !ok {
			continue
		}
		switch tag {
		case "TAIL":
			commits++
		case "HEAD", "PAD":
		default:
			counts[tag]++
		}
		if m := dentry.FindStringSubmatch(l); m != nil {
			// debugfs 1.47 prints a byte past the name.
			touched[strings.TrimRightFunc(m[1], unicode.IsControl)] = true
		}
	}
	var parts []string
	for _, tag := range []string{"ADD_RANGE", "DEL_RANGE", "CREAT_DENTRY", "LINK", "UNLINK", "INODE"} {
		if counts[tag] > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", tag, counts[tag]))
		}
	}
	want := fmt.Sprintf("%d fast commits after transaction", commits)
	f, err := fsread.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	ws := strings.Join(f.Warnings(), "\n")
	if commits == 0 || !strings.Contains(ws, want) || !strings.Contains(ws, "("+strings.Join(parts, ", ")+")") {
		t.Errorf("warnings %q; want %q and tags %v", ws, want, parts)
	}

	// The entries the fast commits did not touch (names linked or
	// unlinked, their directories, and the root) are as the kernel shows
	// them.
	exp, err := fixturetest.ReadExpect(filepath.Join(dir, "fastcommit.expect"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fixturetest.Listing(f)
	if err != nil {
		t.Fatal(err)
	}
	keep := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			p, _, _ := strings.Cut(l, "\t")
			if touched[p] || touched[filepath.Base(p)] || touched[p+"/"] {
				continue
			}
			skip := false
			for _, l2 := range exp {
				q, _, _ := strings.Cut(l2, "\t")
				if filepath.Dir(q) == p && touched[filepath.Base(q)] {
					skip = true // a directory a fast commit linked into
				}
			}
			if !skip {
				out = append(out, l)
			}
		}
		sort.Strings(out)
		return out
	}
	w, g := keep(exp), keep(got)
	if len(w) < 2 {
		t.Fatalf("only %d untouched entries in the kernel's listing", len(w))
	}
	if d := fixturetest.Diff(w, g, 30); d != "" {
		t.Errorf("untouched entries differ from the kernel's listing:\n%s", d)
	}
}
