package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// lsTree writes a directory with every kind of file ls tells apart:
// sizes and times to sort by (some equal, so ties go by name), all file
// types, set-id, sticky and other-writable modes, hard links, broken
// symlinks, names whose suffixes have colours, and owners named in an
// etc/passwd of the tree. It returns the directory.
func lsTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	type file struct {
		name, data string
		mode       os.FileMode
		mtime      time.Time
		uid, gid   int
	}
	files := []file{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644, old, 0, 0},
		{"etc/group", "root:x:0:\n", 0o644, old, 0, 0},
		{"a.tar", strings.Repeat("t", 3000), 0o644, old.Add(time.Hour), 4242, 4243},
		{"b.tar.gz", strings.Repeat("g", 3000), 0o644, old.Add(time.Hour), 0, 0},
		{"c.jpg", "jpeg", 0o644, old.Add(-time.Hour), 0, 0},
		{"D.JPG", "JPEG", 0o644, old.Add(2 * time.Hour), 0, 0},
		{"song.mp3", strings.Repeat("m", 5000), 0o600, now.Add(-24 * time.Hour), 31337, 31338},
		{"notes~", "n", 0o644, now.Add(-48 * time.Hour), 0, 0},
		{"#draft#", "d", 0o644, old, 0, 0},
		{"-dash", "", 0o644, old, 0, 0},
		{".hidden", "h", 0o644, old, 0, 0},
		{"run.sh", "#!/bin/sh\n", 0o755, old, 0, 0},
		{"suid", "s", 0o4755, old, 0, 0},
		{"sgid", "s", 0o2755, old, 0, 0},
		{"big", strings.Repeat("x", 70000), 0o644, old.Add(-48 * time.Hour), 0, 0},
		{"sub/inner.txt", "inner", 0o644, old, 0, 0},
		{"sub/deeper/leaf.gz", "leaf", 0o644, old, 0, 0},
		{"with space", "sp", 0o644, old, 0, 0},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
		must(t, os.Chmod(p, f.mode))
		must(t, os.Lchown(p, f.uid, f.gid))
		must(t, os.Chtimes(p, f.mtime, f.mtime))
	}
	must(t, os.Link(filepath.Join(dir, "big"), filepath.Join(dir, "big.link")))
	for name, mode := range map[string]os.FileMode{"tmpdir": 0o1777, "pubdir": 0o777, "stickydir": 0o1755, "plaindir": 0o755} {
		p := filepath.Join(dir, name)
		must(t, os.Mkdir(p, 0o755))
		must(t, syscall.Chmod(p, uint32(mode)))
	}
	for name, target := range map[string]string{"link-file": "a.tar", "link-dir": "sub", "link-broken": "nowhere", "link-abs": "/etc/passwd", "link.tar": "c.jpg"} {
		must(t, os.Symlink(target, filepath.Join(dir, name)))
	}
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(t, syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, int(unixMkdev(1, 3))))
	must(t, syscall.Mknod(filepath.Join(dir, "disk"), syscall.S_IFBLK|0o660, int(unixMkdev(259, 1))))
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	for _, name := range []string{"tmpdir", "pubdir", "stickydir", "plaindir", "fifo", "null", "disk", "sock"} {
		must(t, os.Chtimes(filepath.Join(dir, name), old.Add(3*time.Hour), old.Add(3*time.Hour)))
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// unixMkdev packs a device number as Linux does.
func unixMkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(minor&0xff) | uint64(major&^0xfff)<<32 | uint64(minor&^0xff)<<12
}

// lsMount makes an ext4 image of dir with mke2fs -d, mounts it read-only
// through a loop device and returns the mountpoint and vmsh's reading of
// the image.
func lsMount(t *testing.T, dir string, mkfsArgs ...string) (string, *fsread.FS) {
	t.Helper()
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "mke2fs", "mount", "umount")
	img := filepath.Join(t.TempDir(), "fs.img")
	args := append([]string{"-q", "-F", "-t", "ext4"}, mkfsArgs...)
	args = append(args, "-d", dir, img, "16M")
	if out, err := exec.Command("mke2fs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	return tooltest.LoopMount(t, img), openXattrFS(t, img)
}

