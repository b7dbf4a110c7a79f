package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vmsh/internal/tooltest"

	"vmsh/internal/sparse"
	"vmsh/ipc"
)

func TestMain(m *testing.M) {
	// The test binary can serve as the worker too.
	if len(os.Args) > 1 && os.Args[1] == ipc.WorkerArg {
		if err := ipc.ServeWorker(openDisk); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// vmshBinary builds vmsh once, statically, for the end-to-end tests.
func vmshBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "vmsh-test-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "vmsh")
		cmd := exec.Command("go", "build", "-o", buildBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

type result struct {
	stdout, stderr string
	status         int
}

// vmsh runs the binary with args and stdin, in dir (a temporary directory
// if empty).
func vmsh(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(vmshBinary(t), args...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = t.TempDir()
	}
	cmd.Env = append(os.Environ(), "TZ=UTC", "HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), status}
}

const sampleBanner = "vmsh: no disk named; opening the built-in sample disk\nvmsh: / is sda2 (ext4, label root)\n"

func TestSampleDisk(t *testing.T) {
	r := vmsh(t, "", "", "-c", "cat /etc/hostname")
	if r.stdout != "sample\n" || r.stderr != sampleBanner || r.status != 0 {
		t.Errorf("got %+v", r)
	}
	r = vmsh(t, "", "", "-c", "lsblk; ls /boot; cat /boot/grub/grub.cfg")
	want := "NAME   SIZE TYPE FSTYPE LABEL UUID                                 MOUNTPOINTS\n" +
		"sda    34M  disk\n" +
		"├─sda1 6M   part ext4   boot  5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e02 /boot\n" +
		"├─sda2 24M  part ext4   root  5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e01 /\n" +
		"└─sda3 2M   part swap         5a3c1e0d-7b2f-4c11-9e6a-0d1b2c3d4e03\n" +
		"grub\ninitrd.img-6.1.0-sample\nlost+found\nvmlinuz-6.1.0-sample\n"
	if !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "menuentry 'vmsh sample guest'") || r.status != 0 {
		t.Errorf("got %+v\nwant prefix\n%s", r, want)
	}
	r = vmsh(t, "", "", "-c", "ls -l /home/alice/latest-report /etc/shadow")
	want = "-rw-r----- 1 root  42    100 Jun  7  2023 /etc/shadow\n"
	if !strings.Contains(r.stdout, "lrwxrwxrwx 1 alice alice  20 Jun  7  2023 /home/alice/latest-report -> Documents/report.txt\n") ||
		!strings.Contains(r.stdout, "/etc/shadow\n") {
		t.Errorf("ls -l: %+v", r)
	}
	_ = want
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		stdin  string
		args   []string
		stdout string
		stderr string
		status int
	}{
		{"", []string{"-c", "pwd"}, "/\n", "", 0},
		{"", []string{"-c", "cat /nope; cat /etc/hostname"}, "sample\n", "vmsh: cat /nope: no such file or directory\n", 1},
		{"", []string{"-c", "frob"}, "", "vmsh: frob: unknown command (try help)\n", 1},
		{"", []string{"-c", "ls -z /"}, "", "vmsh: ls: unknown flag -z\n", 1},
		{"", []string{"-c", "exit 7"}, "", "", 7},
		{"cat /etc/hostname\nls /boot/grub\n", nil, "sample\ngrub.cfg\n", "", 0},
		{"cat /etc/hostname\ncat /nope\npwd\n", nil, "sample\n/\n", "vmsh: cat /nope: no such file or directory\n", 1},
		{"cd /etc\ncat hostname", nil, "sample\n", "", 0},
	}
	for _, tt := range tests {
		r := vmsh(t, "", tt.stdin, tt.args...)
		if r.stdout != tt.stdout || r.stderr != sampleBanner+tt.stderr || r.status != tt.status {
			t.Errorf("%q %q: got %+v, want %q %q %d", tt.args, tt.stdin, r, tt.stdout, tt.stderr, tt.status)
		}
	}
	usageLine := "usage: vmsh [-c \"command; command...\"] [disk...]\n"
	for _, args := range [][]string{{"--bogus"}, {"-x", "disk.img"}, {"-c"}} {
		r := vmsh(t, "", "", args...)
		if r.status != 2 || !strings.HasPrefix(r.stderr, "vmsh: ") || !strings.HasSuffix(r.stderr, usageLine) || r.stdout != "" {
			t.Errorf("%q: got %+v", args, r)
		}
	}
	if r := vmsh(t, "", "", "--help"); r.status != 0 || !strings.HasPrefix(r.stdout, usageLine) {
		t.Errorf("--help: %+v", r)
	}
	if r := vmsh(t, "", "", "--version"); r.status != 0 || !strings.HasPrefix(r.stdout, "vmsh ") {
		t.Errorf("--version: %+v", r)
	}
	if r := vmsh(t, "", "", "-c", "pwd", "nope.img"); r.status != 1 || r.stderr != "vmsh: nope.img: no such file or directory\n" {
		t.Errorf("missing disk: %+v", r)
	}
}

// fixture unpacks testdata/NAME.img.gz into a temporary directory, or
// skips the test when the fixtures have not been built.
func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".img.gz"))
	if err != nil {
		t.Skipf("fixture %s not built (testdata/mkfixtures.sh): %v", name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparse.Copy(f, zr, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestPartitionedDisks(t *testing.T) {
	gpt := fixture(t, "gpt-disk")
	r := vmsh(t, "", "", "-c", "lsblk; cat /etc/hostname; use gptdata; ls /docs; use UUID=11111111-2222-4333-8444-000000000005; pwd; use 7", gpt)
	want := "" +
		"NAME   SIZE TYPE FSTYPE LABEL   UUID                                 MOUNTPOINTS\n" +
		"sda    40M  disk\n" +
		"├─sda1 1M   part\n" +
		"├─sda2 16M  part ext4   gptroot 11111111-2222-4333-8444-000000000005 /\n" +
		"├─sda3 8M   part ext2   gptdata 11111111-2222-4333-8444-000000000006\n" +
		"└─sda5 4M   part swap   gptswap 11111111-2222-4333-8444-000000000007\n" +
		"gpt root\nblob\nreadme.txt\n/\n"
	wantErr := "vmsh: / is sda2 (ext4, label gptroot)\nvmsh: / is sda3 (ext2, label gptdata)\n" +
		"vmsh: / is sda2 (ext4, label gptroot)\nvmsh: use: 7: no such volume (see lsblk)\n"
	if r.stdout != want || r.stderr != wantErr || r.status != 1 {
		t.Errorf("gpt: got\n%s\n%s%d\nwant\n%s\n%s", r.stdout, r.stderr, r.status, want, wantErr)
	}

	mbr := fixture(t, "mbr-disk")
	whole := fixture(t, "whole-disk")
	r = vmsh(t, "", "", "-c", "lsblk; use sdb6; cat which; use /dev/sdb1; cat /which; use LABEL=mbr-seven; cat /which", whole, mbr)
	if !strings.Contains(r.stdout, "sda    8M   disk ext4   whole-disk 11111111-2222-4333-8444-000000000004 /\n") ||
		!strings.Contains(r.stdout, "├─sdb5 3M   part ext2   mbr-five   11111111-2222-4333-8444-000000000015\n") ||
		!strings.Contains(r.stdout, "└─sdb8 3M   part swap   mbr-swap   11111111-2222-4333-8444-000000000018\n") ||
		!strings.HasSuffix(r.stdout, "partition 6\npartition 1\npartition 7\n") || r.status != 0 {
		t.Errorf("mbr: %+v", r)
	}
	if !strings.HasPrefix(r.stderr, "vmsh: / is sda (ext4, label whole-disk)\n") {
		t.Errorf("mbr stderr: %s", r.stderr)
	}
}

// expectEntry is one line of a fixture's .expect listing.
type expectEntry struct {
	typ, mode, size, mtime, target, sum string
}

func readExpect(t *testing.T, name string) map[string]expectEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".expect"))
	if err != nil {
		t.Fatalf("no %s.expect: %v", name, err)
	}
	m := map[string]expectEntry{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 11 {
			t.Fatalf("%s.expect: bad line %q", name, line)
		}
		m[f[0]] = expectEntry{typ: f[1], mode: f[2], size: f[5], mtime: f[7], target: f[8], sum: f[10]}
	}
	return m
}

