package vmdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"vmsh/internal/tooltest"
)

// TestSparseLayouts reads hosted sparse extents of every layout the
// builder makes and compares them with the data they were made of.
func TestSparseLayouts(t *testing.T) {
	data := testDisk(2<<20+3*512, 1) // a last grain that is partial
	for _, tc := range []struct {
		name string
		spec sparseSpec
	}{
		{"hosted", sparseSpec{}},
		{"hosted/grain 4k", sparseSpec{grainSectors: 8}},
		{"hosted/grain 1 sector, 100 per table", sparseSpec{grainSectors: 1, gtes: 100}},
		{"hosted/grain 1M", sparseSpec{grainSectors: 2048}},
		{"hosted/descriptor", sparseSpec{desc: descriptorText("monolithicSparse", "", NoCID, `RW 4099 SPARSE "x.vmdk"`)}},
		{"stream", sparseSpec{compress: true}},
		{"stream/footer", sparseSpec{compress: true, footer: true}},
		{"stream/raw deflate", sparseSpec{compress: true, footer: true, rawDeflate: true}},
		{"stream/no markers", sparseSpec{compress: true, noMarkers: true}},
		{"stream/grain 4k", sparseSpec{compress: true, footer: true, grainSectors: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildHosted(data, tc.spec)
			im, err := Open(newMemFile(img), "x.vmdk", nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if got, want := tooltest.SHA256(t, im, im.Size(), 1<<20), tooltest.SHA256Bytes(data); got != want {
				t.Fatalf("sha256 %s, want %s", got, want)
			}
			checkRandomReads(t, im, data, 2, 60)
			info := im.Info()
			if len(info.Extents) != 1 || info.Extents[0].Sectors != int64(len(data)/512) {
				t.Errorf("Info().Extents = %+v", info.Extents)
			}
		})
	}
}

// TestZeroGrains checks that zeroed-grain entries read as zeros over a
// parent, and unallocated grains as the parent's bytes.
func TestZeroGrains(t *testing.T) {
	const gb = 64 << 10
	parent := bytes.Repeat([]byte("parent.."), 4<<20/8)
	child := make([]byte, len(parent))
	want := bytes.Clone(parent)
	states := make([]grainState, len(parent)/gb)
	for g := range states {
		states[g] = grainState(g % 3) // unallocated, zero, data
		switch states[g] {
		case grainZero:
			clear(want[g*gb : (g+1)*gb])
		case grainData:
			copy(child[g*gb:], bytes.Repeat([]byte{byte(g)}, gb))
			copy(want[g*gb:], child[g*gb:(g+1)*gb])
		}
	}
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compressed=", compress), func(t *testing.T) {
			m := newMemFS()
			m.add("base.vmdk", buildHosted(parent, sparseSpec{desc: descriptorText("monolithicSparse", "", NoCID, `RW 8192 SPARSE "base.vmdk"`)}))
			m.add("child.vmdk", buildHosted(child, sparseSpec{
				zeroGrain: true, compress: compress, footer: compress,
				desc:  descriptorText("monolithicSparse", "base.vmdk", 0x12345678, `RW 8192 SPARSE "child.vmdk"`),
				state: func(g int64, b []byte) grainState { return states[g] },
			}))
			im, err := m.openImage(t, "child.vmdk")
			if err != nil {
				t.Fatal(err)
			}
			checkRandomReads(t, im, want, 3, 100)
			if got := tooltest.SHA256(t, im, im.Size(), 3<<20+512); got != tooltest.SHA256Bytes(want) {
				t.Fatal("whole-disk sha256 differs")
			}
			info := im.Info()
			if info.Parent == nil || info.Parent.Path != "base.vmdk" || len(info.Warnings) != 0 {
				t.Errorf("Info() = %+v", info)
			}
			if err := im.Close(); err != nil || m.open != 0 {
				t.Errorf("Close = %v, %d files still open", err, m.open)
			}
		})
	}
}

