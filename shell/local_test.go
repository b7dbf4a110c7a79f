package shell

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestParseOperators(t *testing.T) {
	tests := []struct {
		in   string
		want string // commands joined by " ; ", words by ",", operators as [op text]
		err  string
	}{
		{"ls > out", "ls,[> >],out", ""},
		{"ls>out", "ls,[> >],out", ""},
		{"ls >> 'my out'", "ls,[>> >>],my out", ""},
		{`ls '>' ">" \> a\>b x">"y`, "ls,>,>,>,a>b,x>y", ""},
		{"cat a | wc -c", "cat,a,[| wc -c]", ""},
		{"cat a|wc -c; pwd", "cat,a,[| wc -c] ; pwd", ""},
		{`cat a | grep "x;y" | sort 'a;b' \; ; pwd`, `cat,a,[| grep "x;y" | sort 'a;b' \;] ; pwd`, ""},
		{"cat a | tr a '|'", "cat,a,[| tr a '|']", ""},
		{"!echo hi; pwd", "[! echo hi] ; pwd", ""},
		{"ls; ! ls -l", "ls ; [! ls -l]", ""},
		{"find / ! -name x", "find,/,!,-name,x", ""},
		{"ls a!b", "ls,a!b", ""},
		{"'2'>x", "2,[> >],x", ""},
		{`2\>x`, "2>x", ""},
		{"a2>x", "a2,[> >],x", ""},
		{"ls 2>x", "", "2>: only standard output can be redirected"},
		{"ls 1>>x", "", "1>: only standard output can be redirected"},
		{"ls >&2", "", ">&: only standard output can be redirected, to a file"},
		{"cat < x", "", "<: input redirection is not supported"},
		{"ls || pwd", "", "||: not supported (separate commands with ';')"},
		{"ls | grep 'x", "", "unterminated quote"},
		{`ls | grep "x`, "", "unterminated quote"},
	}
	for _, tt := range tests {
		cmds, err := parseLine(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var got []string
		for _, c := range cmds {
			var ws []string
			for _, w := range c {
				if w.op != "" {
					ws = append(ws, "["+w.op+" "+w.text+"]")
					continue
				}
				ws = append(ws, w.text)
			}
			got = append(got, strings.Join(ws, ","))
		}
		if g := strings.Join(got, " ; "); g != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, g, tt.want)
		}
	}
}

