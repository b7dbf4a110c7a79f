package partition

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func read(t *testing.T, disk []byte) *Table {
	t.Helper()
	tbl, err := Read(bytes.NewReader(disk), int64(len(disk)))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tbl
}

func wantWarning(t *testing.T, tbl *Table, substr string) {
	t.Helper()
	if !hasWarning(tbl, substr) {
		t.Errorf("warnings %q; want one containing %q", tbl.Warnings, substr)
	}
}

func TestGUIDString(t *testing.T) {
	b := []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if got, want := guidString(b), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"; got != want {
		t.Errorf("guidString = %q, want %q", got, want)
	}
	g := guidBytes("0fc63daf-8483-4772-8e79-3d69d8477de4")
	if got := guidString(g[:]); got != "0fc63daf-8483-4772-8e79-3d69d8477de4" {
		t.Errorf("round trip: %q", got)
	}
}

func TestGPT(t *testing.T) {
	for _, ss := range []int64{512, 4096} {
		t.Run(fmt.Sprint(ss), func(t *testing.T) {
			tbl := read(t, sampleGPT(ss))
			want := &Table{
				Scheme:     "gpt",
				SectorSize: int(ss),
				DiskID:     "01234567-89ab-cdef-0123-456789abcdef",
				Partitions: []Partition{
					{Number: 1, Start: 40 * ss, Size: 60 * ss, Type: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", TypeName: "EFI System",
						Name: "EFI", UUID: "11111111-1111-1111-1111-111111111111", Bootable: true, Attributes: 4},
					{Number: 3, Start: 100 * ss, Size: 100 * ss, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", TypeName: "Linux filesystem",
						Name: "root 😀 ü", UUID: "33333333-3333-3333-3333-333333333333", Attributes: 1<<63 | 1},
					{Number: 8, Start: 200 * ss, Size: 10 * ss, Type: "12345678-9abc-def0-1234-56789abcdef0",
						UUID: "88888888-8888-8888-8888-888888888888"},
				},
			}
			if !reflect.DeepEqual(tbl, want) {
				t.Errorf("got  %+v\nwant %+v", tbl, want)
			}
		})
	}
}

func TestGPTEntrySize256(t *testing.T) {
	disk := gptDisk{ss: 512, size: 1 << 20, diskGUID: "01234567-89ab-cdef-0123-456789abcdef", numEntries: 4, entrySize: 256,
		entries: []gptEntry{{index: 3, typ: "e6d6d379-f507-44c2-a23c-238f2a3df928", uniq: "44444444-4444-4444-4444-444444444444", first: 34, last: 99, name: "lvm"}},
	}.build()
	tbl := read(t, disk)
	if len(tbl.Partitions) != 1 || tbl.Partitions[0].Number != 4 || tbl.Partitions[0].TypeName != "Linux LVM" || tbl.Partitions[0].Name != "lvm" {
		t.Errorf("got %+v", tbl.Partitions)
	}
}

