package lvm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// lvmEnv is a loop device over a temporary file with lvm2 configured to
// see only that device and to keep no backups, hints or devices file.
type lvmEnv struct {
	t    *testing.T
	img  string
	dev  string
	conf string
}

func newLVMEnv(t *testing.T, size int64) *lvmEnv {
	tooltest.NeedRoot(t, "attaching a loop device")
	tooltest.Need(t, "pvcreate", "vgcreate", "lvcreate", "lvremove", "pvs", "lvs", "vgs", "vgcfgbackup", "losetup")
	dir := t.TempDir()
	e := &lvmEnv{t: t, img: filepath.Join(dir, "pv.img"), conf: filepath.Join(dir, "etc")}
	if err := os.WriteFile(e.img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(e.img, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", e.img).Output()
	if err != nil {
		tooltest.SkipOrFail(t, "losetup: %v", err)
	}
	e.dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", e.dev).Run() })
	conf := fmt.Sprintf(`devices {
	filter = [ "a|^%[1]s$|", "r|.*|" ]
	global_filter = [ "a|^%[1]s$|", "r|.*|" ]
	use_devicesfile = 0
	hints = "none"
	obtain_device_list_from_udev = 0
}
backup { backup = 0 archive = 0 }
activation { udev_sync = 0 udev_rules = 0 }
`, e.dev)
	if err := os.MkdirAll(e.conf, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.conf, "lvm.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *lvmEnv) run(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+e.conf, "LVM_SUPPRESS_FD_WARNINGS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (e *lvmEnv) read() (*PV, *VG) {
	e.t.Helper()
	f, err := os.Open(e.dev)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Seek(0, 2)
	if err != nil {
		e.t.Fatal(err)
	}
	pv, err := ReadLabel(f, size)
	if err != nil {
		e.t.Fatal(err)
	}
	vg, err := ParseVG(pv.Metadata)
	if err != nil {
		e.t.Fatal(err)
	}
	return pv, vg
}

func TestAgainstLVM2(t *testing.T) {
	e := newLVMEnv(t, 16<<20)
	e.run("pvcreate", e.dev)
	e.run("vgcreate", "-s", "64k", "vgtest", e.dev)
	lvc := []string{"lvcreate", "--driverloaded", "n", "--activate", "n", "--zero", "n", "-y"}
	e.run(append(lvc, "-l", "4", "-n", "one", "vgtest")...)
	e.run(append(lvc, "-l", "3", "-n", "gap", "vgtest")...)
	e.run(append(lvc, "-l", "2", "-n", "two", "vgtest")...)
	e.run("lvremove", "-y", "vgtest/gap")
	e.run("lvextend", "--driverloaded", "n", "-l", "+5", "vgtest/one")
	e.run(append(lvc, "-l", "2", "-n", "t+q-x", "vgtest")...)

	pv, vg := e.read()
	fields := strings.Fields(e.run("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pv_uuid,dev_size,pe_start", e.dev))
	if len(fields) != 3 || fields[0] != FormattedUUID(pv.UUID) || fields[1] != strconv.FormatInt(pv.DeviceSize, 10) ||
		fields[2] != strconv.FormatInt(pv.DataAreas[0].Offset, 10) {
		t.Errorf("pvs says %q; read UUID %s size %d data areas %+v", fields, pv.UUID, pv.DeviceSize, pv.DataAreas)
	}
	seqno := strings.TrimSpace(e.run("vgs", "--noheadings", "-o", "seqno", "vgtest"))
	if seqno != strconv.FormatInt(vg.Seqno, 10) {
		t.Errorf("vgs seqno %s, read %d", seqno, vg.Seqno)
	}
	// lvs prints one line per segment: LV name, start extent, extents and
	// PE ranges.
	var want, got []string
	for _, line := range strings.Split(strings.TrimSpace(e.run("lvs", "--noheadings", "--segments", "--separator", ";",
		"-o", "lv_name,seg_start_pe,seg_size_pe,segtype,seg_pe_ranges", "vgtest")), "\n") {
		want = append(want, strings.TrimSpace(line))
	}
	for _, lv := range vg.LVs {
		for _, s := range lv.Segments {
			var ranges []string
			for _, st := range s.Stripes {
				per := s.ExtentCount / s.StripeCount
				ranges = append(ranges, fmt.Sprintf("%s:%d-%d", e.dev, st.StartExtent, st.StartExtent+per-1))
			}
			typ := s.Type
			if typ == "striped" && s.StripeCount == 1 {
				typ = "linear"
			}
			got = append(got, fmt.Sprintf("%s;%d;%d;%s;%s", lv.Name, s.StartExtent, s.ExtentCount, typ, strings.Join(ranges, " ")))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("segments differ:\nlvs:\n%s\nread:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if len(vg.LVs) != 3 || len(vg.LVs[0].Segments) != 2 || vg.LVs[1].Name != "two" || vg.LVs[2].Name != "t+q-x" {
		t.Errorf("LVs %+v", vg.LVs)
	}

	backup := filepath.Join(t.TempDir(), "vgtest.backup")
	e.run("vgcfgbackup", "-f", backup, "vgtest")
	text, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	bvg, err := ParseVG(text)
	if err != nil {
		t.Fatal(err)
	}
	if bvg.Name != vg.Name || bvg.ID != vg.ID || bvg.Seqno != vg.Seqno || bvg.ExtentSize != vg.ExtentSize ||
		fmt.Sprint(bvg.PVs) != fmt.Sprint(vg.PVs) || len(bvg.LVs) != len(vg.LVs) {
		t.Errorf("vgcfgbackup gives %+v\nmetadata area gives %+v", bvg, vg)
	}
	for i := range bvg.LVs {
		if fmt.Sprint(bvg.LVs[i].Segments[0].Stripes) != fmt.Sprint(vg.LVs[i].Segments[0].Stripes) || bvg.LVs[i].ID != vg.LVs[i].ID {
			t.Errorf("LV %d: backup %+v, area %+v", i, bvg.LVs[i], vg.LVs[i])
		}
	}
}

func TestMetadataWrap(t *testing.T) {
	e := newLVMEnv(t, 16<<20)
	e.run("pvcreate", "--metadatasize", "16k", e.dev)
	e.run("vgcreate", "-s", "64k", "vgwrap", e.dev)
	lvc := []string{"lvcreate", "--driverloaded", "n", "--activate", "n", "--zero", "n", "-y", "-l", "1", "-n"}
	for i := 0; i < 8; i++ {
		e.run(append(lvc, fmt.Sprintf("padding_volume_with_a_long_name_%d", i), "vgwrap")...)
	}
	wrapped := false
	for i := 0; i < 200 && !wrapped; i++ {
		e.run(append(lvc, "churn", "vgwrap")...)
		e.run("lvremove", "-y", "vgwrap/churn")
		pv, vg := e.read()
		seqno := strings.TrimSpace(e.run("vgs", "--noheadings", "-o", "seqno", "vgwrap"))
		if seqno != strconv.FormatInt(vg.Seqno, 10) {
			t.Fatalf("change %d: vgs seqno %s, read %d", i, seqno, vg.Seqno)
		}
		wrapped = e.wraps(pv.MetaAreas[pv.MetadataArea])
	}
	if !wrapped {
		t.Fatal("the metadata never wrapped around its area")
	}
}

// wraps reports whether the current metadata in the area runs past its end.
func (e *lvmEnv) wraps(a Area) bool {
	f, err := os.Open(e.dev)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	h := make([]byte, mdaHeaderSize)
	if _, err := f.ReadAt(h, a.Offset); err != nil {
		e.t.Fatal(err)
	}
	return int64(le.Uint64(h[40:])+le.Uint64(h[48:])) > a.Size
}
