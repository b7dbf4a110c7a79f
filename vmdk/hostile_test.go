package vmdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// readAll reads the whole disk of im and returns the first error.
func readAll(im *Image) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// openErr opens img as a single file and reads it all; it returns the
// first error.
func openErr(img []byte) error {
	im, err := Open(newMemFile(img), "bad.vmdk", nil, Options{})
	if err != nil {
		return err
	}
	defer im.Close()
	return readAll(im)
}

// hostedLayout returns where buildHosted put the directory and the first
// grain table of an uncompressed image.
func hostedLayout(img []byte) (gdAt, gtAt int) {
	h := parseHostedHeader(img)
	gdAt = int(h.gdOff) * sectorSize
	gtAt = int(le.Uint32(img[gdAt:])) * sectorSize
	return gdAt, gtAt
}

func TestHostileHosted(t *testing.T) {
	data := testDisk(1<<20, 30)
	data[0] = 1 // grain 0 is stored
	good := buildHosted(data, sparseSpec{desc: descriptorText("monolithicSparse", "", NoCID, `RW 2048 SPARSE "bad.vmdk"`)})
	if err := openErr(good); err != nil {
		t.Fatal(err)
	}
	gdAt, gtAt := hostedLayout(good)
	for _, tc := range []struct {
		name  string
		patch func(b []byte) []byte
		err   string
	}{
		{"version 4", func(b []byte) []byte { le.PutUint32(b[4:], 4); return b }, "version 4"},
		{"text-mode transfer", func(b []byte) []byte { copy(b[73:], "\n \n\n"); return b }, "text-mode transfer"},
		{"compression 2", func(b []byte) []byte { le.PutUint16(b[77:], 2); return b }, "compression algorithm 2"},
		{"capacity 0", func(b []byte) []byte { le.PutUint64(b[12:], 0); le.PutUint64(b[28:], 0); return b }, "capacity of 0 sectors"},
		{"absurd capacity", func(b []byte) []byte { le.PutUint64(b[12:], 1<<60); return b }, "capacity of 1152921504606846976 sectors is out of range"},
		{"capacity beyond the directory", func(b []byte) []byte { le.PutUint64(b[12:], 1<<35); return b }, "does not lie within the file"},
		{"too many tables", func(b []byte) []byte { le.PutUint64(b[12:], 1<<41); le.PutUint64(b[20:], 1); return b }, "more than 4194304"},
		{"grain size 0", func(b []byte) []byte { le.PutUint64(b[20:], 0); return b }, "grain size of 0 sectors"},
		{"absurd grain size", func(b []byte) []byte { le.PutUint64(b[20:], 1<<40); return b }, "grain size of 1099511627776 sectors"},
		{"0 entries per table", func(b []byte) []byte { le.PutUint32(b[44:], 0); return b }, "0 entries per grain table"},
		{"513 entries per table", func(b []byte) []byte { le.PutUint32(b[44:], 513); return b }, "513 entries per grain table"},
		{"directory past the end", func(b []byte) []byte { le.PutUint64(b[56:], uint64(len(b)/512)); return b }, "grain directory of 1 entries at sector"},
		{"directory in the header", func(b []byte) []byte { le.PutUint64(b[56:], 0); return b }, "grain directory"},
		{"absurd directory sector", func(b []byte) []byte { le.PutUint64(b[56:], 1<<62); return b }, "does not lie within the file"},
		{"descriptor past the end", func(b []byte) []byte { le.PutUint64(b[36:], 1<<30); return b }, "embedded descriptor"},
		{"table past the end", func(b []byte) []byte { le.PutUint32(b[gdAt:], uint32(len(b)/512)); return b }, "grain table 0 at offset"},
		{"table on the header", func(b []byte) []byte { le.PutUint32(b[gdAt:], 1); return b }, "overlaps the embedded descriptor"},
		{"table on the directory", func(b []byte) []byte { le.PutUint32(b[gdAt:], uint32(gdAt/512)); return b }, "overlaps the grain directory"},
		{"grain on its own table", func(b []byte) []byte { le.PutUint32(b[gtAt:], uint32(gtAt/512)); return b }, "grain 0 at offset " + fmt.Sprint(gtAt) + " overlaps its own grain table"},
		{"grain on the header", func(b []byte) []byte { le.PutUint32(b[gtAt:], 1); return b }, "grain 0 at offset 512 overlaps the embedded descriptor"},
		{"grain on the directory", func(b []byte) []byte { le.PutUint32(b[gtAt:], uint32(gdAt/512)); return b }, "overlaps the grain directory"},
		{"grain past the end", func(b []byte) []byte { le.PutUint32(b[gtAt:], uint32(len(b)/512)-1); return b }, "lies beyond the end of the file"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1000] }, "lies beyond the end of the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openErr(tc.patch(bytes.Clone(good)))
			var fe *FormatError
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			} else if !errors.As(err, &fe) && !errors.Is(err, errors.ErrUnsupported) && !strings.Contains(err.Error(), "descriptor line") {
				t.Errorf("error %v is not a *FormatError", err)
			}
		})
	}
}

