package shell

import (
	"testing"
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
