package shell

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestGrepLikeGNU(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a.txt":       "hello world\nHello again\nfoo(bar)\na+b=c\nwhat?\nend",
		"b.txt":       "nothing here\nhello\n\n",
		"sub/c.log":   "error: disk\nwarning\nERROR: again\n",
		"sub/d/e.txt": "deep hello\n",
		"bin.dat":     "head\x00hello\nmore\n",
		"empty":       "",
		"long":        strings.Repeat("x", 200000) + "hello\n",
		"lnk":         "->sub",
	})
	cases := [][]string{
		{"hello", "a.txt"},
		{"-i", "hello", "a.txt", "b.txt"},
		{"-n", "hello", "a.txt", "b.txt", "empty"},
		{"-l", "hello", "a.txt", "b.txt", "empty", "sub/c.log"},
		{"-c", "hello", "a.txt", "b.txt", "empty"},
		{"-v", "hello", "a.txt"},
		{"-in", "error", "sub/c.log"},
		{"foo(bar)", "a.txt"},
		{"a+b", "a.txt"},
		{"-E", "a+b", "a.txt"},
		{"-F", "a+b", "a.txt"},
		{"-E", "wor|aga", "a.txt"},
		{"wor\\|aga", "a.txt"},
		{"\\(l\\)\\{2\\}", "a.txt"},
		{"what?", "a.txt"},
		{"-E", "^(hello|nothing)", "a.txt", "b.txt"},
		{"^$", "b.txt"},
		{"-x", "hello", "b.txt", "a.txt"},
		{"-w", "hell", "a.txt"},
		{"-w", "hello", "a.txt", "b.txt"},
		{"*", "a.txt"},
		{"[[:upper:]]", "a.txt"},
		{"[]x]", "a.txt"},
		{"end", "a.txt"},
		{"nomatch", "a.txt", "b.txt"},
		{"hello", "long"},
		{"-h", "hello", "a.txt", "b.txt"},
		{"-H", "hello", "a.txt"},
		{"hello", "a.txt", "nope", "b.txt"},
	}
	for _, c := range cases {
		line := "grep " + quoteArgs(c)
		sameAsTool(t, dir, line, append([]string{"grep"}, c...)...)
	}
	for _, c := range [][]string{
		{"-r", "hello"}, {"-r", "hello", "."}, {"-r", "hello", "sub"}, {"-rl", "hello", "."},
		{"-rn", "-i", "error", "sub", "a.txt"}, {"-rc", "hello", "sub"}, {"-r", "hello", "lnk"},
	} {
		line := "grep " + quoteArgs(c)
		sameAsToolSorted(t, dir, '\n', line, append([]string{"grep"}, c...)...)
	}
}

func TestGrep(t *testing.T) {
	fsys := fstest.MapFS{
		"t":     {Data: []byte("one\ntwo\n")},
		"bin":   {Data: []byte("x\x00two\n")},
		"d/f":   {Data: []byte("two\n")},
		"huge":  {Data: []byte(strings.Repeat("a", grepMaxLine+10) + "two\nthree two\n")},
		"nonl":  {Data: []byte("two")},
		"crlf":  {Data: []byte("two\r\n")},
		"empty": {},
	}
	tests := []struct {
		cmd, out, err string
		status        int
	}{
		{"grep two t", "two\n", "", 0},
		{"grep two bin t", "t:two\n", "vmsh: grep: bin: binary file matches\n", 0},
		{"grep -c two bin", "1\n", "", 0},
		{"grep zzz t", "", "", 1},
		{"grep two d t", "t:two\n", "vmsh: grep d: is a directory\n", 1},
		{"grep -n two huge", "2:three two\n", "vmsh: grep: huge: line 1 is longer than 1048576 bytes: only its start is searched\n", 0},
		{"grep two nonl crlf", "nonl:two\ncrlf:two\r\n", "", 0},
		{"grep two empty", "", "", 1},
		{"grep '\\(' t", "", "vmsh: grep: error parsing regexp: missing closing ): `(`\n", 1},
		{"grep -E ( t", "", "vmsh: grep: error parsing regexp: missing closing ): `(`\n", 1},
		{"grep two", "", "vmsh: grep: missing file operand (vmsh has no standard input to search) (usage: grep [-rinlcvEFwxhH] pattern path...)\n", 1},
		{"grep -r two d", "d/f:two\n", "", 0},
		{"grep two nope t", "t:two\n", "vmsh: grep nope: no such file or directory\n", 1},
	}
	for _, tt := range tests {
		out, errs, status := session(t, fsys, tt.cmd)
		if out != tt.out || errs != tt.err || status != tt.status {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q\nstatus %d, want %d", tt.cmd, out, tt.out, errs, tt.err, status, tt.status)
		}
	}
}