func TestGPTFallback(t *testing.T) {
	for _, ss := range []int64{512, 4096} {
		good := sampleGPT(ss)
		want := read(t, good).Partitions
		last := int64(len(good)) - ss
		tests := []struct {
			name    string
			damage  []int64 // byte offsets to invert
			warning string  // "" if Read must fail
		}{
			{"primary header", []int64{ss + 60}, "gpt: primary header checksum mismatch, using backup header"},
			{"primary magic", []int64{ss}, "gpt: primary header not found at LBA 1, using backup header"},
			{"primary array", []int64{2*ss + 130}, "gpt: primary partition entry array checksum mismatch, using backup header"},
			{"backup header", []int64{last + 60}, "gpt: backup header at LBA"},
			{"both headers", []int64{ss + 60, last + 60}, ""},
			{"primary header, backup magic", []int64{ss + 60, last}, ""},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprint(ss, " ", tt.name), func(t *testing.T) {
				disk := bytes.Clone(good)
				for _, off := range tt.damage {
					disk[off] ^= 0xff
				}
				tbl, err := Read(bytes.NewReader(disk), int64(len(disk)))
				if tt.warning == "" {
					var fe *FormatError
					if !errors.As(err, &fe) || !strings.Contains(err.Error(), "no valid GPT") {
						t.Fatalf("Read = %+v, %v; want a *FormatError", tbl, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				wantWarning(t, tbl, tt.warning)
				if tbl.SectorSize != int(ss) || !reflect.DeepEqual(tbl.Partitions, want) {
					t.Errorf("got %d %+v\nwant %+v", tbl.SectorSize, tbl.Partitions, want)
				}
			})
		}
	}
}

// TestGPTBackupNotAtEnd: an image grown after partitioning keeps its
// backup where the primary header says, not at the new last LBA.
func TestGPTBackupNotAtEnd(t *testing.T) {
	good := sampleGPT(512)
	grown := append(bytes.Clone(good), make([]byte, 1<<20)...)
	tbl := read(t, grown)
	wantWarning(t, tbl, "not at the last LBA 4095; the disk may have been resized")
	// With a bad primary array the backup is found where the primary
	// header says.
	grown[2*512+5] ^= 0xff
	tbl = read(t, grown)
	wantWarning(t, tbl, "primary partition entry array checksum mismatch, using backup header at LBA 2047")
	if len(tbl.Partitions) != 3 {
		t.Errorf("partitions %+v", tbl.Partitions)
	}
	// A truncated image has no backup.
	tbl = read(t, good[:len(good)-4096])
	wantWarning(t, tbl, "beyond the end of the disk")
}

func TestGPTBounds(t *testing.T) {
	base := gptDisk{ss: 512, size: 1 << 20, diskGUID: "01234567-89ab-cdef-0123-456789abcdef", numEntries: 4,
		entries: []gptEntry{{index: 0, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "11111111-1111-1111-1111-111111111111", first: 34, last: 99}},
	}
	// Header fields that make a header invalid: set in both headers.
	bad := []struct {
		name string
		off  int
		val  uint64
		size int // 4 or 8
		msg  string
	}{
		{"entry size 100", 84, 100, 4, "partition entry size 100"},
		{"entry size 0", 84, 0, 4, "partition entry size 0"},
		{"huge entry count", 80, 1 << 31, 4, "larger than 1048576 bytes"},
		{"entry array past end", 72, 1 << 40, 8, "beyond the end of the disk"},
		{"header size 20", 12, 20, 4, "header size 20"},
		{"header size 1M", 12, 1 << 20, 4, "header size 1048576"},
		{"usable range reversed", 40, 1 << 30, 8, "first usable LBA"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			disk := base.build()
			for _, off := range []int64{512, int64(len(disk)) - 512} {
				if tt.size == 4 {
					le.PutUint32(disk[off+int64(tt.off):], uint32(tt.val))
				} else {
					le.PutUint64(disk[off+int64(tt.off):], tt.val)
				}
				if tt.off != 12 { // an absurd header size is caught before the checksum
					rehash(disk, off)
				}
			}
			_, err := Read(bytes.NewReader(disk), int64(len(disk)))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Read error %v; want it to mention %q", err, tt.msg)
			}
		})
	}

	// Entries that are kept with a warning, or skipped.
	disk := gptDisk{ss: 512, size: 1 << 20, diskGUID: "01234567-89ab-cdef-0123-456789abcdef", numEntries: 4,
		entries: []gptEntry{
			{index: 0, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "11111111-1111-1111-1111-111111111111", first: 34, last: 5000},
			{index: 1, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "22222222-2222-2222-2222-222222222222", first: 100, last: 99},
			{index: 2, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "33333333-3333-3333-3333-333333333333", first: 1 << 62, last: 1<<62 + 10},
			{index: 3, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "44444444-4444-4444-4444-444444444444", first: 1000, last: 1<<64 - 1},
		},
	}.build()
	tbl := read(t, disk)
	if len(tbl.Partitions) != 1 || tbl.Partitions[0].Size != 4967*512 {
		t.Errorf("partitions %+v", tbl.Partitions)
	}
	wantWarning(t, tbl, "gpt: partition 1 (bytes 17408-2560511) extends past the end of the disk (1048576 bytes)")
	wantWarning(t, tbl, "gpt: partition 2 ends (LBA 99) before it starts (LBA 100); skipped")
	wantWarning(t, tbl, "gpt: partition 3 (LBA 4611686018427387904-4611686018427387914) is too far out to address; skipped")
	wantWarning(t, tbl, "gpt: partition 4 (LBA 1000-18446744073709551615) is too far out")
}

