package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"vmsh/internal/tooltest"
)

// lvmEnv is loop devices over temporary files with lvm2 configured to see
// only those devices and to keep no backups, hints or devices file.
type lvmEnv struct {
	t     *testing.T
	img   string // the first image and device
	dev   string
	imgs  []string
	devs  []string
	conf  string
	files []*os.File // devices opened by assemble
}

// closeFiles closes the devices assemble opened: a loop device still open
// is not detached.
func (e *lvmEnv) closeFiles() {
	for _, f := range e.files {
		f.Close()
	}
	e.files = nil
}

// skipShort skips the tests that spend most of their time running lvm2
// commands (hundreds of them) in -short mode, which CI's race run uses: the
// full run covers them, and the code they reach is raced by the in-memory
// tests.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the lvm2 command sequences run in the full test run")
	}
}

func newLVMEnv(t *testing.T, size int64) *lvmEnv { return newLVMEnvN(t, size, 1) }

// newLVMEnvN attaches n loop devices of size bytes each.
func newLVMEnvN(t *testing.T, size int64, n int) *lvmEnv {
	tooltest.NeedRoot(t, "attaching a loop device")
	tooltest.Need(t, "pvcreate", "vgcreate", "lvcreate", "lvremove", "pvs", "lvs", "vgs", "vgcfgbackup", "losetup")
	dir := t.TempDir()
	e := &lvmEnv{t: t, conf: filepath.Join(dir, "etc")}
	var filter []string
	for i := 0; i < n; i++ {
		img := filepath.Join(dir, fmt.Sprintf("pv%d.img", i))
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "-f", "--show", img).Output()
		if err != nil {
			tooltest.SkipOrFail(t, "losetup: %v", err)
		}
		dev := strings.TrimSpace(string(out))
		t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
		e.imgs, e.devs = append(e.imgs, img), append(e.devs, dev)
		filter = append(filter, fmt.Sprintf(`"a|^%s$|"`, dev))
	}
	e.img, e.dev = e.imgs[0], e.devs[0]
	t.Cleanup(e.closeFiles) // before the devices are detached
	conf := fmt.Sprintf(`devices {
	filter = [ %[1]s, "r|.*|" ]
	global_filter = [ %[1]s, "r|.*|" ]
	use_devicesfile = 0
	hints = "none"
	obtain_device_list_from_udev = 0
}
backup { backup = 0 archive = 0 }
activation { udev_sync = 0 udev_rules = 0 }
`, strings.Join(filter, ", "))
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
	skipShort(t)
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

