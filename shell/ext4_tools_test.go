package shell

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// TestCommandsOnExt4 runs the file commands over an ext4 image made with
// mke2fs -d from a host directory and compares them with the host tools
// run on that directory.
func TestCommandsOnExt4(t *testing.T) {
	tooltest.Need(t, "mke2fs")
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
		"etc/a.conf": "A=1\n", "etc/.hidden": "", "etc/sub/deep.conf": strings.Repeat("deep\n", 5000),
		"bin/sh":         "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 9) + "\x03\x00\x3e\x00" + strings.Repeat("\x00", 200),
		"var/log/syslog": strings.Repeat("Nov 21 kernel: hello\nNov 21 sshd: error\n", 3000),
		"lnk":            "->etc", "zeros": strings.Repeat("\x00", 70000), "nonl": "no newline",
	}
	for k, v := range viewFiles {
		files["v/"+k] = v
	}
	dir := writeTree(t, files)
	img := filepath.Join(t.TempDir(), "fs.img")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-d", dir, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	fsys, err := fsread.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	// lost+found is in the image, not in the directory.
	for _, c := range [][]string{
		{"head", "-n", "3", "etc/passwd", "var/log/syslog", "nonl"},
		{"tail", "-n", "2", "var/log/syslog", "etc/sub/deep.conf", "nonl"},
		{"tail", "-c", "100", "zeros", "v/big"},
		{"md5sum", "etc/passwd", "bin/sh", "zeros", "v/big"},
		{"sha256sum", "var/log/syslog", "v/empty"},
		{"hexdump", "-C", "bin/sh"},
		{"hexdump", "-C", "-s", "1000", "-n", "5000", "zeros"},
		{"xxd", "-s", "10", "-l", "100", "var/log/syslog"},
		{"grep", "-n", "error", "var/log/syslog", "etc/passwd"},
		{"grep", "-c", "hello", "var/log/syslog"},
		{"readlink", "lnk"},
	} {
		sameAsToolFS(t, fsys, dir, quoteArgs(c), c...)
	}
	for _, c := range [][]string{
		{"find", "etc", "var", "v", "lnk"},
		{"find", "etc", "v", "-name", "*.conf"},
		{"find", ".", "-maxdepth", "1", "-type", "l"},
		{"find", "v", "-type", "f", "-size", "+1k"}, // directory sizes differ between filesystems
		{"find", "bin", "etc", "-type", "f", "-print0"},
		{"grep", "-rl", "hello", "var", "v", "etc"},
		{"grep", "-r", "root", "etc"},
	} {
		sep := byte('\n')
		if c[len(c)-1] == "-print0" {
			sep = 0
		}
		sameAsToolSortedFS(t, fsys, dir, sep, quoteArgs(c), c...)
	}
}
