package shell

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vmsh/internal/tooltest"
)

func TestReadlink(t *testing.T) {
	tests := []struct{ cmd, out, err string }{
		{"readlink /bin /home/alice/abs", "usr/bin\n/etc/passwd\n", ""},
		{"readlink /etc/passwd", "", ""},
		{"readlink -v /etc/passwd /nope", "", "vmsh: readlink /etc/passwd: invalid argument\nvmsh: readlink /nope: no such file or directory\n"},
		{"readlink -f /bin/ls /home/alice/up /home/alice/abs /etc/nope /etc/.hidden /", "/usr/bin/ls\n/etc\n/etc/passwd\n/etc/nope\n/etc/.hidden\n/\n", ""},
		{"cd /home/alice; readlink -f a.txt ../../bin up/passwd", "/home/alice/a.txt\n/usr/bin\n/etc/passwd\n", ""},
		{"readlink -f /nope/x", "", ""},
	}
	for _, tt := range tests {
		out, errs, status := session(t, guest(), tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
		if (status != 0) != (tt.out == "" || tt.err != "") {
			t.Errorf("%s: status %d", tt.cmd, status)
		}
	}
}

func TestReadlinkLikeCoreutils(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a/b/f": "x", "l1": "->a/b", "l2": "->l1/f", "l3": "->/a/b/../b/f", "dangling": "->a/none", "loop": "->loop",
	})
	// The host's readlink -f gives host paths; vmsh's are guest paths
	// below its /, so only relative results compare directly.
	sameAsTool(t, dir, "readlink l1 l2 dangling loop a", "readlink", "l1", "l2", "dangling", "loop", "a")
}

// sameAsToolSorted is sameAsTool for commands whose output order is the
// order of the directories, which differs between filesystems: it
// compares the sorted lines (split at sep).
func sameAsToolSorted(t *testing.T, dir string, sep byte, line string, tool ...string) {
	t.Helper()
	sameAsToolSortedFS(t, os.DirFS(dir), dir, sep, line, tool...)
}

// sameAsToolSortedFS is sameAsToolSorted with vmsh reading fsys, a view of
// dir.
func sameAsToolSortedFS(t *testing.T, fsys fs.FS, dir string, sep byte, line string, tool ...string) {
	t.Helper()
	tooltest.Need(t, tool[0])
	cmd := exec.Command(tool[0], tool[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	want, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", tool[0], err)
	}
	got, errs, status := session(t, fsys, line)
	sorted := func(s string) []string {
		l := strings.Split(s, string(sep))
		slices.Sort(l)
		return l
	}
	if g, w := sorted(got), sorted(string(want)); !slices.Equal(g, w) {
		t.Errorf("%s:\nvmsh %q\nwant %q\nstderr %q", line, g, w, errs)
	}
	if (status != 0) != (err != nil) {
		t.Errorf("%s: status %d, %s: %v; stderr %q", line, status, tool[0], err, errs)
	}
}

func TestFindLikeGNU(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"etc/passwd": "root:x:0:0\n", "etc/a.conf": "a", "etc/B.CONF": strings.Repeat("b", 1500),
		"etc/.hidden": "", "etc/sub/deep/x.conf": strings.Repeat("x", 3*1024*1024),
		"bin/": "", "lnk": "->etc", "dangling": "->nope", "var/log/old.log": "old", "var/log/new.log": "new",
		"e[x]": "bracket", "sp ace": "",
	})
	now := time.Now()
	os.Chtimes(filepath.Join(dir, "var/log/old.log"), now.Add(-10*24*time.Hour), now.Add(-10*24*time.Hour))
	os.Chtimes(filepath.Join(dir, "etc/a.conf"), now.Add(-36*time.Hour), now.Add(-36*time.Hour))
	exprs := []string{
		"", "-name *.conf", "-iname *.conf", "-name .h*", "-name [ab]*", "-name [!a]*", "-name e\\[x]",
		"-path */sub/*", "-path ./etc/*", "-ipath ./ETC/b*", "-type f", "-type d", "-type l", "-type f,l",
		"-size 0", "-size -1", "-size +2", "-size 3", "-size +1k", "-size -2k", "-size 3M", "-size +100c", "-size 1500c",
		"-mtime 0", "-mtime +5", "-mtime -2", "-mtime 1",
		"-maxdepth 0", "-maxdepth 1", "-mindepth 2", "-mindepth 1 -maxdepth 2 -type d",
		"! -type d", "-not -name *.log -type f", "-type f -print", "-name *.log -print0",
		"-newer etc/a.conf -type f",
		"-name *.log -o -name *.conf", "-type d -o -size +1", "( -name *.log -o -name *.conf ) -print",
		"-name *.log -print -o -type d", "! ( -type d -o -type l )", "-not -not -type l",
		"-type f -a -name a*", "-maxdepth 1 ( -type l -o -name b* )",
	}
	for _, ex := range exprs {
		for _, start := range []string{"", ".", "etc", "etc/", "lnk", "var etc/passwd"} {
			args := append(strings.Fields(start), strings.Fields(ex)...)
			line := "find " + quoteArgs(args)
			sep := byte('\n')
			if strings.Contains(ex, "print0") {
				sep = 0
			}
			sameAsToolSorted(t, dir, sep, line, append([]string{"find"}, args...)...)
		}
	}
	sameAsToolSorted(t, dir, '\n', "find nope etc/passwd", "find", "nope", "etc/passwd")
}

