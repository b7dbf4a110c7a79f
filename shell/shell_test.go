package shell

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"vmsh/fsread"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// fakeUI feeds the shell scripted lines and records what it prints.
type fakeUI struct {
	lines       []string
	out, err    bytes.Buffer
	width       int
	interactive bool
	completer   Completer
}

func (u *fakeUI) ReadLine(string) (string, error) {
	if len(u.lines) == 0 {
		return "", io.EOF
	}
	l := u.lines[0]
	u.lines = u.lines[1:]
	return l, nil
}
func (u *fakeUI) Stdout() io.Writer        { return &u.out }
func (u *fakeUI) Stderr() io.Writer        { return &u.err }
func (u *fakeUI) Interactive() bool        { return u.interactive }
func (u *fakeUI) Width() int               { return u.width }
func (u *fakeUI) SetCompleter(c Completer) { u.completer = c }
func (u *fakeUI) Close() error             { return nil }

var (
	old    = time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	oldSec = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
)

func st(ino uint64, mode uint32, uid, gid uint32, nlink uint32, size int64) *fsread.Stat {
	return &fsread.Stat{Ino: ino, Mode: mode, Uid: uid, Gid: gid, Nlink: nlink, Size: size,
		Blocks: (size + 4095) / 4096 * 8, Atime: old.Add(time.Hour), Mtime: old, Ctime: old,
		Crtime: old.Add(-time.Hour)}
}

// guest is a small guest tree.
func guest() fstest.MapFS {
	dev := st(20, sIFCHR|0o666, 0, 0, 1, 0)
	dev.Major, dev.Minor = 1, 3
	return fstest.MapFS{
		"etc":              {Mode: fs.ModeDir | 0o755, ModTime: old, Sys: st(2, sIFDIR|0o755, 0, 0, 3, 4096)},
		"etc/passwd":       {Data: []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), Mode: 0o644, ModTime: old},
		"etc/group":        {Data: []byte("root:x:0:\nstaff:x:50:\n"), Mode: 0o644, ModTime: old},
		"etc/fstab":        {Data: []byte("UUID=x / ext4 defaults 0 1\n"), Mode: 0o644, ModTime: old},
		"etc/a.conf":       {Data: []byte("A\n"), Mode: 0o600, ModTime: old, Sys: st(11, sIFREG|0o600, 1000, 50, 1, 2)},
		"etc/b.conf":       {Data: []byte("B\n"), Mode: 0o640, ModTime: old, Sys: st(12, sIFREG|0o640, 1001, 51, 1, 2)},
		"etc/.hidden":      {Data: []byte("h"), Mode: 0o644, ModTime: old},
		"etc/my file":      {Data: []byte("spaces\n"), Mode: 0o644, ModTime: old},
		"bin":              {Data: []byte("usr/bin"), Mode: fs.ModeSymlink | 0o777, ModTime: old},
		"usr/bin/ls":       {Data: []byte("#!ls\n"), Mode: 0o755, ModTime: old},
		"usr/bin/sudo":     {Data: []byte("#!sudo\n"), Mode: 0o755 | fs.ModeSetuid, ModTime: old},
		"dev/null":         {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, ModTime: old, Sys: dev},
		"dev/fifo":         {Mode: fs.ModeNamedPipe | 0o644, ModTime: old},
		"tmp":              {Mode: fs.ModeDir | fs.ModeSticky | 0o777, ModTime: old},
		"home/alice/a.txt": {Data: []byte("hello alice\n"), Mode: 0o644, ModTime: old},
		"home/alice/abs":   {Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink | 0o777, ModTime: old},
		"home/alice/up":    {Data: []byte("../../../../etc"), Mode: fs.ModeSymlink | 0o777, ModTime: old},
		"home/alice/ro":    {Mode: fs.ModeDir | 0o555, ModTime: old},
		"home/alice/ro/f":  {Data: []byte("in a read-only dir\n"), Mode: 0o444, ModTime: old},
	}
}

// session runs lines in a shell over fsys and returns what it printed and
// its exit status.
func session(t *testing.T, fsys fs.FS, lines ...string) (stdout, stderr string, status int) {
	t.Helper()
	ui := &fakeUI{lines: lines}
	s := New(ui)
	s.Mount("/", fsys)
	status = s.Run()
	return ui.out.String(), ui.err.String(), status
}

