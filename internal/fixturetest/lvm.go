package fixturetest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vmsh/lvm"
	"vmsh/partition"
)

// LVM images.
//
// An image whose volumes hold LVM2 physical volumes (testdata/mklvm.sh
// builds them with the lvm2 tools) comes with what the tools and the
// kernel said about it, beside the usual NAME.img.gz, NAME.parts and
// NAME-pN.expect:
//
//	NAME.diskN(.gz)  disk N = 2, 3, ... of an image made of several disks
//	NAME.lvs         lvs -a --segments: one line per LV segment
//	NAME.pvs         pvs
//	NAME.vgs         vgs
//	NAME-VG.vgcfg    vgcfgbackup of volume group VG
//	NAME.sha256      sha256 of every LV's content, "HASH  VG/LV"
//	NAME-DM.expect   kernel listing of the filesystem on the LV whose
//	                 device-mapper name is DM (see DMName)
//
// The reports are tab-separated, sizes in bytes, with a first line "# "
// naming lvm2's fields. The tools saw disk N as /dev/sdX, X being the N-th
// letter, and its partitions as /dev/sdXP; vmsh's devices get those names.

// DMName returns device-mapper's name for logical volume lv of volume
// group vg: the two joined by "-", with every "-" in either doubled.
func DMName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// diskName returns the name the tools gave disk i (0-based): sda, sdb, ...
func diskName(i int) string { return "sd" + string(rune('a'+i)) }

// lvmDisk is one disk of an image.
type lvmDisk struct {
	name string
	r    io.ReaderAt
	size int64
}

// openExtraDisks opens NAME.disk2, NAME.disk3, ... (raw, or else gzipped,
// decompressed into tmpdir) up to the first that does not exist.
func openExtraDisks(t *testing.T, dir, name string) []lvmDisk {
	var disks []lvmDisk
	for n := 2; ; n++ {
		p := filepath.Join(dir, fmt.Sprintf("%s.disk%d", name, n))
		if !fileExists(p) && !fileExists(p+".gz") {
			return disks
		}
		f, size, err := openDisk(p, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		disks = append(disks, lvmDisk{diskName(n - 1), f, size})
	}
}

// lvmDevices probes every volume of disks for an LVM2 label: each
// partition of a partitioned disk, else the whole disk. Volumes without a
// label are skipped; a damaged label is an error.
func lvmDevices(disks []lvmDisk) ([]*lvm.Device, error) {
	var devs []*lvm.Device
	probe := func(name string, r io.ReaderAt, size int64) error {
		pv, err := lvm.ReadLabel(r, size)
		if errors.Is(err, lvm.ErrNoLabel) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		devs = append(devs, &lvm.Device{Name: name, R: r, Size: size, PV: pv})
		return nil
	}
	for _, d := range disks {
		table, err := partition.Read(d.r, d.size)
		if errors.Is(err, partition.ErrNoTable) {
			if err := probe(d.name, d.r, d.size); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.name, err)
		}
		for _, p := range table.Partitions {
			name := fmt.Sprintf("%s%d", d.name, p.Number)
			if err := probe(name, io.NewSectionReader(d.r, p.Start, p.Size), p.Size); err != nil {
				return nil, err
			}
		}
	}
	return devs, nil
}

// report is a tab-separated lvm2 report: rows of named fields.
type report struct {
	file string
	rows []map[string]string
}

// readReport reads a report whose first line is "# " and the field names.
func readReport(name string) (*report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &report{file: filepath.Base(name)}
	var cols []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			h, ok := strings.CutPrefix(line, "# ")
			if !ok {
				return nil, fmt.Errorf("%s: first line is not \"# \" and the field names", name)
			}
			cols = strings.Split(h, "\t")
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != len(cols) {
			return nil, fmt.Errorf("%s:%d: %d fields, want %d", name, n, len(f), len(cols))
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = f[i]
		}
		rep.rows = append(rep.rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cols == nil {
		return nil, fmt.Errorf("%s: empty", name)
	}
	return rep, nil
}

// lvName returns the LV name of an lvs row, without the brackets lvs puts
// around hidden LVs.
func lvName(row map[string]string) string {
	return strings.TrimSuffix(strings.TrimPrefix(row["lv_name"], "["), "]")
}

// readSums reads NAME.sha256: "HASH  VG/LV" lines, in order.
func readSums(name string) (keys []string, sums map[string]string, err error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	sums = map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		h, lv, ok := strings.Cut(line, "  ")
		if !ok || len(h) != 64 || !strings.Contains(lv, "/") {
			return nil, nil, fmt.Errorf("%s:%d: not \"HASH  VG/LV\": %q", name, i+1, line)
		}
		keys = append(keys, lv)
		sums[lv] = h
	}
	return keys, sums, nil
}