// listHost lists a host tree in the terms of an .expect file. Modes are
// compared without the setuid, setgid and sticky bits, which get drops.
func listHost(t *testing.T, dir string) map[string]expectEntry {
	t.Helper()
	m := map[string]expectEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := expectEntry{mode: fmt.Sprintf("%04o", fi.Mode().Perm()), size: strconv.FormatInt(fi.Size(), 10),
			mtime: fmt.Sprintf("%d.%09d", fi.ModTime().Unix(), fi.ModTime().Nanosecond()), target: "-", sum: "-"}
		switch {
		case fi.IsDir():
			e.typ, e.size = "d", "-"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.typ, e.size = "l", "-"
			e.target, _ = os.Readlink(p)
		default:
			e.typ = "f"
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			e.sum = hex.EncodeToString(h.Sum(nil))
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGetMatchesKernel copies whole filesystems out with get and compares
// the result with the kernel's listing of the same filesystem.
func TestGetMatchesKernel(t *testing.T) {
	for _, tc := range []struct{ image, expect, use string }{
		{"sample", "sample-p2", "sda2"},
		{"sample", "sample-p1", "sda1"},
		{"whole-disk", "whole-disk", "sda"},
		{"gpt-disk", "gpt-disk-p3", "sda3"},
		{"mbr-disk", "mbr-disk-p7", "sda7"},
		{"ext3-htree", "ext3-htree", "sda"},
		{"ext2-1k", "ext2-1k", "sda"},
		{"ext4", "ext4", "sda"},
	} {
		t.Run(tc.expect, func(t *testing.T) {
			if tc.image == "ext4" && testing.Short() {
				t.Skip("-short: the ext4 fixture has 20,000 files")
			}
			img := fixture(t, tc.image)
			want := readExpect(t, tc.expect)
			dir := t.TempDir()
			r := vmsh(t, dir, "", "-c", "use "+tc.use+"; get --no-archive / out", img)
			if r.status != 0 {
				t.Fatalf("get: %+v", r)
			}
			got := listHost(t, filepath.Join(dir, "out"))
			if tc.expect == "sample-p2" {
				// The guest's fstab mounts sda1 at /boot: compare the
				// mountpoint's files with sample-p1.
				for p := range got {
					if p == "boot" || strings.HasPrefix(p, "boot/") {
						delete(got, p)
					}
				}
				delete(want, "boot")
			}
			var diffs []string
			for p, w := range want {
				if w.typ != "f" && w.typ != "d" && w.typ != "l" {
					if !strings.Contains(r.stderr, "skipping /"+p+": ") {
						diffs = append(diffs, p+": special file not reported as skipped")
					}
					continue
				}
				w.mode = fmt.Sprintf("%04o", mustOctal(t, w.mode)&0o777)
				if w.typ == "d" {
					w.size = "-"
				}
				if w.typ == "l" {
					w.size = "-"
				}
				g, ok := got[p]
				if !ok {
					diffs = append(diffs, p+": missing")
					continue
				}
				if p == "." {
					g.mode, w.mode = "", "" // the copy's top directory is made by get's caller
				}
				if g != w {
					diffs = append(diffs, fmt.Sprintf("%s: got %+v, want %+v", p, g, w))
				}
				delete(got, p)
			}
			for p := range got {
				diffs = append(diffs, p+": not in the guest")
			}
			sort.Strings(diffs)
			if len(diffs) > 0 {
				if len(diffs) > 20 {
					diffs = append(diffs[:20], "...")
				}
				t.Errorf("%d differences:\n%s", len(diffs), strings.Join(diffs, "\n"))
			}
		})
	}
}

func mustOctal(t *testing.T, s string) int {
	n, err := strconv.ParseInt(s, 8, 32)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// children returns the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces: the fields after it follow
		// the last ')'.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// TestWorkerRestart kills the worker between two commands: the shell says
// so once and the next command works.
func TestWorkerRestart(t *testing.T) {
	// Without inspection, which reads more of the small sample disk than
	// the two files below leave room for in the cache.
	cmd := exec.Command(vmshBinary(t), "--no-inspect")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "TZ=UTC")
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	var errb tooltest.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := bufio.NewReader(outPipe)
	readLine := func() string {
		t.Helper()
		done := make(chan string, 1)
		go func() { l, _ := out.ReadString('\n'); done <- l }()
		select {
		case l := <-done:
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("no output; stderr: %s", errb.String())
			return ""
		}
	}
	fmt.Fprintln(in, "use sda2; cat /etc/hostname")
	if l := readLine(); l != "sample\n" {
		t.Fatalf("first command: %q", l)
	}
	workers := children(cmd.Process.Pid)
	if len(workers) != 1 {
		t.Fatalf("worker pids %v", workers)
	}
	syscall.Kill(workers[0], syscall.SIGKILL)
	// Files not read before, so the blocks are not in the shell's cache.
	fmt.Fprintln(in, "cat /home/alice/Documents/letter.txt; cat /var/log/auth.log")
	if l := readLine(); l != "Dear Bob, the budget is attached.\n" {
		t.Fatalf("after the kill: %q; stderr: %s", l, errb.String())
	}
	if l := readLine(); !strings.Contains(l, "Accepted publickey for alice") {
		t.Fatalf("after the kill: %q", l)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("vmsh: %v; stderr: %s", err, errb.String())
	}
	stderr := errb.String()
	if n := strings.Count(stderr, "vmsh: worker died"); n != 1 || !strings.Contains(stderr, "started a new one\n") {
		t.Errorf("stderr: %s", stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.Contains(l, "worker died") && l != "vmsh: worker died (signal: killed); started a new one" {
			t.Errorf("restart line: %q", l)
		}
	}
}

// TestLsblkPartitions checks lsblk -p against sfdisk's view of the same
// disks (the .parts files the fixture script saved): every partition, its
// start, PARTUUID, GPT name and bootable flag.
func TestLsblkPartitions(t *testing.T) {
	for _, name := range []string{"gpt-disk", "mbr-disk", "sample"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".parts"))
			if err != nil {
				t.Fatal(err)
			}
			sf, err := tooltest.ParseSfdisk(data)
			if err != nil {
				t.Fatal(err)
			}
			r := vmsh(t, "", "", "-c", "lsblk -p", fixture(t, name))
			if r.status != 0 {
				t.Fatalf("lsblk -p: status %d: %s", r.status, r.stderr)
			}
			rows := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
				rows[strings.Fields(l)[0]] = l
			}
			pt := sf.PartitionTable
			var want []string
			for _, p := range pt.Partitions {
				if pt.Label == "dos" && (p.Type == "5" || p.Type == "f" || p.Type == "85") {
					continue // the extended container, which lsblk -p leaves out as lsblk does
				}
				num := p.Node[len(strings.TrimRight(p.Node, "0123456789")):]
				dev := "sda" + num
				want = append(want, dev)
				row, ok := rows[dev]
				if !ok {
					t.Errorf("%s missing from lsblk -p:\n%s", dev, r.stdout)
					continue
				}
				uuid := strings.ToLower(p.UUID)
				if pt.Label == "dos" {
					uuid = strings.TrimPrefix(strings.ToLower(pt.ID), "0x") + "-" + fmt.Sprintf("%02s", num)
				}
				start := strconv.FormatInt(p.Start*int64(pt.SectorSize), 10)
				boot := p.Bootable || strings.Contains(p.Attrs, "LegacyBIOSBootable")
				f := strings.Fields(row)
				if f[1] != start || !strings.HasSuffix(row, uuid) || !strings.Contains(row, p.Name) || (f[3] == "*") != boot {
					t.Errorf("%s: lsblk -p says %q; sfdisk says start %s, uuid %s, name %q, bootable %v", dev, row, start, uuid, p.Name, boot)
				}
			}
			if len(rows) != len(want) {
				t.Errorf("lsblk -p lists %d partitions, sfdisk %v:\n%s", len(rows), want, r.stdout)
			}
		})
	}
}