// gnuLs runs GNU ls with args in dir, in the C locale and UTC, with env
// added to the environment.
func gnuLs(t *testing.T, dir string, env []string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("ls", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"LC_ALL=C", "TZ=UTC", "LS_COLORS="}, env...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("ls: %v", err)
	}
	return out.String(), err == nil
}

// TestLsLikeGNU compares ls's listings, sorts and flags with GNU ls on a
// kernel mount of the same image.
func TestLsLikeGNU(t *testing.T) {
	tooltest.Need(t, "ls")
	mnt, fsys := lsMount(t, lsTree(t))
	for _, line := range []string{
		"ls", "ls -a sub", "ls -A", "ls -l", "ls -la sub", "ls -lA", "ls -lt", "ls -lS", "ls -lrt", "ls -lrS",
		"ls -ltr sub", "ls -t", "ls -S", "ls -r", "ls -tr", "ls -Sr", "ls -i", "ls -1i", "ls -li", "ls -lin",
		"ls -n", "ls -ln", "ls -lh", "ls -lhS", "ls -R", "ls -lR", "ls -lRt", "ls -Ri", "ls -d sub plaindir a.tar",
		"ls -ld sub link-dir link-file", "ls -lt a.tar b.tar.gz c.jpg sub plaindir", "ls -S -- big a.tar sub -dash",
		"ls -ltr a.tar b.tar.gz sub", "ls -l link-dir link-dir/", "ls -i link-dir", "ls -lai sub",
		"ls -l null disk fifo sock", "ls -li etc sub/deeper", "ls nope a.tar", "ls -lSr tmpdir pubdir",
	} {
		args := strings.Fields(line)[1:]
		want, ok := gnuLs(t, mnt, nil, args...)
		got, errs, status := session(t, fsys, "cd /; "+line)
		if got != want {
			t.Errorf("%s:\nvmsh:\n%s\nGNU ls:\n%s\nstderr %q", line, got, want, errs)
		}
		if (status == 0) != ok {
			t.Errorf("%s: status %d, GNU ls ok %v", line, status, ok)
		}
	}
}

// lsColored runs ls with the arguments of line in a shell over fsys,
// with the colours of spec ("" for the defaults) and a terminal width
// columns wide, as if standard output were a terminal.
func lsColored(t *testing.T, fsys *fsread.FS, spec string, width int, line string) string {
	t.Helper()
	ui := &fakeUI{width: width}
	s := New(ui)
	s.Mount("/", fsys)
	cmds, err := parseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	x := &Call{Shell: s, Ctx: context.Background(), Name: "ls", words: cmds[0][1:], Out: &ui.out}
	ops, err := x.parse(s.cmds["ls"])
	if err != nil {
		t.Fatal(err)
	}
	args := x.expand(ops)
	if len(ops) == 0 {
		args = []string{"."}
	}
	colors, err := lsColorsFor(true, func(k string) string {
		if k == "LS_COLORS" {
			return spec
		}
		return ""
	})
	if err != nil || colors == nil {
		t.Fatalf("colours of %q: %v", spec, err)
	}
	o := x.lsOptions()
	o.paint = &painter{c: colors}
	if err := x.ls(args, o); err != nil {
		t.Fatal(err)
	}
	return ui.out.String()
}

