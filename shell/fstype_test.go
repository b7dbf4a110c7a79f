package shell

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// identifyFile runs the shell's probe over an image file.
func identifyFile(t *testing.T, img string) *Volume {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	s := New(&fakeUI{})
	return s.AddDisk(img, f, fi.Size()).Self
}

// blkid returns what blkid -p says of an image: TYPE, LABEL and UUID.
func blkid(t *testing.T, img string) fsID {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "export", img).Output()
	if err != nil {
		t.Fatalf("blkid %s: %v", img, err)
	}
	var id fsID
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		v = unbackslash(v) // export escapes spaces and quotes for sh
		switch k {
		case "TYPE":
			id.typ = v
		case "LABEL":
			id.label = v
		case "UUID":
			id.uuid = v
		}
	}
	return id
}

// Filesystems vmsh does not read, made by their own tools, are named as
// blkid names them: type, label and UUID.
func TestIdentifyMatchesBlkid(t *testing.T) {
	tooltest.Need(t, "blkid")
	dir := t.TempDir()
	tests := []struct {
		name, tool string
		size       int64
		args       func(img string) []string
	}{
		{"xfs", "mkfs.xfs", 320 << 20, func(img string) []string {
			return []string{"-q", "-L", "xfs-data", "-m", "uuid=3f1c2b4a-5d6e-4f70-8192-a3b4c5d6e7f8", img}
		}},
		{"btrfs", "mkfs.btrfs", 128 << 20, func(img string) []string {
			return []string{"-q", "-L", "my btrfs", "-U", "4e2a1c3b-6d5f-4a70-9b81-c2d3e4f5a6b7", img}
		}},
		{"ntfs", "mkfs.ntfs", 16 << 20, func(img string) []string {
			return []string{"-q", "-F", "-Q", "-L", "Windows Data", img}
		}},
		{"vfat32", "mkfs.vfat", 40 << 20, func(img string) []string {
			return []string{"-F", "32", "-n", "ESP", "-i", "1A2B3C4D", img}
		}},
		{"vfat16", "mkfs.vfat", 16 << 20, func(img string) []string {
			return []string{"-F", "16", "-n", "BOOT16", "-i", "0BADF00D", img}
		}},
		{"vfat-nolabel", "mkfs.vfat", 40 << 20, func(img string) []string {
			return []string{"-F", "32", "-i", "2A6C5F01", img}
		}},
		{"exfat", "mkfs.exfat", 16 << 20, func(img string) []string {
			return []string{"-L", "Camera", img}
		}},
		{"luks1", "cryptsetup", 8 << 20, func(img string) []string {
			return []string{"luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000",
				"--uuid", "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "--key-file", keyFile(t, dir), img}
		}},
		{"luks2", "cryptsetup", 24 << 20, func(img string) []string {
			return []string{"luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
				"--label", "secret", "--uuid", "7c6b5a4d-3e2f-4b1a-8d9c-8f7e6d5c4b3a", "--key-file", keyFile(t, dir), img}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tooltest.Need(t, tt.tool)
			img := filepath.Join(dir, tt.name+".img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, tt.size); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tt.tool, tt.args(img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tt.tool, err, out)
			}
			want := blkid(t, img)
			v := identifyFile(t, img)
			got := fsID{v.FSType, v.Label, v.UUID}
			if got != want || want.uuid == "" {
				t.Errorf("probe: %+v, blkid: %+v", got, want)
			}
		})
	}
}

func unbackslash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func keyFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, []byte("not a secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Crafted images give identification every field it reads; corrupt ones
// leave out what cannot be trusted, without a panic.
func TestIdentifyCrafted(t *testing.T) {
	xfs := make([]byte, 64<<10)
	copy(xfs, "XFSB")
	copy(xfs[32:], []byte{0x3f, 0x1c, 0x2b, 0x4a, 0x5d, 0x6e, 0x4f, 0x70, 0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8})
	copy(xfs[108:], "xfs-data")

	btrfs := make([]byte, 80<<10)
	copy(btrfs[64<<10+0x40:], "_BHRfS_M")
	copy(btrfs[64<<10+0x20:], []byte{0x4e, 0x2a, 0x1c, 0x3b, 0x6d, 0x5f, 0x4a, 0x70, 0x9b, 0x81, 0xc2, 0xd3, 0xe4, 0xf5, 0xa6, 0xb7})
	copy(btrfs[64<<10+0x12b:], "my btrfs")

	// NTFS: 512-byte sectors, 8 per cluster, the MFT at cluster 4, 1 KiB
	// records; record 3 carries a $VOLUME_NAME behind an update sequence.
	ntfs := make([]byte, 64<<10)
	copy(ntfs[3:], "NTFS    ")
	binary.LittleEndian.PutUint16(ntfs[0x0b:], 512)
	ntfs[0x0d] = 8
	binary.LittleEndian.PutUint64(ntfs[0x30:], 4)
	ntfs[0x40] = 0xf6 // -10: 1 KiB records
	binary.LittleEndian.PutUint64(ntfs[0x48:], 0x1a2b3c4d5e6f7081)
	rec := ntfs[4*4096+3*1024 : 4*4096+4*1024]
	copy(rec, "FILE")
	binary.LittleEndian.PutUint16(rec[4:], 0x30) // update sequence at 0x30
	binary.LittleEndian.PutUint16(rec[6:], 3)    // check value and two sectors
	binary.LittleEndian.PutUint16(rec[0x30:], 0x0102)
	binary.LittleEndian.PutUint16(rec[0x14:], 0x38) // first attribute
	a := rec[0x38:]
	binary.LittleEndian.PutUint32(a[0:], 0x60)
	binary.LittleEndian.PutUint32(a[4:], 48)
	binary.LittleEndian.PutUint32(a[16:], 8) // "Data" in UTF-16
	binary.LittleEndian.PutUint16(a[20:], 24)
	copy(a[24:], []byte{'D', 0, 'a', 0, 't', 0, 'a', 0})
	binary.LittleEndian.PutUint32(a[48:], 0xffffffff)
	for i := 1; i <= 2; i++ { // the sector ends hold the check value
		binary.LittleEndian.PutUint16(rec[0x30+2*i:], binary.LittleEndian.Uint16(rec[i*512-2:]))
		binary.LittleEndian.PutUint16(rec[i*512-2:], 0x0102)
	}
	tornNTFS := bytes.Clone(ntfs)
	tornNTFS[4*4096+3*1024+510] = 0x55 // a torn write: no label
	hugeNTFS := bytes.Clone(ntfs)
	binary.LittleEndian.PutUint64(hugeNTFS[0x30:], 1<<62) // MFT beyond the volume

	for _, tt := range []struct {
		name string
		img  []byte
		want fsID
	}{
		{"xfs", xfs, fsID{"xfs", "xfs-data", "3f1c2b4a-5d6e-4f70-8192-a3b4c5d6e7f8"}},
		{"btrfs", btrfs, fsID{"btrfs", "my btrfs", "4e2a1c3b-6d5f-4a70-9b81-c2d3e4f5a6b7"}},
		{"ntfs", ntfs, fsID{"ntfs", "Data", "1A2B3C4D5E6F7081"}},
		{"ntfs torn", tornNTFS, fsID{"ntfs", "", "1A2B3C4D5E6F7081"}},
		{"ntfs mft beyond the end", hugeNTFS, fsID{"ntfs", "", "1A2B3C4D5E6F7081"}},
	} {
		got := identify(tt.img[:min(len(tt.img), 64<<10)], bytes.NewReader(tt.img), int64(len(tt.img)))
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// Identification never panics on arbitrary bytes.
func FuzzIdentify(f *testing.F) {
	for _, sig := range []string{"XFSB", "\x00\x00\x00NTFS    ", "\x00\x00\x00EXFAT   ", "LUKS\xba\xbe\x00\x02"} {
		b := make([]byte, 1024)
		copy(b, sig)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		identify(b[:min(len(b), 64<<10)], bytes.NewReader(b), int64(len(b)))
	})
}
