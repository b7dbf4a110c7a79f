package shell

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

func TestDiskNames(t *testing.T) {
	for i, want := range map[int]string{0: "sda", 1: "sdb", 25: "sdz", 26: "sdaa", 27: "sdab", 701: "sdzz", 702: "sdaaa"} {
		if got := diskName(i); got != want {
			t.Errorf("diskName(%d) = %q, want %q", i, got, want)
		}
		if got := diskIndex(want[2:]); got != i {
			t.Errorf("diskIndex(%q) = %d, want %d", want[2:], got, i)
		}
	}
	for in, want := range map[string]string{
		"/dev/sda2": "sda2", "sdb": "sdb", "/dev/vda1": "sda1", "/dev/xvdb3": "sdb3", "hdc": "sdc",
		"/dev/nvme0n1p2": "sda2", "/dev/nvme1n1": "sdb", "/dev/mmcblk0p1": "sda1",
		"/dev/mapper/vg-root": "mapper/vg-root", "sdA1": "sdA1",
	} {
		if got := linuxName(in); got != want {
			t.Errorf("linuxName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := unoctal(`/mnt/my\040disk\`); got != `/mnt/my disk\` {
		t.Errorf("unoctal: %q", got)
	}
	if got := unhexEscapes(`my\x20label`); got != "my label" {
		t.Errorf("unhexEscapes: %q", got)
	}
	for n, want := range map[int64]string{512: "512B", 1024: "1K", 34 << 20: "34M", 1536 << 20: "1.5G", 20 << 30: "20G"} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}

// Volumes vmsh cannot read are still recognised and shown.
func TestProbeSignatures(t *testing.T) {
	swap := make([]byte, 1<<20)
	copy(swap[4096-10:], "SWAPSPACE2")
	copy(swap[1036:], []byte{0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x43, 0x33, 0x84, 0x44, 0, 0, 0, 0, 0, 7})
	copy(swap[1052:], "myswap")

	lvm := make([]byte, 1<<20)
	copy(lvm[512:], "LABELONE")
	copy(lvm[512+24:], "LVM2 001")
	binary.LittleEndian.PutUint32(lvm[512+20:], 32)
	copy(lvm[512+32:], "abcdef0123456789ABCDEFGHIJKLMNOP")

	fat := make([]byte, 1<<20)
	copy(fat[82:], "FAT32   ")
	copy(fat[71:], "EFI        ")
	binary.LittleEndian.PutUint32(fat[67:], 0x1234abcd)

	ui := &fakeUI{lines: []string{"lsblk", "use sdb"}}
	s := New(ui)
	s.AddDisk("swap.img", bytes.NewReader(swap), int64(len(swap)))
	s.AddDisk("lvm.img", bytes.NewReader(lvm), int64(len(lvm)))
	s.AddDisk("fat.img", bytes.NewReader(fat), int64(len(fat)))
	s.AddDisk("zero.img", bytes.NewReader(make([]byte, 4096)), 4096)
	if s.MountGuest() {
		t.Error("mounted something")
	}
	s.Run()
	want := "" +
		"NAME SIZE TYPE FSTYPE      LABEL  UUID                                   MOUNTPOINTS\n" +
		"sda  1M   disk swap        myswap 11111111-2222-4333-8444-000000000007\n" +
		"sdb  1M   disk LVM2_member        abcdef-0123-4567-89AB-CDEF-GHIJ-KLMNOP\n" +
		"sdc  1M   disk vfat        EFI    1234-ABCD\n" +
		"sdd  4K   disk\n"
	if ui.out.String() != want {
		t.Errorf("lsblk:\n%s\nwant:\n%s", ui.out.String(), want)
	}
	wantErr := "vmsh: sdb: lvm: label in sector 1 records sector 0 (at byte offset 512)\n" +
		"vmsh: no ext2/3/4 filesystem on these disks; see lsblk\n" +
		"vmsh: use: sdb: lvm: label in sector 1 records sector 0 (at byte offset 512)\n"
	if ui.err.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", ui.err.String(), wantErr)
	}
	for spec, want := range map[string]string{
		"LABEL=myswap": "sda", "myswap": "sda", "UUID=11111111-2222-4333-8444-000000000007": "sda",
		"11111111-2222-4333-8444-000000000007": "sda", "/dev/disk/by-label/EFI": "sdc", "UUID=1234-abcd": "sdc",
		"/dev/vdc": "sdc", "sdd": "sdd",
	} {
		v, err := s.findVolume(spec)
		if err != nil || v.Name != want {
			t.Errorf("findVolume(%q) = %v, %v; want %s", spec, v, err, want)
		}
	}
	for _, spec := range []string{"LABEL=nope", "sde", "FOO=bar", "1"} {
		if v, err := s.findVolume(spec); err == nil {
			t.Errorf("findVolume(%q) = %s, want an error", spec, v.Name)
		} else if !strings.Contains(err.Error(), spec) {
			t.Errorf("findVolume(%q): %v", spec, err)
		}
	}
}

// A filesystem whose journal is on another disk is replayed from it when
// that disk holds the journal device it names.
func TestExternalJournalVolume(t *testing.T) {
	img := gunzipTestdata(t, "extjournal-fs.ext4.gz")
	jdev := gunzipTestdata(t, "extjournal-dev.jdev.gz")
	for _, withDev := range []bool{true, false} {
		ui := &fakeUI{}
		s := New(ui)
		s.AddDisk("fs.img", bytes.NewReader(img), int64(len(img)))
		if withDev {
			s.AddDisk("journal.img", bytes.NewReader(jdev), int64(len(jdev)))
		}
		vs := s.volumes()
		if withDev && (len(vs) != 2 || vs[1].FSType != "jbd" || vs[1].UUID != "6a6f7572-6e61-4c58-8001-0000000000aa") {
			t.Fatalf("journal device volume not recognised: %+v", vs)
		}
		f, err := vs[0].open(s)
		if err != nil {
			t.Fatal(err)
		}
		if f.Info().Replayed != withDev {
			t.Errorf("journal device given %v: replayed %v, warnings %q", withDev, f.Info().Replayed, f.Warnings())
		}
	}
}

func gunzipTestdata(t *testing.T, name string) []byte {
	return tooltest.Gunzip(t, filepath.Join("..", "testdata", name))
}
