package shell

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/internal/sparse"
	"vmsh/internal/tooltest"
)

// elfHeader builds the first bytes of an ELF file: class 1 or 2, data
// encoding 1 (little-endian) or 2, and e_machine.
func elfHeader(class, data byte, machine uint16) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = class, data, 1
	if data == 2 {
		binary.BigEndian.PutUint16(h[18:], machine)
	} else {
		binary.LittleEndian.PutUint16(h[18:], machine)
	}
	return h
}

func TestElfArch(t *testing.T) {
	for _, tt := range []struct {
		class, data byte
		machine     uint16
		want        string
	}{
		{2, 1, 62, "x86_64"}, {1, 1, 3, "i386"}, {2, 1, 183, "aarch64"}, {2, 2, 183, "aarch64_be"},
		{1, 1, 40, "arm"}, {1, 2, 40, "armeb"}, {2, 1, 243, "riscv64"}, {1, 1, 243, "riscv32"},
		{2, 1, 21, "ppc64le"}, {2, 2, 21, "ppc64"}, {1, 2, 20, "ppc"}, {2, 2, 22, "s390x"}, {1, 2, 22, "s390"},
		{2, 1, 8, "mips64"}, {1, 2, 8, "mips"}, {2, 1, 258, "loongarch64"}, {2, 2, 43, "sparc64"},
		{2, 1, 0x9026, "alpha"}, {2, 1, 50, "ia64"}, {1, 2, 4, "m68k"},
	} {
		got, err := elfArch(elfHeader(tt.class, tt.data, tt.machine))
		if got != tt.want || err != nil {
			t.Errorf("class %d data %d machine %d: %q, %v; want %q", tt.class, tt.data, tt.machine, got, err, tt.want)
		}
	}
	for _, h := range [][]byte{nil, []byte("#!/bin/sh\n"), elfHeader(2, 1, 62)[:19], elfHeader(3, 1, 62), elfHeader(2, 0, 62), elfHeader(2, 1, 9999)} {
		if got, err := elfArch(h); err == nil {
			t.Errorf("elfArch(%q) = %q, want an error", h, got)
		}
	}
}

// The host's own executables name the machine uname -m names.
func TestElfArchOfHost(t *testing.T) {
	tooltest.Need(t, "uname")
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(out))
	switch want {
	case "i486", "i586", "i686":
		want = "i386"
	case "armv6l", "armv7l", "armv8l":
		want = "arm"
	}
	for _, name := range []string{"/bin/sh", "/bin/ls"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		if got, err := elfArch(b[:min(len(b), 64)]); got != want || err != nil {
			t.Errorf("%s: %q, %v; uname -m says %q", name, got, err, want)
		}
	}
}