// TestDamagedEmbeddedDescriptor checks that a sparse extent whose embedded
// descriptor does not parse is read, with a warning, and that an empty one,
// as the extents of a twoGbMaxExtentSparse disk have, is no descriptor.
func TestDamagedEmbeddedDescriptor(t *testing.T) {
	data := testDisk(1<<20, 36)
	for _, tc := range []struct{ desc, warning string }{
		{"RW x SPARSE\n", "bad.vmdk: embedded descriptor skipped: vmdk: bad.vmdk: descriptor line 1: extent size \"x\""},
		{"\x00\x00", ""},
		{"  \r\n\n", ""},
	} {
		img := buildHosted(data, sparseSpec{desc: tc.desc})
		im, err := Open(newMemFile(img), "bad.vmdk", nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkRandomReads(t, im, data, 37, 10)
		w := im.Info().Warnings
		if tc.warning == "" && len(w) != 0 || tc.warning != "" && (len(w) != 1 || !strings.Contains(w[0], tc.warning)) {
			t.Errorf("descriptor %q: warnings %q", tc.desc, w)
		}
	}
}

func TestHostileStream(t *testing.T) {
	data := testDisk(1<<20, 31)
	data[0] = 1
	good := buildHosted(data, sparseSpec{compress: true, footer: true})
	if err := openErr(good); err != nil {
		t.Fatal(err)
	}
	foot := len(good) - 2*sectorSize
	h := parseHostedHeader(good[foot:])
	gdAt := int(h.gdOff) * sectorSize
	gtAt := int(le.Uint32(good[gdAt:])) * sectorSize
	g0 := int(le.Uint32(good[gtAt:])) * sectorSize
	// The last grain stored, followed by little more than the metadata.
	var gLast int
	for i := 0; i < 16; i++ {
		if v := le.Uint32(good[gtAt+4*i:]); v != 0 {
			gLast = int(v) * sectorSize
		}
	}
	// A grain that inflates to more than a grain, in place of grain 0.
	long := compressBytes(make([]byte, 64<<10+1), false)
	for _, tc := range []struct {
		name  string
		patch func(b []byte) []byte
		err   string
	}{
		{"no footer", func(b []byte) []byte { return b[:len(b)-512] }, "no footer and end-of-stream marker"},
		{"footer without magic", func(b []byte) []byte { b[foot] = 'X'; return b }, "no footer"},
		{"footer at the end too", func(b []byte) []byte { le.PutUint64(b[foot+56:], gdAtEnd); return b }, "the footer puts the grain directory at the end too"},
		{"too small for a footer", func(b []byte) []byte { return b[:1024] }, "too small for a footer"},
		{"marker for another grain", func(b []byte) []byte { le.PutUint64(b[g0:], 128); return b }, "grain 0: its marker says sector 128, want 0"},
		{"marker size 0", func(b []byte) []byte { le.PutUint32(b[g0+8:], 0); return b }, "compressed size 0 is out of range"},
		{"marker size huge", func(b []byte) []byte { le.PutUint32(b[g0+8:], 1<<31); return b }, "compressed size 2147483648 is out of range"},
		{"marker size past the end", func(b []byte) []byte { le.PutUint32(b[gLast+8:], 131584); return b }, "reach beyond the end of the file"},
		{"corrupt deflate", func(b []byte) []byte { copy(b[g0+markerSize+2:], "\xff\xff\xff\xff\xff\xff\xff\xff"); return b }, "grain 0:"},
		{"bad checksum", func(b []byte) []byte {
			n := int(le.Uint32(b[g0+8:]))
			b[g0+markerSize+n-1] ^= 0xff
			return b
		}, "grain 0: zlib: invalid checksum"},
		{"inflates to more than a grain", func(b []byte) []byte {
			le.PutUint32(b[g0+8:], uint32(len(long)))
			copy(b[g0+markerSize:], long)
			return b
		}, "grain 0: inflates to more than a grain"},
		{"inflates to less than a grain", func(b []byte) []byte {
			short := compressBytes(make([]byte, 1000), false)
			le.PutUint32(b[g0+8:], uint32(len(short)))
			copy(b[g0+markerSize:], short)
			return b
		}, "grain 0 inflates to 1000 bytes, want 65536"},
		{"grain on the footer", func(b []byte) []byte {
			le.PutUint32(b[gtAt:], uint32(len(b)/512-2))
			return b
		}, "grain 0: its marker says sector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openErr(tc.patch(bytes.Clone(good)))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestHostileCOWDAndSESparse(t *testing.T) {
	data := testDisk(1<<20, 32)
	data[0] = 1
	cowd := buildCOWD(data, 1)
	se := buildSESparse(data, nil)
	open := func(kind string, b []byte) error {
		m := newMemFS()
		m.add("x", b)
		m.add("d.vmdk", []byte(descriptorText("custom", "", NoCID, fmt.Sprintf(`RW 2048 %s "x"`, kind))))
		im, err := m.openImage(t, "d.vmdk")
		if err != nil {
			return err
		}
		defer im.Close()
		return readAll(im)
	}
	if err := open("VMFSSPARSE", cowd); err != nil {
		t.Fatal(err)
	}
	if err := open("SESPARSE", se); err != nil {
		t.Fatal(err)
	}
	cowdGT := int(le.Uint32(cowd[cowdHeaderSize:])) * sectorSize
	seGD := 2 * sectorSize
	seGT := int(le.Uint64(se[8*18:])) * sectorSize // table number 0 sits first
	for _, tc := range []struct {
		name, kind string
		img        []byte
		patch      func(b []byte) []byte
		err        string
	}{
		{"cowd small", "VMFSSPARSE", cowd, func(b []byte) []byte { return b[:1000] }, "smaller than its header"},
		{"cowd grain 0", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[16:], 0); return b }, "grain size of 0"},
		{"cowd short directory", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[24:], 0); return b }, "grain directory of 0 entries, 1 needed"},
		{"cowd directory in header", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[20:], 1); return b }, "does not lie within the file"},
		{"cowd table on header", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[cowdHeaderSize:], 2); return b }, "grain table 0 at offset 1024 overlaps the header"},
		{"cowd grain on own table", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[cowdGT:], uint32(cowdGT/512+1)); return b }, "overlaps its own grain table"},
		{"cowd smaller than its extent", "VMFSSPARSE", cowd, func(b []byte) []byte { le.PutUint32(b[12:], 100); return b }, "holds 100 sectors, fewer than the extent's 2048"},
		{"se magic", "SESPARSE", se, func(b []byte) []byte { b[0] = 0; return b }, "seSparse header magic"},
		{"se version", "SESPARSE", se, func(b []byte) []byte { b[8] = 9; return b }, "seSparse version"},
		{"se grain size", "SESPARSE", se, func(b []byte) []byte { b[24] = 16; return b }, "grain size of 16 sectors: " + errors.ErrUnsupported.Error()},
		{"se padding", "SESPARSE", se, func(b []byte) []byte { b[300] = 1; return b }, "padding"},
		{"se journal", "SESPARSE", se, func(b []byte) []byte { b[512+24] = 1; return b }, "journal needs replaying"},
		{"se volatile magic", "SESPARSE", se, func(b []byte) []byte { b[512] = 0; return b }, "volatile header magic"},
		{"se volatile past end", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[80:], 1<<50); return b }, "volatile header at sector"},
		{"se directory entry", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[seGD:], 0x2000000000000000); return b }, "grain directory entry 0 is 0x2000000000000000, not a grain table"},
		{"se table number", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[seGD:], 0x1000000000000005); return b }, "lies beyond the grain table region"},
		{"se grain number", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[seGT:], 0x3000000000000fff); return b }, "grain number 16773120 lies beyond the grain region"},
		{"se grain type", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[seGT:], 0x7000000000000000); return b }, "of unknown type 7"},
		{"se unallocated with bits", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[seGT:], 5); return b }, "unallocated entry 0x5 has bits set"},
		{"se directory too small", "SESPARSE", se, func(b []byte) []byte { le.PutUint64(b[8*2:], 1<<30); return b }, "too small for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := open(tc.kind, tc.patch(bytes.Clone(tc.img)))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestHostileDescriptors checks extents that are missing, too short, of
// the wrong kind or that refer back to the descriptor.
func TestHostileDescriptors(t *testing.T) {
	flat := make([]byte, 4096)
	sp := buildHosted(testDisk(1<<20, 33), sparseSpec{})
	onlyText := descriptorText("twoGbMaxExtentSparse", "", NoCID, `RW 2048 SPARSE "../vm/s.vmdk"`)
	sectors := uint64(len(onlyText)+sectorSize-1) / sectorSize
	onlyDesc := hostedHeaderBytes(hostedHeader{version: 1, descOff: 1, descSize: sectors, gtes: 512, grainSize: 128})
	onlyDesc = append(onlyDesc, onlyText...)
	onlyDesc = append(onlyDesc, make([]byte, int(sectors)*sectorSize-len(onlyText))...)
	for _, tc := range []struct {
		name  string
		lines []string
		err   string
		is    error
	}{
		{"missing", []string{`RW 8 FLAT "nothere.vmdk" 0`}, `vm/d.vmdk: extent 1 (FLAT "nothere.vmdk"): open vm/nothere.vmdk: file does not exist`, fs.ErrNotExist},
		{"escaping", []string{`RW 8 FLAT "../../etc/x" 0`}, `open ../etc/x`, fs.ErrNotExist},
		{"flat too short", []string{`RW 8 FLAT "f.bin" 0`, `RW 8 FLAT "f.bin" 1`}, `extent 2 (FLAT "f.bin"): vm/f.bin holds 4096 bytes, fewer than the 4096 the extent needs from offset 512`, nil},
		{"flat offset absurd", []string{`RW 8 FLAT "f.bin" 2199023255552`}, `fewer than the 4096`, nil},
		{"itself", []string{`RW 8 FLAT "./d.vmdk" 0`}, `extent 1 (FLAT "./d.vmdk") names the descriptor itself`, nil},
		{"itself as sparse", []string{`RW 8 SPARSE "../vm/d.vmdk"`}, `names the descriptor itself`, nil},
		{"sparse that is text", []string{`RW 8 SPARSE "f.txt"`}, `vm/f.txt is not a sparse extent: magic "# Di"`, nil},
		{"sparse that is a descriptor", []string{`RW 2048 SPARSE "only.vmdk"`}, `vm/only.vmdk holds a descriptor, not grains`, nil},
		{"sparse too small", []string{`RW 4096 SPARSE "s.vmdk"`}, `vm/s.vmdk holds 2048 sectors, fewer than the extent's 4096`, nil},
		{"rdm", []string{`RW 8 VMFSRDM "x-rdm.vmdk"`}, "raw device mappings", errors.ErrUnsupported},
		{"vsan", []string{`RW 8 VSANSPARSE "x"`}, "vSAN", errors.ErrUnsupported},
		{"unknown", []string{`RW 8 TAPE "x"`}, "extent type TAPE", errors.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			m.add("vm/f.bin", flat)
			m.add("vm/f.txt", []byte("# Disk DescriptorFile\n"))
			m.add("vm/s.vmdk", sp)
			m.add("vm/only.vmdk", onlyDesc)
			m.add("vm/d.vmdk", []byte(descriptorText("custom", "", NoCID, tc.lines...)))
			_, err := m.openImage(t, "vm/d.vmdk")
			if err == nil || !strings.Contains(err.Error(), tc.err) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if m.open != 0 {
				t.Errorf("%d files left open", m.open)
			}
		})
	}

	// A sparse file whose header holds only a descriptor naming other
	// extents opens as that descriptor.
	m := newMemFS()
	m.add("vm/s.vmdk", sp)
	m.add("vm/only.vmdk", onlyDesc)
	im, err := m.openImage(t, "vm/only.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tooltest.SHA256(t, im, im.Size(), 1<<20), tooltest.SHA256Bytes(testDisk(1<<20, 33)); got != want {
		t.Error("descriptor-only sparse file reads wrong")
	}
	im.Close()

	// NOACCESS extents open, and reading them fails.
	m.add("vm/na.vmdk", []byte(descriptorText("custom", "", NoCID, `RW 8 ZERO`, `NOACCESS 8 FLAT "x" 0`)))
	im, err = m.openImage(t, "vm/na.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := im.ReadAt(buf, 0); err != nil {
		t.Errorf("ZERO extent: %v", err)
	}
	if _, err := im.ReadAt(buf, 4000); err == nil || !strings.Contains(err.Error(), "extent 2 is NOACCESS") {
		t.Errorf("NOACCESS extent: %v", err)
	}

	// Without an opener, only images that name no other file open.
	if _, err := Open(newMemFile(m.files["vm/na.vmdk"]), "vm/na.vmdk", nil, Options{}); err != nil {
		t.Errorf("no opener, no file named: %v", err)
	}
	if _, err := Open(newMemFile(m.files["vm/only.vmdk"]), "vm/only.vmdk", nil, Options{}); err == nil || !strings.Contains(err.Error(), "no opener was given") {
		t.Errorf("no opener: %v", err)
	}
}