// hashVolume returns the sha256 of all of r, size bytes.
func hashVolume(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, size), make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CheckLVM reads the LVM2 volumes of image name in dir, whose first disk
// is disk1, and compares them with what the lvm2 tools and the kernel said:
// the labels with NAME.pvs; lvm.Assemble's volume groups with NAME.vgs and
// NAME-VG.vgcfg; every LV's attributes, size, segments and devices with
// NAME.lvs; every LV's content with NAME.sha256; and the filesystems on
// LVs with their listings (through CheckFS). An image of several disks is
// also assembled from its first disk alone, which must name the missing
// PVs and still read the LVs that do not need them.
func CheckLVM(t *testing.T, dir, name string, disk1 io.ReaderAt, size1 int64) {
	disks := append([]lvmDisk{{diskName(0), disk1, size1}}, openExtraDisks(t, dir, name)...)
	devs, err := lvmDevices(disks)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, name)
	pvs, err := readReport(base + ".pvs")
	if err != nil {
		t.Fatal(err)
	}
	vgs, err := readReport(base + ".vgs")
	if err != nil {
		t.Fatal(err)
	}
	lvs, err := readReport(base + ".lvs")
	if err != nil {
		t.Fatal(err)
	}
	sumKeys, sums, err := readSums(base + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	checkPVs(t, pvs, devs)

	set, err := lvm.Assemble(devs)
	if err != nil {
		t.Fatalf("lvm.Assemble: %v", err)
	}
	for _, w := range set.Warnings {
		t.Errorf("lvm.Assemble warning: %s", w)
	}
	for _, d := range set.Orphans {
		t.Errorf("lvm.Assemble: %s is a PV in no volume group", d.Name)
	}
	groups := map[string]*lvm.Group{}
	for _, g := range set.Groups {
		groups[g.VG.Name] = g
	}
	if len(groups) != len(vgs.rows) {
		t.Errorf("lvm.Assemble found %d volume groups, %s lists %d", len(groups), vgs.file, len(vgs.rows))
	}
	for _, row := range vgs.rows {
		g := groups[row["vg_name"]]
		if g == nil {
			t.Errorf("lvm.Assemble found no volume group %s", row["vg_name"])
			continue
		}
		checkVG(t, g, row, pvs)
		checkBackup(t, g.VG, fmt.Sprintf("%s-%s.vgcfg", base, g.VG.Name))
		checkLVs(t, g, lvs)
	}

	// Contents, and the filesystems.
	expects, err := filepath.Glob(base + "-*.expect")
	if err != nil {
		t.Fatal(err)
	}
	unused := map[string]bool{}
	for _, e := range expects {
		b := strings.TrimSuffix(filepath.Base(e), ".expect")
		if !(strings.HasPrefix(b, name+"-p") && isDigits(b[len(name)+2:])) {
			unused[e] = true
		}
	}
	for _, key := range sumKeys {
		vgName, lvName, _ := strings.Cut(key, "/")
		g := groups[vgName]
		if g == nil {
			t.Errorf("%s.sha256 names %s, but there is no volume group %s", name, key, vgName)
			continue
		}
		vol, err := g.Open(lvName)
		if err != nil {
			t.Errorf("Open(%s): %v", key, err)
			continue
		}
		for _, w := range vol.Warnings() {
			t.Errorf("Open(%s) warning: %s", key, w)
		}
		exp := fmt.Sprintf("%s-%s.expect", base, DMName(vgName, lvName))
		delete(unused, exp)
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			if got, err := hashVolume(vol, vol.Size()); err != nil {
				t.Errorf("reading %s: %v", key, err)
			} else if got != sums[key] {
				t.Errorf("%s: sha256 %s, the content written has %s", key, got, sums[key])
			}
			if fileExists(exp) {
				t.Run("fs", func(t *testing.T) { CheckFS(t, vol, 0, vol.Size(), exp) })
			}
		})
	}
	for _, e := range keys(unused) {
		t.Errorf("%s names no LV of %s.sha256", filepath.Base(e), name)
	}

	if len(disks) > 1 {
		t.Run("partial", func(t *testing.T) { checkPartial(t, devs, disks[0].name, pvs, lvs, sumKeys, sums) })
	}
}