// decodeJSON parses the one JSON document a --json command printed.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", r.stdout)
	}
}

// listedSHA returns the sha256 a kernel listing in testdata gives a file.
func listedSHA(t *testing.T, listing, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", listing))
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

// blkidOf reads testdata/NAME.blkid, blkid's probe of every volume of a
// fixture, keyed by the name lsblk gives the volume: sda1, vg-lv.
func blkidOf(t *testing.T, name string) map[string][3]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".blkid"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][3]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(l, "\t")
		if strings.HasPrefix(l, "#") || len(f) != 4 {
			continue
		}
		vol := f[0]
		if vg, lv, ok := strings.Cut(vol, "/"); ok {
			vol = strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
		}
		for i := 1; i < 4; i++ {
			if f[i] == "-" {
				f[i] = ""
			}
		}
		out[vol] = [3]string{f[1], f[2], f[3]}
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

type infoDoc struct {
	Inspected bool    `json:"inspected"`
	Mounted   *string `json:"mounted"`
	Roots     []struct {
		Volume, Device, FSType string
		Label, UUID            *string
		Mounted                bool
		OSRelease              *string `json:"os_release"`
		ID, Name               *string
		VersionID              *string `json:"version_id"`
		Version                *string
		PrettyName             *string `json:"pretty_name"`
		Hostname, Arch         *string
		ArchFrom               *string `json:"arch_from"`
		Fstab                  *string
		FstabEntries           int `json:"fstab_entries"`
		Mounts                 int
	} `json:"roots"`
}

