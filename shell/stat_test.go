package shell

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

// gnuStatFormat is what TestStatJSONMatchesKernel asks GNU stat for, one
// field per fileJSON field, separated by '|' (no name in the fixture has
// one).
const gnuStatFormat = "%n|%i|%h|%u|%g|%s|%b|%.9X|%.9Y|%.9Z|%w|%.9W|%a|%A|%F|%Hr|%Lr"

// checkAgainstStat compares one fileJSON with a line of GNU stat's
// gnuStatFormat output for the same file, and the symlink target with the
// kernel's.
func checkAgainstStat(t *testing.T, mnt string, got fileJSON, line string) {
	t.Helper()
	f := strings.Split(line, "|")
	if len(f) != 17 {
		t.Fatalf("stat printed %q", line)
	}
	num := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("stat field %q: %v", s, err)
		}
		return n
	}
	octal := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 8, 64)
		if err != nil {
			t.Fatalf("stat field %q: %v", s, err)
		}
		return n
	}
	when := func(s string) time.Time {
		sec, ns, _ := strings.Cut(s, ".")
		n, err1 := strconv.ParseInt(sec, 10, 64)
		m, err2 := strconv.ParseInt(ns, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("stat time %q", s)
		}
		if strings.HasPrefix(s, "-") { // -3599.750000000 is 0.75 s before -3599
			m = -m
		}
		return time.Unix(n, m)
	}
	types := map[string]string{
		"regular file": "file", "regular empty file": "file", "directory": "dir", "symbolic link": "symlink",
		"character special file": "char", "block special file": "block", "fifo": "fifo", "socket": "socket",
	}
	mode := octal(f[12])
	want := fileJSON{
		Path: got.Path, Name: filepath.Base(f[0]), Type: types[f[14]],
		Mode: fmt.Sprintf("%04o", mode), Perms: f[13],
		Size: int64(num(f[5])), Blocks: int64(num(f[6])), Inode: num(f[1]), Links: num(f[2]),
		UID: uint32(num(f[3])), GID: uint32(num(f[4])),
		// The fixture has no /etc/passwd or /etc/group: owners are numbers.
		User: f[3], Group: f[4],
		Atime: when(f[7]), Mtime: when(f[8]), Ctime: when(f[9]),
	}
	if f[0] == "." {
		want.Name = "."
	}
	if f[10] != "-" {
		bt := when(f[11])
		want.Btime = &bt
	}
	switch want.Type {
	case "symlink":
		target, err := os.Readlink(filepath.Join(mnt, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		want.Target = &target
	case "char", "block":
		maj, mnr := uint32(num(f[15])), uint32(num(f[16]))
		want.Major, want.Minor = &maj, &mnr
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\nvmsh      %s\nGNU stat  %s", f[0], g, w)
	}
}

// gnuStat runs GNU stat with gnuStatFormat in dir and returns its lines
// by file name.
func gnuStat(t *testing.T, dir string, paths []string) map[string]string {
	t.Helper()
	cmd := exec.Command("stat", append([]string{"-c", gnuStatFormat, "--"}, paths...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		name, _, _ := strings.Cut(l, "|")
		lines[name] = l
	}
	return lines
}

// TestStatJSONMatchesKernel compares stat --json of every file of the ext4
// fixture but the big directory's with GNU stat on a kernel mount of it:
// inode, links, owner, size, blocks, the four times to the nanosecond
// (times before 1970 and after 2038 included), mode, type, symlink targets
// and device numbers.
func TestStatJSONMatchesKernel(t *testing.T) {
	tooltest.Need(t, "stat", "find")
	img := xattrImage(t, "ext4")
	mnt := tooltest.LoopMount(t, img)
	fsys := openXattrFS(t, img)

	cmd := exec.Command("find", ".", "-path", "./big/*", "-prune", "-o", "-print")
	cmd.Dir = mnt
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	paths := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	paths = append(paths, "big/f00042")
	want := gnuStat(t, mnt, paths)

	var quoted []string
	for _, p := range paths {
		quoted = append(quoted, quoteWord(p))
	}
	stdout, stderr, status := session(t, fsys, "cd /; stat --json "+strings.Join(quoted, " "))
	if status != 0 || stderr != "" {
		t.Fatalf("stat --json: status %d, stderr %q", status, stderr)
	}
	var doc struct{ Files []fileJSON }
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stat --json: %v\n%s", err, stdout)
	}
	if len(doc.Files) != len(paths) {
		t.Fatalf("stat --json described %d files, want %d", len(doc.Files), len(paths))
	}
	types := map[string]bool{}
	for i, f := range doc.Files {
		if f.Path != paths[i] {
			t.Errorf("file %d is %q, want %q", i, f.Path, paths[i])
			continue
		}
		checkAgainstStat(t, mnt, f, want[paths[i]])
		types[f.Type] = true
	}
	// The comparison covered every kind of file.
	for _, k := range []string{"file", "dir", "symlink", "char", "block", "fifo", "socket"} {
		if !types[k] {
			t.Errorf("no %s in the fixture's files", k)
		}
	}

	// A missing path is reported on stderr and fails stat, as GNU stat
	// does, while the others are still described in the one document.
	stdout, stderr, status = session(t, fsys, "stat --json /nope /hello.txt")
	doc.Files = nil
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Files) != 1 || doc.Files[0].Path != "/hello.txt" {
		t.Errorf("stat --json /nope /hello.txt: %v\n%s", err, stdout)
	}
	if status != 1 || stderr != "vmsh: stat /nope: no such file or directory\n" {
		t.Errorf("stat --json /nope: status %d, stderr %q", status, stderr)
	}
	if exec.Command("stat", filepath.Join(mnt, "nope"), filepath.Join(mnt, "hello.txt")).Run() == nil {
		t.Error("GNU stat succeeded on a missing file")
	}
	stdout, _, status = session(t, fsys, "stat --json /nope")
	if status != 1 || stdout != "{\n  \"files\": []\n}\n" {
		t.Errorf("stat --json /nope: status %d, stdout %q", status, stdout)
	}
}