// TestLsColorsLikeGNU compares the colours of ls with GNU ls
// --color=always given the same $LS_COLORS, and vmsh's default table with
// the one dircolors writes.
func TestLsColorsLikeGNU(t *testing.T) {
	tooltest.Need(t, "ls", "dircolors")
	out, err := exec.Command("dircolors", "-b").Output()
	if err != nil {
		t.Fatal(err)
	}
	def, _, ok := strings.Cut(strings.TrimPrefix(string(out), "LS_COLORS='"), "';")
	if !ok {
		t.Fatalf("dircolors -b: %q", out)
	}
	if def != defaultLSColors {
		t.Errorf("default colours differ from dircolors':\nvmsh      %s\ndircolors %s", defaultLSColors, def)
	}
	mnt, fsys := lsMount(t, lsTree(t))
	specs := []string{
		"", // vmsh's defaults against dircolors'
		"di=01;31:ln=target:*.TAR=35:*.gz=36:*.tar.gz=33",
		"no=07:fi=00:ex=1:mh=44:or=41:mi=45:ca=00",
		"rs=1:ec=\\e[0m:lc=\\e[:rc=m:di=:pi=^[[5m:*~=\\x31:*#=\\061",
		"*.jpg=31:*.JPG=32:tw=00:ow=00:st=00:su=00:sg=00",
	}
	for _, spec := range specs {
		env := spec
		if spec == "" {
			env = def
		}
		for _, width := range []int{80, 38, 17} {
			for _, line := range []string{"ls", "ls -l", "ls -1", "ls -a sub", "ls -li", "ls -i", "ls -lR", "ls -lS", "ls -tr",
				"ls -l link-broken link-file link-dir link.tar", "ls link-broken link-file link.tar"} {
				if strings.Contains(line, "-l") && width != 80 || line != "ls" && line != "ls -i" && width == 17 {
					continue
				}
				args := append([]string{"--color=always", "-C"}, strings.Fields(line)[1:]...)
				if strings.Contains(line, "-1") {
					args = args[:1]
					args = append(args, strings.Fields(line)[1:]...)
				}
				want, _ := gnuLs(t, mnt, []string{"LS_COLORS=" + env, "COLUMNS=" + strconv.Itoa(width)}, args...)
				got := lsColored(t, fsys, spec, width, line)
				if got != want {
					t.Errorf("LS_COLORS=%q COLUMNS=%d %s:\nvmsh:\n%q\nGNU ls:\n%q", spec, width, line, got, want)
				}
			}
		}
	}
}

// TestLsColorDecision checks when ls colours: only on a terminal, never
// with NO_COLOR set to anything but "", nor with TERM=dumb.
func TestLsColorDecision(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		tty   bool
		env   func(string) string
		color bool
	}{
		{true, env(), true},
		{false, env(), false},
		{false, env("LS_COLORS", "di=01;34"), false},
		{true, env("NO_COLOR", "1"), false},
		{true, env("NO_COLOR", "0"), false},
		{true, env("NO_COLOR", ""), true},
		{true, env("TERM", "dumb"), false},
		{true, env("TERM", "xterm-256color", "LS_COLORS", "di=01;31"), true},
	}
	for i, tt := range tests {
		c, err := lsColorsFor(tt.tty, tt.env)
		if err != nil || (c != nil) != tt.color {
			t.Errorf("%d: colours %v, error %v; want colours %v", i, c != nil, err, tt.color)
		}
	}
	c, err := lsColorsFor(true, env("LS_COLORS", "di=01;31:*.x=32:ln=target"))
	if err != nil || c.ind[colDir] != "01;31" || c.ind[colLink] != "" || !c.asTarget || c.ind[colExec] != "01;32" {
		t.Errorf("parsed %+v, %v", c, err)
	}
	for _, bad := range []string{"xx=1", "di", "*.x", "d=1"} {
		if _, err := lsColorsFor(true, env("LS_COLORS", bad)); err == nil {
			t.Errorf("LS_COLORS=%q: no error", bad)
		}
	}
}

// TestLsNoColorWhenNotTerminal runs ls with colours asked for by
// $LS_COLORS and checks that none reach a buffer, a local file or a pipe.
func TestLsNoColorWhenNotTerminal(t *testing.T) {
	t.Setenv("LS_COLORS", "di=01;34:ln=01;36:ex=01;32:*.conf=01;31")
	t.Setenv("NO_COLOR", "")
	dir := t.TempDir()
	out, errs, _ := session(t, guest(), "ls -l /etc /bin /usr/bin", "ls /", "lcd "+dir, "ls -l / > out", "ls -R / | cat > piped")
	for name, text := range map[string]string{"stdout": out, "stderr": errs, "out": readLocal(t, dir, "out"), "piped": readLocal(t, dir, "piped")} {
		if strings.Contains(text, "\033") {
			t.Errorf("%s has escapes: %q", name, text)
		}
		if name != "stderr" && !strings.Contains(text, "a.conf") && !strings.Contains(text, "etc") {
			t.Errorf("%s: %q", name, text)
		}
	}
	// A regular file and a pipe are not terminals.
	f, err := os.Create(filepath.Join(dir, "f"))
	must(t, err)
	defer f.Close()
	r, w, err := os.Pipe()
	must(t, err)
	defer r.Close()
	defer w.Close()
	if isTerminal(f) || isTerminal(w) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file, a pipe or a buffer taken for a terminal")
	}
}

