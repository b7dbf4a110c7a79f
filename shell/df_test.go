package shell

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// TestDfLikeGNU compares df, df -h, df -i and df -ih with GNU df on the
// kernel's mount of the same image (through a writable loop device,
// mounted read-only, so that a journal is replayed as vmsh replays it).
// Only the device and mountpoint differ.
func TestDfLikeGNU(t *testing.T) {
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "df", "losetup", "mount", "umount")
	for _, name := range []string{"ext2-1k", "ext3-journal", "ext4-journal", "ext4", "feat-bigalloc", "feat-misc", "xattr-256"} {
		t.Run(name, func(t *testing.T) {
			data := gunzipTestdata(t, name+".img.gz")
			img := filepath.Join(t.TempDir(), name+".img")
			must(t, os.WriteFile(img, data, 0o644))
			mnt := tooltest.LoopMountReplaying(t, img)
			for _, flags := range [][]string{{}, {"-h"}, {"-i"}, {"-ih"}} {
				gnu := append([]string{"--block-size=1K"}, flags...)
				if len(flags) > 0 && strings.Contains(flags[0], "h") {
					gnu = flags
				}
				cmd := exec.Command("df", append(gnu, mnt)...)
				cmd.Env = append(os.Environ(), "LC_ALL=C")
				want, err := cmd.Output()
				if err != nil {
					t.Fatalf("df %v: %v", gnu, err)
				}
				ui := &fakeUI{lines: []string{strings.TrimSpace("df " + strings.Join(flags, " "))}}
				s := New(ui)
				s.AddDisk(name+".img", bytes.NewReader(data), int64(len(data)))
				s.MountGuest()
				s.Run()
				got := dfDevice(ui.out.String())
				wantS := dfDevice(strings.Replace(string(want), " "+mnt+"\n", " /\n", 1))
				if got != wantS || ui.err.Len() > 0 && !strings.Contains(ui.err.String(), " is sda ") {
					t.Errorf("df %v:\nvmsh:\n%s\nGNU df:\n%s\nstderr %q", flags, ui.out.String(), want, ui.err.String())
				}
			}
		})
	}
}

// TestDfGuest checks df over the guest's mount tree: the LVs named as
// /dev/mapper/VG-LV, partitions as /dev/sdXN, mountpoints sorted, paths
// naming the filesystem that holds them, and --json agreeing with the
// table.
func TestDfGuest(t *testing.T) {
	img, err := os.Open(xattrImage(t, "guest"))
	must(t, err)
	defer img.Close()
	fi, err := img.Stat()
	must(t, err)
	ui := &fakeUI{lines: []string{"df", "df /var/log /boot/grub /", "df --json", "df /nope"}}
	s := New(ui)
	s.AddDisk("guest.img", img, fi.Size())
	if !s.MountGuest() {
		t.Fatalf("guest not mounted: %s", ui.err.String())
	}
	status := s.Run()
	out, errs := ui.out.String(), ui.err.String()
	if status == 0 || !strings.Contains(errs, "df /nope: no such file or directory") {
		t.Errorf("df /nope: status %d, stderr %q", status, errs)
	}
	lines := strings.Split(out, "\n")
	var names []string
	for _, l := range lines[1:5] {
		f := strings.Fields(l)
		names = append(names, f[0]+" "+f[len(f)-1])
	}
	want := "/dev/mapper/ubuntu--vg-root /; /dev/sda2 /boot; /dev/mapper/ubuntu--vg-home /home; /dev/mapper/ubuntu--vg-var /var"
	if strings.Join(names, "; ") != want {
		t.Errorf("df:\n%s\nwant mounts %s", out, want)
	}
	if !strings.HasPrefix(lines[0], "Filesystem                  1K-blocks  Used Available Use% Mounted on") {
		t.Errorf("header %q", lines[0])
	}
	var second []string
	for _, l := range lines[6:9] {
		f := strings.Fields(l)
		second = append(second, f[len(f)-1])
	}
	if strings.Join(second, " ") != "/var /boot /" {
		t.Errorf("df with paths: %q", second)
	}
	start := strings.Index(out, "{")
	var doc struct {
		Filesystems []dfJSON `json:"filesystems"`
	}
	if err := json.Unmarshal([]byte(out[start:]), &doc); err != nil || len(doc.Filesystems) != 4 {
		t.Fatalf("df --json: %v\n%s", err, out[start:])
	}
	for i, fsj := range doc.Filesystems {
		f := strings.Fields(lines[1+i])
		if fsj.Filesystem != f[0] || fsj.MountedOn != f[5] || itoa64(fsj.Size/1024) != f[1] || itoa64(fsj.Used/1024) != f[2] ||
			itoa64(fsj.Available/1024) != f[3] || fsj.UsePercent == nil || itoa64(uint64(*fsj.UsePercent))+"%" != f[4] || fsj.Type != "ext4" {
			t.Errorf("json %+v, table %q", fsj, lines[1+i])
		}
	}
}

// dfDevice replaces the device names of df's rows, which are narrower
// than the 14 columns of the first field, by "DEV".
func dfDevice(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "/dev/") && len(l) > 14 && strings.IndexByte(l, ' ') < 14 {
			lines[i] = "DEV           " + l[14:]
		}
	}
	return strings.Join(lines, "\n")
}

func itoa64(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
