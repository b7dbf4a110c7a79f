package shell

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The sizes lvm2's lvs printed for LVs of these many 4 MiB extents.
func TestLVMSize(t *testing.T) {
	for _, c := range []struct {
		extents int64
		want    string
	}{
		{1, "4.00m"}, {3, "12.00m"}, {255, "1020.00m"}, {256, "1.00g"}, {257, "1.00g"},
		{259, "1.01g"}, {2559, "<10.00g"}, {4063, "15.87g"}, {4064, "<15.88g"}, {25599, "<100.00g"},
	} {
		if got := lvmSize(c.extents << 22); got != c.want {
			t.Errorf("lvmSize(%d extents) = %q, want %q", c.extents, got, c.want)
		}
	}
}

func TestDMName(t *testing.T) {
	for _, c := range [][3]string{
		{"vg0", "root", "vg0-root"},
		{"my-vg", "lv-1", "my--vg-lv--1"},
		{"vg", "a--b", "vg-a----b"},
	} {
		if got := dmName(c[0], c[1]); got != c[2] {
			t.Errorf("dmName(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// lvmSession runs lines in a shell given the disks of an LVM fixture
// image (NAME.img.gz, NAME.disk2.gz, ...), the first n of them, with the
// guest mounted as at start.
func lvmSession(t *testing.T, name string, n int, lines ...string) (stdout, stderr string, status int) {
	t.Helper()
	ui := &fakeUI{lines: lines}
	s := New(ui)
	for i := 1; i <= n; i++ {
		file := name + ".img.gz"
		if i > 1 {
			file = fmt.Sprintf("%s.disk%d.gz", name, i)
		}
		data := gunzipTestdata(t, file)
		s.AddDisk(file, bytes.NewReader(data), int64(len(data)))
	}
	s.MountGuest()
	status = s.Run()
	return ui.out.String(), ui.err.String(), status
}

// readReport reads a report lvm2 wrote for a fixture (NAME.lvs, .pvs,
// .vgs): its rows as maps from lvm2's field names.
func readReport(t *testing.T, file string) []map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	head := strings.Split(strings.TrimPrefix(lines[0], "# "), "\t")
	var rows []map[string]string
	for _, l := range lines[1:] {
		m := map[string]string{}
		for i, v := range strings.Split(l, "\t") {
			if i < len(head) {
				m[head[i]] = v
			}
		}
		rows = append(rows, m)
	}
	return rows
}

// reportRows splits the output of pvs, vgs or lvs into rows of fields,
// without the heading.
func reportRows(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n")[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func sizeField(t *testing.T, bytes string) string {
	n, err := strconv.ParseInt(bytes, 10, 64)
	if err != nil {
		t.Fatalf("size %q: %v", bytes, err)
	}
	return lvmSize(n)
}

// TestLVMReports compares pvs, vgs and lvs -a with what lvm2's own
// reports said of each LVM fixture when it was built.
func TestLVMReports(t *testing.T) {
	for _, c := range []struct {
		name  string
		disks int
	}{{"lvm-gpt", 1}, {"lvm-span", 2}, {"lvm-raid", 1}, {"lvm-thin", 1}, {"lvm-wrap", 1}} {
		t.Run(c.name, func(t *testing.T) {
			out, errs, status := lvmSession(t, c.name, c.disks, "pvs", "vgs", "lvs -a")
			if status != 0 {
				t.Fatalf("status %d: %s", status, errs)
			}
			sections := splitReports(out)
			if len(sections) != 3 {
				t.Fatalf("want three reports, got:\n%s", out)
			}
			var want, got []string
			for _, r := range readReport(t, c.name+".pvs") {
				want = append(want, strings.Join([]string{r["pv_name"], r["vg_name"], r["pv_fmt"], r["pv_attr"],
					sizeField(t, r["pv_size"]), sizeField(t, r["pv_free"])}, " "))
			}
			for _, f := range reportRows(sections[0]) {
				got = append(got, strings.Join(f, " "))
			}
			compareRows(t, "pvs", got, want)

			want, got = nil, nil
			for _, r := range readReport(t, c.name+".vgs") {
				want = append(want, strings.Join([]string{r["vg_name"], r["pv_count"], r["lv_count"], r["vg_attr"],
					sizeField(t, r["vg_size"]), sizeField(t, r["vg_free"])}, " "))
			}
			for _, f := range reportRows(sections[1]) {
				if len(f) == 7 {
					f = append(f[:3], f[4:]...) // #SN: the fixtures report no snapshot count
				}
				got = append(got, strings.Join(f, " "))
			}
			compareRows(t, "vgs", got, want)

			want, got = nil, nil
			for _, r := range readReport(t, c.name+".lvs") {
				// lvm2 could not tell the state and open columns
				// without device-mapper ('X'); vmsh says '-'.
				attr := []byte(r["lv_attr"])
				attr[4], attr[5] = '-', '-'
				want = append(want, strings.Join([]string{r["lv_name"], r["vg_name"], string(attr),
					sizeField(t, r["lv_size"]), r["segtype"], r["devices"]}, " "))
			}
			for _, f := range reportRows(sections[2]) {
				// Pool and Origin are often empty: the type is the
				// first field after the size that names one.
				i := 4
				for i < len(f) && !strings.Contains(segTypes, " "+f[i]+" ") {
					i++
				}
				if i >= len(f) {
					t.Fatalf("lvs row %q has no segment type", f)
				}
				got = append(got, strings.Join(append(f[:4:4], f[i], strings.Join(f[i+1:], " ")), " "))
			}
			compareRows(t, "lvs", got, want)
		})
	}
}

// segTypes are the segment types the fixtures hold, as lvs names them.
const segTypes = " linear striped mirror raid1 raid5 thin thin-pool "

// splitReports splits the output of several reports by their headings.
func splitReports(out string) []string {
	var parts []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(l, "  PV ") || strings.HasPrefix(l, "  VG ") || strings.HasPrefix(l, "  LV ") {
			parts = append(parts, "")
		}
		if len(parts) > 0 {
			parts[len(parts)-1] += l
		}
	}
	return parts
}

func compareRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// expectSHA returns the sha256 a kernel listing of a fixture gives a file.
func expectSHA(t *testing.T, listing, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", listing))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Split(l, "\t"); len(f) == 11 && f[0] == file {
			return f[10]
		}
	}
	t.Fatalf("%s does not list %s", listing, file)
	return ""
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestLVMGuest reads the guest of lvm-gpt as a person would: / on an LV,
// /var and /home mounted from it by the fstab's /dev/mapper and /dev/VG/LV
// names, and every way of naming an LV in use.
func TestLVMGuest(t *testing.T) {
	out, errs, status := lvmSession(t, "lvm-gpt", 1, "cat /var/log/syslog")
	if status != 0 || sha(out) != expectSHA(t, "lvm-gpt-vg0-var.expect", "log/syslog") {
		t.Errorf("cat /var/log/syslog through the fstab: status %d, %d bytes, stderr %q", status, len(out), errs)
	}
	if !strings.Contains(errs, "/ is vg0-root") {
		t.Errorf("root not vg0-root: %q", errs)
	}
	out, _, _ = lvmSession(t, "lvm-gpt", 1, "lsblk")
	want := "└─sda2       54M  part LVM2_member       GPTpv0-0000-0000-0000-0000-0000-000001\n" +
		"  ├─vg0-root 16M  lvm  ext4        root  6c766d00-0000-4000-8000-000000000011   /\n" +
		"  ├─vg0-var  10M  lvm  ext4        var   6c766d00-0000-4000-8000-000000000012   /var\n" +
		"  ├─vg0-home 8M   lvm  ext4        home  6c766d00-0000-4000-8000-000000000013   /home\n" +
		"  └─vg0-swap 4M   lvm  swap        swap  6c766d00-0000-4000-8000-000000000002\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("lsblk:\n%s\nwant it to end with\n%s", out, want)
	}
	syslog := expectSHA(t, "lvm-gpt-vg0-var.expect", "log/syslog")
	for _, name := range []string{"/dev/vg0/var", "/dev/mapper/vg0-var", "vg0/var", "vg0-var",
		"/dev/disk/by-id/dm-name-vg0-var", "LABEL=var", "UUID=6c766d00-0000-4000-8000-000000000012"} {
		out, errs, status := lvmSession(t, "lvm-gpt", 1, "use "+name, "cat /log/syslog")
		if status != 0 || sha(out) != syslog {
			t.Errorf("use %s; cat /log/syslog: status %d, stderr %q", name, status, errs)
		}
	}
	_, errs, status = lvmSession(t, "lvm-gpt", 1, "use /dev/vg0/nosuch")
	if status == 0 || !strings.Contains(errs, "no such volume") {
		t.Errorf("use /dev/vg0/nosuch: status %d, %q", status, errs)
	}
	_, errs, _ = lvmSession(t, "lvm-gpt", 1, "use sda2")
	if !strings.Contains(errs, "LVM2 physical volume holding vg0-root, vg0-var, vg0-home, vg0-swap") {
		t.Errorf("use sda2 should name the LVs on it: %q", errs)
	}
}

