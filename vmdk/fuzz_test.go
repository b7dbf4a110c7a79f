package vmdk

import (
	"bytes"
	"io"
	"testing"

	"vmsh/internal/tooltest"
)

// FuzzDescriptor parses fuzzed descriptor text and checks that what it
// returns keeps the parser's promises.
func FuzzDescriptor(f *testing.F) {
	f.Add([]byte(descriptorText("monolithicSparse", "base.vmdk", 0x1234, `RW 2048 SPARSE "x.vmdk"`)))
	f.Add([]byte(descriptorText("custom", "", NoCID, `RW 8 FLAT "a b" 7`, `RDONLY 9 ZERO`, `NOACCESS 1 VMFSSPARSE x`, `RW 8 VMFSRDM "d" 0 uuid dev`)))
	f.Add([]byte("version=1\r\nCID=fffffffe\r\ncreateType=vmfs\r\nRW 1 VMFS \"f\"\r\nddb.uuid = \"1 2\"\r\n\x00tail"))
	f.Fuzz(func(t *testing.T, text []byte) {
		Detect(text)
		d, err := ParseDescriptor(text)
		if err != nil {
			return
		}
		var total int64
		for _, e := range d.Extents {
			if e.Sectors <= 0 || e.Sectors > maxSectors || e.Offset < 0 || e.Offset > maxSectors {
				t.Fatalf("extent %+v out of range", e)
			}
			if (e.File == "") != (e.Type == "ZERO") {
				t.Fatalf("extent %+v: file and type disagree", e)
			}
			switch e.Access {
			case "RW", "RDONLY", "NOACCESS":
			default:
				t.Fatalf("extent %+v: access %q", e, e.Access)
			}
			total += e.Sectors
		}
		if total > maxSectors || d.Size() != total*sectorSize {
			t.Fatalf("extents add up to %d sectors, Size %d", total, d.Size())
		}
	})
}

// FuzzSparse opens a fuzzed file as an image, every other file it names
// (extents, parents) being the second fuzzed input, and reads parts of its
// disk. It asserts only that nothing panics or hangs and that reads keep
// io.ReaderAt's promises.
func FuzzSparse(f *testing.F) {
	small := testDisk(256<<10, 40)
	small[0] = 1
	for _, spec := range []sparseSpec{
		{grainSectors: 8, gtes: 16},
		{grainSectors: 8, gtes: 16, zeroGrain: true, state: func(g int64, b []byte) grainState { return grainState(g % 3) }},
		{compress: true, footer: true, grainSectors: 16, gtes: 8},
		{compress: true, noMarkers: true, grainSectors: 8, gtes: 32},
	} {
		f.Add(buildHosted(small, spec), []byte(nil))
	}
	f.Add(buildCOWD(small, 4), []byte(nil))
	child := buildHosted(small, sparseSpec{
		desc:      descriptorText("monolithicSparse", "p.vmdk", 0x12345678, `RW 512 SPARSE "f.vmdk"`),
		zeroGrain: true, grainSectors: 8, gtes: 32,
		state: func(g int64, b []byte) grainState { return grainState(g % 3) },
	})
	f.Add(child, buildHosted(small, sparseSpec{grainSectors: 16, gtes: 4}))
	f.Add([]byte(descriptorText("custom", "", NoCID, `RW 8 ZERO`, `RW 100 FLAT "f" 1`, `RW 8 SPARSE "f"`)), buildHosted(small, sparseSpec{}))
	f.Add([]byte(descriptorText("seSparse", "", NoCID, `RW 512 SESPARSE "f"`)), buildSESparse(small, func(g int64) bool { return g%5 == 1 }))
	f.Add([]byte(descriptorText("vmfsSparse", "", NoCID, `RW 512 VMFSSPARSE "f"`)), buildCOWD(small, 1))
	f.Add(tooltest.Gunzip(f, "testdata/child.vmdk.gz"), tooltest.Gunzip(f, "testdata/base.vmdk.gz"))
	for _, name := range []string{"sparse", "stream"} {
		f.Add(tooltest.Gunzip(f, "testdata/"+name+".vmdk.gz"), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, b, other []byte) {
		open := func(string) (File, error) { return newMemFile(other), nil }
		im, err := Open(newMemFile(b), "f.vmdk", open, Options{MaxChainDepth: 4})
		if err != nil {
			return
		}
		defer im.Close()
		im.Info()
		size := im.Size()
		if size <= 0 {
			t.Fatalf("size %d", size)
		}
		buf := make([]byte, 96<<10)
		for _, off := range []int64{0, 4095, size / 3, size / 2, size - 1000, size - int64(len(buf)), size} {
			if off < 0 {
				continue
			}
			n, err := im.ReadAt(buf, off)
			want := int(max(0, min(int64(len(buf)), size-off)))
			if err == nil && n != len(buf) || err == io.EOF && n != want || n > len(buf) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v on a disk of %d", len(buf), off, n, err, size)
			}
		}
		if size <= 1<<20 {
			all := make([]byte, size)
			if _, err := im.ReadAt(all, 0); err == nil {
				// Reading twice, in pieces, gives the same bytes.
				piece := make([]byte, 7*512+3)
				for off := int64(0); off < size; off += int64(len(piece)) {
					n, err := im.ReadAt(piece, off)
					if err != nil && err != io.EOF || !bytes.Equal(piece[:n], all[off:off+int64(n)]) {
						t.Fatalf("piece at %d: %d, %v, differs from the whole read", off, n, err)
					}
				}
			}
		}
	})
}