type mountsDoc struct {
	Fstab *struct {
		Volume, Path string
		Error        *string
	} `json:"fstab"`
	Mounts []struct {
		Mountpoint                   string
		Volume, Device, FSType       *string
		Label, UUID, Source, Options *string
		Line                         int
	} `json:"mounts"`
	NotMounted []struct {
		Mountpoint, Source, Type string
		Options                  *string
		Line                     int
		Kind, Reason             string
		Volume, Device           *string
		VolumeFSType             *string `json:"volume_fstype"`
		Label, UUID              *string
	} `json:"not_mounted"`
}

// TestInspectGuest opens the guest fixture as a person would: inspection
// finds Ubuntu on the root LV, the fstab assembles /, /boot, /var and
// /home from a partition and three LVs named four ways, and says why the
// rest is not mounted.
func TestInspectGuest(t *testing.T) {
	img := fixture(t, "guest")
	ids := blkidOf(t, "guest")

	r := vmsh(t, "", "", "-c", "cat /var/log/syslog", img)
	if r.status != 0 || sha256hex(r.stdout) != listedSHA(t, "guest-ubuntu--vg-var.expect", "log/syslog") {
		t.Errorf("cat /var/log/syslog through the fstab: status %d, %d bytes, stderr %q", r.status, len(r.stdout), r.stderr)
	}
	wantErr := "vmsh: / is ubuntu--vg-root (ext4, label root)\nvmsh: fstab: /boot/efi (sda1) not mounted: vfat: not supported\n"
	if r.stderr != wantErr {
		t.Errorf("stderr %q, want %q", r.stderr, wantErr)
	}
	if r := vmsh(t, "", "", "-c", "ls /boot; cat /home/alice/notes.txt", img); r.status != 0 ||
		!strings.Contains(r.stdout, "vmlinuz-6.8.0-41-generic\n") || !strings.HasSuffix(r.stdout, "Things to do: back up the photos\n") {
		t.Errorf("/boot and /home: %+v", r)
	}

	r = vmsh(t, "", "", "-c", "info", img)
	for _, want := range []string{
		"Root:          ubuntu--vg-root (mounted at /)\n",
		"Distribution:  Ubuntu 24.04.1 LTS\n", "ID:            ubuntu\n", "Version:       24.04\n",
		"Hostname:      guest\n", "Architecture:  x86_64 (from /usr/bin/dash)\n",
		"Fstab:         /etc/fstab, 8 entries; 4 filesystems mounted (see mounts)\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	var info infoDoc
	decodeJSON(t, vmsh(t, "", "", "-c", "info --json", img), &info)
	if len(info.Roots) != 1 {
		t.Fatalf("info --json: %+v", info)
	}
	root := info.Roots[0]
	if !info.Inspected || str(info.Mounted) != "ubuntu--vg-root" || root.Volume != "ubuntu--vg-root" || !root.Mounted ||
		root.Device != "/dev/mapper/ubuntu--vg-root" || str(root.PrettyName) != "Ubuntu 24.04.1 LTS" || str(root.ID) != "ubuntu" ||
		str(root.Name) != "Ubuntu" || str(root.VersionID) != "24.04" || str(root.Version) != "24.04.1 LTS (Noble Numbat)" ||
		str(root.Hostname) != "guest" || str(root.Arch) != "x86_64" || str(root.ArchFrom) != "/usr/bin/dash" ||
		str(root.OSRelease) != "/etc/os-release" || str(root.Fstab) != "/etc/fstab" || root.FstabEntries != 8 || root.Mounts != 4 ||
		str(root.UUID) != ids["ubuntu--vg-root"][2] {
		t.Errorf("info --json: %+v", root)
	}

	// Every line of the guest's fstab is either mounted, with the volume
	// blkid finds under its source, or reported with a reason.
	fstab := vmsh(t, "", "", "-c", "cat /etc/fstab", img).stdout
	var m mountsDoc
	decodeJSON(t, vmsh(t, "", "", "-c", "mounts --json", img), &m)
	if m.Fstab == nil || m.Fstab.Volume != "ubuntu--vg-root" || m.Fstab.Path != "/etc/fstab" || m.Fstab.Error != nil {
		t.Errorf("mounts --json fstab: %+v", m.Fstab)
	}
	mounted := map[string]string{}
	for _, mt := range m.Mounts {
		vol := str(mt.Volume)
		mounted[mt.Mountpoint] = vol
		id := ids[vol]
		if str(mt.FSType) != id[0] || str(mt.Label) != id[1] || str(mt.UUID) != id[2] {
			t.Errorf("%s: %s %s %s %s, blkid says %v", mt.Mountpoint, vol, str(mt.FSType), str(mt.Label), str(mt.UUID), id)
		}
		if line := fstabLine(fstab, mt.Line); mt.Line == 0 || line[0] != str(mt.Source) || line[1] != mt.Mountpoint {
			t.Errorf("%s: source %q line %d, fstab line %q", mt.Mountpoint, str(mt.Source), mt.Line, line)
		}
	}
	wantMounted := map[string]string{"/": "ubuntu--vg-root", "/boot": "sda2", "/var": "ubuntu--vg-var", "/home": "ubuntu--vg-home"}
	if fmt.Sprint(mounted) != fmt.Sprint(wantMounted) {
		t.Errorf("mounted %v, want %v", mounted, wantMounted)
	}
	notMounted := map[string]string{}
	for _, n := range m.NotMounted {
		notMounted[n.Mountpoint] = n.Kind + ": " + n.Reason
		if line := fstabLine(fstab, n.Line); line[0] != n.Source || line[1] != n.Mountpoint || line[2] != n.Type {
			t.Errorf("%s: %q %q, fstab line %d is %q", n.Mountpoint, n.Source, n.Type, n.Line, line)
		}
		if n.Volume != nil {
			id := ids[*n.Volume]
			if str(n.VolumeFSType) != id[0] || str(n.Label) != id[1] || str(n.UUID) != id[2] {
				t.Errorf("%s: volume %s %s %s %s, blkid says %v", n.Mountpoint, *n.Volume, str(n.VolumeFSType), str(n.Label), str(n.UUID), id)
			}
		}
		if n.Mountpoint == "/boot/efi" && (str(n.Volume) != "sda1" || str(n.UUID) != "2A6C-5F01") {
			t.Errorf("/boot/efi not identified: %+v", n)
		}
	}
	wantNot := map[string]string{
		"/boot/efi": "unsupported: vfat: not supported", "none": "swap: swap space",
		"/tmp": "virtual: virtual filesystem", "/srv/shared": "network: network filesystem",
	}
	if fmt.Sprint(notMounted) != fmt.Sprint(wantNot) {
		t.Errorf("not mounted %v, want %v", notMounted, wantNot)
	}
	if n := len(strings.Split(strings.TrimSpace(stripComments(fstab)), "\n")); n != len(m.Mounts)+len(m.NotMounted) {
		t.Errorf("fstab has %d entries, mounts --json accounts for %d", n, len(m.Mounts)+len(m.NotMounted))
	}

	r = vmsh(t, "", "", "-c", "mounts", img)
	for _, want := range []string{
		"MOUNTPOINT  VOLUME           FSTYPE  SOURCE\n/           ubuntu--vg-root  ext4    /dev/mapper/ubuntu--vg-root\n",
		"/var        ubuntu--vg-var   ext4    LABEL=var\n",
		"Not mounted, from /etc/fstab on ubuntu--vg-root:\n",
		"/boot/efi    UUID=2A6C-5F01", "sda1 (vfat, UUID 2A6C-5F01)", "vfat: not supported\n",
		"ubuntu--vg-swap (swap, UUID 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e02)", "swap space\n",
		"virtual filesystem\n", "network filesystem\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("mounts lacks %q:\n%s", want, r.stdout)
		}
	}

	// lsblk --json names every volume as blkid does, the FAT and the swap
	// included, with its mount points.
	var blk struct {
		BlockDevices []lsblkDev `json:"blockdevices"`
	}
	decodeJSON(t, vmsh(t, "", "", "-c", "lsblk --json", img), &blk)
	seen := 0
	var walk func(d lsblkDev)
	walk = func(d lsblkDev) {
		if id, ok := ids[d.Name]; ok {
			seen++
			if str(d.FSType) != id[0] || str(d.Label) != id[1] || str(d.UUID) != id[2] {
				t.Errorf("lsblk --json %s: %s %s %s, blkid says %v", d.Name, str(d.FSType), str(d.Label), str(d.UUID), id)
			}
		}
		want := []string{}
		for dir, vol := range wantMounted {
			if vol == d.Name {
				want = append(want, dir)
			}
		}
		if fmt.Sprint(d.Mountpoints) != fmt.Sprint(want) {
			t.Errorf("lsblk --json %s: mountpoints %q, want %q", d.Name, d.Mountpoints, want)
		}
		for _, c := range d.Children {
			walk(c)
		}
	}
	for _, d := range blk.BlockDevices {
		walk(d)
	}
	if fi, err := os.Stat(img); err != nil || len(blk.BlockDevices) != 1 || blk.BlockDevices[0].Size != fi.Size() || seen != len(ids) {
		t.Errorf("lsblk --json: %d disks, %d of %d volumes seen", len(blk.BlockDevices), seen, len(ids))
	}
}