func TestMBR(t *testing.T) {
	tbl := read(t, sampleMBR())
	uuid := func(n int) string { return fmt.Sprintf("deadbeef-%02x", n) }
	want := &Table{
		Scheme: "mbr", SectorSize: 512, DiskID: "deadbeef",
		Partitions: []Partition{
			{Number: 1, Start: 64 * 512, Size: 64 * 512, Type: "0x83", TypeName: "Linux", UUID: uuid(1), Bootable: true},
			{Number: 3, Start: 1500 * 512, Size: 100 * 512, Type: "0x82", TypeName: "Linux swap / Solaris", UUID: uuid(3)},
			{Number: 5, Start: 264 * 512, Size: 56 * 512, Type: "0x83", TypeName: "Linux", UUID: uuid(5)},
			{Number: 6, Start: 328 * 512, Size: 100 * 512, Type: "0x8e", TypeName: "Linux LVM", UUID: uuid(6)},
			{Number: 7, Start: 460 * 512, Size: 400 * 512, Type: "0x07", TypeName: "HPFS/NTFS/exFAT", UUID: uuid(7)},
		},
	}
	if !reflect.DeepEqual(tbl, want) {
		t.Errorf("got  %+v\nwant %+v", tbl, want)
	}
}

func TestMBREmpty(t *testing.T) {
	tbl := read(t, mbrDisk(1<<20, 0x1234))
	if tbl.Scheme != "mbr" || tbl.DiskID != "00001234" || len(tbl.Partitions) != 0 || len(tbl.Warnings) != 0 {
		t.Errorf("got %+v", tbl)
	}
}

func TestMBRTypes(t *testing.T) {
	for typ, name := range map[byte]string{0x83: "Linux", 0x82: "Linux swap / Solaris", 0x8e: "Linux LVM", 0xfd: "Linux raid autodetect",
		0x07: "HPFS/NTFS/exFAT", 0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)", 0xef: "EFI (FAT-12/16/32)", 0x05: "Extended",
		0x0f: "W95 Ext'd (LBA)", 0xee: "GPT", 0x85: "Linux extended"} {
		if mbrTypeNames[typ] != name {
			t.Errorf("type %#02x: %q, want %q", typ, mbrTypeNames[typ], name)
		}
	}
	for guid, name := range map[string]string{
		"0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem", "e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
		"0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap", "a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
		"4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)", "933ac7e1-2eb4-4f13-b844-0e14e2aef915": "Linux home",
		"3b8f8425-20e0-4f3b-907f-1a25a76f98e8": "Linux server data", "8da63339-0007-60c0-c436-083ac8230908": "Linux reserved",
		"c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System", "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
		"ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data", "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
		"de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery environment", "bc13c2ff-59e6-4262-a352-b275fd6f7172": "Linux extended boot",
		"516e7cb6-6ecf-11d6-8ff8-00022d09712b": "FreeBSD UFS", "48465300-0000-11aa-aa11-00306543ecac": "Apple HFS/HFS+",
	} {
		if gptTypeNames[guid] != name {
			t.Errorf("type %s: %q, want %q", guid, gptTypeNames[guid], name)
		}
	}
}

