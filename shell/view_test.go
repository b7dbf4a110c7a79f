package shell

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"vmsh/fsread"
	"vmsh/internal/tooltest"
)

// writeTree writes files (name to contents) under a new temporary
// directory and returns it. A name ending in "/" is a directory; contents
// starting with "->" make a symlink to the rest.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(data, "->"):
			err = os.Symlink(data[2:], p)
		default:
			err = os.WriteFile(p, []byte(data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameAsTool runs line in vmsh over the directory dir (mounted at /, with
// / the working directory) and the host tool in dir, and compares their
// standard output and whether they failed.
func sameAsTool(t *testing.T, dir, line string, tool ...string) {
	t.Helper()
	sameAsToolFS(t, os.DirFS(dir), dir, line, tool...)
}

// sameAsToolFS is sameAsTool with vmsh reading fsys, a copy of dir.
func sameAsToolFS(t *testing.T, fsys fs.FS, dir, line string, tool ...string) {
	t.Helper()
	tooltest.Need(t, tool[0])
	cmd := exec.Command(tool[0], tool[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var want bytes.Buffer
	cmd.Stdout = &want
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", tool[0], err)
	}
	got, errs, status := session(t, fsys, line)
	if got != want.String() {
		t.Errorf("%s:\nvmsh %q\nwant %q (%s)\nstderr %q", line, got, want.String(), strings.Join(tool, " "), errs)
	}
	if (status != 0) != (err != nil) {
		t.Errorf("%s: status %d, %s: %v; stderr %q", line, status, tool[0], err, errs)
	}
}

// viewFiles are files with the shapes that trip head, tail and the dumps.
var viewFiles = map[string]string{
	"empty":   "",
	"one":     "one line\n",
	"nonl":    "a\nb\nc",
	"blank":   "\n\n\n",
	"lines":   strings.Repeat("line\n", 3) + "x\ny\nz\n" + strings.Repeat("0123456789", 10) + "\nend\n",
	"zeros":   strings.Repeat("\x00", 100),
	"bin":     "\x7fELF\x02\x01\x01\x00" + strings.Repeat("\x00", 8) + strings.Repeat("\xff~ \x1f", 20) + "tail",
	"big":     strings.Repeat("0123456789abcdef", 10000) + "x\n" + strings.Repeat("y\n", 70000),
	"sub/f":   "in a dir\n",
	"rep32":   strings.Repeat("A", 32),
	"lastrep": strings.Repeat("A", 16) + "B" + strings.Repeat("A", 15) + strings.Repeat("A", 32),
}

func TestHeadTailLikeCoreutils(t *testing.T) {
	dir := writeTree(t, viewFiles)
	for _, f := range []string{"empty", "one", "nonl", "blank", "lines", "big", "bin"} {
		for _, args := range []string{"", "-n 0", "-n 1", "-n 2", "-n3", "-c 0", "-c 1", "-c 5", "-c 100000000", "-n 100000", "-n -1", "-n -2", "-c -3", "-n +1", "-n +2", "-c +3", "-n 70001", "-c 1K"} {
			for _, tool := range []string{"head", "tail"} {
				if tool == "head" && strings.Contains(args, "+") || tool == "tail" && strings.Contains(args, "-c -") {
					continue
				}
				line := strings.TrimSpace(tool + " " + args + " " + f)
				sameAsTool(t, dir, line, strings.Fields(line)...)
			}
		}
	}
	sameAsTool(t, dir, "head one nonl empty", "head", "one", "nonl", "empty")
	sameAsTool(t, dir, "head -2 lines", "head", "-2", "lines")
	sameAsTool(t, dir, "tail -3 lines", "tail", "-3", "lines")
	sameAsTool(t, dir, "tail -n 1 one nonl empty", "tail", "-n", "1", "one", "nonl", "empty")
	sameAsTool(t, dir, "head -q one nonl", "head", "-q", "one", "nonl")
	sameAsTool(t, dir, "tail -v one", "tail", "-v", "one")
	sameAsTool(t, dir, "head one nope nonl", "head", "one", "nope", "nonl")
	sameAsTool(t, dir, "tail one sub nonl", "tail", "one", "sub", "nonl")
}

func TestDumpLikeTools(t *testing.T) {
	dir := writeTree(t, viewFiles)
	for _, f := range []string{"empty", "one", "nonl", "zeros", "bin", "rep32", "lastrep", "big"} {
		for _, args := range []string{"", "-s 3", "-n 20", "-s 3 -n 20", "-s 0x10 -n 0x30", "-s 200", "-n 0", "-s 16 -n 16", "-v"} {
			line := strings.TrimSpace("hexdump -C " + args + " " + f)
			sameAsTool(t, dir, line, strings.Fields(line)...)
		}
		for _, args := range []string{"", "-s 3", "-l 20", "-s 5 -l 33", "-s 0x10 -l 0x30", "-s 200", "-l 0"} {
			line := strings.TrimSpace("xxd " + args + " " + f)
			sameAsTool(t, dir, line, strings.Fields(line)...)
		}
	}
}

func TestFileLikeFile(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"t.txt": "hello\n", "crlf": "a\r\nb\r\n", "nonl": "abc", "u8": "h\xc3\xa9\n", "empty": "",
		"d/": "", "lnk": "->t.txt", "bin": "\x00\x01\x02\x03", "gz": "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
	})
	sameAsTool(t, dir, "file t.txt crlf nonl u8 empty d lnk bin", "file", "t.txt", "crlf", "nonl", "u8", "empty", "d", "lnk", "bin")
}

func TestHexdumpConcatenates(t *testing.T) {
	dir := writeTree(t, viewFiles)
	for _, args := range [][]string{
		{"one", "nonl"}, {"-s", "5", "one", "nonl", "zeros"}, {"-s", "2", "-n", "20", "nonl", "one"},
		{"empty", "rep32", "lastrep"}, {"one", "nope", "sub", "nonl"}, {"nope"}, {"-s", "1000", "one", "nonl"},
	} {
		c := append([]string{"hexdump", "-C"}, args...)
		sameAsTool(t, dir, quoteArgs(c), c...)
	}
}

func TestHeadTailEdges(t *testing.T) {
	fsys := fstest.MapFS{
		"a":   {Data: []byte("1\n2\n3\n")},
		"b":   {Data: []byte("x")},
		"d/e": {Data: []byte("e\n")},
	}
	tests := []struct{ cmd, out, err string }{
		{"head -n 1 nope a", "==> a <==\n1\n", "vmsh: head nope: no such file or directory\n"},
		{"tail -n 1 d b", "==> d <==\n\n==> b <==\nx", "vmsh: tail d: is a directory\n"},
		{"head -n x a", "", "vmsh: head: invalid number \"x\"\n"},
		{"head -n", "", "vmsh: head: option -n needs an argument\n"},
		{"tail", "", "vmsh: tail: missing file operand (usage: tail [-qv] [-n N] [-c N] path...)\n"},
		{"tail -c 99999999999999999999 a", "", "vmsh: tail: invalid number \"99999999999999999999\"\n"},
		{"tail -c 9223372036854775807 a", "1\n2\n3\n", ""},
		{"head -c 1G b", "x", ""},
		{"xxd a b", "", "vmsh: xxd: too many arguments (usage: xxd [-s offset] [-l length] path)\n"},
		{"hexdump -C nope a", "00000000  31 0a 32 0a 33 0a                                 |1.2.3.|\n00000006\n", "vmsh: hexdump nope: no such file or directory\n"},
	}
	for _, tt := range tests {
		out, errs, _ := session(t, fsys, tt.cmd)
		if out != tt.out || errs != tt.err {
			t.Errorf("%s:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tt.cmd, out, tt.out, errs, tt.err)
		}
	}
}

func TestFile(t *testing.T) {
	elf := func(class, endian byte, typ, machine uint16) []byte {
		b := make([]byte, 64)
		copy(b, "\x7fELF")
		b[4], b[5], b[6] = class, endian, 1
		if endian == 1 {
			b[16], b[17], b[18], b[19] = byte(typ), byte(typ>>8), byte(machine), byte(machine>>8)
		} else {
			b[16], b[17], b[18], b[19] = byte(typ>>8), byte(typ), byte(machine>>8), byte(machine)
		}
		return b
	}
	tar := make([]byte, 1024)
	copy(tar, "name")
	copy(tar[257:], "ustar\x0000")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x00\x00\x00\x00\x80")
	dev := st(20, sIFBLK|0o660, 0, 0, 1, 0)
	dev.Major, dev.Minor = 8, 1
	fsys := fstest.MapFS{
		"ls":    {Data: elf(2, 1, 3, 62), Mode: 0o755},
		"arm":   {Data: elf(1, 2, 2, 40)},
		"lib.o": {Data: elf(2, 1, 1, 183)},
		"gz":    {Data: []byte("\x1f\x8b\x08\x00rest")},
		"bz":    {Data: []byte("BZh91AY&SY")},
		"xz":    {Data: []byte("\xfd7zXZ\x00\x00")},
		"zst":   {Data: []byte("\x28\xb5\x2f\xfd\x00")},
		"zip":   {Data: []byte("PK\x03\x04\x14\x00")},
		"tar":   {Data: tar},
		"png":   {Data: png},
		"jpg":   {Data: []byte("\xff\xd8\xff\xe0\x00\x10JFIF")},
		"pdf":   {Data: []byte("%PDF-1.7\n%...")},
		"sh":    {Data: []byte("#!/bin/sh\necho hi\n"), Mode: 0o755},
		"py":    {Data: []byte("#!/usr/bin/env python3\nprint()\n"), Mode: 0o644},
		"txt":   {Data: []byte("hello\n")},
		"crlf":  {Data: []byte("a\r\nb\r\n")},
		"nonl":  {Data: []byte("abc")},
		"utf8":  {Data: []byte("h\xc3\xa9llo\n")},
		"empty": {Data: nil},
		"bin":   {Data: []byte("\x00\x01\x02")},
		"d":     {Mode: fs.ModeDir | 0o755},
		"link":  {Data: []byte("txt"), Mode: fs.ModeSymlink | 0o777},
		"sda1":  {Mode: fs.ModeDevice | 0o660, Sys: dev},
		"fifo":  {Mode: fs.ModeNamedPipe | 0o644},
	}
	want := `arm:   ELF 32-bit MSB executable, ARM, version 1 (SYSV)
bin:   data
bz:    bzip2 compressed data, block size = 900k
crlf:  ASCII text, with CRLF line terminators
d:     directory
empty: empty
fifo:  fifo (named pipe)
gz:    gzip compressed data
jpg:   JPEG image data
lib.o: ELF 64-bit LSB relocatable, ARM aarch64, version 1 (SYSV)
link:  symbolic link to txt
ls:    ELF 64-bit LSB shared object, x86-64, version 1 (SYSV)
nonl:  ASCII text, with no line terminators
pdf:   PDF document, version 1.7
png:   PNG image data, 256 x 128
py:    Python script, ASCII text
sda1:  block special (8/1)
sh:    POSIX shell script, ASCII text executable
tar:   POSIX tar archive
txt:   ASCII text
utf8:  Unicode text, UTF-8 text
xz:    XZ compressed data
zip:   Zip archive data
zst:   Zstandard compressed data
`
	out, errs, status := session(t, fsys, "file *", "file nope sh")
	want += "sh:   POSIX shell script, ASCII text executable\n" // lined up with "nope:"
	if out != want || errs != "vmsh: file nope: no such file or directory\n" || status != 1 {
		t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q status %d", out, want, errs, status)
	}
}

// TestInterrupted checks that the commands that read files stop when the
// command's context is cancelled, as Ctrl-C does.
func TestInterrupted(t *testing.T) {
	big := fstest.MapFS{"d/big": {Data: bytes.Repeat([]byte("hello\n"), 1<<20)}, "d/x": {Data: []byte("x")}}
	for _, line := range []string{
		"head -n 1000000 d/big", "tail -n 1000000 d/big", "md5sum d/big", "hexdump -C d/big", "xxd d/big",
		"grep -r hello d", "find d", "du d", "tree d", "file d/big",
	} {
		ui := &fakeUI{}
		s := New(ui)
		s.Mount("/", big)
		cmds, err := parseLine(line)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		x := &Call{Shell: s, Ctx: ctx, Name: cmds[0][0].text, words: cmds[0][1:], Out: &ui.out}
		err = x.run(s.cmds[x.Name])
		if !errors.Is(err, context.Canceled) || ui.out.Len() > 0 {
			t.Errorf("%s: error %v, %d bytes printed", line, err, ui.out.Len())
		}
	}
}

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