// os-release is read as sh reads it: the values sh gets by sourcing the
// file are the values inspection gets.
func TestOSReleaseLikeSh(t *testing.T) {
	tooltest.Need(t, "sh")
	text := "# a comment\n" +
		"NAME=\"Debian GNU/Linux\"\n" +
		"PRETTY_NAME='Debian GNU/Linux 12 (bookworm)'\n" +
		"ID=debian\n" +
		"VERSION_ID=\"12\"\n" +
		"VERSION=\"12 \\\"bookworm\\\" \\$HOME \\\\ \\`x\\`\"\n" +
		"HOME_URL=\"https://www.debian.org/\" # trailing comment\n" +
		"ID_LIKE=\"rhel fedora\"\n" +
		"VARIANT=Server\\ Edition\n" +
		"BUILD_ID=\"2024\"'-01'\n"
	file := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := parseShellVars(text)
	keys := []string{"NAME", "PRETTY_NAME", "ID", "VERSION_ID", "VERSION", "HOME_URL", "ID_LIKE", "VARIANT", "BUILD_ID"}
	script := ". \"$1\"; for k in " + strings.Join(keys, " ") + "; do eval \"printf '%s\\0' \\\"\\$$k\\\"\"; done"
	out, err := exec.Command("sh", "-c", script, "sh", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	vals := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(vals) != len(keys) {
		t.Fatalf("sh printed %q", out)
	}
	for i, k := range keys {
		if got[k] != vals[i] {
			t.Errorf("%s = %q, sh says %q", k, got[k], vals[i])
		}
	}
}

// assembleDisk builds a GPT disk with real tools: an ext4 root holding an
// fstab that names its filesystems every way fstab can, out of order; ext4
// filesystems for /var, /var/log and /srv; an xfs partition; then opens it
// in a shell as vmsh does at start.
func assembleDisk(t *testing.T, fstab string) (*Shell, *fakeUI) {
	t.Helper()
	tooltest.Need(t, "sfdisk", "mke2fs", "mkfs.xfs", "uname")
	dir := t.TempDir()
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, text string) {
		mkdir(filepath.Dir(p))
		if err := os.WriteFile(filepath.Join(dir, p), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"root/var", "root/srv", "root/usr/bin", "var/log", "log", "srv"} {
		mkdir(d)
	}
	write("root/etc/fstab", fstab)
	write("root/etc/os-release", "NAME=\"Example OS\"\nID=example\nVERSION_ID=\"7.1\"\n")
	write("root/etc/hostname", "# set by the installer\n\n  web01  \n")
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh to copy into the guest")
	}
	if err := os.WriteFile(filepath.Join(dir, "root/usr/bin/dash"), sh, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"usr/bin", "root/bin"}, {"dash", "root/usr/bin/sh"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	write("var/var-file", "on the var filesystem\n")
	write("var/log/hidden", "under the mount of /var/log\n")
	write("log/messages", "on the log filesystem\n")
	write("srv/srv-file", "on the srv filesystem\n")

	img := filepath.Join(dir, "disk.img")
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 400<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\n" +
		"start=2048, size=32768, type=linux, name=rootfs, uuid=0b7c2a51-0000-4000-8000-000000000001\n" +
		"size=16384, type=linux, name=var, uuid=0b7c2a51-0000-4000-8000-000000000002\n" +
		"size=16384, type=linux, name=logs, uuid=0b7c2a51-0000-4000-8000-000000000003\n" +
		"size=16384, type=linux, name=srv, uuid=0b7c2a51-0000-4000-8000-000000000004\n" +
		"size=622592, type=linux, name=xfs, uuid=0b7c2a51-0000-4000-8000-000000000005\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	place := func(fs string, start int64) {
		run("dd", "if="+fs, "of="+img, "bs=64k", "seek="+fmt.Sprint(start*512), "oflag=seek_bytes", "conv=notrunc,sparse", "status=none")
	}
	for _, p := range []struct {
		src, label string
		sectors    int64
		start      int64
	}{{"root", "root", 32768, 2048}, {"var", "VAR DATA", 16384, 34816}, {"log", "logs", 16384, 51200}, {"srv", "srv", 16384, 67584}} {
		fs := filepath.Join(dir, p.src+".ext4")
		run("mke2fs", "-q", "-F", "-t", "ext4", "-L", p.label, "-d", filepath.Join(dir, p.src), fs, fmt.Sprint(p.sectors/2)+"k")
		place(fs, p.start)
	}
	xfs := filepath.Join(dir, "xfs.img")
	if err := os.WriteFile(xfs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(xfs, 622592*512); err != nil {
		t.Fatal(err)
	}
	run("mkfs.xfs", "-q", "-L", "bulk", "-m", "uuid=0b7c2a51-0000-4000-8000-0000000000aa", xfs)
	place(xfs, 83968)

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ui := &fakeUI{}
	s := New(ui)
	s.AddDisk(img, f, 400<<20)
	if !s.MountGuest() {
		t.Fatalf("nothing mounted: %s", ui.err.String())
	}
	return s, ui
}

// An fstab is assembled into one tree whatever the order of its lines and
// however they name their sources; what cannot be mounted is said, with
// why.
func TestFstabAssembly(t *testing.T) {
	fstab := "# fstab of the test guest\n" +
		"PARTLABEL=logs /var/log ext4 defaults 0 2\n" + // before /var: mounted after it all the same
		"LABEL=root / ext4 defaults 0 1\n" +
		"LABEL=\"VAR\\040DATA\" /var ext4 defaults 0 2\n" +
		"/dev/disk/by-partuuid/0b7c2a51-0000-4000-8000-000000000004 /srv ext4 defaults 0 2\n" +
		"PARTUUID=0b7c2a51-0000-4000-8000-000000000005 /bulk xfs defaults 0 2\n" +
		"/dev/vda4 /mnt/usb ext4 noauto 0 0\n" +
		"/dev/sdz1 /mnt/gone ext4 defaults 0 2\n" +
		"UUID=0b7c2a51-ffff-4000-8000-000000000000 /opt ext4 defaults,nofail 0 2\n" +
		"/srv /export none bind 0 0\n" +
		"proc /proc proc defaults 0 0\n" +
		"//nas/share /mnt/nas cifs credentials=/etc/nas 0 0\n" +
		"alice@host:/data /mnt/ssh fuse.sshfs defaults 0 0\n" +
		"/swapfile none swap sw 0 0\n" +
		"LABEL=srv relative ext4 defaults 0 0\n"
	s, ui := assembleDisk(t, fstab)
	wantErr := "vmsh: / is sda1 (ext4, label root)\n" +
		"vmsh: fstab: /bulk (sda5) not mounted: xfs: not supported\n" +
		"vmsh: fstab: /mnt/gone not mounted: /dev/sdz1 not on these disks\n"
	if ui.err.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", ui.err.String(), wantErr)
	}
	for file, want := range map[string]string{
		"/var/var-file": "on the var filesystem\n", "/var/log/messages": "on the log filesystem\n",
		"/srv/srv-file": "on the srv filesystem\n",
	} {
		data, err := readSmallFile(s.FS(), fsPath(file), 1<<10)
		if string(data) != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", file, data, err, want)
		}
	}
	if _, err := s.FS().Open("var/log/hidden"); err == nil {
		t.Errorf("/var/log/hidden is on /var under the /var/log mount, and should be hidden by it")
	}

	ui.lines = []string{"mounts --json", "info --json"}
	ui.out.Reset()
	s.Run()
	dec := json.NewDecoder(&ui.out)
	var m mountsJSON
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	mounted := map[string]string{}
	for _, mt := range m.Mounts {
		mounted[mt.Mountpoint] = *mt.Volume + " " + *mt.Source
	}
	wantMounted := map[string]string{
		"/": "sda1 LABEL=root", "/var": `sda2 LABEL="VAR DATA"`, "/var/log": "sda3 PARTLABEL=logs",
		"/srv": "sda4 /dev/disk/by-partuuid/0b7c2a51-0000-4000-8000-000000000004",
	}
	if fmt.Sprint(mounted) != fmt.Sprint(wantMounted) {
		t.Errorf("mounted:\n%v\nwant\n%v", mounted, wantMounted)
	}
	not := map[string]string{}
	for _, n := range m.NotMounted {
		v := "-"
		if n.Volume != nil {
			v = *n.Volume + " " + *n.VolumeFSType + " " + str(n.Label) + " " + str(n.UUID)
		}
		not[n.Mountpoint] = n.Kind + ": " + n.Reason + " [" + v + "]"
	}
	wantNot := map[string]string{
		"/bulk":     "unsupported: xfs: not supported [sda5 xfs bulk 0b7c2a51-0000-4000-8000-0000000000aa]",
		"/mnt/usb":  "noauto: noauto: not mounted at boot [sda4 ext4 srv " + s.disks[0].Parts[3].UUID + "]",
		"/mnt/gone": "missing: not on these disks [-]",
		"/opt":      "missing: not on these disks [-]",
		"/export":   "bind: bind mount [-]",
		"/proc":     "virtual: virtual filesystem [-]",
		"/mnt/nas":  "network: network filesystem [-]",
		"/mnt/ssh":  "network: network filesystem [-]",
		"none":      "swap: swap space [-]",
		"relative":  "invalid: mount point is not an absolute path [-]",
	}
	if fmt.Sprint(not) != fmt.Sprint(wantNot) {
		t.Errorf("not mounted:\n%v\nwant\n%v", not, wantNot)
	}

	var info infoJSON
	if err := dec.Decode(&info); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Roots) != 1 {
		t.Fatalf("info: %+v", info)
	}
	r := info.Roots[0]
	if str(r.Hostname) != "web01" || str(r.PrettyName) != "" || str(r.Name) != "Example OS" || str(r.VersionID) != "7.1" ||
		str(r.Arch) != strings.TrimSpace(string(out)) || str(r.ArchFrom) != "/usr/bin/dash" || r.FstabEntries != 14 || r.Mounts != 4 {
		t.Errorf("info: %+v; arch %q", r, out)
	}
	var b bytes.Buffer
	ui.lines, ui.out = []string{"info"}, b
	s.Run()
	if !strings.Contains(ui.out.String(), "Distribution:  Example OS 7.1\n") {
		t.Errorf("info:\n%s", ui.out.String())
	}
}