// The LVs below lvm2 creates only with device-mapper, which the test
// machines lack; so the test writes their metadata as lvm2 writes it, into
// the text vgcfgbackup printed, and vgcfgrestore puts it on the PVs. lvs
// then reports them from the PVs like any others. %[n]s are the PV keys.
const handLVs = `
		r1 { id = "hand01-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 4 type = "raid1" device_count = 2 region_size = 1024
				raids = ["r1_rmeta_0", "r1_rimage_0", "r1_rmeta_1", "r1_rimage_1"] } }
		r5 { id = "hand02-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 4 type = "raid5" device_count = 3 region_size = 1024 stripe_size = 128
				raids = ["r5_rmeta_0", "r5_rimage_0", "r5_rmeta_1", "r5_rimage_1", "r5_rmeta_2", "r5_rimage_2"] } }
		r6 { id = "hand03-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 3 type = "raid6_nc" device_count = 5 region_size = 1024 stripe_size = 128
				raids = ["r6_rmeta_0", "r6_rimage_0", "r6_rmeta_1", "r6_rimage_1", "r6_rmeta_2", "r6_rimage_2", "r6_rmeta_3", "r6_rimage_3", "r6_rmeta_4", "r6_rimage_4"] } }
		r10 { id = "hand04-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "raid10" device_count = 4 data_copies = 2 region_size = 1024 stripe_size = 128
				raids = ["r10_rmeta_0", "r10_rimage_0", "r10_rmeta_1", "r10_rimage_1", "r10_rmeta_2", "r10_rimage_2", "r10_rmeta_3", "r10_rimage_3"] } }
		r0 { id = "hand05-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 4 type = "raid0" stripe_count = 2 stripe_size = 128 raid0_lvs = ["r0_rimage_0", "r0_rimage_1"] } }
		m { id = "hand06-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "mirror" mirror_count = 2 mirror_log = "m_mlog" region_size = 1024
				mirrors = ["m_mimage_0", 0, "m_mimage_1", 0] } }
		pool { id = "hand07-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 8 type = "thin-pool" metadata = "pool_tmeta" pool = "pool_tdata"
				transaction_id = 3 chunk_size = 128 discards = "passdown" zero_new_blocks = 1 } }
		thin1 { id = "hand08-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 16 type = "thin" thin_pool = "pool" transaction_id = 0 device_id = 1 } }
		thin2 { id = "hand09-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = ["ACTIVATION_SKIP"] segment_count = 1
			segment1 { start_extent = 0 extent_count = 16 type = "thin" thin_pool = "pool" transaction_id = 1 device_id = 2 origin = "thin1" } }
		thin3 { id = "hand10-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 16 type = "thin" thin_pool = "pool" transaction_id = 2 device_id = 3 external_origin = "ext" } }
		orig { id = "hand11-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["%[1]s", 50] } }
		snap { id = "hand12-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["%[2]s", 50] } }
		z { id = "hand13-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE"] flags = [] segment_count = 2
			segment1 { start_extent = 0 extent_count = 2 type = "zero" }
			segment2 { start_extent = 2 extent_count = 1 type = "error" } }
		ext { id = "hand14-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "VISIBLE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["%[3]s", 50] } }
		snapshot0 { id = "hand15-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 4 type = "snapshot" chunk_size = 8 origin = "orig" cow_store = "snap" } }
		morig { id = "hand16-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE", "FIXED_MINOR"] flags = [] minor = 5 segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["%[1]s", 54] } }
		msnap { id = "hand17-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "VISIBLE"] flags = [] allocation_policy = "anywhere" segment_count = 1
			segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["%[2]s", 51] } }
		snapshot1 { id = "hand18-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "snapshot" chunk_size = 16 origin = "morig" merging_store = "msnap" } }
		mns { id = "hand19-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa" status = ["READ", "WRITE", "VISIBLE", "NOTSYNCED"] flags = [] allocation_policy = "cling" segment_count = 1
			segment1 { start_extent = 0 extent_count = 2 type = "mirror" mirror_count = 2 region_size = 1024 mirrors = ["%[3]s", 52, "%[4]s", 52] } }
`

// handSubLVs are the hidden sub-LVs of handLVs: name, extents, PV index,
// first extent.
var handSubLVs = []struct {
	name      string
	n, pv, at int
}{
	{"r1_rmeta_0", 1, 0, 20}, {"r1_rimage_0", 4, 0, 21}, {"r1_rmeta_1", 1, 1, 20}, {"r1_rimage_1", 4, 1, 21},
	{"r5_rmeta_0", 1, 0, 25}, {"r5_rimage_0", 2, 0, 26}, {"r5_rmeta_1", 1, 1, 25}, {"r5_rimage_1", 2, 1, 26},
	{"r5_rmeta_2", 1, 2, 20}, {"r5_rimage_2", 2, 2, 21},
	{"r6_rmeta_0", 1, 0, 28}, {"r6_rimage_0", 1, 0, 29}, {"r6_rmeta_1", 1, 1, 28}, {"r6_rimage_1", 1, 1, 29},
	{"r6_rmeta_2", 1, 2, 23}, {"r6_rimage_2", 1, 2, 24}, {"r6_rmeta_3", 1, 3, 20}, {"r6_rimage_3", 1, 3, 21},
	{"r6_rmeta_4", 1, 3, 22}, {"r6_rimage_4", 1, 3, 23},
	{"r10_rmeta_0", 1, 0, 30}, {"r10_rimage_0", 1, 0, 31}, {"r10_rmeta_1", 1, 1, 30}, {"r10_rimage_1", 1, 1, 31},
	{"r10_rmeta_2", 1, 2, 25}, {"r10_rimage_2", 1, 2, 26}, {"r10_rmeta_3", 1, 3, 24}, {"r10_rimage_3", 1, 3, 25},
	{"r0_rimage_0", 2, 0, 32}, {"r0_rimage_1", 2, 1, 32},
	{"m_mimage_0", 2, 0, 34}, {"m_mimage_1", 2, 1, 34}, {"m_mlog", 1, 2, 27},
	{"pool_tmeta", 4, 2, 30}, {"pool_tdata", 8, 3, 30}, {"lvol0_pmspare", 4, 2, 34},
}

