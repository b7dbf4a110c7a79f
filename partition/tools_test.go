package partition

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// These tests build disks with sfdisk and sgdisk and use the tools as the
// oracle. Without the tools they skip, unless VMSH_REQUIRE_TOOLS=1.

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sparseImage(t *testing.T, name string, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func readImage(t *testing.T, path string) *Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Read(f, fi.Size())
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	return tbl
}

var nodeNumber = regexp.MustCompile(`[0-9]+$`)

// checkAgainstSfdisk compares tbl with sfdisk --json and sfdisk --list on dev.
func checkAgainstSfdisk(t *testing.T, tbl *Table, dev string) {
	t.Helper()
	st, err := tooltest.ParseSfdisk([]byte(run(t, "", "sfdisk", "--json", dev)))
	if err != nil {
		t.Fatal(err)
	}
	pt := st.PartitionTable
	scheme := map[string]string{"gpt": "gpt", "dos": "mbr"}[pt.Label]
	if tbl.Scheme != scheme || tbl.SectorSize != pt.SectorSize {
		t.Errorf("scheme %q, sector size %d; sfdisk says %q, %d", tbl.Scheme, tbl.SectorSize, pt.Label, pt.SectorSize)
	}
	wantID := strings.ToLower(strings.TrimPrefix(pt.ID, "0x"))
	if tbl.DiskID != wantID {
		t.Errorf("DiskID %q; sfdisk says %q", tbl.DiskID, wantID)
	}
	names := sfdiskTypeNames(t, dev)
	var want []Partition
	for _, p := range pt.Partitions {
		num, _ := strconv.Atoi(nodeNumber.FindString(p.Node))
		wp := Partition{
			Number:   num,
			Start:    p.Start * int64(pt.SectorSize),
			Size:     p.Size * int64(pt.SectorSize),
			Name:     p.Name,
			TypeName: names[p.Node],
		}
		switch scheme {
		case "gpt":
			wp.Type = strings.ToLower(p.Type)
			wp.UUID = strings.ToLower(p.UUID)
			wp.Bootable = strings.Contains(p.Attrs, "LegacyBIOSBootable")
		case "mbr":
			typ, err := strconv.ParseUint(p.Type, 16, 8)
			if err != nil {
				t.Fatal(err)
			}
			if isExtended(byte(typ)) {
				continue
			}
			wp.Type = fmt.Sprintf("%#02x", typ)
			wp.UUID = fmt.Sprintf("%s-%02x", wantID, num)
			wp.Bootable = p.Bootable
		}
		want = append(want, wp)
	}
	if len(tbl.Partitions) != len(want) {
		t.Fatalf("%d partitions; sfdisk lists %d:\ngot  %+v\nwant %+v", len(tbl.Partitions), len(want), tbl.Partitions, want)
	}
	for i, w := range want {
		g := tbl.Partitions[i]
		g.Attributes = 0 // compared with sgdisk
		if g != w {
			t.Errorf("partition %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
}

// sfdiskTypeNames maps each partition's device name to its type name as
// sfdisk --list prints it.
func sfdiskTypeNames(t *testing.T, dev string) map[string]string {
	out := run(t, "", "sfdisk", "--list", "--output", "Device,Type", dev)
	names := make(map[string]string)
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Device" && f[1] == "Type" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 2 {
			if inTable && len(f) == 0 {
				break
			}
			continue
		}
		names[f[0]] = strings.Join(f[1:], " ")
	}
	return names
}

// sgdiskInfo is what sgdisk -i N prints about a partition.
type sgdiskInfo struct {
	typeGUID, uniqueGUID string
	first, last          int64
	attrs                uint64
	name                 string
}

func sgdiskPartition(t *testing.T, dev string, num int) sgdiskInfo {
	t.Helper()
	out := run(t, "", "sgdisk", "-i", strconv.Itoa(num), dev)
	var info sgdiskInfo
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		field := strings.Fields(v)
		switch k {
		case "Partition GUID code":
			info.typeGUID = strings.ToLower(field[0])
		case "Partition unique GUID":
			info.uniqueGUID = strings.ToLower(field[0])
		case "First sector":
			info.first, _ = strconv.ParseInt(field[0], 10, 64)
		case "Last sector":
			info.last, _ = strconv.ParseInt(field[0], 10, 64)
		case "Attribute flags":
			info.attrs, _ = strconv.ParseUint(field[0], 16, 64)
		case "Partition name":
			info.name = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		}
	}
	return info
}

