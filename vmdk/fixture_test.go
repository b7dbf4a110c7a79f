package vmdk

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// TestFixtures reads the images testdata/mkfixtures.sh made with qemu-img
// and qemu-io, and compares each virtual disk with the sha256 qemu read.
func TestFixtures(t *testing.T) {
	m := newMemFS()
	gz, err := filepath.Glob("testdata/*.vmdk.gz")
	if err != nil || len(gz) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, name := range gz {
		m.add(strings.TrimSuffix(name, ".gz"), tooltest.Gunzip(t, name))
	}
	f, err := os.Open("testdata/fixtures.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]struct {
		createType, format string
		extents, depth     int
	}{
		"sparse.vmdk": {"monolithicSparse", "hosted sparse", 1, 0},
		"stream.vmdk": {"streamOptimized", "stream-optimized", 1, 0},
		"flat.vmdk":   {"monolithicFlat", "flat", 1, 0},
		"split.vmdk":  {"twoGbMaxExtentSparse", "hosted sparse", 1, 0},
		"base.vmdk":   {"monolithicSparse", "hosted sparse", 1, 0},
		"child.vmdk":  {"monolithicSparse", "hosted sparse", 1, 1},
	}
	sc := bufio.NewScanner(f)
	seen := 0
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("fixtures.sha256: bad line %q", sc.Text())
		}
		seen++
		t.Run(name, func(t *testing.T) {
			im, err := m.openImage(t, filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if got := tooltest.SHA256(t, im, im.Size(), 64<<10+512); got != sum {
				t.Errorf("sha256 %s, qemu read %s", got, sum)
			}
			info := im.Info()
			w := want[name]
			depth := 0
			for p := info.Parent; p != nil; p = p.Parent {
				depth++
			}
			if info.CreateType != w.createType || len(info.Extents) != w.extents || info.Extents[0].Format != w.format || depth != w.depth || len(info.Warnings) != 0 {
				t.Errorf("Info() = %+v", info)
			}
			if info.Size != 1<<20+3*512 {
				t.Errorf("size %d", info.Size)
			}
		})
	}
	// The one extent of split.vmdk, opened alone, is the same disk.
	t.Run("split-s001.vmdk", func(t *testing.T) {
		im, err := m.openImage(t, "testdata/split-s001.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		split, _ := m.openImage(t, "testdata/split.vmdk")
		defer split.Close()
		if got, want := tooltest.SHA256(t, im, im.Size(), 1<<20), tooltest.SHA256(t, split, split.Size(), 1<<20); got != want {
			t.Errorf("sha256 %s, want %s", got, want)
		}
		if w := im.Info().Warnings; len(w) != 0 {
			t.Errorf("warnings %q", w)
		}
	})
	if seen != len(want) {
		t.Errorf("fixtures.sha256 lists %d images, want %d", seen, len(want))
	}
	if m.open != 0 {
		t.Errorf("%d files left open", m.open)
	}
}