// lvmBlockSize is the thin pool's data block: chunk_size 128 sectors.
const lvmBlockSize = 64 << 10

// handThinXML is the pool's metadata for thin_restore: thin1 maps virtual
// blocks 0-1 and 5, thin2 shares block 0 with it, thin3 maps block 2.
const handThinXML = `<superblock uuid="" time="1" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="128">
  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="1">
    <range_mapping origin_begin="0" data_begin="10" length="2" time="0"/>
    <single_mapping origin_block="5" data_block="40" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="1" transaction="1" creation_time="1" snap_time="1">
    <single_mapping origin_block="0" data_block="10" time="0"/>
  </device>
  <device dev_id="3" mapped_blocks="1" transaction="2" creation_time="1" snap_time="1">
    <single_mapping origin_block="2" data_block="77" time="1"/>
  </device>
</superblock>
`

// stamp writes into every sector of every PV its device index and sector
// number, so that reads show where their bytes came from.
func (e *lvmEnv) stamp() {
	sector := make([]byte, 1<<20)
	for i, img := range e.imgs {
		f, err := os.OpenFile(e.devs[i], os.O_WRONLY, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		st, err := os.Stat(img)
		if err != nil {
			e.t.Fatal(err)
		}
		// Leave the label and metadata area alone.
		for off := int64(1 << 20); off < st.Size(); off += int64(len(sector)) {
			for s := 0; s < len(sector); s += sectorSize {
				le.PutUint32(sector[s:], uint32(i)+1)
				le.PutUint64(sector[s+8:], uint64(off)/sectorSize+uint64(s/sectorSize))
			}
			if _, err := f.WriteAt(sector, off); err != nil {
				e.t.Fatal(err)
			}
		}
		f.Close()
	}
}

// stamped returns what stamp wrote to n bytes of device dev from off.
func stamped(dev int, off, n int64) []byte {
	b := make([]byte, n)
	for s := int64(0); s < n; s += sectorSize {
		le.PutUint32(b[s:], uint32(dev)+1)
		le.PutUint64(b[s+8:], uint64(off+s)/sectorSize)
	}
	return b
}

// writeDev writes b at off of loop device dev.
func (e *lvmEnv) writeDev(dev int, off int64, b []byte) {
	f, err := os.OpenFile(e.devs[dev], os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		e.t.Fatal(err)
	}
}

// assemble reads the labels of the env's devices and assembles them.
func (e *lvmEnv) assemble(devs []string) *Set {
	var ds []*Device
	for _, name := range devs {
		f, err := os.Open(name)
		if err != nil {
			e.t.Fatal(err)
		}
		e.files = append(e.files, f)
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			e.t.Fatal(err)
		}
		pv, err := ReadLabel(f, size)
		if err != nil {
			e.t.Fatal(err)
		}
		ds = append(ds, &Device{Name: name, R: f, Size: size, PV: pv})
	}
	set, err := Assemble(ds)
	if err != nil {
		e.t.Fatal(err)
	}
	return set
}

// lvsRows returns lvs's rows for the VG, one per segment, sorted; the
// state and open columns of lv_attr are replaced by '-': without
// device-mapper lvs cannot tell them and prints 'X', and this package,
// which never activates anything, always says '-'.
func (e *lvmEnv) lvsRows(vg string) []string {
	out := e.runAllowFail("lvs", "-a", "--segments", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
		"-o", "lv_name,lv_attr,segtype,devices,lv_size,seg_size,pool_lv,origin", vg)
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) > 1 && len(f[1]) == 10 {
			f[1] = f[1][:4] + "--" + f[1][6:]
		}
		rows = append(rows, strings.Join(f, "|"))
	}
	slices.Sort(rows)
	return rows
}

