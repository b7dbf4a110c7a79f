package vmdk

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// Tests against qemu: images made by qemu-img (and qemu-io), read through
// Image, and compared with what `qemu-img convert -O raw` makes of them.

// checkAgainstQemu opens dir/name and compares its whole disk with qemu's
// reading of it.
func checkAgainstQemu(t testing.TB, dir, name string) *Image {
	t.Helper()
	im := openPath(t, filepath.Join(dir, name))
	want := tooltest.QemuRawSHA256(t, dir, name, "-f", "vmdk")
	// An odd chunk size, so reads straddle grains and extents.
	if got := tooltest.SHA256(t, im, im.Size(), 1<<20+4096+512); got != want {
		t.Fatalf("%s: sha256 %s, qemu-img reads %s", name, got, want)
	}
	return im
}

func writeFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQemuSubformats converts a raw disk with data, zero runs and holes to
// every subformat and adapter type qemu-img writes.
func TestQemuSubformats(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	data := testDisk(6<<20+5*512, 20)
	writeFile(t, filepath.Join(dir, "src.raw"), data)
	for _, tc := range []struct {
		name, opts string
		extents    int
		format     string
	}{
		{"monolithicSparse", "subformat=monolithicSparse", 1, "hosted sparse"},
		{"monolithicSparse-zeroed", "subformat=monolithicSparse,zeroed_grain=on", 1, "hosted sparse"},
		{"monolithicFlat", "subformat=monolithicFlat", 1, "flat"},
		{"twoGbMaxExtentSparse", "subformat=twoGbMaxExtentSparse", 1, "hosted sparse"},
		{"twoGbMaxExtentFlat", "subformat=twoGbMaxExtentFlat", 1, "flat"},
		{"streamOptimized", "subformat=streamOptimized", 1, "stream-optimized"},
		{"lsilogic", "adapter_type=lsilogic", 1, "hosted sparse"},
		{"buslogic", "adapter_type=buslogic,subformat=monolithicFlat", 1, "flat"},
		{"legacyESX", "adapter_type=legacyESX,subformat=twoGbMaxExtentFlat", 1, "flat"},
		{"compat6", "compat6=on,subformat=streamOptimized", 1, "stream-optimized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name + ".vmdk"
			tooltest.Run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", tc.opts, "src.raw", name)
			im := checkAgainstQemu(t, dir, name)
			if got := tooltest.SHA256(t, im, im.Size(), 1<<20); got != tooltest.SHA256Bytes(data) {
				t.Fatal("the disk differs from its source")
			}
			checkRandomReads(t, im, data, 21, 100)
			info := im.Info()
			if len(info.Extents) != tc.extents || info.Extents[0].Format != tc.format {
				t.Errorf("extents %+v", info.Extents)
			}
			adapter := "ide"
			if a, ok := strings.CutPrefix(tc.opts, "adapter_type="); ok {
				adapter, _, _ = strings.Cut(a, ",")
			}
			if info.DDB["ddb.adapterType"] != adapter {
				t.Errorf("ddb.adapterType %q, want %q", info.DDB["ddb.adapterType"], adapter)
			}
			if len(info.Warnings) != 0 {
				t.Errorf("warnings %q", info.Warnings)
			}
		})
	}
}