func TestEBRChainDamage(t *testing.T) {
	ext := func() []byte {
		return mbrDisk(1<<20, 1, [4]uint32{0, 0x05, 100, 1000})
	}
	t.Run("self loop", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 10, 0, 50) // links to itself
		tbl := read(t, disk)
		wantWarning(t, tbl, "loops back to sector 100")
		if len(tbl.Partitions) != 1 || tbl.Partitions[0].Number != 5 {
			t.Errorf("partitions %+v", tbl.Partitions)
		}
	})
	t.Run("two-cycle", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 10, 20, 50)
		putEBR(disk, 120*512, 0x83, 1, 10, 0, 50)
		tbl := read(t, disk)
		wantWarning(t, tbl, "loops back to sector 100")
		if len(tbl.Partitions) != 2 {
			t.Errorf("partitions %+v", tbl.Partitions)
		}
	})
	t.Run("link past the end", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 10, 1<<31, 50)
		tbl := read(t, disk)
		wantWarning(t, tbl, "is beyond the end of the disk; stopped")
	})
	t.Run("no signature", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 10, 20, 50)
		tbl := read(t, disk)
		wantWarning(t, tbl, "no 0x55AA signature in the extended boot record at sector 120")
		if len(tbl.Partitions) != 1 {
			t.Errorf("partitions %+v", tbl.Partitions)
		}
	})
	t.Run("absurd length", func(t *testing.T) {
		n := maxEBRs + 100
		disk := mbrDisk((2*n+10)*512, 1, [4]uint32{0, 0x05, 2, uint32(2 * n)})
		for i := 0; i < n; i++ {
			putEBR(disk, int64(2+2*i)*512, 0x83, 1, 1, uint32(2*i+2), 2)
		}
		start := time.Now()
		tbl := read(t, disk)
		wantWarning(t, tbl, fmt.Sprintf("more than %d extended boot records; stopped", maxEBRs))
		if len(tbl.Partitions) != maxEBRs {
			t.Errorf("%d partitions, want %d", len(tbl.Partitions), maxEBRs)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("garbage in entries 3 and 4", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 10, 0, 0)
		putMBREntry(disk[100*512:], 2, 0, 0x83, 5000, 10) // outside the extended partition: ignored
		putMBREntry(disk[100*512:], 3, 0, 0x83, 20, 10)   // inside: kept
		tbl := read(t, disk)
		if len(tbl.Partitions) != 2 || tbl.Partitions[1].Start != 120*512 || tbl.Partitions[1].Number != 6 {
			t.Errorf("partitions %+v", tbl.Partitions)
		}
	})
	t.Run("logical past the end", func(t *testing.T) {
		disk := ext()
		putEBR(disk, 100*512, 0x83, 1, 1<<30, 0, 0)
		tbl := read(t, disk)
		wantWarning(t, tbl, "mbr: partition 5 (bytes 51712-549755865599) extends past the end of the disk (1048576 bytes)")
		if len(tbl.Partitions) != 1 || tbl.Partitions[0].Size != 1<<39 {
			t.Errorf("partitions %+v", tbl.Partitions)
		}
	})
}

// TestMBR4K: a table written for 4096-byte sectors is recognised by its
// extended boot records, which are only where they should be with 4096.
func TestMBR4K(t *testing.T) {
	disk := mbrDisk(8<<20, 0xabcd, [4]uint32{0, 0x83, 256, 256}, [4]uint32{0, 0x05, 512, 1024})
	putEBR(disk, 512*4096, 0x83, 1, 100, 200, 300)
	putEBR(disk, (512+200)*4096, 0x8e, 1, 100, 0, 0)
	tbl := read(t, disk)
	if tbl.SectorSize != 4096 || len(tbl.Partitions) != 3 || tbl.Partitions[2].Start != 713*4096 {
		t.Errorf("got %+v", tbl)
	}
	wantWarning(t, tbl, "4096 used")
}