// TestLVMPartial gives only the first disk of a VG spread over two: the
// missing PV is named by its UUID, the LV on the present disk reads, the
// striped LV fails saying why.
func TestLVMPartial(t *testing.T) {
	blob := expectSHA(t, "lvm-span-data--vg-solo.expect", "etc/blob")
	out, errs, status := lvmSession(t, "lvm-span", 1, "use /dev/data-vg/solo", "cat /etc/blob", "use /dev/mapper/data--vg-stripe--lv")
	if sha(out) != blob {
		t.Errorf("solo's /etc/blob differs: %q", errs)
	}
	for _, want := range []string{
		"UUID SPANpv-0000-0000-0000-0000-0000-000002, last seen as /dev/sdb) is missing",
		"VG data-vg is partial: stripe-lv cannot be read without the missing PV; 1 other LVs can",
		"use: data--vg-stripe--lv: lvm: LV data-vg/stripe-lv needs physical volume pv1 (UUID SPANpv-0000-0000-0000-0000-0000-000002",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	// Both disks: the striped LV reads.
	out, errs, status = lvmSession(t, "lvm-span", 2, "use /dev/data-vg/stripe-lv", "lsblk")
	if status != 0 || strings.Contains(errs, "missing") ||
		!strings.Contains(out, "sdb                     32M  disk LVM2_member        SPANpv-0000-0000-0000-0000-0000-000002\n"+
			"└─data--vg-stripe--lv   24M  lvm  ext4        stripe 6c766d00-0000-4000-8000-000000000112   /\n") {
		t.Errorf("two disks: status %d\n%s%s", status, out, errs)
	}
}
