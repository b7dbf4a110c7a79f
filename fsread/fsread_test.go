package fsread

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// makeTree fills dir with one of every kind of file.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "hello.txt"), []byte("hello, world\n"), 0o644)
	writeFile(t, filepath.Join(dir, "empty"), nil, 0o600)
	writeFile(t, filepath.Join(dir, "sub/deeper/file.bin"), pattern(1, 300000), 0o640)
	writeFile(t, filepath.Join(dir, "sub/setuid"), []byte("x"), 0o4755)
	writeFile(t, filepath.Join(dir, "sub/setgid"), []byte("y"), 0o2711)
	writeFile(t, filepath.Join(dir, "big.bin"), pattern(2, 2<<20+123), 0o644)
	if err := os.Mkdir(filepath.Join(dir, "sticky"), 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "sticky"), 0o1777)
	// Names with odd bytes and the maximum length.
	writeFile(t, filepath.Join(dir, "odd", strings.Repeat("n", 255)), []byte("long name"), 0o644)
	writeFile(t, filepath.Join(dir, "bad", "sp ace\ttab\x01\xff\xfe"), []byte("odd"), 0o644)
	writeFile(t, filepath.Join(dir, "odd", "ünïcødé"), []byte("utf8"), 0o644)
	// Symbolic links: fast, slow, absolute, relative, dangling, chained.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("hello.txt", filepath.Join(dir, "link-fast")))
	long := strings.Repeat("../sub/", 20) + "setuid"
	must(os.Symlink(long, filepath.Join(dir, "sub/link-slow")))
	must(os.Symlink("/sub/deeper", filepath.Join(dir, "link-abs")))
	must(os.Symlink("deeper/file.bin", filepath.Join(dir, "sub/link-rel")))
	must(os.Symlink("nowhere", filepath.Join(dir, "bad/dangling")))
	must(os.Symlink("link-fast", filepath.Join(dir, "link-chain")))
	must(os.Symlink("sub/deeper/../../hello.txt", filepath.Join(dir, "link-dotdot")))
	must(os.Symlink("../hello.txt/", filepath.Join(dir, "bad/slash-file")))
	must(os.Symlink("/../../sub/./deeper//file.bin", filepath.Join(dir, "bad/above-root")))
	must(os.Symlink("loop2", filepath.Join(dir, "bad/loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "bad/loop2")))
	// Hard links.
	must(os.Link(filepath.Join(dir, "hello.txt"), filepath.Join(dir, "sub/hardlink")))
	// Special files.
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	if err := syscall.Mknod(filepath.Join(dir, "chardev"), syscall.S_IFCHR|0o600, int(mkdev(4, 5))); err != nil {
		t.Logf("no device nodes: %v", err)
	} else {
		must(syscall.Mknod(filepath.Join(dir, "blockdev"), syscall.S_IFBLK|0o660, int(mkdev(259, 70000))))
	}
	l, err := net.Listen("unix", filepath.Join(dir, "socket"))
	if err == nil {
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	// Owners with high 16 bits.
	if os.Geteuid() == 0 {
		must(os.Lchown(filepath.Join(dir, "hello.txt"), 70000, 80001))
		must(os.Lchown(filepath.Join(dir, "sub"), 1000, 100))
	}
	// A sparse file with holes at the start, middle and end.
	writeSparse(t, filepath.Join(dir, "sparse"), 3<<20, map[int64][]byte{
		1 << 20:        pattern(3, 10000),
		2<<20 + 4096*3: pattern(4, 4096),
	})
}

func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

var treeFiles = []string{"hello.txt", "sub/deeper/file.bin", "link-fast", "sub/link-slow", "sparse", "big.bin"}

type fsConfig struct {
	name string
	size string
	opts []string
	typ  string
}

var configs = []fsConfig{
	{"ext4", "64M", []string{"-t", "ext4"}, "ext4"},
	{"ext4-1k-128", "64M", []string{"-t", "ext4", "-b", "1024", "-I", "128"}, "ext4"},
	{"ext4-32bit-desc", "64M", []string{"-t", "ext4", "-O", "^64bit"}, "ext4"},
	{"ext4-meta_bg", "64M", []string{"-t", "ext4", "-O", "meta_bg,^resize_inode", "-b", "1024"}, "ext4"},
	{"ext4-64k", "256M", []string{"-t", "ext4", "-b", "65536"}, "ext4"},
	{"ext4-2k-flexbg", "64M", []string{"-t", "ext4", "-b", "2048", "-G", "4", "-I", "512"}, "ext4"},
	{"ext4-nojournal", "64M", []string{"-t", "ext4", "-O", "^has_journal,^metadata_csum,uninit_bg"}, "ext4"},
	{"ext3", "64M", []string{"-t", "ext3"}, "ext3"},
	{"ext2", "64M", []string{"-t", "ext2"}, "ext2"},
	{"ext2-1k", "64M", []string{"-t", "ext2", "-b", "1024", "-I", "128"}, "ext2"},
	{"ext2-nofiletype", "64M", []string{"-t", "ext2", "-O", "^filetype,^dir_index", "-r", "1"}, "ext2"},
}

func TestImages(t *testing.T) {
	needTools(t)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			img := mkfs(t, src, c.size, c.opts...)
			fsys := openImage(t, img)
			if got := fsys.Info().Type; got != c.typ {
				t.Errorf("Type = %q, want %q", got, c.typ)
			}
			if w := fsys.Warnings(); len(w) > 0 {
				t.Errorf("Warnings: %q", w)
			}
			compareTree(t, fsys, src)
			compareDebugfs(t, fsys, img, 200)
			checkLinks(t, fsys)
			if err := fstest.TestFS(hideFS{fsys, "bad"}, treeFiles...); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkLinks checks symlink resolution and path errors.
func checkLinks(t *testing.T, fsys *FS) {
	t.Helper()
	read := func(name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Errorf("ReadFile(%q): %v", name, err)
		}
		return string(b)
	}
	if got := read("link-dotdot"); got != "hello, world\n" {
		t.Errorf("link-dotdot reads %q", got)
	}
	if got := read("bad/above-root"); len(got) != 300000 {
		t.Errorf("bad/above-root reads %d bytes", len(got))
	}
	if got := read("link-chain"); got != "hello, world\n" {
		t.Errorf("link-chain reads %q", got)
	}
	if got := read("sub/link-slow"); got != "x" {
		t.Errorf("sub/link-slow reads %q", got)
	}
	if got := read("link-abs/file.bin"); len(got) != 300000 {
		t.Errorf("link-abs/file.bin has %d bytes", len(got))
	}
	if fi, err := fsys.Stat("link-abs"); err != nil || !fi.IsDir() || fi.Name() != "link-abs" {
		t.Errorf("Stat(link-abs) = %v, %v", fi, err)
	}
	if fi, err := fsys.Lstat("link-abs"); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat(link-abs) = %v, %v", fi, err)
	}
	if ents, err := fsys.ReadDir("link-abs"); err != nil || len(ents) != 1 {
		t.Errorf("ReadDir(link-abs) = %v, %v", ents, err)
	}
	for _, tc := range []struct {
		name string
		want error
	}{
		{"nope", fs.ErrNotExist},
		{"bad/dangling", fs.ErrNotExist},
		{"sub/nope/x", fs.ErrNotExist},
		{"hello.txt/x", syscall.ENOTDIR},
		{"bad/loop1", syscall.ELOOP},
		{"bad/slash-file", syscall.ENOTDIR},
		{"/hello.txt", fs.ErrInvalid},
		{"sub/../hello.txt", fs.ErrInvalid},
		{"sub/", fs.ErrInvalid},
	} {
		_, err := fsys.Open(tc.name)
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
			t.Errorf("Open(%q) = %v, want PathError wrapping %v", tc.name, err, tc.want)
		}
	}
	if _, err := fsys.ReadLink("hello.txt"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink(hello.txt) = %v", err)
	}
	if got := read("bad/sp ace\ttab\x01\xff\xfe"); got != "odd" {
		t.Errorf("file with non-UTF-8 name reads %q", got)
	}
	if got, err := fsys.ReadLink("bad/dangling"); err != nil || got != "nowhere" {
		t.Errorf("ReadLink(dangling) = %q, %v", got, err)
	}
	// Directories read as directories, files as files.
	d, err := fsys.Open("sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("Read on a directory succeeded")
	}
	rd := d.(fs.ReadDirFile)
	var names []string
	for {
		ents, err := rd.ReadDir(2)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if got := strings.Join(names, " "); got != "deeper hardlink link-rel link-slow setgid setuid" {
		t.Errorf("ReadDir(2) loop on sub gave %q", got)
	}
	// Sparse file holes read as zeros.
	b := []byte(read("sparse"))
	if len(b) != 3<<20 || !bytes.Equal(b[1<<20:1<<20+10000], pattern(3, 10000)) ||
		!bytes.Equal(b[:1<<20], make([]byte, 1<<20)) || !bytes.Equal(b[2<<20+4096*4:], make([]byte, len(b)-(2<<20+4096*4))) {
		t.Error("sparse file contents wrong")
	}
}

// hideFS hides one top-level directory, whose dangling and looping
// symbolic links fstest.TestFS cannot open by design.
type hideFS struct {
	*FS
	hide string
}

func (h hideFS) Open(name string) (fs.File, error) {
	if name == h.hide || strings.HasPrefix(name, h.hide+"/") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := h.FS.Open(name)
	if d, ok := f.(*dir); ok && name == "." {
		return &hideDir{d, h.hide}, nil
	}
	return f, err
}

func (h hideFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := h.FS.ReadDir(name)
	if name == "." {
		ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == h.hide })
	}
	return ents, err
}

type hideDir struct {
	*dir
	hide string
}

func (d *hideDir) ReadDir(n int) ([]fs.DirEntry, error) {
	ents, err := d.dir.ReadDir(n)
	ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == d.hide })
	if n > 0 && len(ents) == 0 && err == nil {
		return d.ReadDir(n)
	}
	return ents, err
}