type lsblkDev struct {
	Name, Path, Type              string
	Size                          int64
	FSType, Label, UUID           *string
	PartUUID, PartLabel, PartType *string
	Mountpoints                   []string
	Children                      []lsblkDev
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// fstabLine returns the fields of line n (1-based) of an fstab.
func fstabLine(fstab string, n int) []string {
	lines := strings.Split(fstab, "\n")
	if n < 1 || n > len(lines) {
		return []string{"", "", ""}
	}
	return append(strings.Fields(lines[n-1]), "", "", "")
}

// squeeze turns each run of spaces into one.
func squeeze(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

func stripComments(fstab string) string {
	var b strings.Builder
	for _, l := range strings.Split(fstab, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestInspectTwoRoots gives two disks that each hold a system: vmsh says
// so, mounts the first, and --root and --no-inspect choose otherwise.
func TestInspectTwoRoots(t *testing.T) {
	guest, other := fixture(t, "guest"), fixture(t, "lvm-gpt")
	guestLog := listedSHA(t, "guest-ubuntu--vg-var.expect", "log/syslog")
	otherLog := listedSHA(t, "lvm-gpt-vg0-var.expect", "log/syslog")

	r := vmsh(t, "", "", "-c", "cat /var/log/syslog", guest, other)
	wantErr := "vmsh: 2 operating systems on these disks:\n" +
		"vmsh:   ubuntu--vg-root  Ubuntu 24.04.1 LTS, hostname guest\n" +
		"vmsh:   vg0-root         unknown system (has /etc/fstab), hostname guest\n" +
		"vmsh: mounting ubuntu--vg-root; vmsh --root VOLUME or use VOLUME mounts another\n" +
		"vmsh: / is ubuntu--vg-root (ext4, label root)\n"
	if r.status != 0 || sha256hex(r.stdout) != guestLog || !strings.HasPrefix(r.stderr, wantErr) {
		t.Errorf("two roots: status %d, stderr:\n%s\nwant it to start with:\n%s", r.status, r.stderr, wantErr)
	}
	// Both disks have a filesystem labelled var; the guest's fstab names
	// /var by LABEL=, and gets its own, on the disk of its root, even when
	// the other disk comes first.
	if r := vmsh(t, "", "", "-c", "cat /var/log/syslog", other, guest); sha256hex(r.stdout) != guestLog ||
		!strings.Contains(r.stderr, "vmsh: / is ubuntu--vg-root") {
		t.Errorf("disks swapped: /var/log/syslog is not ubuntu--vg-var's; stderr:\n%s", r.stderr)
	}

	for _, name := range []string{"vg0-root", "/dev/vg0/root", "/dev/mapper/vg0-root", "UUID=6c766d00-0000-4000-8000-000000000011"} {
		r := vmsh(t, "", "", "--root", name, "-c", "cat /var/log/syslog; info --json", guest, other)
		if r.status != 0 || r.stderr != "vmsh: / is vg0-root (ext4, label root)\n" {
			t.Errorf("--root %s: status %d, stderr %q", name, r.status, r.stderr)
			continue
		}
		log, doc, _ := strings.Cut(r.stdout, "{")
		if sha256hex(log) != otherLog {
			t.Errorf("--root %s: /var/log/syslog is not vg0-var's", name)
		}
		var info infoDoc
		decodeJSON(t, result{stdout: "{" + doc}, &info)
		if str(info.Mounted) != "vg0-root" || len(info.Roots) != 2 || info.Roots[0].Volume != "ubuntu--vg-root" ||
			info.Roots[0].Mounted || info.Roots[1].Volume != "vg0-root" || !info.Roots[1].Mounted || info.Roots[1].Mounts != 4 ||
			info.Roots[1].PrettyName != nil || str(info.Roots[1].Fstab) != "/etc/fstab" {
			t.Errorf("--root %s: info --json %+v", name, info)
		}
	}
	if r := vmsh(t, "", "", "--root=vg0-root", "-c", "mounts", guest, other); !strings.Contains(squeeze(r.stdout), "\n/var vg0-var ext4 /dev/mapper/vg0-var\n") ||
		!strings.Contains(squeeze(r.stdout), "\n/boot sdb1 ext4 UUID=6c766d00-0000-4000-8000-000000000001\n") {
		t.Errorf("--root=vg0-root mounts:\n%s", r.stdout)
	}
	for _, tt := range []struct{ root, err string }{
		{"nope", "vmsh: --root: nope: no such volume (see lsblk)\n"},
		{"sda1", "vmsh: --root: sda1: vfat is not supported\n"},
	} {
		if r := vmsh(t, "", "", "--root", tt.root, "-c", "pwd", guest, other); r.status != 1 || r.stderr != tt.err || r.stdout != "" {
			t.Errorf("--root %s: %+v", tt.root, r)
		}
	}
	if r := vmsh(t, "", "", "--root"); r.status != 2 {
		t.Errorf("--root without a volume: %+v", r)
	}

	r = vmsh(t, "", "", "--no-inspect", "-c", "info; mounts; ls /; info --json", guest, other)
	text, doc, _ := strings.Cut(r.stdout, "{")
	if r.status != 1 || text != "Inspection was off (--no-inspect): no operating system was looked for.\nNothing is mounted (see lsblk and use).\n" ||
		r.stderr != "vmsh: ls /: no filesystem mounted (see lsblk and use)\n" {
		t.Errorf("--no-inspect: %+v", r)
	}
	var info infoDoc
	decodeJSON(t, result{stdout: "{" + doc}, &info)
	if info.Inspected || info.Mounted != nil || len(info.Roots) != 0 {
		t.Errorf("--no-inspect: info --json %+v", info)
	}
	r = vmsh(t, "", "", "--no-inspect", "-c", "use /dev/vg0/root; cat /var/log/syslog", guest, other)
	if r.status != 0 || sha256hex(r.stdout) != otherLog || r.stderr != "vmsh: / is vg0-root (ext4, label root)\n" {
		t.Errorf("--no-inspect, use: status %d, stderr %q", r.status, r.stderr)
	}
	r = vmsh(t, "", "", "--no-inspect", "--root", "vg0/root", "-c", "cat /var/log/syslog; info", guest, other)
	log, text, _ := strings.Cut(r.stdout, "Inspection was off")
	if r.status != 0 || sha256hex(log) != otherLog || text != " (--no-inspect): no operating system was looked for.\n/ is vg0-root (ext4, label root).\n" ||
		r.stderr != "vmsh: / is vg0-root (ext4, label root)\n" {
		t.Errorf("--no-inspect --root: %+v", r)
	}

	var disks struct {
		Disks []struct {
			Name, Source string
			Size         int64
			Table, ID    *string
		} `json:"disks"`
		Connections []struct {
			ID                               uint32
			Name, Format, State              string
			Size                             int64
			Reconnects, Reads, Bytes, Errors uint64
			LastError                        *string    `json:"last_error"`
			LastErrorAt                      *time.Time `json:"last_error_at"`
		} `json:"connections"`
	}
	decodeJSON(t, vmsh(t, "", "", "-c", "disks --json", guest, other), &disks)
	if len(disks.Disks) != 2 || len(disks.Connections) != 2 {
		t.Fatalf("disks --json: %+v", disks)
	}
	for i, img := range []string{guest, other} {
		fi, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		d, c := disks.Disks[i], disks.Connections[i]
		if d.Name != []string{"sda", "sdb"}[i] || d.Source != img || d.Size != fi.Size() || str(d.Table) != "gpt" || d.ID == nil {
			t.Errorf("disks --json disk %d: %+v", i, d)
		}
		if c.Size != fi.Size() || c.Reads == 0 || c.Bytes == 0 || c.Errors != 0 || c.LastError != nil || c.LastErrorAt != nil {
			t.Errorf("disks --json connection %d: %+v", i, c)
		}
	}
	if str(disks.Disks[0].ID) != "9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e00" {
		t.Errorf("guest's disk id %q; mkguest.sh gives 9d3a6f2e-41c7-4b58-8e0a-6b1f2c3d4e00", str(disks.Disks[0].ID))
	}
}
