package fsread_test

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/fixturetest"
)

// TestJournalFixtures checks the images testdata/mkjournal.sh copied while
// they were mounted: replayed (the default, also covered by TestFixtures)
// they list as the kernel listed them after its own replay, and with
// NoReplay as the kernel listed them mounted with noload.
func TestJournalFixtures(t *testing.T) {
	const dir = "../testdata"
	names, _ := filepath.Glob(filepath.Join(dir, "*-noreplay.expect"))
	if len(names) == 0 {
		t.Fatal("no *-noreplay.expect in testdata")
	}
	for _, exp := range names {
		name := strings.TrimSuffix(filepath.Base(exp), "-noreplay.expect")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, size, err := fixturetest.OpenImage(dir, name, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()

			replayed, err := fsread.Open(f, size)
			if err != nil {
				t.Fatal(err)
			}
			info := replayed.Info()
			if !info.Replayed || info.ReplayTransactions == 0 || info.ReplayBlocks == 0 {
				t.Errorf("Info: replayed %v, %d transactions, %d blocks", info.Replayed, info.ReplayTransactions, info.ReplayBlocks)
			}
			for _, feat := range info.Features {
				if feat == "needs_recovery" {
					t.Errorf("needs_recovery still listed after replay")
				}
			}
			for _, w := range replayed.Warnings() {
				if strings.Contains(w, "journal") {
					t.Errorf("warning after replay: %s", w)
				}
			}
			want, err := fixturetest.ReadExpect(filepath.Join(dir, name+".expect"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := fixturetest.Listing(replayed)
			if err != nil {
				t.Fatal(err)
			}
			if d := fixturetest.Diff(want, got, 30); d != "" {
				t.Errorf("replayed listing differs from the kernel's:\n%s", d)
			}

			raw, err := fsread.OpenOptions(f, size, fsread.Options{NoReplay: true})
			if err != nil {
				t.Fatal(err)
			}
			if raw.Info().Replayed || !strings.Contains(strings.Join(raw.Warnings(), "\n"), "journal not replayed") {
				t.Errorf("NoReplay: replayed %v, warnings %q", raw.Info().Replayed, raw.Warnings())
			}
			want, err = fixturetest.ReadExpect(exp)
			if err != nil {
				t.Fatal(err)
			}
			bad, err := unreadable(exp)
			if err != nil {
				t.Fatal(err)
			}
			listed := map[string]bool{}
			for _, l := range want {
				listed[strings.SplitN(l, "\t", 2)[0]] = true
			}
			got, err = fixturetest.Listing(&skipFS{FS: raw, bad: bad, listed: listed})
			if err != nil {
				t.Fatal(err)
			}
			if d := fixturetest.Diff(want, got, 30); d != "" {
				t.Errorf("NoReplay listing differs from the kernel's noload listing:\n%s", d)
			}
			// What the kernel could not read must not break vmsh either.
			for p := range bad {
				raw.Lstat(p)
				raw.ReadDir(p)
			}
		})
	}
}

// unreadable returns the paths named by "# unreadable: PATH" lines: the
// entries the kernel could not stat or read without the journal.
func unreadable(name string) (map[string]bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bad := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "# unreadable: "); ok {
			bad[p] = true
		}
	}
	return bad, sc.Err()
}

// skipFS hides from directory listings the entries the kernel could not
// stat, and lists no entries in directories it could not read.
type skipFS struct {
	*fsread.FS
	bad    map[string]bool
	listed map[string]bool
}

func (s *skipFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if s.bad[name] {
		return nil, nil
	}
	ents, err := s.FS.ReadDir(name)
	out := ents[:0]
	for _, e := range ents {
		p := path.Join(name, e.Name())
		if s.bad[p] && !s.listed[p] {
			continue
		}
		out = append(out, e)
	}
	return out, err
}