func TestLs(t *testing.T) {
	tests := []struct {
		cmd, out, err string
	}{
		{"ls /etc", "a.conf\nb.conf\nfstab\ngroup\nmy file\npasswd\n", ""},
		{"ls -A /etc", ".hidden\na.conf\nb.conf\nfstab\ngroup\nmy file\npasswd\n", ""},
		{"ls -a /etc/", ".\n..\n.hidden\na.conf\nb.conf\nfstab\ngroup\nmy file\npasswd\n", ""},
		{"ls -d /etc /bin", "/bin\n/etc\n", ""},
		{"ls /bin", "ls\nsudo\n", ""},
		{"ls /etc/passwd /bin /home", "/etc/passwd\n\n/bin:\nls\nsudo\n\n/home:\nalice\n", ""},
		{"ls -R /home", "/home:\nalice\n\n/home/alice:\na.txt\nabs\nro\nup\n\n/home/alice/ro:\nf\n", ""},
		{"cd /etc; ls *.conf", "a.conf\nb.conf\n", ""},
		{"ls /etc/*.conf", "/etc/a.conf\n/etc/b.conf\n", ""},
		{"ls /etc/.h*", "/etc/.hidden\n", ""},
		{"ls '/etc/*.conf'", "", "vmsh: ls /etc/*.conf: no such file or directory\n"},
		{`ls /etc/my\ file "/etc/my file"`, "/etc/my file\n/etc/my file\n", ""},
		{"ls /e*/[ab].conf", "/etc/a.conf\n/etc/b.conf\n", ""},
		{"ls /*/", "/bin/:\nls\nsudo\n\n/dev/:\nfifo\nnull\n\n/etc/:\na.conf\nb.conf\nfstab\ngroup\nmy file\npasswd\n\n/home/:\nalice\n\n/tmp/:\n\n/usr/:\nbin\n", ""},
		{"ls /nope*", "", "vmsh: ls /nope*: no match\n"},
		{"ls /nope", "", "vmsh: ls /nope: no such file or directory\n"},
		{"ls /etc/passwd/x", "", "vmsh: ls /etc/passwd/x: not a directory\n"},
		{"ls -z", "", "vmsh: ls: unknown flag -z\n"},
		{"ls --color", "", "vmsh: ls: unknown flag --color\n"},
	}
	for _, tt := range tests {
		out, errs, _ := session(t, guest(), tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
	}
}

func TestLsLong(t *testing.T) {
	out, errs, status := session(t, guest(), "ls -l /etc/a.conf /etc/b.conf /dev/null /bin /usr/bin/sudo /tmp/ /etc/passwd")
	if status != 0 || errs != "" {
		t.Fatalf("status %d, stderr %q", status, errs)
	}
	// Files come first, sorted as GNU ls sorts them, then the directory's contents.
	wantFiles := []string{
		"lrwxrwxrwx 1 root  root     7 Jan  2  2020 /bin -> usr/bin",
		"crw-rw-rw- 1 root  root  1, 3 Jan  2  2020 /dev/null",
		"-rw------- 1 alice staff    2 Jan  2  2020 /etc/a.conf",
		"-rw-r----- 1  1001    51    2 Jan  2  2020 /etc/b.conf", // numbers aligned right, as GNU ls does
		"-rw-r--r-- 1 root  root    65 Jan  2  2020 /etc/passwd",
		"-rwsr-xr-x 1 root  root     7 Jan  2  2020 /usr/bin/sudo",
		"",
		"/tmp/:",
		"total 0",
	}
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("ls -l:\n%s\nwant:\n%s", out, strings.Join(wantFiles, "\n"))
	}

	out, _, _ = session(t, guest(), "ls -ld /tmp /etc")
	if want := "drwxr-xr-x 3 root root 4096 Jan  2  2020 /etc\ndrwxrwxrwt 2 root root    0 Jan  2  2020 /tmp\n"; out != want {
		t.Errorf("ls -ld:\n%s\nwant:\n%s", out, want)
	}
	out, _, _ = session(t, guest(), "ls -lh /etc")
	if !strings.HasPrefix(out, "total 10K\n-rw------- 1 alice staff  2 Jan  2  2020 a.conf\n") {
		t.Errorf("ls -lh:\n%s", out)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1.0K", 1025: "1.1K", 10 * 1024: "10K",
		10*1024 + 1: "11K", 1023 * 1024: "1023K", 1024*1024 - 1: "1.0M", 5 << 30: "5.0G"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestModeString(t *testing.T) {
	for mode, want := range map[uint32]string{
		sIFREG | 0o644: "-rw-r--r--", sIFDIR | 0o1777: "drwxrwxrwt", sIFDIR | 0o1776: "drwxrwxrwT",
		sIFREG | 0o4755: "-rwsr-xr-x", sIFREG | 0o4644: "-rwSr--r--", sIFREG | 0o2755: "-rwxr-sr-x",
		sIFREG | 0o2745: "-rwxr-Sr-x", sIFBLK | 0o660: "brw-rw----", sIFIFO | 0o600: "prw-------",
		sIFSOCK | 0o777: "srwxrwxrwx", sIFLNK | 0o777: "lrwxrwxrwx",
	} {
		if got := modeString(mode); got != want {
			t.Errorf("modeString(%o) = %q, want %q", mode, got, want)
		}
	}
}

func TestColumns(t *testing.T) {
	ui := &fakeUI{lines: []string{"ls /etc"}, width: 30}
	s := New(ui)
	s.Mount("/", guest())
	s.Run()
	want := "a.conf\tfstab  my file\nb.conf\tgroup  passwd\n"
	if ui.out.String() != want {
		t.Errorf("columns:\n%q\nwant\n%q", ui.out.String(), want)
	}
}

func TestCatCdPwd(t *testing.T) {
	out, errs, status := session(t, guest(), "cat /etc/a.conf /etc/b.conf", "cd /home/alice; pwd; cat a.txt", "cd ..; pwd", "cd; pwd", "cd /bin; pwd; ls")
	want := "A\nB\n/home/alice\nhello alice\n/home\n/\n/bin\nls\nsudo\n"
	if out != want || errs != "" || status != 0 {
		t.Errorf("got %q %q %d, want %q", out, errs, status, want)
	}
	out, errs, status = session(t, guest(), "cat /etc/*.conf /nope /etc/a.conf", "cd /etc/passwd", "cd /nope", "cat /etc", "cat")
	wantErr := "vmsh: cat /nope: no such file or directory\n" +
		"vmsh: cd /etc/passwd: not a directory\n" +
		"vmsh: cd /nope: no such file or directory\n" +
		"vmsh: cat /etc: is a directory\n" +
		"vmsh: cat: missing file operand (usage: cat path...)\n"
	if out != "A\nB\nA\n" || errs != wantErr || status != 1 {
		t.Errorf("got %q\n%q\n%d", out, errs, status)
	}
	// Symlinks resolve through the tree, absolute ones from its top.
	out, errs, _ = session(t, guest(), "cat /home/alice/abs", "ls /home/alice/up/")
	if !strings.HasPrefix(out, "root:x:0:0") || !strings.Contains(out, "a.conf\n") || errs != "" {
		t.Errorf("symlinks: %q %q", out, errs)
	}
}

func TestStat(t *testing.T) {
	out, errs, _ := session(t, guest(), "stat /etc/a.conf /dev/null /bin")
	want := "" +
		"  File: /etc/a.conf\n" +
		"  Size: 2         \tBlocks: 8          IO Block: 4096   regular file\n" +
		"Device: 0,0\tInode: 11          Links: 1\n" +
		"Access: (0600/-rw-------)  Uid: ( 1000/   alice)   Gid: (   50/   staff)\n" +
		"Access: 2020-01-02 04:04:05.123456789 +0000\n" +
		"Modify: 2020-01-02 03:04:05.123456789 +0000\n" +
		"Change: 2020-01-02 03:04:05.123456789 +0000\n" +
		" Birth: 2020-01-02 02:04:05.123456789 +0000\n" +
		"  File: /dev/null\n" +
		"  Size: 0         \tBlocks: 0          IO Block: 4096   character special file\n" +
		"Device: 0,0\tInode: 20          Links: 1     Device type: 1,3\n" +
		"Access: (0666/crw-rw-rw-)  Uid: (    0/    root)   Gid: (    0/    root)\n" +
		"Access: 2020-01-02 04:04:05.123456789 +0000\n" +
		"Modify: 2020-01-02 03:04:05.123456789 +0000\n" +
		"Change: 2020-01-02 03:04:05.123456789 +0000\n" +
		" Birth: 2020-01-02 02:04:05.123456789 +0000\n" +
		"  File: /bin -> usr/bin\n" +
		"  Size: 7         \tBlocks: 1          IO Block: 4096   symbolic link\n" +
		"Device: 0,0\tInode: ?           Links: 1\n" +
		"Access: (0777/lrwxrwxrwx)  Uid: (    0/    root)   Gid: (    0/    root)\n" +
		"Access: 2020-01-02 03:04:05.123456789 +0000\n" +
		"Modify: 2020-01-02 03:04:05.123456789 +0000\n" +
		"Change: 2020-01-02 03:04:05.123456789 +0000\n" +
		" Birth: -\n"
	if out != want || errs != "" {
		t.Errorf("stat:\n%s\nwant:\n%s\nstderr %q", out, want, errs)
	}
}

func TestErrorsAndStatus(t *testing.T) {
	tests := []struct {
		lines  []string
		err    string
		status int
	}{
		{[]string{"pwd"}, "", 0},
		{[]string{"frob"}, "vmsh: frob: unknown command (try help)\n", 1},
		{[]string{"frob", "pwd"}, "vmsh: frob: unknown command (try help)\n", 1},
		{[]string{"ls /nope; pwd"}, "vmsh: ls /nope: no such file or directory\n", 1},
		{[]string{"exit 3", "frob"}, "", 3},
		{[]string{"frob; exit"}, "vmsh: frob: unknown command (try help)\n", 1},
		{[]string{"quit", "frob"}, "", 0},
		{[]string{"echo 'open"}, "vmsh: unterminated quote\n", 1},
		{[]string{"# a comment", "", "   "}, "", 0},
		{[]string{"exit x"}, "vmsh: exit: bad status \"x\" (usage: exit [status])\n", 1},
	}
	for _, tt := range tests {
		_, errs, status := session(t, guest(), tt.lines...)
		if errs != tt.err || status != tt.status {
			t.Errorf("%q: stderr %q status %d, want %q %d", tt.lines, errs, status, tt.err, tt.status)
		}
	}
}

func TestHelp(t *testing.T) {
	out, errs, _ := session(t, guest(), "help", "help ls", "help nope")
	for _, c := range commands {
		if !strings.Contains(out, c.Usage) {
			t.Errorf("help lacks %q", c.Usage)
		}
	}
	if !strings.Contains(out, "usage: ls [-laAhRd1tSrin] [--json] [path...]\n") {
		t.Errorf("help ls: %s", out)
	}
	if errs != "vmsh: help: nope: unknown command\n" {
		t.Errorf("help nope: %q", errs)
	}
}

// panicFS panics on every call, as a buggy filesystem reader might.
type panicFS struct{}

func (panicFS) Open(string) (fs.File, error) { panic("boom") }

func TestPanicStopsAtCommand(t *testing.T) {
	out, errs, status := session(t, panicFS{}, "cat /x", "pwd")
	if out != "/\n" || errs != "vmsh: cat: internal error: boom\n" || status != 1 {
		t.Errorf("got %q %q %d", out, errs, status)
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
	}{
		{"ls -l /etc", [][]string{{"ls", "-l", "/etc"}}},
		{"a; b c ;d", [][]string{{"a"}, {"b", "c"}, {"d"}}},
		{`cat 'a b' "c d" e\ f`, [][]string{{"cat", "a b", "c d", "e f"}}},
		{`cat 'a;b' "x\"y" 'it''s'`, [][]string{{"cat", "a;b", `x"y`, "its"}}},
		{`cat "" ''`, [][]string{{"cat", "", ""}}},
		{"ls # comment; pwd", [][]string{{"ls"}}},
		{"ls a#b", [][]string{{"ls", "a#b"}}},
		{"ls\npwd", [][]string{{"ls"}, {"pwd"}}},
	}
	for _, tt := range tests {
		cmds, err := parseLine(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var got [][]string
		for _, c := range cmds {
			var ws []string
			for _, w := range c {
				ws = append(ws, w.text)
			}
			got = append(got, ws)
		}
		if strings.Join(flat(got), "|") != strings.Join(flat(tt.want), "|") || len(got) != len(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
	cmds, _ := parseLine(`ls "*.c" a\*b *.go 'x'*`)
	ws := cmds[0]
	if ws[1].glob || ws[2].glob || !ws[3].glob || !ws[4].glob || ws[4].pat != `x*` || ws[1].pat != `\*.c` {
		t.Errorf("glob flags: %+v", ws)
	}
	for _, s := range []string{"plain", "a b", "it's", `back\slash`, "semi;colon", "*", ""} {
		cmds, err := parseLine("x " + quoteWord(s))
		if err != nil || len(cmds[0]) != 2 || cmds[0][1].text != s || cmds[0][1].glob {
			t.Errorf("quoteWord(%q) = %q does not read back", s, quoteWord(s))
		}
	}
}

func flat(x [][]string) []string {
	var out []string
	for _, c := range x {
		out = append(out, strings.Join(c, ","))
	}
	return out
}

func TestComplete(t *testing.T) {
	s := New(&fakeUI{})
	s.Mount("/", guest())
	tests := []struct {
		line       string
		head, tail string
		want       []string
	}{
		{"l", "", "", []string{"lcd", "less", "lpwd", "ls", "lsblk", "lvs"}},
		{"pw", "", "", []string{"pwd "}},
		{"ls /et", "ls /", "", []string{"etc/"}},
		{"ls /etc/p", "ls /etc/", "", []string{"passwd "}},
		{"ls /etc/", "ls /etc/", "", []string{"a.conf", "b.conf", "fstab", "group", `my\ file`, "passwd"}},
		{"ls /etc/.", "ls /etc/", "", []string{".hidden "}},
		{"cat /b", "cat /", "", []string{"bin/"}},
		{"cd /home/alice/u", "cd /home/alice/", "", []string{"up/"}},
		{"pwd; cat /etc/my", "pwd; cat /etc/", "", []string{`my\ file `}},
		{"cat '/etc/my f", "cat /etc/", "", []string{`my\ file `}},
		{"help l", "help ", "", []string{"lcd", "less", "lpwd", "ls", "lsblk", "lvs"}},
		{"ls -", "ls ", "", nil},
		{"frob /e", "frob ", "", nil},
	}
	for _, tt := range tests {
		head, got, tail := s.complete(tt.line, len([]rune(tt.line)))
		if head != tt.head || tail != tt.tail || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("complete(%q) = %q %q %q, want %q %q %q", tt.line, head, got, tail, tt.head, tt.want, tt.tail)
		}
	}
	// The cursor in the middle of the line.
	head, got, tail := s.complete("cat /et /x", 7)
	if head != "cat /" || tail != " /x" || strings.Join(got, "|") != "etc/" {
		t.Errorf("mid-line: %q %q %q", head, got, tail)
	}
}

func TestMountTable(t *testing.T) {
	root := fstest.MapFS{
		"etc/hostname": {Data: []byte("guest\n")},
		"boot":         {Mode: fs.ModeDir | 0o755},
		"lib":          {Data: []byte("usr/lib"), Mode: fs.ModeSymlink | 0o777},
		"usr":          {Mode: fs.ModeDir | 0o755},
		"usr/hidden":   {Data: []byte("shadowed by the mount\n")},
	}
	boot := fstest.MapFS{"vmlinuz": {Data: []byte("kernel\n")}, "grub/grub.cfg": {Data: []byte("cfg\n")}}
	usr := fstest.MapFS{"lib/libc.so": {Data: []byte("libc\n")}}
	var_ := fstest.MapFS{"log/syslog": {Data: []byte("log\n")}}
	ui := &fakeUI{lines: []string{
		"ls /", "cat /boot/vmlinuz /boot/grub/grub.cfg", "cat /lib/libc.so", "ls /usr",
		"cd /boot/grub; cat ../vmlinuz; cd ../..; pwd", "ls /var /var/log", "cat /usr/hidden",
		"cat /boot/../etc/hostname",
	}}
	s := New(ui)
	s.Mount("/", root)
	s.Mount("/boot", boot)
	s.Mount("/usr", usr)
	s.Mount("/var", var_)
	s.Run()
	want := "boot\netc\nlib\nusr\nvar\n" + "kernel\ncfg\n" + "libc\n" + "lib\n" + "kernel\n/\n" +
		"/var:\nlog\n\n/var/log:\nsyslog\n" + "guest\n"
	if ui.out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", ui.out.String(), want)
	}
	if ui.err.String() != "vmsh: cat /usr/hidden: no such file or directory\n" {
		t.Errorf("stderr %q", ui.err.String())
	}
	// fstest.TestFS checks the mount table is a well-behaved fs.FS.
	if err := fstest.TestFS(s.FS(), "etc/hostname", "boot/vmlinuz", "boot/grub/grub.cfg", "usr/lib/libc.so", "var/log/syslog"); err != nil {
		t.Error(err)
	}
}

func TestSymlinkLoop(t *testing.T) {
	loop := fstest.MapFS{
		"a": {Data: []byte("b"), Mode: fs.ModeSymlink | 0o777},
		"b": {Data: []byte("a"), Mode: fs.ModeSymlink | 0o777},
	}
	_, errs, _ := session(t, loop, "cat /a")
	if errs != "vmsh: cat /a: too many levels of symbolic links\n" {
		t.Errorf("loop: %q", errs)
	}
}

func TestNothingMounted(t *testing.T) {
	ui := &fakeUI{lines: []string{"ls", "pwd", "lsblk"}}
	s := New(ui)
	if st := s.Run(); st != 1 {
		t.Errorf("status %d", st)
	}
	want := "vmsh: ls .: no filesystem mounted (see lsblk and use)\nvmsh: lsblk: no disks\n"
	if ui.err.String() != want {
		t.Errorf("stderr %q, want %q", ui.err.String(), want)
	}
}

// readTree lists a host tree as "path mode size [-> target]" lines.
func readTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		b.WriteString(rel + " " + fi.Mode().String())
		switch {
		case fi.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			b.WriteString(" " + strings.TrimSpace(string(data)))
		case fi.Mode()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			b.WriteString(" -> " + tgt)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func TestCdDash(t *testing.T) {
	out, errs, _ := session(t, guest(), "cd /etc", "cd /home", "cd -", "pwd", "cd -")
	if out != "/etc\n/etc\n/home\n" || errs != "" {
		t.Errorf("cd -: %q %q", out, errs)
	}
}

// An interactive session prompts, goes on after errors, ends with status
// 0, and never prints a guest name's control characters.
func TestInteractiveSession(t *testing.T) {
	fsys := guest()
	fsys["etc/evil\x1b]0;owned\x07"] = &fstest.MapFile{Data: []byte("x"), Mode: 0o644}
	ui := &fakeUI{interactive: true, width: 80, lines: []string{"frob", "cat /etc/evil*x", "ls /etc/ev*", "cat /etc/e*"}}
	s := New(ui)
	s.Mount("/", fsys)
	if st := s.Run(); st != 0 {
		t.Errorf("status %d", st)
	}
	if strings.ContainsAny(ui.out.String()+ui.err.String(), "\x1b\x07") {
		t.Errorf("control characters reached the terminal: %q %q", ui.out.String(), ui.err.String())
	}
	if !strings.Contains(ui.out.String(), "/etc/evil?]0;owned?\n") || !strings.Contains(ui.err.String(), "vmsh: frob: unknown command") {
		t.Errorf("got %q %q", ui.out.String(), ui.err.String())
	}
}

// set -e ends a script at the first failing command with status 1; set +e
// and a plain session go on.
func TestErrExit(t *testing.T) {
	for _, c := range []struct {
		lines  []string
		out    string
		status int
	}{
		{[]string{"set -e", "pwd", "cat /nope", "pwd"}, "/\n", 1},
		{[]string{"set -e", "set +e", "cat /nope", "pwd"}, "/\n", 1},
		{[]string{"set -e; cat /nope; pwd"}, "", 1},
		{[]string{"set -e", "set", "pwd"}, "set -e\n/\n", 0},
		{[]string{"cat /nope", "pwd"}, "/\n", 1},
	} {
		out, errs, status := session(t, guest(), c.lines...)
		if out != c.out || status != c.status {
			t.Errorf("%q: stdout %q status %d, want %q %d (stderr %q)", c.lines, out, status, c.out, c.status, errs)
		}
	}
	if _, errs, status := session(t, guest(), "set -x"); status != 1 || !strings.Contains(errs, "only -e and +e") {
		t.Errorf("set -x: status %d, %q", status, errs)
	}
}