// TestTruncations opens every truncation of small images, at sector
// steps, and reads them: each gives an error or the right bytes.
func TestTruncations(t *testing.T) {
	data := testDisk(512<<10, 34)
	for _, spec := range []sparseSpec{{grainSectors: 8, gtes: 64}, {compress: true, footer: true, grainSectors: 16}} {
		img := buildHosted(data, spec)
		for n := 0; n < len(img); n += 512 {
			im, err := Open(newMemFile(img[:n]), "t.vmdk", nil, Options{})
			if err != nil {
				continue
			}
			buf := make([]byte, len(data))
			if _, err := im.ReadAt(buf, 0); err == nil && !bytes.Equal(buf, data) {
				t.Fatalf("truncated to %d bytes: read wrong bytes without an error", n)
			}
		}
	}
}

// TestDirectoryBudget checks that a descriptor naming one sparse file many
// times cannot make the reader hold its grain directory as often.
func TestDirectoryBudget(t *testing.T) {
	const sectors = 1 << 22 // one grain table of one grain per sector
	h := hostedHeaderBytes(hostedHeader{version: 1, capacity: sectors, grainSize: 1, gtes: 1, gdOff: 1})
	img := append(h, make([]byte, sectors*4)...) // every table unallocated
	m := newMemFS()
	m.add("big.vmdk", img)
	lines := make([]string, 5)
	for i := range lines {
		lines[i] = fmt.Sprintf(`RW %d SPARSE "big.vmdk"`, sectors)
	}
	m.add("d.vmdk", []byte(descriptorText("custom", "", NoCID, lines[:4]...)))
	im, err := m.openImage(t, "d.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	im.Close()
	m.add("d.vmdk", []byte(descriptorText("custom", "", NoCID, lines...)))
	if _, err := m.openImage(t, "d.vmdk"); err == nil || !strings.Contains(err.Error(), "hold more than 16777216 entries") {
		t.Errorf("five directories of 2^22 entries: %v", err)
	}
	if m.open != 0 {
		t.Errorf("%d files left open", m.open)
	}
}

func TestSESparseAlone(t *testing.T) {
	se := buildSESparse(testDisk(64<<10, 35), nil)
	_, err := Open(newMemFile(se), "x-sesparse.vmdk", nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "x-sesparse.vmdk is an seSparse extent: open the descriptor that names it") {
		t.Errorf("seSparse extent opened alone: %v", err)
	}
}