// checkPVs compares the devices found with pvs's view.
func checkPVs(t *testing.T, pvs *report, devs []*lvm.Device) {
	t.Helper()
	byName := map[string]*lvm.Device{}
	for _, d := range devs {
		byName[d.Name] = d
	}
	for _, row := range pvs.rows {
		name := strings.TrimPrefix(row["pv_name"], "/dev/")
		d := byName[name]
		if d == nil {
			t.Errorf("%s lists PV %s, but no volume %s has an LVM2 label", pvs.file, row["pv_name"], name)
			continue
		}
		delete(byName, name)
		pv := d.PV
		var mdaSize int64
		if len(pv.MetaAreas) > 0 {
			mdaSize = pv.MetaAreas[0].Size
		}
		var peStart int64
		if len(pv.DataAreas) > 0 {
			peStart = pv.DataAreas[0].Offset
		}
		compare(t, pvs.file+" "+name, row, map[string]string{
			"pv_uuid":      lvm.FormattedUUID(pv.UUID),
			"dev_size":     fmt.Sprint(pv.DeviceSize),
			"pe_start":     fmt.Sprint(peStart),
			"pv_mda_count": fmt.Sprint(len(pv.MetaAreas)),
			"pv_mda_size":  fmt.Sprint(mdaSize),
		})
	}
	for name := range byName {
		t.Errorf("%s has an LVM2 label, but %s does not list it", name, pvs.file)
	}
}

// compare reports the fields of row that differ from got.
func compare(t *testing.T, what string, row, got map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if want, ok := row[k]; !ok {
			t.Errorf("%s: no field %s", what, k)
		} else if got[k] != want {
			t.Errorf("%s: %s is %q, lvm2 says %q", what, k, got[k], want)
		}
	}
}

// checkVG compares an assembled volume group with its vgs line, and its
// PVs with pvs's.
func checkVG(t *testing.T, g *lvm.Group, row map[string]string, pvs *report) {
	t.Helper()
	vg := g.VG
	visible := 0
	for i := range vg.LVs {
		if vg.LVs[i].Visible() {
			visible++
		}
	}
	compare(t, "vgs "+vg.Name, row, map[string]string{
		"vg_uuid":         vg.ID,
		"vg_attr":         vg.Attr(),
		"vg_seqno":        fmt.Sprint(vg.Seqno),
		"vg_extent_size":  fmt.Sprint(vg.ExtentBytes()),
		"vg_extent_count": fmt.Sprint(vg.Extents()),
		"vg_free_count":   fmt.Sprint(vg.FreeExtents()),
		"vg_size":         fmt.Sprint(vg.Extents() * vg.ExtentBytes()),
		"vg_free":         fmt.Sprint(vg.FreeExtents() * vg.ExtentBytes()),
		"pv_count":        fmt.Sprint(len(vg.PVs)),
		"lv_count":        fmt.Sprint(visible),
	})
	for i, pv := range vg.PVs {
		name := "[missing]"
		if i < len(g.Devices) && g.Devices[i] != nil {
			name = g.Devices[i].Name
		}
		found := false
		for _, r := range pvs.rows {
			if r["pv_uuid"] != pv.ID {
				continue
			}
			found = true
			compare(t, "pvs "+pv.ID, r, map[string]string{
				"pv_name":           "/dev/" + name,
				"vg_name":           vg.Name,
				"pv_pe_count":       fmt.Sprint(pv.PECount),
				"pv_pe_alloc_count": fmt.Sprint(pv.PECount - pv.FreeExtents()),
			})
		}
		if !found {
			t.Errorf("VG %s has PV %s, which pvs does not list", vg.Name, pv.ID)
		}
	}
}