// TestDescriptorExtents reads a descriptor with FLAT (at an offset), ZERO,
// SPARSE, VMFSSPARSE (COWD) and SESPARSE extents.
func TestDescriptorExtents(t *testing.T) {
	flat := testDisk(1<<20, 4)
	sparseData := testDisk(3<<20, 5)
	cowdData := testDisk(2<<20+512, 6)
	seData := testDisk(3<<20, 7)
	m := newMemFS()
	m.add("dir/disk-flat.vmdk", append(bytes.Repeat([]byte{0xee}, 7*512), flat...))
	m.add("dir/disk-s001.vmdk", buildHosted(sparseData, sparseSpec{}))
	m.add("dir/sub/disk-delta.vmdk", buildCOWD(cowdData, 1))
	m.add("dir/disk-sesparse.vmdk", buildSESparse(seData, func(g int64) bool { return g%17 == 3 }))
	m.add("dir/disk.vmdk", []byte(strings.ReplaceAll(descriptorText("custom", "", NoCID,
		`RW 2048 FLAT "disk-flat.vmdk" 7`,
		`RW 4096 ZERO`,
		`RDONLY 6144 SPARSE "disk-s001.vmdk"`,
		`RW 4097 VMFSSPARSE "sub/../sub/disk-delta.vmdk"`,
		`RW 6144 SESPARSE "disk-sesparse.vmdk"`,
	), "\n", "\r\n")))
	for g := int64(0); g < int64(len(seData))/4096; g++ {
		if g%17 == 3 {
			clear(seData[g*4096 : (g+1)*4096])
		}
	}
	want := slicesConcat(flat, make([]byte, 2<<20), sparseData, cowdData, seData)
	im, err := m.openImage(t, "dir/disk.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if got := tooltest.SHA256(t, im, im.Size(), 1<<20); got != tooltest.SHA256Bytes(want) {
		t.Fatal("whole-disk sha256 differs")
	}
	checkRandomReads(t, im, want, 8, 300)
	info := im.Info()
	var formats []string
	for _, x := range info.Extents {
		formats = append(formats, x.Format+":"+x.Path)
	}
	if got, want := strings.Join(formats, " "), "flat:dir/disk-flat.vmdk zero: hosted sparse:dir/disk-s001.vmdk COWD:dir/sub/disk-delta.vmdk seSparse:dir/disk-sesparse.vmdk"; got != want {
		t.Errorf("extents %s\nwant    %s", got, want)
	}
	if info.DDB["ddb.adapterType"] != "lsilogic" || info.CreateType != "custom" || info.CID != 0x12345678 {
		t.Errorf("Info() = %+v", info)
	}
}

func slicesConcat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestConcurrentReads reads one image from many goroutines at once, with
// caches small enough to be evicting all the time.
func TestConcurrentReads(t *testing.T) {
	data := testDisk(2<<20, 9)
	img := buildHosted(data, sparseSpec{compress: true, footer: true, grainSectors: 16, gtes: 64})
	im, err := Open(newMemFile(img), "c.vmdk", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := im.exts[0].sp.c
	c.tables.max, c.grains.max = 4<<10, 64<<10
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkRandomReads(t, im, data, uint64(100+i), 30)
		}()
	}
	wg.Wait()
}

