package qcow2

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// fixtures unpacks the committed images (testdata/*.gz, made by
// testdata/mkfixtures.sh) into a temporary directory and returns it.
func fixtures(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	gz, err := filepath.Glob(filepath.Join("testdata", "*.gz"))
	if err != nil || len(gz) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, name := range gz {
		b := tooltest.Gunzip(t, name)
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(filepath.Base(name), ".gz")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFixtures reads every disk SHA256SUMS lists, as qemu read it when the
// fixtures were made.
func TestFixtures(t *testing.T) {
	dir := fixtures(t)
	f, err := os.Open(filepath.Join("testdata", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	n := 0
	for s.Scan() {
		sum, name, ok := strings.Cut(s.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", s.Text())
		}
		img, snap, _ := strings.Cut(name, "@")
		t.Run(name, func(t *testing.T) {
			m, err := openPath(t, filepath.Join(dir, img), Options{Snapshot: snap})
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range []int{0, 4096, 1000} {
				if got := tooltest.SHA256(t, m, m.Size(), chunk); got != sum {
					t.Errorf("%d-byte reads: sha256 %s, want %s", chunk, got, sum)
				}
			}
		})
		n++
	}
	if n < 10 {
		t.Errorf("only %d disks in SHA256SUMS", n)
	}
}

// TestFixtureInfo checks what Info and Snapshots say of the fixtures.
func TestFixtureInfo(t *testing.T) {
	dir := fixtures(t)
	open := func(name string) *Image {
		t.Helper()
		m, err := openPath(t, filepath.Join(dir, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	in := open("v2.qcow2").Info()
	if in.Version != 2 || in.ClusterSize != 4096 || in.Size != 256<<10 || in.RefcountBits != 16 || len(in.Chain) != 0 {
		t.Errorf("v2: %+v", in)
	}
	in = open("zstd.qcow2").Info()
	if in.Version != 3 || in.Compression != "zstd" || strings.Join(in.IncompatibleFeatures, ",") != "compression type" {
		t.Errorf("zstd: %+v", in)
	}
	in = open("sub.qcow2").Info()
	if !in.ExtendedL2 || in.Subclusters != 32 || in.ClusterSize != 16<<10 || in.Size != 320<<10 ||
		in.BackingFile != "sub-base.qcow2" || in.BackingFormat != "qcow2" ||
		len(in.Chain) != 1 || in.Chain[0].Path != filepath.Join(dir, "sub-base.qcow2") || in.Chain[0].Format != "qcow2" {
		t.Errorf("sub: %+v", in)
	}
	in = open("over-raw.qcow2").Info()
	if len(in.Chain) != 1 || in.Chain[0].Format != "raw" || in.Chain[0].Name != "short.raw" {
		t.Errorf("over-raw: %+v", in)
	}
	in = open("data.qcow2").Info()
	if in.DataFile != "data.raw" || !in.DataFileRaw {
		t.Errorf("data: %+v", in)
	}
	m := open("snap.qcow2")
	s := m.Snapshots()
	if len(s) != 2 || s[0].ID != "1" || s[0].Name != "one" || s[0].Size != 256<<10 ||
		s[1].ID != "2" || s[1].Name != "two" || s[1].Size != 300<<10 || s[0].Date.Year() < 2020 || m.Info().Snapshots != 2 {
		t.Errorf("snapshots %+v", s)
	}
	if w := m.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
}

// TestCorruptBit reads an image qemu marked corrupt, with a warning.
func TestCorruptBit(t *testing.T) {
	dir := fixtures(t)
	p := filepath.Join(dir, "v2.qcow2")
	b := mustRead(t, filepath.Join(dir, "deflate.qcow2"))
	be.PutUint64(b[72:], be.Uint64(b[72:])|incompatCorrupt|incompatDirty)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := openPath(t, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := m.Info()
	if !in.Corrupt || !in.Dirty || len(m.Warnings()) != 1 || !strings.Contains(m.Warnings()[0], "marked corrupt") {
		t.Errorf("Info %+v, warnings %q", in, m.Warnings())
	}
}

// TestFixtureRefused checks that encrypted images (AES, and the header
// cluster of a LUKS one) and a qcow version 1 image are refused by name.
func TestFixtureRefused(t *testing.T) {
	dir := fixtures(t)
	for _, tc := range []struct {
		name, want string
		is         error
	}{
		{"aes.qcow2", "encrypted images (AES/LUKS) are not supported (crypt_method 1, AES)", ErrEncrypted},
		{"luks.qcow2", "encrypted images (AES/LUKS) are not supported (crypt_method 2, LUKS)", ErrEncrypted},
		{"v1.qcow", "qcow version 1 images are not supported", ErrVersion1},
	} {
		p := filepath.Join(dir, tc.name)
		if !Detect(mustRead(t, p)) {
			t.Errorf("%s: not detected", tc.name)
		}
		_, err := openPath(t, p, Options{})
		if !errors.Is(err, tc.is) || !errors.Is(err, errors.ErrUnsupported) || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