// TestQemuTwoGbExtents converts a disk of more than 2 GiB, mostly holes,
// to the split subformats, which qemu-img cuts into 2 GiB extents, with
// data across the cut. A hash of 2 GiB costs seconds, so the whole disk is
// compared with its source byte for byte, and qemu-img compare says that
// qemu reads the same.
func TestQemuTwoGbExtents(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	const size = 2<<30 + 3<<20 + 512
	src := filepath.Join(dir, "src.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	chunk := testDisk(192<<10, 22)
	offs := []int64{0, 1 << 30, 2<<30 - 100<<10, size - 192<<10}
	for _, off := range offs {
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// expect fills b with the source's bytes at off.
	expect := func(b []byte, off int64) {
		clear(b)
		for _, c := range offs {
			lo, hi := max(off, c), min(off+int64(len(b)), c+int64(len(chunk)))
			if lo < hi {
				copy(b[lo-off:hi-off], chunk[lo-c:])
			}
		}
	}
	for _, sub := range []string{"twoGbMaxExtentSparse", "twoGbMaxExtentFlat"} {
		t.Run(sub, func(t *testing.T) {
			name := sub + ".vmdk"
			tooltest.Run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, "src.raw", name)
			tooltest.Run(t, dir, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", "src.raw", name)
			im := openPath(t, filepath.Join(dir, name))
			info := im.Info()
			if len(info.Extents) != 2 || info.Extents[0].Sectors != 2<<30/512 || im.Size() != size {
				t.Errorf("size %d, extents %+v", im.Size(), info.Extents)
			}
			got, want := make([]byte, 4<<20+512), make([]byte, 4<<20+512)
			// Every byte of the sparse image; of the flat one, whose holes
			// cost this machine's page cache seconds to read, the regions
			// with data, the cut between the extents, and samples.
			var at []int64
			if sub == "twoGbMaxExtentFlat" {
				at = append(at, 2<<30-2<<20, 2<<30-8<<20, size-int64(len(got)))
				for _, o := range offs {
					at = append(at, max(0, o-1<<20))
				}
				for i := range int64(16) {
					at = append(at, i*(size/16)+i*4096)
				}
			} else {
				for off := int64(0); off < size; off += int64(len(got)) {
					at = append(at, off)
				}
			}
			for _, off := range at {
				n, err := im.ReadAt(got, off)
				if n != int(min(int64(len(got)), size-off)) || err != nil && err != io.EOF {
					t.Fatalf("ReadAt at %d = %d, %v", off, n, err)
				}
				expect(want, off)
				if !bytes.Equal(got[:n], want[:n]) {
					t.Fatalf("bytes at %d differ from the source", off+int64(firstDiff(got[:n], want[:n])))
				}
			}
		})
	}
}

// TestQemuBackingChain reads delta disks qemu makes over a parent, written
// to with qemu-io: plain, zeroed-grain, split and stream-optimized layers.
func TestQemuBackingChain(t *testing.T) {
	tooltest.Need(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src.raw"), testDisk(4<<20, 23))
	tooltest.Run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "src.raw", "base.vmdk")
	layers := []struct{ name, opts, parent string }{
		{"child.vmdk", "", "base.vmdk"},
		{"zeroed.vmdk", "zeroed_grain=on", "child.vmdk"},
		{"split.vmdk", "subformat=twoGbMaxExtentSparse", "zeroed.vmdk"},
		{"stream.vmdk", "subformat=streamOptimized", "split.vmdk"},
	}
	for i, l := range layers {
		args := []string{"create", "-f", "vmdk", "-b", l.parent, "-F", "vmdk"}
		if l.opts != "" {
			args = append(args, "-o", l.opts)
		}
		tooltest.Run(t, dir, "qemu-img", append(args, l.name)...)
		var cmds []string
		if l.opts == "subformat=streamOptimized" {
			cmds = []string{"write -c -P 0x33 128k 64k", "write -c -P 0x34 3M 64k"}
		} else {
			cmds = []string{
				fmt.Sprintf("write -P 0x%x %dk 64k", 0x50+i, 64*(3*i+1)),
				fmt.Sprintf("write -z %dk 128k", 1024+128*i),
				fmt.Sprintf("write -P 0x%x %dk 3k", 0x60+i, 2048+100*i),
			}
		}
		var args2 []string
		for _, c := range cmds {
			args2 = append(args2, "-c", c)
		}
		tooltest.Run(t, dir, "qemu-io", append(args2, l.name)...)
		t.Run(l.name, func(t *testing.T) {
			im := checkAgainstQemu(t, dir, l.name)
			info := im.Info()
			depth := 0
			for p := info.Parent; p != nil; p = p.Parent {
				depth++
			}
			if depth != i+1 || len(info.Warnings) != 0 {
				t.Errorf("depth %d, warnings %q", depth, info.Warnings)
			}
		})
	}
}

// TestQemuHandDescriptors reads descriptors written by hand over extents
// qemu made: FLAT at an offset, SPARSE and ZERO (which qemu skips, so the
// expected disk is built here).
func TestQemuHandDescriptors(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	a := testDisk(1<<20, 24)
	b := testDisk(2<<20, 25)
	writeFile(t, filepath.Join(dir, "a.raw"), a)
	writeFile(t, filepath.Join(dir, "b.raw"), b)
	// A flat file holding a's bytes after 9 sectors of something else.
	writeFile(t, filepath.Join(dir, "shared-flat.bin"), append(make([]byte, 9*512), a...))
	tooltest.Run(t, dir, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "b.raw", "b.vmdk")
	if err := os.Mkdir(filepath.Join(dir, "desc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "desc", "mixed.vmdk"), []byte(strings.ReplaceAll(descriptorText("monolithicFlat", "", NoCID,
		`RW 2048 FLAT "../shared-flat.bin" 9`,
		`RW 4096 SPARSE "../b.vmdk"`,
	), "\n", "\r\n")))
	im := checkAgainstQemu(t, filepath.Join(dir, "desc"), "mixed.vmdk")
	if got, want := tooltest.SHA256(t, im, im.Size(), 1<<20), tooltest.SHA256Bytes(slicesConcat(a, b)); got != want {
		t.Error("the disk differs from its sources")
	}

	writeFile(t, filepath.Join(dir, "zero.vmdk"), []byte(descriptorText("monolithicFlat", "", NoCID,
		`RW 1000 ZERO`,
		`RW 2048 FLAT "shared-flat.bin" 9`,
		`RW 24 ZERO`,
	)))
	im = openPath(t, filepath.Join(dir, "zero.vmdk"))
	want := slicesConcat(make([]byte, 1000*512), a, make([]byte, 24*512))
	if got := tooltest.SHA256(t, im, im.Size(), 1<<20); got != tooltest.SHA256Bytes(want) {
		t.Error("ZERO and FLAT extents read wrong")
	}
	checkRandomReads(t, im, want, 26, 50)
}