// vgLines describes what a VG's metadata says, one line per VG, PV, LV
// and segment, for comparing two readings of it.
func vgLines(vg *lvm.VG) []string {
	lines := []string{fmt.Sprintf("VG %s id %s seqno %d extent_size %d status %q flags %q",
		vg.Name, vg.ID, vg.Seqno, vg.ExtentSize, vg.Status, vg.Flags)}
	for _, pv := range vg.PVs {
		lines = append(lines, fmt.Sprintf("PV %s id %s device %q dev_size %d pe_start %d pe_count %d status %q flags %q",
			pv.Name, pv.ID, pv.Device, pv.DevSize, pv.PEStart, pv.PECount, pv.Status, pv.Flags))
	}
	for _, lv := range vg.LVs {
		lines = append(lines, fmt.Sprintf("LV %s id %s status %q flags %q", lv.Name, lv.ID, lv.Status, lv.Flags))
		for _, s := range lv.Segments {
			lines = append(lines, fmt.Sprintf("LV %s segment at %d: %d extents, %s, %d stripes of %d, areas %+v",
				lv.Name, s.StartExtent, s.ExtentCount, s.Type, s.StripeCount, s.StripeSize, s.Stripes))
		}
	}
	return lines
}

// checkBackup compares the VG read from the disks with the one vgcfgbackup
// wrote to file.
func checkBackup(t *testing.T, vg *lvm.VG, file string) {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Error(err)
		return
	}
	backup, err := lvm.ParseVG(text)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(file), err)
		return
	}
	want, got := vgLines(backup), vgLines(vg)
	var d []string
	for i := range max(len(want), len(got)) {
		w, g := "(none)", "(none)"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g && len(d) < 20 {
			d = append(d, "backup: "+w, "disks:  "+g)
		}
	}
	if len(d) > 0 {
		t.Errorf("the metadata on the disks differs from %s:\n%s", filepath.Base(file), strings.Join(d, "\n"))
	}
}

// maskAttr hides the lv_attr characters that describe an active LV (state
// and open), which lvm2 cannot know without device-mapper either.
func maskAttr(a string) string {
	if len(a) == 10 {
		return a[:4] + "??" + a[6:]
	}
	return a
}

// checkLVs compares every LV of the group with its lvs lines.
func checkLVs(t *testing.T, g *lvm.Group, lvs *report) {
	t.Helper()
	vg := g.VG
	rows := map[string][]map[string]string{}
	for _, r := range lvs.rows {
		if r["vg_name"] == vg.Name {
			rows[lvName(r)] = append(rows[lvName(r)], r)
		}
	}
	for i := range vg.LVs {
		lv := &vg.LVs[i]
		segs := rows[lv.Name]
		delete(rows, lv.Name)
		if len(segs) == 0 {
			t.Errorf("LV %s/%s: lvs does not list it", vg.Name, lv.Name)
			continue
		}
		if len(segs) != len(lv.Segments) {
			t.Errorf("LV %s/%s: %d segments, lvs lists %d", vg.Name, lv.Name, len(lv.Segments), len(segs))
			continue
		}
		devices := g.DevicesOf(lv)
		for j, r := range segs {
			s := &lv.Segments[j]
			r = rewrite(r, func(k, v string) string {
				switch k {
				case "devices":
					return strings.ReplaceAll(v, "/dev/", "")
				case "lv_attr":
					return maskAttr(v)
				}
				return v
			})
			got := map[string]string{
				"lv_attr":      maskAttr(lv.Attr(vg)),
				"lv_size":      fmt.Sprint(lv.Extents() * vg.ExtentBytes()),
				"lv_uuid":      lv.ID,
				"seg_start_pe": fmt.Sprint(s.StartExtent),
				"seg_size_pe":  fmt.Sprint(s.ExtentCount),
				"segtype":      s.SegType(),
				"devices":      devices[j],
			}
			if s.Type == "striped" {
				got["stripes"] = fmt.Sprint(s.StripeCount)
				got["stripe_size"] = fmt.Sprint(s.StripeSize * 512)
			}
			compare(t, fmt.Sprintf("LV %s/%s segment %d", vg.Name, lv.Name, j+1), r, got)
		}
	}
	for name := range rows {
		t.Errorf("lvs lists %s/%s, which lvm.Assemble did not find", vg.Name, name)
	}
}

// rewrite returns a copy of m with every value replaced by f(key, value).
func rewrite(m map[string]string, f func(k, v string) string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(k, v)
	}
	return out
}