func TestHybridAndMissingPMBR(t *testing.T) {
	hybrid := gptDisk{ss: 512, size: 1 << 20, diskGUID: "01234567-89ab-cdef-0123-456789abcdef", numEntries: 4, hybrid: true,
		entries: []gptEntry{{index: 0, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", uniq: "11111111-1111-1111-1111-111111111111", first: 34, last: 99}},
	}
	tbl := read(t, hybrid.build())
	if tbl.Scheme != "gpt" || len(tbl.Partitions) != 1 {
		t.Errorf("hybrid: %+v", tbl)
	}
	wantWarning(t, tbl, "mbr: hybrid MBR")

	nopmbr := hybrid
	nopmbr.hybrid, nopmbr.noPMBR = false, true
	tbl = read(t, nopmbr.build())
	if tbl.Scheme != "gpt" || len(tbl.Partitions) != 1 {
		t.Errorf("no protective MBR: %+v", tbl)
	}
	wantWarning(t, tbl, "gpt: sector 0 has no protective MBR")

	// An MBR with partitions but no 0xEE entry in front of a GPT: the
	// MBR wins, as in Linux.
	disk := nopmbr.build()
	copy(disk, mbrDisk(512, 7, [4]uint32{0, 0x83, 2048, 100}))
	tbl = read(t, disk)
	if tbl.Scheme != "mbr" {
		t.Errorf("MBR before GPT: %+v", tbl)
	}
	wantWarning(t, tbl, "the MBR is used, as Linux does")

	// An empty MBR in front of a GPT: the GPT is used.
	disk = nopmbr.build()
	copy(disk, mbrDisk(512, 7))
	tbl = read(t, disk)
	if tbl.Scheme != "gpt" {
		t.Errorf("empty MBR before GPT: %+v", tbl)
	}
}

func TestNoTable(t *testing.T) {
	fat := make([]byte, 1<<20)
	copy(fat, []byte{0xeb, 0x58, 0x90})
	copy(fat[3:], "mkfs.fat")
	le.PutUint16(fat[11:], 512)
	fat[13] = 8
	le.PutUint16(fat[14:], 32)
	fat[16] = 2
	fat[21] = 0xf8
	copy(fat[82:], "FAT32   ")
	fat[510], fat[511] = 0x55, 0xaa
	ntfs := withBytes(fat, 3, []byte("NTFS    ")...)
	badBoot := mbrDisk(1<<20, 1, [4]uint32{0x12, 0x83, 1, 10})
	ext4 := make([]byte, 1<<20)
	le.PutUint16(ext4[1024+56:], 0xef53)
	for name, disk := range map[string][]byte{
		"zeros":          make([]byte, 1<<20),
		"ext4":           ext4,
		"FAT":            fat,
		"NTFS":           ntfs,
		"bad boot flag":  badBoot,
		"tiny":           make([]byte, 100),
		"empty":          nil,
		"only signature": withBytes(make([]byte, 511), 510, 0x55),
	} {
		tbl, err := Read(bytes.NewReader(disk), int64(len(disk)))
		if !errors.Is(err, ErrNoTable) {
			t.Errorf("%s: Read = %+v, %v; want ErrNoTable", name, tbl, err)
		}
	}
}

type errReader struct{ err error }

func (r errReader) ReadAt(p []byte, off int64) (int, error) { return 0, r.err }

func TestReadErrors(t *testing.T) {
	eio := errors.New("input/output error")
	if _, err := Read(errReader{eio}, 1<<20); !errors.Is(err, eio) {
		t.Errorf("Read = %v; want the reader's error", err)
	}
	// A reader shorter than the size it claims.
	disk := sampleGPT(512)
	if _, err := Read(bytes.NewReader(disk[:1000]), int64(len(disk))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
}

// TestTruncations reads every sector-multiple prefix of sample disks (and
// some odd sizes): never a panic, and a table or an error.
func TestTruncations(t *testing.T) {
	for _, disk := range [][]byte{sampleGPT(512), sampleGPT(4096), sampleMBR()} {
		for n := 0; n <= len(disk); n += 509 {
			tbl, err := Read(bytes.NewReader(disk[:n]), int64(n))
			if (tbl == nil) == (err == nil) {
				t.Fatalf("size %d: Read = %v, %v", n, tbl, err)
			}
		}
	}
}
