package qcow2

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen opens fuzzed images, whose backing and data files are the
// image itself, and reads parts of them and of their snapshots. It checks
// only that nothing panics, hangs or reads more than it should.
func FuzzOpen(f *testing.F) {
	for _, c := range craftedKinds(f)[:3] {
		f.Add(c.img)
	}
	f.Add((&crafted{cb: 9, backing: "b", backFmt: "qcow2"}).build(f).img)
	f.Add((&crafted{cb: 9, backing: "b"}).build(f).img)
	dir := fixtures(f)
	for _, name := range []string{"v2.qcow2", "v3-512.qcow2", "zstd.qcow2", "sub.qcow2", "data.qcow2", "snap.qcow2"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		open := func(string) (File, error) { return newMem(b), nil }
		buf := make([]byte, 64<<10)
		for _, snap := range []string{"", "1", "2"} {
			m, err := Open(newMem(b), "fuzz.qcow2", open, Options{Snapshot: snap, MaxChainDepth: 4})
			if err != nil {
				continue
			}
			m.Info()
			m.Warnings()
			m.Snapshots()
			size := m.Size()
			for _, off := range []int64{0, 4096 - 100, size / 2, size - int64(len(buf)), size - 1} {
				if off < 0 {
					continue
				}
				n, err := m.ReadAt(buf, off)
				want := int(min(int64(len(buf)), max(size-off, 0)))
				if n > want || (err == nil || err == io.EOF) && n != want || err == nil && n < len(buf) {
					t.Fatalf("ReadAt(%d at %#x) of %d = %d, %v", len(buf), off, size, n, err)
				}
			}
			m.Close()
		}
	})
}