// needs returns the devices (as lvs names them, without /dev/) the LV
// vg/lv reads from, following its sub-LVs through the lvs devices column;
// a thin LV needs what its VG's thin pools need.
func needs(lvs *report, vg, lv string, depth int) []string {
	if depth > 16 {
		return nil
	}
	var out []string
	for _, r := range lvs.rows {
		if r["vg_name"] != vg || lvName(r) != lv {
			continue
		}
		if r["segtype"] == "thin" {
			for _, p := range lvs.rows {
				if p["vg_name"] == vg && p["segtype"] == "thin-pool" {
					out = append(out, needs(lvs, vg, lvName(p), depth+1)...)
				}
			}
		}
		for _, d := range strings.Split(r["devices"], ",") {
			d, _, _ = strings.Cut(d, "(")
			if d == "" {
				continue
			}
			if strings.HasPrefix(d, "/dev/") {
				out = append(out, strings.TrimPrefix(d, "/dev/"))
			} else {
				out = append(out, needs(lvs, vg, d, depth+1)...)
			}
		}
	}
	return out
}

// checkPartial assembles the devices of the first disk alone: the PVs on
// the others must be named missing, the LVs that need none of them must
// read as before, and the others must fail naming a missing PV. Mirror
// and raid1 LVs, which read from the legs that remain, are left out.
func checkPartial(t *testing.T, all []*lvm.Device, disk1 string, pvs, lvs *report, sumKeys []string, sums map[string]string) {
	var devs []*lvm.Device
	for _, d := range all {
		if strings.HasPrefix(d.Name, disk1) {
			devs = append(devs, d)
		}
	}
	set, err := lvm.Assemble(devs)
	if err != nil {
		t.Fatalf("lvm.Assemble(%s alone): %v", disk1, err)
	}
	missing := map[string]string{} // device name -> PV UUID
	for _, r := range pvs.rows {
		if name := strings.TrimPrefix(r["pv_name"], "/dev/"); !strings.HasPrefix(name, disk1) {
			missing[name] = r["pv_uuid"]
		}
	}
	for name, uuid := range missing {
		found := false
		for _, g := range set.Groups {
			for _, pv := range g.Missing() {
				found = found || pv.ID == uuid
			}
		}
		if !found {
			t.Errorf("PV %s (%s) is not on %s, but no group calls it missing", uuid, name, disk1)
		}
		warned := false
		for _, w := range set.Warnings {
			warned = warned || strings.Contains(w, uuid)
		}
		if !warned {
			t.Errorf("no warning names the missing PV %s; warnings: %q", uuid, set.Warnings)
		}
	}
	groups := map[string]*lvm.Group{}
	for _, g := range set.Groups {
		groups[g.VG.Name] = g
	}
	for _, key := range sumKeys {
		vgName, lvName, _ := strings.Cut(key, "/")
		g := groups[vgName]
		if g == nil {
			t.Errorf("%s alone: no volume group %s", disk1, vgName)
			continue
		}
		if lv := g.VG.LV(lvName); lv == nil || slices.Contains([]string{"raid1", "mirror"}, lv.SegType()) {
			continue
		}
		var gone []string
		for _, d := range needs(lvs, vgName, lvName, 0) {
			if uuid, ok := missing[d]; ok && !slices.Contains(gone, uuid) {
				gone = append(gone, uuid)
			}
		}
		vol, err := g.Open(lvName)
		switch {
		case len(gone) == 0 && err != nil:
			t.Errorf("%s alone: Open(%s): %v", disk1, key, err)
		case len(gone) == 0:
			if got, err := hashVolume(vol, vol.Size()); err != nil || got != sums[key] {
				t.Errorf("%s alone: %s reads with sha256 %s, error %v; want %s", disk1, key, got, err, sums[key])
			}
		case err == nil:
			t.Errorf("%s alone: Open(%s) succeeded, but it needs missing PVs %s", disk1, key, gone)
		case !errors.Is(err, lvm.ErrMissingPV) || !strings.Contains(err.Error(), gone[0]):
			t.Errorf("%s alone: Open(%s): %v; want an error wrapping lvm.ErrMissingPV naming %s", disk1, key, err, gone[0])
		}
	}
}

// openDisk opens the disk image p, or else p.gz decompressed into a sparse
// file in tmpdir. The caller closes the file.
func openDisk(p, tmpdir string) (*os.File, int64, error) {
	if f, err := os.Open(p); err == nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, fi.Size(), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	return gunzipFile(p+".gz", tmpdir, filepath.Base(p))
}
