package vmdk

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDescriptor(t *testing.T) {
	text := "\xef\xbb\xbf# Disk DescriptorFile\r\n" +
		"version=1\r\n" +
		"encoding=\"windows-1252\"\r\n" +
		"  CID = fffffffe  \r\n" +
		"parentCID=1a2B3c4d\r\n" +
		"isNativeSnapshot=\"no\"\r\n" +
		"createType=vmfs\r\n" + // unquoted, as ovftool writes it
		"parentFileNameHint=\"C:\\VMs\\base disk.vmdk\"\r\n" +
		"CID=00000001\r\n" + // the first one counts
		"\r\n" +
		"# Extent description\r\n" +
		"RW 2048 VMFS \"disk-flat.vmdk\"\r\n" +
		"RDONLY 100 FLAT \"dir/with space.vmdk\" 63\r\n" +
		"\trw\t8 zero\r\n" +
		"NOACCESS 4096 SPARSE \"s001.vmdk\"\r\n" +
		"RW 10 VMFSSPARSE delta.vmdk\r\n" +
		"RW 8 FLAT \"/dev/sdb\" 0 partuuid devid\r\n" +
		"\r\n" +
		"# Change Tracking File\r\n" +
		"changeTrackPath=\"disk-ctk.vmdk\"\r\n" +
		"#DDB\r\n" +
		"ddb.adapterType = \"lsilogic\"\r\n" +
		"ddb.uuid = \"60 00 C2 9a\"\r\n" +
		"ddb.geometry.cylinders=\"16383\"\r\n" +
		"a line of nothing\r\n" +
		"\x00\x00\x00garbage after the NUL"
	d, err := ParseDescriptor([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := &Descriptor{
		Version:            1,
		Encoding:           "windows-1252",
		CID:                0xfffffffe,
		ParentCID:          0x1a2b3c4d,
		CreateType:         "vmfs",
		ParentFileNameHint: `C:\VMs\base disk.vmdk`,
		Extents: []Extent{
			{"RW", 2048, "VMFS", "disk-flat.vmdk", 0},
			{"RDONLY", 100, "FLAT", "dir/with space.vmdk", 63},
			{"RW", 8, "ZERO", "", 0},
			{"NOACCESS", 4096, "SPARSE", "s001.vmdk", 0},
			{"RW", 10, "VMFSSPARSE", "delta.vmdk", 0},
			{"RW", 8, "FLAT", "/dev/sdb", 0},
		},
		DDB: map[string]string{
			"ddb.adapterType":        "lsilogic",
			"ddb.uuid":               "60 00 C2 9a",
			"ddb.geometry.cylinders": "16383",
		},
		Warnings: []string{`descriptor line 25: skipped "a line of nothing"`},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got  %+v\nwant %+v", d, want)
	}
	if got := d.Size(); got != (2048+100+8+4096+10+8)*512 {
		t.Errorf("Size() = %d", got)
	}
}

func TestParseDescriptorErrors(t *testing.T) {
	for _, tc := range []struct{ text, err string }{
		{"", "not a descriptor"},
		{"# only comments\n\n", "not a descriptor"},
		{"hello=world\n", "not a descriptor"},
		{"version=x\n", `line 1: version "x" is not a number`},
		{"version=1\nCID=xyz\n", `line 2: CID "xyz" is not 8 hex digits`},
		{"version=1\nparentCID=123456789\n", `parentCID "123456789" is not 8 hex digits`},
		{"RW 0 FLAT \"a\" 0\n", "extent size \"0\" is not a positive number"},
		{"RW -5 FLAT \"a\" 0\n", "not a positive number"},
		{"RW 99999999999999999999 FLAT \"a\" 0\n", "not a positive number"},
		{"RW 2199023255553 ZERO\n", "larger than 2199023255552"},
		{"RW 2199023255552 ZERO\nRW 1 ZERO\n", "line 2: extents add up to more than"},
		{"RW 10\n", "no type"},
		{"RW 10 FLAT\n", "FLAT extent has no file name"},
		{"RW 10 FLAT \"a\n", "no closing quote"},
		{"RW 10 FLAT \"\" 0\n", "file name is empty"},
		{"RW 10 FLAT \"a\" x\n", `extent offset "x" is not a sector number`},
		{"RW 10 FLAT \"a\" -1\n", `extent offset "-1"`},
		{"RW 10 SPARSE \"a\" 5\n", `SPARSE extent followed by "5"`},
		{"RW 10 ZERO \"a\"\n", `ZERO extent followed by`},
		{strings.Repeat("#", maxDescriptor+1), "larger than"},
		{strings.Repeat("RW 1 ZERO\n", maxExtents+1), "more than 65536 extents"},
	} {
		_, err := ParseDescriptor([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: error %v, want %q", tc.text, err, tc.err)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		head string
		want bool
	}{
		{"KDMV\x01\x00\x00\x00", true},
		{"COWD\x01\x00\x00\x00", true},
		{"# Disk DescriptorFile\nversion=1\n", true},
		{"\xef\xbb\xbf# Disk DescriptorFile", true},
		{"# written by hand\n\n   \r\nversion=1\r\nCID=1", true},
		{"version = 3\n", true},
		{"version=4\n", false},
		{"# comment\nCID=1\nversion=1\n", false},
		{"QFI\xfb", false},
		{"", false},
		{"KDM", false},
		{"hello world", false},
	} {
		if got := Detect([]byte(tc.head)); got != tc.want {
			t.Errorf("Detect(%q) = %v", tc.head, got)
		}
	}
}
