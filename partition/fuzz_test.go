package partition

import (
	"bytes"
	"testing"

	"vmsh/internal/tooltest"
)

// The images in testdata are small real tables:
//
//	gpt-small.img: 128 KiB, made by sgdisk -a 1 with partitions 1 (40-79,
//	    EFI System, "esp") and 3 (80-159, Linux filesystem, "root", legacy
//	    BIOS bootable), fixed GUIDs.
//	mbr-small.img: 128 KiB, made by sfdisk with grain 512: primary 1
//	    (4-23, 0x83, bootable), extended 2 (30-229) holding logicals 5
//	    (32-51, 0x83), 6 (60-79, 0x82) and 7 (90-189, 0x8e).

func testImage(t testing.TB, name string) []byte {
	return tooltest.Gunzip(t, "testdata/"+name+".gz")
}

func TestSmallImages(t *testing.T) {
	g := read(t, testImage(t, "gpt-small.img"))
	if g.Scheme != "gpt" || g.DiskID != "22222222-3333-4444-5555-666666666666" || len(g.Partitions) != 2 ||
		g.Partitions[1] != (Partition{Number: 3, Start: 80 * 512, Size: 80 * 512, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4",
			TypeName: "Linux filesystem", Name: "root", UUID: "aaaaaaaa-0000-4000-8000-000000000003", Bootable: true, Attributes: 4}) {
		t.Errorf("gpt-small: %+v", g)
	}
	m := read(t, testImage(t, "mbr-small.img"))
	var nums []int
	for _, p := range m.Partitions {
		nums = append(nums, p.Number)
	}
	if m.Scheme != "mbr" || m.DiskID != "01020304" || len(nums) != 4 || nums[3] != 7 || m.Partitions[3].Start != 90*512 {
		t.Errorf("mbr-small: %+v", m)
	}
}

// smallSeeds are hand-built disks small enough for the fuzzer to mutate
// quickly.
func smallSeeds() [][]byte {
	gpt := func(ss int64, size int64) []byte {
		return gptDisk{ss: ss, size: size, diskGUID: "01234567-89ab-cdef-0123-456789abcdef", numEntries: 4,
			entries: []gptEntry{
				{index: 0, typ: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", uniq: "11111111-1111-1111-1111-111111111111", first: 7, last: 9, attrs: 4, name: "EFI"},
				{index: 3, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "33333333-3333-3333-3333-333333333333", first: 10, last: 12, name: "root"},
			},
		}.build()
	}
	mbr := mbrDisk(12<<10, 0xdeadbeef, [4]uint32{0x80, 0x83, 2, 4}, [4]uint32{0, 0x0f, 8, 100}, [4]uint32{0, 0xee, 1, 1})
	putEBR(mbr, 8*512, 0x83, 1, 4, 10, 20)
	putEBR(mbr, 18*512, 0x82, 1, 4, 0, 20) // loops back
	mbr4k := mbrDisk(40<<10, 1, [4]uint32{0, 0x05, 4, 20})
	putEBR(mbr4k, 4*4096, 0x83, 1, 2, 5, 5)
	putEBR(mbr4k, 9*4096, 0x83, 1, 2, 0, 0)
	return [][]byte{gpt(512, 8<<10), gpt(4096, 24<<10), mbr, mbr4k}
}

// FuzzRead checks that no input makes Read panic, hang or return both or
// neither of a table and an error. Each input is read as a disk of its own
// length and as a 1 TiB disk whose bytes past the input cannot be read.
// The default minimization of new inputs (up to a minute each) starves the
// fuzzer here; run it with a small -fuzzminimizetime:
//
//	go test -run XXX -fuzz FuzzRead -fuzzminimizetime 50x ./partition
func FuzzRead(f *testing.F) {
	// Large inputs slow the fuzzer down: the real images are cut to the
	// sectors that hold their tables (the GPT loses its backup).
	f.Add(testImage(f, "gpt-small.img")[:34*512])
	f.Add(testImage(f, "mbr-small.img")[:31*512])
	for _, s := range smallSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), 1 << 40} {
			tbl, err := Read(bytes.NewReader(data), size)
			if (tbl == nil) == (err == nil) {
				t.Fatalf("Read = %v, %v", tbl, err)
			}
			if tbl == nil {
				continue
			}
			if tbl.SectorSize != 512 && tbl.SectorSize != 4096 || tbl.Scheme != "gpt" && tbl.Scheme != "mbr" {
				t.Fatalf("bad table %+v", tbl)
			}
			seen := make(map[int]bool)
			for _, p := range tbl.Partitions {
				if p.Number < 1 || seen[p.Number] || p.Start < 0 || p.Size <= 0 || p.Start > 1<<62 && p.Size > 1<<62 {
					t.Fatalf("bad partition %+v", p)
				}
				seen[p.Number] = true
			}
		}
	})
}