// TestQemuReadsBuilderLayouts checks the test writers against qemu: the
// layouts qemu-img does not write (a stream with its directory behind a
// footer, COWD and seSparse extents) read the same through qemu and here.
func TestQemuReadsBuilderLayouts(t *testing.T) {
	tooltest.Need(t, "qemu-img")
	dir := t.TempDir()
	data := testDisk(3<<20+512, 27)
	seZero := func(g int64) bool { return g%13 == 5 }
	seWant := slicesConcat(data)
	for g := int64(0); g < int64(len(seWant))/4096; g++ {
		if seZero(g) {
			clear(seWant[g*4096 : (g+1)*4096])
		}
	}
	files := map[string][]byte{
		"footer.vmdk":         buildHosted(data, sparseSpec{compress: true, footer: true, desc: descriptorText("streamOptimized", "", NoCID, `RDONLY 6145 SPARSE "footer.vmdk"`)}),
		"cowd-delta.vmdk":     buildCOWD(data, 1),
		"cowd.vmdk":           []byte(descriptorText("vmfsSparse", "", NoCID, `RW 6145 VMFSSPARSE "cowd-delta.vmdk"`)),
		"se-sesparse.vmdk":    buildSESparse(data, seZero),
		"se.vmdk":             []byte(descriptorText("seSparse", "", NoCID, `RW 6145 SESPARSE "se-sesparse.vmdk"`)),
		"grain1-hosted.vmdk":  buildHosted(data, sparseSpec{grainSectors: 1, gtes: 97}),
		"grain1.vmdk":         []byte(descriptorText("twoGbMaxExtentSparse", "", NoCID, `RW 6145 SPARSE "grain1-hosted.vmdk"`)),
		"zerograin-base.vmdk": buildHosted(data, sparseSpec{}),
	}
	for name, b := range files {
		writeFile(t, filepath.Join(dir, name), b)
	}
	for name, want := range map[string][]byte{"footer.vmdk": data, "cowd.vmdk": data, "se.vmdk": seWant, "grain1.vmdk": data} {
		t.Run(name, func(t *testing.T) {
			im := checkAgainstQemu(t, dir, name)
			if got := tooltest.SHA256(t, im, im.Size(), 1<<20); got != tooltest.SHA256Bytes(want) {
				t.Error("the disk differs from what was written")
			}
		})
	}
}