func checkAgainstSgdisk(t *testing.T, tbl *Table, dev string) {
	t.Helper()
	ss := int64(tbl.SectorSize)
	for _, p := range tbl.Partitions {
		info := sgdiskPartition(t, dev, p.Number)
		want := sgdiskInfo{
			typeGUID:   p.Type,
			uniqueGUID: p.UUID,
			first:      p.Start / ss,
			last:       (p.Start+p.Size)/ss - 1,
			attrs:      p.Attributes,
			name:       p.Name,
		}
		if info != want {
			t.Errorf("partition %d: sgdisk -i says %+v; Read says %+v", p.Number, info, want)
		}
	}
}

// makeGPT builds a GPT disk with sgdisk: named partitions, fixed GUIDs,
// attributes, and a gap in the entry numbers.
func makeGPT(t *testing.T, dev string) {
	t.Helper()
	run(t, "", "sgdisk",
		"-U", "11111111-2222-3333-4444-555555555555",
		"-n", "1:2048:+1M", "-t", "1:ef02", "-c", "1:bios", "-u", "1:aaaaaaaa-0000-4000-8000-000000000001",
		"-n", "2:0:+8M", "-t", "2:ef00", "-c", "2:EFI system ünï", "-A", "2:set:2", "-u", "2:aaaaaaaa-0000-4000-8000-000000000002",
		"-n", "3:0:+4M", "-t", "3:8200", "-c", "3:swap", "-u", "3:aaaaaaaa-0000-4000-8000-000000000003",
		"-n", "5:0:+4M", "-t", "5:8e00", "-c", "5:lvm", "-A", "5:set:0", "-A", "5:set:60", "-u", "5:aaaaaaaa-0000-4000-8000-000000000005",
		"-n", "6:0:+4M", "-t", "6:fd00", "-c", "6:raid", "-u", "6:aaaaaaaa-0000-4000-8000-000000000006",
		"-n", "7:0:+4M", "-t", "7:0700", "-c", "7:data", "-u", "7:aaaaaaaa-0000-4000-8000-000000000007",
		"-n", "8:0:+4M", "-t", "8:8304", "-c", "8:root", "-u", "8:aaaaaaaa-0000-4000-8000-000000000008",
		"-n", "9:0:0", "-t", "9:8300", "-c", "9:a name of 36 characters, the maximum", "-u", "9:aaaaaaaa-0000-4000-8000-000000000009",
		dev)
}

func TestGPTAgainstTools(t *testing.T) {
	tooltest.Need(t, "sgdisk")
	tooltest.Need(t, "sfdisk")
	img := sparseImage(t, "gpt.img", 64<<20)
	makeGPT(t, img)
	tbl := readImage(t, img)
	if len(tbl.Warnings) != 0 {
		t.Errorf("warnings: %q", tbl.Warnings)
	}
	if len(tbl.Partitions) != 8 {
		t.Fatalf("%d partitions, want 8", len(tbl.Partitions))
	}
	checkAgainstSfdisk(t, tbl, img)
	checkAgainstSgdisk(t, tbl, img)
	p := tbl.Partitions
	if p[0].TypeName != "BIOS boot" || p[1].TypeName != "EFI System" || p[1].Name != "EFI system ünï" || !p[1].Bootable || p[0].Bootable {
		t.Errorf("unexpected: %+v %+v", p[0], p[1])
	}
	if p[3].Number != 5 || p[3].Attributes != 1|1<<60 {
		t.Errorf("partition 5: %+v", p[3])
	}
}

func TestMBRAgainstTools(t *testing.T) {
	tooltest.Need(t, "sfdisk")
	img := sparseImage(t, "mbr.img", 64<<20)
	run(t, `label: dos
label-id: 0x12345678
start=2048, size=4096, type=83, bootable
start=8192, size=40000, type=f
start=50000, size=2000, type=82
start=60000, size=1000, type=7
start=10240, size=4000, type=83
start=16384, size=4000, type=8e
start=22528, size=4000, type=fd, bootable
start=28672, size=100, type=c
start=32768, size=15000, type=ef
`, "sfdisk", "--no-reread", "--no-tell-kernel", "-q", img)
	tbl := readImage(t, img)
	if len(tbl.Warnings) != 0 {
		t.Errorf("warnings: %q", tbl.Warnings)
	}
	if len(tbl.Partitions) != 8 {
		t.Fatalf("%d partitions, want 8: %+v", len(tbl.Partitions), tbl.Partitions)
	}
	checkAgainstSfdisk(t, tbl, img)
}