// TestFindJSONMatchesKernel runs find --json with each test find knows
// (each expression matching something in the fixture) and compares the matches with what GNU find prints on a kernel mount of
// the same image, and each match's fields with GNU stat.
func TestFindJSONMatchesKernel(t *testing.T) {
	tooltest.Need(t, "stat", "find")
	img := xattrImage(t, "ext4")
	mnt := tooltest.LoopMount(t, img)
	fsys := openXattrFS(t, img)

	exprs := [][]string{
		{"-not", "-path", "./big/?*"},
		{"-name", "*.txt"},
		{"-iname", "HELLO*"},
		{"-path", "./links/*"},
		{"-type", "l"},
		{"-type", "b,c,p,s"},
		{"-size", "+4k", "-type", "f"},
		{"-size", "-1", "-type", "f", "-not", "-path", "./big/*"},
		{"-mtime", "+365", "-path", "./times/*"},
		{"-mtime", "-1", "-not", "-path", "./big/*"},
		{"-newer", "hello.txt", "-not", "-path", "./big/*"},
		{"-maxdepth", "1"},
		{"-mindepth", "2", "-maxdepth", "2", "-not", "-path", "./big/*"},
		{"-name", "f0004*", "-print"},
		{"-type", "d", "-name", "deep", "-o", "-name", "leaf.txt"},
	}
	for _, ex := range exprs {
		cmd := exec.Command("find", append([]string{"."}, ex...)...)
		cmd.Dir = mnt
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("find %q: %v", ex, err)
		}
		want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(out) == 0 {
			want = nil
		}
		line := "find --json . " + quoteArgs(ex)
		stdout, stderr, status := session(t, fsys, "cd /; "+line)
		if status != 0 || stderr != "" {
			t.Errorf("%s: status %d, stderr %q", line, status, stderr)
			continue
		}
		var doc struct{ Matches []fileJSON }
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, stdout)
		}
		if doc.Matches == nil {
			t.Errorf("%s: no \"matches\" array in %s", line, stdout)
		}
		var got []string
		for _, m := range doc.Matches {
			got = append(got, m.Path)
		}
		// The names come in the order find without --json prints them.
		text, _, _ := session(t, fsys, "cd /; find . "+quoteArgs(ex))
		if strings.Join(got, "\n") != strings.TrimSuffix(text, "\n") {
			t.Errorf("%s: matches in another order than find's:\n%q\n%q", line, got, text)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\nvmsh     %q\nGNU find %q", line, got, want)
			continue
		}
		if len(want) == 0 {
			t.Errorf("%s: GNU find found nothing: a weak expression", line)
			continue
		}
		stats := gnuStat(t, mnt, want)
		for _, m := range doc.Matches {
			checkAgainstStat(t, mnt, m, stats[m.Path])
		}
	}
}

// TestFindJSONUsage checks where --json may stand and that -print0 is
// refused with it.
func TestFindJSONUsage(t *testing.T) {
	for _, line := range []string{
		"find --json /etc -name passwd", "find /etc --json -name passwd", "find /etc -name passwd --json",
	} {
		out, errs, status := session(t, guest(), line)
		var doc struct{ Matches []fileJSON }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || status != 0 || errs != "" ||
			len(doc.Matches) != 1 || doc.Matches[0].Path != "/etc/passwd" || doc.Matches[0].Type != "file" {
			t.Errorf("%s: status %d, stderr %q, %v\n%s", line, status, errs, err, out)
		}
	}
	out, errs, status := session(t, guest(), "find --json /etc -print0")
	if out != "" || status != 2 && status != 1 || !strings.Contains(errs, "--json and -print0") {
		t.Errorf("find --json -print0: status %d, stdout %q, stderr %q", status, out, errs)
	}
	out, errs, status = session(t, guest(), "find --json /nope /etc/passwd")
	if status != 1 || errs != "vmsh: find /nope: no such file or directory\n" || !strings.Contains(out, `"path": "/etc/passwd"`) {
		t.Errorf("find --json /nope /etc/passwd: status %d, stdout %q, stderr %q", status, out, errs)
	}
}