func readLocal(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	must(t, err)
	return string(b)
}

// TestLsLargeDir lists the 48,000-entry directory of the large_dir
// fixture as GNU ls does on a kernel mount of it.
func TestLsLargeDir(t *testing.T) {
	tooltest.Need(t, "ls")
	tooltest.NeedRoot(t, "a loop mount")
	tooltest.Need(t, "mount", "umount")
	img := filepath.Join(t.TempDir(), "largedir.img")
	must(t, os.WriteFile(img, tooltest.Gunzip(t, filepath.Join("..", "testdata", "largedir.ext4.gz")), 0o644))
	mnt := tooltest.LoopMount(t, img)
	fsys := openXattrFS(t, img)
	for _, line := range []string{"ls big", "ls -nS big", "ls -nti big", "ls -1r big", "ls -n ."} {
		args := strings.Fields(line)[1:]
		want, _ := gnuLs(t, mnt, nil, args...)
		got, errs, _ := session(t, fsys, line)
		if got != want {
			t.Errorf("%s: %d bytes, GNU ls %d; stderr %q\n%s", line, len(got), len(want), errs, firstDiff(got, want))
		}
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i+1) + ":\n" + al[i] + "\n" + bl[i]
		}
	}
	return "one is a prefix of the other"
}

// TestLsJSON checks the document ls --json writes: operands that are not
// directories under "files", each directory listed under "dirs" with its
// entries in the order of the sort flags.
func TestLsJSON(t *testing.T) {
	run := func(line string) lsJSON {
		t.Helper()
		out, errs, status := session(t, guest(), line)
		var doc lsJSON
		if err := json.Unmarshal([]byte(out), &doc); err != nil || status != 0 || errs != "" {
			t.Fatalf("%s: %v, status %d, stderr %q\n%s", line, err, status, errs, out)
		}
		if strings.Count(out, "\n{") > 0 || !strings.HasPrefix(out, "{") {
			t.Errorf("%s: not one document:\n%s", line, out)
		}
		return doc
	}
	names := func(fs []fileJSON) string {
		var n []string
		for _, f := range fs {
			n = append(n, f.Name)
		}
		return strings.Join(n, " ")
	}
	doc := run("ls --json -R /etc/b.conf /home /etc/a.conf")
	if names(doc.Files) != "a.conf b.conf" || doc.Files[0].Path != "/etc/a.conf" || doc.Files[0].User != "alice" || doc.Files[0].Size != 2 {
		t.Errorf("files: %+v", doc.Files)
	}
	var dirs []string
	for _, d := range doc.Dirs {
		dirs = append(dirs, d.Path+": "+names(d.Entries))
	}
	if got, want := strings.Join(dirs, "; "), "/home: alice; /home/alice: a.txt abs ro up; /home/alice/ro: f"; got != want {
		t.Errorf("dirs: %s, want %s", got, want)
	}
	if e := doc.Dirs[1].Entries[1]; e.Type != "symlink" || e.Target == nil || *e.Target != "/etc/passwd" || e.Path != "/home/alice/abs" {
		t.Errorf("symlink: %+v", e)
	}
	doc = run("ls --json -a -r /etc")
	if got := names(doc.Dirs[0].Entries); got != "passwd my file group fstab b.conf a.conf .hidden .. ." || len(doc.Files) != 0 {
		t.Errorf("ls --json -a -r: %s, files %v", got, doc.Files)
	}
	if d := doc.Dirs[0].Entries[8]; d.Path != "/etc/." || d.Type != "dir" {
		t.Errorf(". entry: %+v", d)
	}
	doc = run("ls --json -d /etc /tmp")
	if names(doc.Files) != "etc tmp" || len(doc.Dirs) != 0 {
		t.Errorf("ls --json -d: %+v", doc)
	}
	doc = run("ls --json -S /usr/bin")
	if names(doc.Dirs[0].Entries) != "sudo ls" {
		t.Errorf("ls --json -S: %s", names(doc.Dirs[0].Entries))
	}
	out, _, status := session(t, guest(), "ls --json /nope /tmp")
	if status == 0 || !strings.Contains(out, `"path": "/tmp"`) {
		t.Errorf("ls --json /nope /tmp: status %d\n%s", status, out)
	}
}
