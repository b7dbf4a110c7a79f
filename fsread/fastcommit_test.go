package fsread_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/fixturetest"
)

// TestFastCommitFixture reads testdata/fastcommit.ext4.gz, copied by
// testdata/mkjournal.sh while mounted, whose fast-commit area holds fast
// commits, which debugfs's logdump decodes in fastcommit.logdump. vmsh
// applies them all, and the filesystem lists as the kernel listed it
// after its replay, but for the times of the directories the fast
// commits add names to: the kernel sets them to the time of its replay,
// which vmsh cannot know, and vmsh keeps them as they are on disk.
func TestFastCommitFixture(t *testing.T) {
	const dir = "../testdata"
	img := gunzipFile(t, filepath.Join(dir, "fastcommit.ext4.gz"))
	dump, err := os.ReadFile(filepath.Join(dir, "fastcommit.logdump"))
	if err != nil {
		t.Fatal(err)
	}
	commits := 0
	parents := map[string]bool{} // inode numbers of the directories linked into
	dentry := regexp.MustCompile(`^tag (?:CREAT_DENTRY|LINK|UNLINK), parent (\d+), ino \d+, name`)
	for _, l := range strings.Split(string(dump), "\n") {
		if strings.HasPrefix(l, "tag TAIL,") {
			commits++
		}
		if m := dentry.FindStringSubmatch(l); m != nil {
			parents[m[1]] = true
		}
	}
	f, err := fsread.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if ws := strings.Join(f.Warnings(), "\n"); commits == 0 || f.Info().ReplayFastCommits != commits || strings.Contains(ws, "fast") {
		t.Errorf("%d fast commits applied, warnings %q; want %d applied", f.Info().ReplayFastCommits, ws, commits)
	}
	exp, err := fixturetest.ReadExpect(filepath.Join(dir, "fastcommit.expect"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fixturetest.Listing(f)
	if err != nil {
		t.Fatal(err)
	}
	// The mtime (field 8) of the directories linked into is the kernel's
	// replay time in its listing; it is left out of both listings.
	skipped := 0
	dropTime := func(lines []string) []string {
		out := make([]string, len(lines))
		for i, l := range lines {
			fields := strings.Split(l, "\t")
			out[i] = l
			if len(fields) < 8 || fields[1] != "d" {
				continue
			}
			fi, err := fs.Stat(f, fields[0])
			if err != nil {
				continue
			}
			if st, ok := fi.Sys().(*fsread.Stat); ok && parents[strconv.FormatUint(st.Ino, 10)] {
				fields[7] = "(replay time)"
				out[i] = strings.Join(fields, "\t")
				skipped++
			}
		}
		sort.Strings(out)
		return out
	}
	w, g := dropTime(exp), dropTime(got)
	if skipped != 2*len(parents) {
		t.Errorf("times of %d listed directories left out; want %d", skipped/2, len(parents))
	}
	if d := fixturetest.Diff(w, g, 30); d != "" {
		t.Errorf("listing differs from the kernel's after replay:\n%s", d)
	}
}