// At start, a hostile fstab's many unmountable lines give a few warnings,
// not thousands; mounts lists them all.
func TestFstabWarningsBounded(t *testing.T) {
	var fstab strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&fstab, "/dev/sdz%d /mnt/%d ext4 defaults 0 2\n", i, i)
	}
	s, ui := assembleDisk(t, fstab.String())
	lines := strings.Split(strings.TrimSpace(ui.err.String()), "\n")
	if len(lines) != 2+maxFstabWarnings || lines[len(lines)-1] != "vmsh: fstab: more lines not mounted; see mounts" {
		t.Errorf("stderr:\n%s", ui.err.String())
	}
	ui.lines = []string{"mounts --json"}
	ui.out.Reset()
	s.Run()
	var m mountsJSON
	if err := json.Unmarshal(ui.out.Bytes(), &m); err != nil || len(m.NotMounted) != 1000 || m.NotMounted[999].Mountpoint != "/mnt/999" {
		t.Errorf("mounts --json: %v, %d not mounted", err, len(m.NotMounted))
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Inspecting again, after the filesystems were opened, finds the same
// root, described the same way.
func TestInspectAgain(t *testing.T) {
	gz, err := os.Open(filepath.Join("..", "testdata", "guest.img.gz"))
	if err != nil {
		t.Skipf("fixture not built: %v", err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "guest.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := sparse.Copy(f, zr, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	ui := &fakeUI{}
	s := New(ui)
	s.AddDisk("guest.img", f, size)
	var got []string
	for range 2 {
		if !s.MountGuest() {
			t.Fatalf("nothing mounted: %s", ui.err.String())
		}
		if len(s.insp.roots) != 1 {
			t.Fatalf("%d roots", len(s.insp.roots))
		}
		r := s.insp.roots[0].details()
		got = append(got, r.vol.Name+": "+r.describe()+" "+r.arch)
	}
	want := "ubuntu--vg-root: Ubuntu 24.04.1 LTS, hostname guest x86_64"
	if got[0] != want || got[1] != want {
		t.Errorf("got %q, want %q twice", got, want)
	}
}