// localSession runs lines in a shell over guest() whose local directory is
// dir.
func localSession(t *testing.T, fsys fstest.MapFS, dir string, lines ...string) (stdout, stderr string, status int) {
	t.Helper()
	ui := &fakeUI{lines: append([]string{"lcd " + quoteWord(dir)}, lines...), width: 30}
	s := New(ui)
	s.Mount("/", fsys)
	status = s.Run()
	return ui.out.String(), ui.err.String(), status
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestRedirect(t *testing.T) {
	dir := t.TempDir()
	out, errs, status := localSession(t, guest(), dir,
		"cat /etc/a.conf > out", "cat /etc/b.conf >> out", "cat /etc/a.conf >>new",
		"ls /etc > list", "cat /etc/b.conf > over", "cat /etc/a.conf > over", "lpwd")
	if out != dir+"\n" || errs != "" || status != 0 {
		t.Fatalf("stdout %q stderr %q status %d", out, errs, status)
	}
	for name, want := range map[string]string{
		"out": "A\nB\n", "new": "A\n", "over": "A\n",
		"list": "a.conf\nb.conf\nfstab\ngroup\nmy file\npasswd\n", // one a line: not a terminal
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "out")); err != nil || fi.Mode().Perm()&^0o644 != 0 {
		t.Errorf("out: %v %v", fi.Mode(), err)
	}

	// Errors are one line; the command does not run, the line fails.
	out, errs, status = localSession(t, guest(), dir,
		"cat /etc/a.conf > nodir/x", "cat /etc/a.conf > .", "cat /nope > err", "ls >", "frob > x")
	want := "vmsh: > nodir/x: no such file or directory\n" +
		"vmsh: > .: is a directory\n" +
		"vmsh: cat /nope: no such file or directory\n" +
		"vmsh: >: missing file name\n" +
		"vmsh: frob: unknown command (try help)\n"
	if out != "" || errs != want || status != 1 {
		t.Errorf("stdout %q status %d stderr\n%s\nwant\n%s", out, status, errs, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Errorf("an unknown command's redirection created its file")
	}
	if got := readFile(t, filepath.Join(dir, "err")); got != "" {
		t.Errorf("err: %q", got)
	}
}

func bigFS(n int) fstest.MapFS {
	fsys := guest()
	fsys["big"] = &fstest.MapFile{Data: bytes.Repeat([]byte("0123456789abcde\n"), n/16), Mode: 0o644}
	return fsys
}

func TestPipe(t *testing.T) {
	dir := t.TempDir()
	const size = 8 << 20
	tests := []struct {
		line, out, err string
		status         int
	}{
		{"cat /big | wc -c", "8388608\n", "", 0},
		{"cat /big | head -c 10", "0123456789", "", 0}, // the pipe closes early: no message
		{"cat /big /etc/a.conf | head -c 3; cat /etc/a.conf", "012A\n", "", 0},
		{"ls /etc | grep conf | wc -l", "2\n", "", 0},
		{"cat /etc/a.conf | tr A a > piped; !cat piped", "a\n", "", 0},
		{"cat /etc/a.conf | false", "", "", 1},
		{"cat /nope | wc -c", "0\n", "vmsh: cat /nope: no such file or directory\n", 1},
		{"cat /etc/a.conf | echo oops >&2", "", "oops\n", 0},
		{"cat /etc/a.conf | nosuchcommand-x 2>/dev/null", "", "", 1},
		{"cat /etc/a.conf | pwd", dir + "\n", "", 0},
	}
	for _, tt := range tests {
		out, errs, status := localSession(t, bigFS(size), dir, tt.line)
		if out != tt.out || errs != tt.err || status != tt.status {
			t.Errorf("%s:\nstdout %.100q\nwant   %q\nstderr %q\nwant   %q\nstatus %d, want %d", tt.line, out, tt.out, errs, tt.err, status, tt.status)
		}
	}
}

func TestBang(t *testing.T) {
	dir := t.TempDir()
	out, errs, status := localSession(t, guest(), dir, "!echo hi", "!pwd; pwd", "! echo 'a;b' \"c\"", "!touch made")
	if out != "hi\n"+dir+"\n/\na;b c\n" || errs != "" || status != 0 {
		t.Errorf("stdout %q stderr %q status %d", out, errs, status)
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); err != nil {
		t.Errorf("!touch made: %v", err)
	}
	_, errs, status = localSession(t, guest(), dir, "!exit 3")
	if errs != "" || status != 1 {
		t.Errorf("!exit 3: stderr %q status %d", errs, status)
	}
}

func TestLcdGet(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	out, errs, status := localSession(t, guest(), dir, "lcd sub", "lpwd", "get /etc/a.conf", "get /etc/b.conf copy",
		"lcd ..", "lpwd", "lcd nope", "lcd sub/a.conf", "lcd a b", "lpwd")
	want := sub + "\n" +
		"copied 1 file, 0 directories, 0 symlinks, 2 bytes to .\n" +
		"copied 1 file, 0 directories, 0 symlinks, 2 bytes to copy\n" +
		dir + "\n" + dir + "\n"
	wantErr := "vmsh: lcd nope: no such file or directory\n" +
		"vmsh: lcd sub/a.conf: not a directory\n" +
		"vmsh: lcd: too many arguments (usage: lcd [dir])\n"
	if out != want || errs != wantErr || status != 1 {
		t.Errorf("stdout %q\nwant   %q\nstderr %q\nwant   %q\nstatus %d", out, want, errs, wantErr, status)
	}
	if got := readFile(t, filepath.Join(sub, "a.conf")) + readFile(t, filepath.Join(sub, "copy")); got != "A\nB\n" {
		t.Errorf("get into the local directory: %q", got)
	}

	home := t.TempDir()
	t.Setenv("HOME", home)
	out, _, _ = localSession(t, guest(), dir, "lcd", "lpwd")
	if out != home+"\n" {
		t.Errorf("lcd with no argument: %q, want %q", out, home)
	}
}

// Ctrl-C while a command writes into a local command stops both.
func TestPipeInterrupted(t *testing.T) {
	ui := &fakeUI{}
	s := New(ui)
	s.Mount("/", bigFS(1<<20))
	done := make(chan struct{})
	go func() {
		s.RunLine("cat /big | sleep 30")
		close(done)
	}()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		cancel := s.cancel
		s.mu.Unlock()
		if cancel != nil {
			time.Sleep(50 * time.Millisecond) // let sleep start
			cancel()
			break
		}
		select {
		case <-deadline:
			t.Fatal("command did not start")
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case <-done:
	case <-deadline:
		t.Fatal("Ctrl-C did not stop the pipe")
	}
	if got := ui.err.String(); got != "vmsh: cat: interrupted\n" || !s.Failed() {
		t.Errorf("stderr %q, failed %v", got, s.Failed())
	}
}

func TestHelpLocal(t *testing.T) {
	out, _, _ := session(t, guest(), "help")
	for _, s := range []string{"lcd [dir]", "lpwd", "cmd > file", "!command", "2>"} {
		if !strings.Contains(out, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

// stallFS serves one file, /slow, whose second read waits until release
// is closed, telling started first.
type stallFS struct {
	started, release chan struct{}
	once             *sync.Once
}

func (f stallFS) Open(name string) (fs.File, error) {
	if name == "." {
		return fstest.MapFS{"slow": &fstest.MapFile{Mode: 0o644}}.Open(".")
	}
	if name != "slow" {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &stallFile{fs: f}, nil
}

type stallFile struct {
	fs    stallFS
	reads int
}

func (f *stallFile) Stat() (fs.FileInfo, error) {
	return fstest.MapFS{"slow": &fstest.MapFile{Data: make([]byte, 1<<20), Mode: 0o644}}.Stat("slow")
}
func (f *stallFile) Close() error { return nil }
func (f *stallFile) Read(p []byte) (int, error) {
	f.reads++
	if f.reads == 2 {
		f.fs.once.Do(func() { close(f.fs.started) })
		<-f.fs.release
	}
	if f.reads > 16 {
		return 0, io.EOF
	}
	return copy(p, bytes.Repeat([]byte("x"), min(len(p), 64<<10))), nil
}

// TestRedirectInterrupted checks that a command stopped by Ctrl-C while
// writing to a file leaves the file as it was, and no file beside it.
func TestRedirectInterrupted(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := &fakeUI{}
	s := New(ui)
	fsys := stallFS{started: make(chan struct{}), release: make(chan struct{}), once: new(sync.Once)}
	s.Mount("/", fsys)
	s.localDir = dir
	done := make(chan struct{})
	go func() {
		s.RunLine("cat /slow > out")
		close(done)
	}()
	select {
	case <-fsys.started:
	case <-time.After(10 * time.Second):
		t.Fatal("cat did not start")
	}
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	close(fsys.release)
	<-done
	if got := readFile(t, out); got != "old\n" {
		t.Errorf("out after Ctrl-C: %d bytes, want the old contents", len(got))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(ents))
	}

	// Not interrupted, the new contents replace the old, keeping its mode.
	s.RunLine("cat /slow > out")
	if fi, err := os.Stat(out); err != nil || fi.Size() != 16*64<<10 || fi.Mode().Perm() != 0o600 {
		t.Errorf("out: %v, %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(ents))
	}
}
