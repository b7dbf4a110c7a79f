package partition

import (
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// flip inverts the byte at off in the file at path.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func hasWarning(tbl *Table, substr string) bool {
	for _, w := range tbl.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}

func TestGPTDamagedAgainstTools(t *testing.T) {
	tooltest.Need(t, "sgdisk")
	const size = 64 << 20
	orig := sparseImage(t, "gpt.img", size)
	makeGPT(t, orig)
	want := readImage(t, orig)
	// fresh copies the GPT's sectors (the first and last MiB: the
	// partitions hold only zeros) to a new sparse image.
	fresh := func() (string, *Table) {
		data, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		img := sparseImage(t, "copy.img", size)
		f, err := os.OpenFile(img, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, off := range []int64{0, size - 1<<20} {
			if _, err := f.WriteAt(data[off:off+1<<20], off); err != nil {
				t.Fatal(err)
			}
		}
		return img, want
	}
	tests := []struct {
		name    string
		offsets []int64 // bytes to flip
		warning string  // "" when Read must fail
	}{
		{"primary header", []int64{512 + 0x40}, "gpt: primary header checksum mismatch, using backup header at LBA 131071"},
		{"primary signature", []int64{512}, "gpt: primary header not found at LBA 1, using backup header"},
		{"primary entry array", []int64{1024 + 128 + 60}, "gpt: primary partition entry array checksum mismatch, using backup header"},
		{"backup header", []int64{size - 512 + 0x40}, "gpt: backup header at LBA 131071 is bad (header checksum mismatch); the primary is good"},
		{"backup entry array", []int64{size - 33*512 + 10}, "gpt: backup header at LBA 131071 is bad (partition entry array checksum mismatch)"},
		{"both headers", []int64{512 + 0x40, size - 512 + 0x40}, ""},
		{"both entry arrays", []int64{1024 + 10, size - 33*512 + 10}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, want := fresh()
			for _, off := range tt.offsets {
				flip(t, img, off)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Read(f, size)
			if tt.warning == "" {
				var fe *FormatError
				if err == nil || !errors.As(err, &fe) || errors.Is(err, ErrNoTable) {
					t.Fatalf("Read = %v, %v; want a *FormatError", got, err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !hasWarning(got, tt.warning) {
				t.Errorf("warnings %q; want one containing %q", got.Warnings, tt.warning)
			}
			if !reflect.DeepEqual(got.Partitions, want.Partitions) || got.DiskID != want.DiskID {
				t.Errorf("partitions differ from the undamaged disk:\ngot  %+v\nwant %+v", got.Partitions, want.Partitions)
			}
		})
	}
}

// ebrChain returns the sectors of the extended boot records of the first
// extended partition of an MBR disk.
func ebrChain(t *testing.T, img []byte) []int64 {
	t.Helper()
	var first int64 = -1
	for _, e := range mbrEntries(img) {
		if isExtended(e.typ) {
			first = int64(e.start)
			break
		}
	}
	if first < 0 {
		t.Fatal("no extended partition")
	}
	var chain []int64
	for this := first; len(chain) < 100; {
		chain = append(chain, this)
		var link *mbrEntry
		es := mbrEntries(img[this*512:])
		for i := range es {
			if isExtended(es[i].typ) && es[i].count != 0 {
				link = &es[i]
			}
		}
		if link == nil {
			return chain
		}
		this = first + int64(link.start)
	}
	t.Fatal("chain too long")
	return nil
}

func TestMBRLoopAgainstTools(t *testing.T) {
	tooltest.Need(t, "sfdisk")
	img := sparseImage(t, "mbr.img", 32<<20)
	run(t, `label: dos
label-id: 0xcafef00d
start=2048, size=30000, type=5
start=4096, size=2048, type=83
start=8192, size=2048, type=83
start=12288, size=2048, type=83
`, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", img)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	chain := ebrChain(t, data)
	if len(chain) != 3 {
		t.Fatalf("EBR chain %v, want 3 records", chain)
	}
	// Point the last record's link back at the first record.
	last := data[chain[2]*512+446+16:]
	last[4] = 0x05
	le.PutUint32(last[8:], 0)
	le.PutUint32(last[12:], 100)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tbl := readImage(t, img)
	if len(tbl.Partitions) != 3 || tbl.Partitions[2].Number != 7 {
		t.Errorf("partitions %+v; want 5, 6, 7", tbl.Partitions)
	}
	if !hasWarning(tbl, "loops back to sector 2048") {
		t.Errorf("warnings %q; want a loop warning", tbl.Warnings)
	}
}

// loopDevice attaches img to a loop device with the given logical sector
// size and returns the device; it is detached when the test ends.
func loopDevice(t *testing.T, img string, sectorSize int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		tooltest.SkipOrFail(t, "4096-byte sector disks are made on a loop device, which needs root")
	}
	tooltest.Need(t, "losetup")
	out, err := exec.Command("losetup", "--find", "--show", "--sector-size", strconv.Itoa(sectorSize), img).CombinedOutput()
	if err != nil {
		tooltest.SkipOrFail(t, "losetup cannot attach a loop device: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestGPT4KAgainstTools(t *testing.T) {
	tooltest.Need(t, "sgdisk")
	tooltest.Need(t, "sfdisk")
	img := sparseImage(t, "gpt4k.img", 64<<20)
	dev := loopDevice(t, img, 4096)
	makeGPT(t, dev)
	tbl := readImage(t, img)
	if tbl.SectorSize != 4096 {
		t.Fatalf("sector size %d, want 4096", tbl.SectorSize)
	}
	if len(tbl.Warnings) != 0 {
		t.Errorf("warnings: %q", tbl.Warnings)
	}
	checkAgainstSfdisk(t, tbl, dev)
	checkAgainstSgdisk(t, tbl, dev)

	// Damage the primary header: the backup at the last 4096-byte
	// sector must be found.
	flip(t, img, 4096+0x40)
	tbl2 := readImage(t, img)
	if tbl2.SectorSize != 4096 || !hasWarning(tbl2, "primary header checksum mismatch, using backup header at LBA 16383") {
		t.Errorf("after damage: sector size %d, warnings %q", tbl2.SectorSize, tbl2.Warnings)
	}
	if !reflect.DeepEqual(tbl2.Partitions, tbl.Partitions) {
		t.Errorf("after damage: partitions differ")
	}
}

func TestMBR4KAgainstTools(t *testing.T) {
	tooltest.Need(t, "sfdisk")
	img := sparseImage(t, "mbr4k.img", 64<<20)
	dev := loopDevice(t, img, 4096)
	run(t, `label: dos
label-id: 0x0badcafe
start=256, size=1024, type=83, bootable
start=2048, size=8192, type=5
start=2304, size=1024, type=83
start=3584, size=1024, type=82
start=4864, size=2048, type=8e
`, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", dev)
	tbl := readImage(t, img)
	if tbl.SectorSize != 4096 {
		t.Fatalf("sector size %d, want 4096 (warnings %q)", tbl.SectorSize, tbl.Warnings)
	}
	checkAgainstSfdisk(t, tbl, dev)
}
