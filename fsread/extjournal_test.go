package fsread_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/fixturetest"
	"vmsh/internal/tooltest"
)

// gunzipFile returns the decompressed contents of a small gzip file.
func gunzipFile(t *testing.T, name string) []byte { return tooltest.Gunzip(t, name) }

// TestExternalJournal reads testdata/extjournal-fs.ext4.gz, an ext4
// filesystem copied while mounted whose journal is on the journal device
// testdata/extjournal-dev.jdev.gz (both made by testdata/mkjournal.sh).
// Given the device, the replayed filesystem lists as the kernel listed it
// after replaying the copies; without it the journal is not replayed and a
// warning names the journal's UUID.
func TestExternalJournal(t *testing.T) {
	const dir = "../testdata"
	img := gunzipFile(t, filepath.Join(dir, "extjournal-fs.ext4.gz"))
	jdev := gunzipFile(t, filepath.Join(dir, "extjournal-dev.jdev.gz"))
	const juuid = "6a6f7572-6e61-4c58-8001-0000000000aa"

	if u, err := fsread.ProbeJournalDev(bytes.NewReader(jdev)); err != nil || u != juuid {
		t.Errorf("ProbeJournalDev = %q, %v; want %q", u, err, juuid)
	}
	if _, err := fsread.ProbeJournalDev(bytes.NewReader(img)); err == nil {
		t.Errorf("ProbeJournalDev of a filesystem: no error")
	}
	info, err := fsread.Probe(bytes.NewReader(img))
	if err != nil || info.JournalUUID != juuid {
		t.Errorf("Probe: JournalUUID %q, %v; want %q", info.JournalUUID, err, juuid)
	}

	raw, err := fsread.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if raw.Info().Replayed || !strings.Contains(strings.Join(raw.Warnings(), "\n"), juuid) {
		t.Errorf("without the journal device: replayed %v, warnings %q", raw.Info().Replayed, raw.Warnings())
	}

	f, err := fsread.OpenOptions(bytes.NewReader(img), int64(len(img)), fsread.Options{
		ExternalJournal: bytes.NewReader(jdev), ExternalJournalSize: int64(len(jdev)),
	})
	if err != nil {
		t.Fatal(err)
	}
	in := f.Info()
	if !in.Replayed || in.ReplayTransactions == 0 || in.ReplayBlocks == 0 {
		t.Errorf("Info: replayed %v, %d transactions, %d blocks", in.Replayed, in.ReplayTransactions, in.ReplayBlocks)
	}
	for _, w := range f.Warnings() {
		if strings.Contains(w, "journal") {
			t.Errorf("warning after replay: %s", w)
		}
	}
	want, err := fixturetest.ReadExpect(filepath.Join(dir, "extjournal.expect"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fixturetest.Listing(f)
	if err != nil {
		t.Fatal(err)
	}
	if d := fixturetest.Diff(want, got, 30); d != "" {
		t.Errorf("replayed listing differs from the kernel's:\n%s", d)
	}

	// The wrong device is refused by name, and the filesystem shown as
	// it is on disk.
	g, err := fsread.OpenOptions(bytes.NewReader(img), int64(len(img)), fsread.Options{
		ExternalJournal: bytes.NewReader(img), ExternalJournalSize: int64(len(img)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.Info().Replayed || !strings.Contains(strings.Join(g.Warnings(), "\n"), "not a journal device") {
		t.Errorf("with a filesystem as journal: replayed %v, warnings %q", g.Info().Replayed, g.Warnings())
	}
}