// ourRows returns what this package says lvs prints, in lvsRows' form.
func ourRows(g *Group) []string {
	var rows []string
	eb := g.VG.ExtentBytes()
	for i := range g.VG.LVs {
		lv := &g.VG.LVs[i]
		if lv.snapshot() != nil {
			continue // lvm2 never lists the LVs holding snapshot segments
		}
		name := lv.Name
		if !lv.Visible() {
			name = "[" + name + "]"
		}
		devs := g.DevicesOf(lv)
		for j, s := range lv.Segments {
			rows = append(rows, strings.Join([]string{name, lv.Attr(g.VG), s.SegType(), devs[j],
				strconv.FormatInt(lv.Extents()*eb, 10), strconv.FormatInt(s.ExtentCount*eb, 10), lv.Pool(), lv.Origin()}, "|"))
		}
	}
	slices.Sort(rows)
	return rows
}

// runAllowFail runs an lvm command that may warn about missing PVs.
func (e *lvmEnv) runAllowFail(args ...string) string {
	e.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+e.conf, "LVM_SUPPRESS_FD_WARNINGS=1")
	out, _ := cmd.Output()
	return string(out)
}

func compareRows(t *testing.T, what string, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("%s differ:\nlvm2:\n%s\nread:\n%s", what, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// TestToolsSegmentTypes compares this package with lvm2's own reports on
// a VG of four PVs holding every segment type, and reads the LVs.
func TestToolsSegmentTypes(t *testing.T) {
	skipShort(t)
	e := newLVMEnvN(t, 64<<20, 4)
	tooltest.Need(t, "vgcfgrestore", "thin_restore", "lvextend")
	e.run(append([]string{"pvcreate"}, e.devs...)...)
	e.run(append([]string{"vgcreate", "-s", "1m", "vgt"}, e.devs...)...)
	lvc := []string{"lvcreate", "--driverloaded", "n", "--activate", "n", "--zero", "n", "-y"}
	e.run(append(lvc, "-l", "3", "-n", "lin", "vgt", e.devs[0])...)
	e.run(append(lvc, "-l", "2", "-n", "gap", "vgt", e.devs[0])...)
	e.run(append(lvc, "-l", "6", "-i", "3", "-I", "64k", "-n", "str", "vgt", e.devs[1], e.devs[2], e.devs[3])...)
	e.run("lvextend", "--driverloaded", "n", "-l", "+2", "vgt/lin", e.devs[3])
	e.run("lvremove", "-y", "vgt/gap")
	e.run(append(lvc, "-l", "1", "-n", "after_gap", "vgt", e.devs[0])...)

	// The backup file's name has a quote and a backslash, which lvm2
	// escapes where it records the command in the description.
	dir := t.TempDir()
	backup := filepath.Join(dir, `vgt"back\up`)
	e.run("vgcfgbackup", "-f", backup, "vgt")
	text, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	top, err := ParseText(text)
	if err != nil {
		t.Fatal(err)
	}
	if d := top.Values["description"].Str; !strings.Contains(d, backup) {
		t.Errorf("description %q does not hold %q", d, backup)
	}
	bvg, err := ParseVG(text)
	if err != nil {
		t.Fatal(err)
	}
	key := map[string]string{}
	for _, pv := range bvg.PVs {
		key[pv.Device] = pv.Name
	}
	var keys []any
	for _, d := range e.devs {
		keys = append(keys, key[d])
	}
	lvs := fmt.Sprintf(handLVs, keys...)
	for _, s := range handSubLVs {
		lvs += fmt.Sprintf(`		%s { id = "%s" status = ["READ", "WRITE"] flags = [] segment_count = 1
			segment1 { start_extent = 0 extent_count = %d type = "striped" stripe_count = 1 stripes = ["%s", %d] } }
`, s.name, lvmUUID(s.name), s.n, keys[s.pv], s.at)
	}
	lvs = strings.Replace(lvs, `r1_rimage_1 { id = "`+lvmUUID("r1_rimage_1")+`" status = ["READ", "WRITE"]`,
		`r1_rimage_1 { id = "`+lvmUUID("r1_rimage_1")+`" status = ["READ", "WRITE", "WRITEMOSTLY"]`, 1)
	i := bytes.Index(text, []byte("\tlogical_volumes {\n"))
	if i < 0 {
		t.Fatalf("no logical_volumes in\n%s", text)
	}
	i += len("\tlogical_volumes {\n")
	edited := append(append(slices.Clone(text[:i]), lvs...), text[i:]...)
	restore := filepath.Join(dir, "edited")
	if err := os.WriteFile(restore, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	e.run("vgcfgrestore", "--force", "-f", restore, "vgt")

	// Data: stamps everywhere, then the pool's metadata and the
	// snapshot's exception store.
	e.stamp()
	meta := filepath.Join(dir, "tmeta")
	if err := os.WriteFile(meta, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	xml := filepath.Join(dir, "thin.xml")
	if err := os.WriteFile(xml, []byte(handThinXML), 0o600); err != nil {
		t.Fatal(err)
	}
	e.run("thin_restore", "-i", xml, "-o", meta)
	mb, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	const pe = 1 << 20 // extent size, and where the PVs' data starts
	e.writeDev(2, pe+30*pe, mb)
	cow, news := cowImage(8, []uint64{1, 200}, 0)
	e.writeDev(1, pe+50*pe, cow.bytes())

	set := e.assemble(e.devs)
	if len(set.Groups) != 1 || len(set.Warnings) != 0 {
		t.Fatalf("groups %d, warnings %q", len(set.Groups), set.Warnings)
	}
	g := set.Groups[0]
	// lvm2 writes the metadata area and a backup of it in its own words;
	// both decode alike.
	e.run("vgcfgbackup", "-f", backup, "vgt")
	if text, err = os.ReadFile(backup); err != nil {
		t.Fatal(err)
	}
	if bvg, err = ParseVG(text); err != nil {
		t.Fatal(err)
	}
	if a, b := vgSummary(bvg), vgSummary(g.VG); a != b {
		t.Errorf("vgcfgbackup decodes as\n%s\nthe metadata area as\n%s", a, b)
	}
	if !strings.Contains(vgSummary(bvg), "r6 [READ WRITE VISIBLE] raid6_nc") {
		t.Errorf("backup lacks r6:\n%s", vgSummary(bvg))
	}
	compareRows(t, "lvs rows", e.lvsRows("vgt"), ourRows(g))
	vgs := strings.TrimSpace(e.run("vgs", "--noheadings", "--separator", "|", "-o", "vg_attr,lv_count,snap_count,pv_count,vg_extent_count,vg_free_count", "vgt"))
	if got := fmt.Sprintf("%s|%d|%d|%d|%d|%d", g.VG.Attr(), g.VG.LVCount(), g.VG.SnapshotCount(), len(g.VG.PVs), g.VG.Extents(), g.VG.FreeExtents()); got != vgs {
		t.Errorf("vgs says %s, read %s", vgs, got)
	}
	var pvs []string
	for i, pv := range g.VG.PVs {
		pvs = append(pvs, fmt.Sprintf("%s|%s|%d|%d", g.Devices[i].Name, pv.Attr(), pv.PECount, pv.Allocated))
	}
	slices.Sort(pvs)
	compareRows(t, "pvs rows", e.pvsRows(), pvs)

	// Reading. Linear and striped LVs: what lvs says their segments map.
	for _, name := range []string{"lin", "str", "after_gap"} {
		checkVolume(t, openLV(t, g, name), e.expectedLV(g, name))
	}
	tdata := func(block, n int64) []byte { return stamped(3, pe+30*pe+block*lvmBlockSize, n*lvmBlockSize) }
	want := make([]byte, 16*pe)
	copy(want, tdata(10, 2))
	copy(want[5*lvmBlockSize:], tdata(40, 1))
	checkVolume(t, openLV(t, g, "thin1"), want)
	want = make([]byte, 16*pe)
	copy(want, tdata(10, 1))
	checkVolume(t, openLV(t, g, "thin2"), want)
	want = make([]byte, 16*pe)
	copy(want, stamped(2, pe+50*pe, 2*pe))
	copy(want[2*lvmBlockSize:], tdata(77, 1))
	checkVolume(t, openLV(t, g, "thin3"), want)
	want = stamped(0, pe+50*pe, 4*pe)
	for i, old := range []int{1, 200} {
		copy(want[old*4096:(old+1)*4096], cow.bytes()[news[i]*4096:])
	}
	checkVolume(t, openLV(t, g, "snap"), want)
	checkVolume(t, openLV(t, g, "r1"), stamped(0, pe+21*pe, 4*pe))
	checkVolume(t, openLV(t, g, "m"), stamped(0, pe+34*pe, 2*pe))

	// With the fourth PV gone, lvs and this package agree on what is
	// partial, and the LVs clear of it still read.
	e.closeFiles()
	if out, err := exec.Command("losetup", "-d", e.devs[3]).CombinedOutput(); err != nil {
		t.Fatalf("losetup -d: %v: %s", err, out)
	}
	set = e.assemble(e.devs[:3])
	g = set.Groups[0]
	if m := g.Missing(); len(m) != 1 || m[0].Device != e.devs[3] {
		t.Fatalf("missing %+v", m)
	}
	compareRows(t, "lvs rows with a PV missing", e.lvsRows("vgt"), ourRows(g))
	if vgs := strings.TrimSpace(e.runAllowFail("vgs", "--noheadings", "-o", "vg_attr", "vgt")); vgs != g.VG.Attr() {
		t.Errorf("vgs says %s, read %s", vgs, g.VG.Attr())
	}
	checkVolume(t, openLV(t, g, "r1"), stamped(0, pe+21*pe, 4*pe))
	for _, name := range []string{"lin", "str", "thin1", "r6"} {
		if _, err := g.Open(name); !errors.Is(err, ErrMissingPV) || !strings.Contains(err.Error(), g.Missing()[0].ID) {
			t.Errorf("Open(%s) with a PV missing: %v", name, err)
		}
	}
}

// lvmUUID makes an LV UUID from a name, as lvm2 formats them.
func lvmUUID(name string) string {
	u := []byte(strings.Repeat("x", 32))
	copy(u, strings.NewReplacer("_", "X").Replace(name))
	return FormattedUUID(string(u))
}

// pvsRows returns pvs's name, attributes, extents and allocated extents.
func (e *lvmEnv) pvsRows() []string {
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(e.run("pvs", "--noheadings", "--separator", "|", "-o", "pv_name,pv_attr,pv_pe_count,pv_pe_alloc_count")), "\n") {
		rows = append(rows, strings.TrimSpace(line))
	}
	slices.Sort(rows)
	return rows
}

// expectedLV returns the contents of a linear or striped LV as its
// segments map the stamped PVs, from what lvs reports of them.
func (e *lvmEnv) expectedLV(g *Group, name string) []byte {
	out := e.run("lvs", "--segments", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
		"-o", "seg_start_pe,stripe_size,seg_pe_ranges", "vgt/"+name)
	var lv []byte
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		chunk, _ := strconv.Atoi(f[1])
		var stripes [][]byte
		for _, r := range strings.Fields(f[2]) {
			dev, ext, _ := strings.Cut(r, ":")
			a, b, _ := strings.Cut(ext, "-")
			first, _ := strconv.ParseInt(a, 10, 64)
			last, _ := strconv.ParseInt(b, 10, 64)
			pe := g.VG.ExtentBytes()
			stripes = append(stripes, stamped(slices.Index(e.devs, dev), pe+first*pe, (last-first+1)*pe))
		}
		if len(stripes) == 1 {
			lv = append(lv, stripes[0]...)
		} else {
			lv = append(lv, striped(chunk, stripes...)...)
		}
	}
	return lv
}

// vgSummary prints what ParseVG decoded of a VG, one line per LV segment.
func vgSummary(vg *VG) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s seqno %d extent %d %v %v %q\n", vg.Name, vg.ID, vg.Seqno, vg.ExtentSize, vg.Status, vg.Flags, vg.Alloc)
	for _, pv := range vg.PVs {
		fmt.Fprintf(&b, "%s %s %d %d %d %v %d\n", pv.Name, pv.ID, pv.DevSize, pv.PEStart, pv.PECount, pv.Status, pv.Allocated)
	}
	deref := func(p any) string {
		if s := fmt.Sprintf("%+v", p); s != "<nil>" {
			return s
		}
		return "-"
	}
	for _, lv := range vg.LVs {
		for _, s := range lv.Segments {
			fmt.Fprintf(&b, "%s %v %s %v %d+%d %d %d %v %s %s %s %s %s\n", lv.Name, lv.Status, s.Type, s.TypeFlags,
				s.StartExtent, s.ExtentCount, s.StripeCount, s.StripeSize, s.Stripes,
				deref(s.Mirror), deref(s.RAID), deref(s.ThinPool), deref(s.Thin), deref(s.Snapshot))
		}
	}
	return b.String()
}