// TestReadAtEdges checks io.ReaderAt's rules at the end of the disk.
func TestReadAtEdges(t *testing.T) {
	data := testDisk(1<<20, 10)
	im, err := Open(newMemFile(buildHosted(data, sparseSpec{})), "e.vmdk", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if n, err := im.ReadAt(buf, im.Size()-100); n != 100 || err != io.EOF || !bytes.Equal(buf[:100], data[len(data)-100:]) {
		t.Errorf("read across the end = %d, %v", n, err)
	}
	if n, err := im.ReadAt(buf, im.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at the end = %d, %v", n, err)
	}
	if n, err := im.ReadAt(buf[:0], im.Size()); n != 0 || err != nil {
		t.Errorf("empty read at the end = %d, %v", n, err)
	}
	if _, err := im.ReadAt(buf, -1); err == nil {
		t.Error("read at -1 succeeded")
	}
}

// TestParentChains checks chains of several parents, CID checks, loops,
// depth limits, missing parents and a parent found next to its child.
func TestParentChains(t *testing.T) {
	const size = 1 << 20
	layer := func(i int) []byte {
		b := make([]byte, size)
		copy(b[i*64<<10:], bytes.Repeat([]byte{byte('a' + i)}, 64<<10))
		return b
	}
	desc := func(name, parent string, cid, parentCID uint32) string {
		d := descriptorText("monolithicSparse", parent, parentCID, fmt.Sprintf("RW %d SPARSE %q", size/512, name))
		return strings.Replace(d, "CID=12345678", fmt.Sprintf("CID=%08x", cid), 1)
	}
	chain := func(m *memFS, n int, hint func(i int) string) {
		for i := range n {
			name := fmt.Sprintf("d%d.vmdk", i)
			parent, pcid := "", uint32(NoCID)
			if i > 0 {
				parent, pcid = hint(i-1), uint32(i-1)
			}
			m.add("vm/"+name, buildHosted(layer(i), sparseSpec{desc: desc(name, parent, uint32(i), pcid)}))
		}
	}
	t.Run("deep", func(t *testing.T) {
		m := newMemFS()
		chain(m, 10, func(i int) string { return fmt.Sprintf("d%d.vmdk", i) })
		im, err := m.openImage(t, "vm/d9.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, size)
		for i := range 10 {
			copy(want[i*64<<10:(i+1)*64<<10], layer(i)[i*64<<10:])
		}
		checkRandomReads(t, im, want, 11, 50)
		depth := 0
		for info := im.Info(); info.Parent != nil; info = *info.Parent {
			depth++
		}
		if depth != 9 || len(im.Info().Warnings) != 0 {
			t.Errorf("depth %d, warnings %q", depth, im.Info().Warnings)
		}
		im.Close()
		if m.open != 0 {
			t.Errorf("%d files open after Close", m.open)
		}
		f := newMemFile(m.files["vm/d9.vmdk"])
		if _, err := Open(f, "vm/d9.vmdk", m.opener, Options{MaxChainDepth: 5}); err == nil || !strings.Contains(err.Error(), "deeper than 5") {
			t.Errorf("MaxChainDepth 5: %v", err)
		}
		if m.open != 0 {
			t.Errorf("%d files open after a failed Open", m.open)
		}
	})
	t.Run("loop", func(t *testing.T) {
		m := newMemFS()
		chain(m, 3, func(i int) string { return fmt.Sprintf("d%d.vmdk", i) })
		m.add("vm/d0.vmdk", buildHosted(layer(0), sparseSpec{desc: desc("d0.vmdk", "../vm/d2.vmdk", 0, 2)}))
		_, err := m.openImage(t, "vm/d2.vmdk")
		if err == nil || !strings.Contains(err.Error(), "loops: vm/d2.vmdk -> vm/d1.vmdk -> vm/d0.vmdk -> vm/d2.vmdk") {
			t.Errorf("loop: %v", err)
		}
		m.add("vm/self.vmdk", buildHosted(layer(0), sparseSpec{desc: desc("self.vmdk", "./self.vmdk", 0, 0)}))
		if _, err := m.openImage(t, "vm/self.vmdk"); err == nil || !strings.Contains(err.Error(), "loops") {
			t.Errorf("self parent: %v", err)
		}
		if m.open != 0 {
			t.Errorf("%d files open after failed opens", m.open)
		}
	})
	t.Run("cid mismatch", func(t *testing.T) {
		m := newMemFS()
		chain(m, 2, func(i int) string { return fmt.Sprintf("d%d.vmdk", i) })
		m.add("vm/d1.vmdk", buildHosted(layer(1), sparseSpec{desc: desc("d1.vmdk", "d0.vmdk", 1, 0xabcdef01)}))
		im, err := m.openImage(t, "vm/d1.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		if w := im.Info().Warnings; len(w) != 1 || !strings.Contains(w[0], "parentCID abcdef01 is not the CID 00000000 of its parent vm/d0.vmdk") {
			t.Errorf("warnings %q", w)
		}
	})
	t.Run("parent of another size", func(t *testing.T) {
		m := newMemFS()
		chain(m, 2, func(i int) string { return fmt.Sprintf("d%d.vmdk", i) })
		small := layer(0)[:size/2]
		m.add("vm/d0.vmdk", buildHosted(small, sparseSpec{desc: desc("d0.vmdk", "", 0, NoCID)}))
		im, err := m.openImage(t, "vm/d1.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		// The parent's descriptor, made for the full size, draws a
		// warning too.
		if w := im.Info().Warnings; len(w) != 2 || !strings.Contains(w[0], "its parent vm/d0.vmdk is 524288 bytes, not 1048576") {
			t.Errorf("warnings %q", w)
		}
		want := layer(1)
		copy(want, small[:64<<10])
		checkRandomReads(t, im, want, 12, 50)
	})
	t.Run("missing parent", func(t *testing.T) {
		m := newMemFS()
		chain(m, 2, func(i int) string { return "gone.vmdk" })
		_, err := m.openImage(t, "vm/d1.vmdk")
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "vm/gone.vmdk") {
			t.Errorf("missing parent: %v", err)
		}
	})
	t.Run("windows relative parent", func(t *testing.T) {
		m := newMemFS()
		chain(m, 2, func(i int) string { return `..\vm\d0.vmdk` })
		im, err := m.openImage(t, "vm/d1.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		if p := im.Info().Parent; p == nil || p.Path != "vm/d0.vmdk" || len(im.Info().Warnings) != 0 {
			t.Errorf("Info() = %+v", im.Info())
		}
	})
	t.Run("moved parent", func(t *testing.T) {
		m := newMemFS()
		chain(m, 2, func(i int) string { return `C:\VMs\old place\d0.vmdk` })
		im, err := m.openImage(t, "vm/d1.vmdk")
		if err != nil {
			t.Fatal(err)
		}
		if w := im.Info().Warnings; len(w) != 1 || !strings.Contains(w[0], "using vm/d0.vmdk") {
			t.Errorf("warnings %q", w)
		}
	})
}