func quoteArgs(args []string) string {
	var q []string
	for _, a := range args {
		q = append(q, quoteWord(a))
	}
	return strings.Join(q, " ")
}

func TestFnmatch(t *testing.T) {
	tests := []struct {
		pat, name string
		fold, ok  bool
	}{
		{"*", ".hidden", false, true},
		{"*.c", "a/b.c", false, true},
		{"a?c", "abc", false, true},
		{"a?c", "ac", false, false},
		{"[a-c]x", "bx", false, true},
		{"[!a-c]x", "bx", false, false},
		{"[^a-c]x", "dx", false, true},
		{"[]]", "]", false, true},
		{"[", "[", false, true},
		{"\\*", "*", false, true},
		{"\\*", "a", false, false},
		{"*a*b*c", "xaxxbxxc", false, true},
		{"*a*b*c", "xaxxbxx", false, false},
		{"*.CONF", "x.conf", true, true},
		{"é?", "éà", false, true},
		{"", "", false, true},
		{"", "a", false, false},
	}
	for _, tt := range tests {
		if got := fnmatch(tt.pat, tt.name, tt.fold); got != tt.ok {
			t.Errorf("fnmatch(%q, %q, %v) = %v", tt.pat, tt.name, tt.fold, got)
		}
	}
}

func TestFindErrors(t *testing.T) {
	tests := []struct{ cmd, out, err string }{
		{"find /etc -name", "", "vmsh: find: missing argument to `-name'\n"},
		{"find /etc -bogus", "", "vmsh: find: unknown predicate `-bogus'\n"},
		{"find /etc -type x", "", "vmsh: find: unknown argument to -type: x\n"},
		{"find /etc -name a x", "", "vmsh: find: paths must precede expression: `x'\n"},
		{"find /etc -o", "", "vmsh: find: invalid expression: '-o' where a test was expected\n"},
		{"find /etc ( -type f", "", "vmsh: find: invalid expression: missing ')'\n"},
		{"find /etc -type f )", "", "vmsh: find: invalid expression: unexpected ')'\n"},
		{"find /etc !", "", "vmsh: find: invalid expression: an operator with nothing after it\n"},
		{"find /nope /etc/fstab", "/etc/fstab\n", "vmsh: find /nope: no such file or directory\n"},
		{"find /home -name *.txt", "/home/alice/a.txt\n", ""},
		{"cd /home; find -type l", "./alice/abs\n./alice/up\n", ""},
		{"find / -maxdepth 1 -name bin -type l", "/bin\n", ""},
	}
	for _, tt := range tests {
		out, errs, _ := session(t, guest(), tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
	}
}
