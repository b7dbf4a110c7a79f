package shell

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"vmsh/internal/sparse"
	"vmsh/internal/tooltest"
)

// getSession runs lines with the host working directory in dir.
func getSession(t *testing.T, fsys fs.FS, dir string, lines ...string) (string, string, int) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	return session(t, fsys, lines...)
}

// notRoot makes get behave as for a user who is not root: no archive
// mode unless -a is given.
func notRoot(t *testing.T) {
	t.Helper()
	saved := geteuid
	geteuid = func() int { return 4242 }
	t.Cleanup(func() { geteuid = saved })
}

func TestGetFile(t *testing.T) {
	notRoot(t)
	dir := t.TempDir()
	out, errs, status := getSession(t, guest(), dir, "get /etc/a.conf", "get /etc/b.conf copy", "get /etc/passwd sub/")
	if status != 1 || out != "copied 1 file, 0 directories, 0 symlinks, 2 bytes to .\ncopied 1 file, 0 directories, 0 symlinks, 2 bytes to copy\n" {
		t.Errorf("stdout %q status %d", out, status)
	}
	if errs != "vmsh: get: sub/: not a directory\n" {
		t.Errorf("stderr %q", errs)
	}
	fi, err := os.Stat(filepath.Join(dir, "a.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || !fi.ModTime().Equal(old) {
		t.Errorf("a.conf: mode %v mtime %v, want 0600 %v", fi.Mode(), fi.ModTime(), old)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "copy")); string(data) != "B\n" {
		t.Errorf("copy = %q", data)
	}

	// An existing file is kept unless -f is given.
	os.WriteFile(filepath.Join(dir, "a.conf"), []byte("mine"), 0o644)
	_, errs, status = getSession(t, guest(), dir, "get /etc/a.conf")
	if status != 1 || errs != "vmsh: get a.conf: file exists (use get -f to replace it)\n" {
		t.Errorf("overwrite without -f: %q %d", errs, status)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.conf")); string(data) != "mine" {
		t.Errorf("a.conf replaced without -f: %q", data)
	}
	_, errs, status = getSession(t, guest(), dir, "get -f /etc/a.conf")
	if data, _ := os.ReadFile(filepath.Join(dir, "a.conf")); string(data) != "A\n" || status != 0 {
		t.Errorf("get -f: %q %q %d", data, errs, status)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestGetTree(t *testing.T) {
	notRoot(t)
	dir := t.TempDir()
	out, errs, status := getSession(t, guest(), dir, "get / all")
	if status != 0 {
		t.Errorf("status %d, stderr %q", status, errs)
	}
	if errs != "vmsh: get: skipping /dev/fifo: fifo\nvmsh: get: skipping /dev/null: character special file\n" {
		t.Errorf("stderr %q", errs)
	}
	if out != "copied 11 files, 9 directories, 3 symlinks, 169 bytes to all (skipped 2 special)\n" {
		t.Errorf("stdout %q", out)
	}
	want := `. dr-xr-xr-x
bin Lrwxrwxrwx -> usr/bin
dev dr-xr-xr-x
etc drwxr-xr-x
etc/.hidden -rw-r--r-- h
etc/a.conf -rw------- A
etc/b.conf -rw-r----- B
etc/fstab -rw-r--r-- UUID=x / ext4 defaults 0 1
etc/group -rw-r--r-- root:x:0:
staff:x:50:
etc/my file -rw-r--r-- spaces
etc/passwd -rw-r--r-- root:x:0:0::/root:/bin/sh
alice:x:1000:1000::/home/alice:/bin/sh
home dr-xr-xr-x
home/alice dr-xr-xr-x
home/alice/a.txt -rw-r--r-- hello alice
home/alice/abs Lrwxrwxrwx -> /etc/passwd
home/alice/ro dr-xr-xr-x
home/alice/ro/f -r--r--r-- in a read-only dir
home/alice/up Lrwxrwxrwx -> ../../../../etc
tmp drwxrwxrwx
usr dr-xr-xr-x
usr/bin dr-xr-xr-x
usr/bin/ls -rwxr-xr-x #!ls
usr/bin/sudo -rwxr-xr-x #!sudo
`
	got := readTree(t, filepath.Join(dir, "all"))
	if got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	fi, _ := os.Stat(filepath.Join(dir, "all/etc"))
	if !fi.ModTime().Equal(old) {
		t.Errorf("etc mtime %v", fi.ModTime())
	}

	// An existing directory receives the source under its own name, and
	// several sources need one.
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	_, errs, _ = getSession(t, guest(), dir, "get /home/alice /etc/*.conf d", "get /etc/a.conf /etc/b.conf nodir")
	if errs != "vmsh: get: target nodir: no such file or directory\n" {
		t.Errorf("stderr %q", errs)
	}
	if got := readTree(t, filepath.Join(dir, "d")); !strings.Contains(got, "alice/a.txt -rw-r--r-- hello alice\n") ||
		!strings.Contains(got, "a.conf -rw------- A\n") || !strings.Contains(got, "b.conf -rw-r----- B\n") {
		t.Errorf("d:\n%s", got)
	}
	// A second get into the same tree merges directories and refuses to
	// replace files.
	_, errs, status = getSession(t, guest(), dir, "get /home/alice d")
	if status != 1 || !strings.Contains(errs, "vmsh: get d/alice/a.txt: file exists") {
		t.Errorf("merge: %q %d", errs, status)
	}
	// A symlink named on the command line is copied as a symlink; with a
	// trailing slash it is followed.
	getSession(t, guest(), dir, "get /bin binlink", "get /bin/ bindir")
	if tgt, err := os.Readlink(filepath.Join(dir, "binlink")); err != nil || tgt != "usr/bin" {
		t.Errorf("binlink: %q %v", tgt, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bindir/sudo")); err != nil {
		t.Error(err)
	}
}

// Get never writes outside the destination: not through a symlink on the
// host, not through one copied from the guest, not through a bad name.
func TestGetStaysInside(t *testing.T) {
	notRoot(t)
	dir := t.TempDir()
	outside := t.TempDir()
	dest := filepath.Join(dir, "dest")
	os.Mkdir(dest, 0o755)
	// The host destination already has a symlink leading outside where
	// the guest has a directory, and one where the guest has a file.
	os.Symlink(outside, filepath.Join(dest, "etc"))
	os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dest, "a.conf"))
	os.WriteFile(filepath.Join(outside, "victim"), []byte("safe"), 0o644)

	_, errs, status := getSession(t, guest(), dir, "get /etc dest", "get /etc/a.conf dest", "get -f /etc/a.conf dest")
	if status != 1 || !strings.Contains(errs, "vmsh: get dest/etc: exists and is not a directory\n") ||
		!strings.Contains(errs, "vmsh: get dest/a.conf: file exists") {
		t.Errorf("stderr %q status %d", errs, status)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("wrote outside: %v", ents)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "safe" {
		t.Errorf("victim overwritten: %q", data)
	}
	// With -f the symlink itself is replaced by the file.
	if fi, err := os.Lstat(filepath.Join(dest, "a.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("a.conf after -f: %v %v", fi, err)
	}

	// Names no directory entry may have are refused.
	bad := badNamesFS{fstest.MapFS{"d/ok": {Data: []byte("ok"), Mode: 0o644}}}
	_, errs, status = getSession(t, bad, dir, "get /d bad")
	if status != 1 || !strings.Contains(errs, `refusing to copy a file named "../escape"`) ||
		!strings.Contains(errs, `refusing to copy a file named "a/b"`) || !strings.Contains(errs, `refusing to copy a file named ".."`) {
		t.Errorf("bad names: %q %d", errs, status)
	}
	if got := readTree(t, filepath.Join(dir, "bad")); got != ". dr-xr-xr-x\nok -rw-r--r-- ok\n" {
		t.Errorf("bad:\n%s", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "escape")); err == nil {
		t.Error("escaped")
	}
}

// badNamesFS adds entries with impossible names to every directory.
type badNamesFS struct{ fstest.MapFS }

type fakeEntry struct{ name string }

func (e fakeEntry) Name() string               { return e.name }
func (e fakeEntry) IsDir() bool                { return false }
func (e fakeEntry) Type() fs.FileMode          { return 0 }
func (e fakeEntry) Info() (fs.FileInfo, error) { return e, nil }
func (e fakeEntry) Size() int64                { return 1 }
func (e fakeEntry) Mode() fs.FileMode          { return 0o644 }
func (e fakeEntry) ModTime() time.Time         { return old }
func (e fakeEntry) Sys() any                   { return nil }

func (b badNamesFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := b.MapFS.ReadDir(name)
	if name != "d" {
		return ents, err
	}
	return append(ents, fakeEntry{"../escape"}, fakeEntry{"a/b"}, fakeEntry{".."}, fakeEntry{""}), err
}

// hostEntry is what the archive tests compare of one copied file.
type hostEntry struct {
	mode, uid, gid uint32
	size, blocks   int64
	nlink          uint64
	rdev           uint64
	atime, mtime   unix.Timespec
	target         string // of a symlink
	sum            string // sha256 of a regular file
	xattrs         string // every attribute, sorted: name=hex value
	ino            uint64
}

func (e *hostEntry) String() string {
	return fmt.Sprintf("mode %o uid %d gid %d size %d nlink %d rdev %d:%d atime %d.%09d mtime %d.%09d target %q sha256 %s xattrs [%s]",
		e.mode, e.uid, e.gid, e.size, e.nlink, unix.Major(e.rdev), unix.Minor(e.rdev), e.atime.Sec, e.atime.Nsec,
		e.mtime.Sec, e.mtime.Nsec, e.target, e.sum, e.xattrs)
}

// snapshot describes every file under dir. All of them are stat'ed before
// any file is read, and each directory before it is listed, since reading
// changes access times.
func snapshot(t *testing.T, dir string) map[string]*hostEntry {
	t.Helper()
	m := map[string]*hostEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = &hostEntry{mode: st.Mode, uid: st.Uid, gid: st.Gid, size: st.Size, blocks: st.Blocks,
			nlink: uint64(st.Nlink), rdev: st.Rdev, atime: st.Atim, mtime: st.Mtim, ino: st.Ino}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, e := range m {
		p := filepath.Join(dir, rel)
		switch e.mode & unix.S_IFMT {
		case unix.S_IFLNK:
			e.target, _ = os.Readlink(p)
		case unix.S_IFREG:
			e.sum = sparseSum(t, p)
		}
		e.xattrs = hostXattrs(t, p)
	}
	return m
}

// sparseSum hashes the blocks of a file that are not all zeros, with
// their offsets, reading only what SEEK_DATA finds: two files with the
// same size and sum have the same contents, wherever their holes are.
func sparseSum(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	fd := int(f.Fd())
	for off := int64(0); ; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		for start < end {
			start -= start % 4096
			n, err := f.ReadAt(buf[:min(int64(len(buf)), end-start)], start)
			if n == 0 {
				t.Fatalf("%s: read at %d: %v", p, start, err)
			}
			for i := 0; i < n; i += 4096 {
				b := buf[i:min(n, i+4096)]
				if !sparse.IsZero(b) {
					fmt.Fprintf(h, "%d:", start+int64(i))
					h.Write(b)
				}
			}
			start += int64(n)
		}
		off = end
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hostXattrs lists the extended attributes of p itself, name=hex, sorted.
func hostXattrs(t *testing.T, p string) string {
	t.Helper()
	var out []string
	for name, v := range hostXattrMap(t, p) {
		out = append(out, name+"="+hex.EncodeToString([]byte(v)))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// hostXattrMap returns the extended attributes of p itself, none where
// the filesystem has no xattrs.
func hostXattrMap(t *testing.T, p string) map[string]string {
	t.Helper()
	out := map[string]string{}
	buf := make([]byte, 1<<16)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return out
		}
		t.Fatalf("llistxattr %s: %v", p, err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 1<<17)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", p, name, err)
		}
		out[name] = string(v[:m])
	}
	return out
}

// linkGroups maps every path to the sorted paths that share its inode.
func linkGroups(m map[string]*hostEntry) map[string]string {
	byIno := map[uint64][]string{}
	for p, e := range m {
		if e.mode&unix.S_IFMT != unix.S_IFDIR {
			byIno[e.ino] = append(byIno[e.ino], p)
		}
	}
	out := map[string]string{}
	for _, ps := range byIno {
		slices.Sort(ps)
		for _, p := range ps {
			out[p] = strings.Join(ps, ",")
		}
	}
	return out
}

// compareTrees reports every difference between the copy got and the
// copy want; the copy may take fewer blocks, never more.
func compareTrees(t *testing.T, got, want map[string]*hostEntry) {
	t.Helper()
	gl, wl := linkGroups(got), linkGroups(want)
	bad := 0
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing from the copy", p)
			bad++
			continue
		}
		if g.mode&unix.S_IFMT == unix.S_IFDIR {
			// A directory's size is the host's business.
			g.size, w.size = 0, 0
		}
		if g.String() != w.String() {
			t.Errorf("%s:\n got %s\nwant %s", p, g, w)
			bad++
		}
		if gl[p] != wl[p] {
			t.Errorf("%s: hard links %s, want %s", p, gl[p], wl[p])
			bad++
		}
		if w.mode&unix.S_IFMT == unix.S_IFREG && g.blocks > w.blocks {
			t.Errorf("%s: %d blocks, cp -a's copy %d", p, g.blocks, w.blocks)
			bad++
		}
		if bad > 20 {
			t.Fatal("too many differences")
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the copy, not in cp -a's", p)
		}
	}
}

// TestGetArchiveKernel copies whole fixture filesystems with get -a and
// compares the copies with what cp -a makes of a kernel loop mount of the
// same image: every path's type, mode, owner, size, times to the
// nanosecond, links, device numbers, symlink target, contents, extended
// attributes and ACLs, and no more blocks.
func TestGetArchiveKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("copies whole fixtures twice")
	}
	tooltest.Need(t, "cp")
	for _, name := range []string{"ext4", "xattr-256", "xattr-128", "feat-bigalloc", "ext2-1k"} {
		t.Run(name, func(t *testing.T) {
			img := xattrImage(t, name)
			mnt := tooltest.LoopMount(t, img)
			dir := t.TempDir()
			t0 := time.Now()
			if out, err := exec.Command("cp", "-a", mnt+"/.", filepath.Join(dir, "cp")).CombinedOutput(); err != nil {
				t.Fatalf("cp -a: %v: %s", err, out)
			}
			t1 := time.Now()
			fsys := openXattrFS(t, img)
			out, errs, status := getSession(t, fsys, dir, "get -a / vmsh")
			t.Logf("cp -a %v, get -a %v", t1.Sub(t0), time.Since(t1))
			if status != 0 {
				t.Errorf("get -a: status %d, stderr %q", status, errs)
			}
			// What the host refuses (here values too big for one block) is
			// noted; the comparison shows cp -a could not keep it either.
			for _, l := range strings.Split(strings.TrimSuffix(errs, "\n"), "\n") {
				if l != "" && !strings.HasPrefix(l, "vmsh: get: could not set user.* extended attributes on ") {
					t.Errorf("stderr: %s", l)
				}
			}
			if !strings.HasPrefix(out, "copied ") {
				t.Errorf("stdout %q", out)
			}
			compareTrees(t, snapshot(t, filepath.Join(dir, "vmsh")), snapshot(t, filepath.Join(dir, "cp")))
		})
	}
}

// faultFS serves a MapFS in which the file name cannot be read to the
// end: a read error after the first MiB, or, with hook set, hook is
// called at the first read (to interrupt the command) and the read goes
// on.
type faultFS struct {
	fstest.MapFS
	name    string
	regions bool // the file says where its data lies, as fsread's do
	hook    func()
}

var errInjected = errors.New("injected read error")

func (f *faultFS) Open(name string) (fs.File, error) {
	file, err := f.MapFS.Open(name)
	if err != nil || name != f.name {
		return file, err
	}
	ff := &faultFile{File: file, fs: f}
	if f.regions {
		return &regionFaultFile{ff}, nil
	}
	return ff, nil
}

type faultFile struct {
	fs.File
	fs  *faultFS
	off int64
}

func (f *faultFile) Read(p []byte) (int, error) {
	if f.fs.hook != nil {
		f.fs.hook()
		f.fs.hook = nil
	} else if f.off >= 1<<20 {
		return 0, errInjected
	}
	n, err := f.File.Read(p[:min(len(p), 1<<20)])
	f.off += int64(n)
	return n, err
}

type regionFaultFile struct{ *faultFile }

func (f *regionFaultFile) Region(off int64) (int64, bool, error) {
	fi, _ := f.Stat()
	if off >= fi.Size() {
		return 0, false, io.EOF
	}
	return fi.Size(), true, nil
}

func (f *regionFaultFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.hook != nil {
		f.fs.hook()
		f.fs.hook = nil
	} else if off >= 1<<20 {
		return 0, errInjected
	}
	return f.File.(io.ReaderAt).ReadAt(p, off)
}

// leftovers lists the names in dir that get uses while writing.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".vmsh-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A copy that fails or is interrupted leaves nothing under its name, and
// no temporary file; with -f the file it would have replaced is intact.
func TestGetNoHalfFiles(t *testing.T) {
	notRoot(t)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i%251 + 1)
	}
	for _, regions := range []bool{false, true} {
		t.Run(fmt.Sprint("regions=", regions), func(t *testing.T) {
			fsys := &faultFS{MapFS: fstest.MapFS{
				"d/big":  {Data: big, Mode: 0o644, ModTime: old},
				"d/good": {Data: []byte("good\n"), Mode: 0o644, ModTime: old},
			}, name: "d/big", regions: regions}
			dir := t.TempDir()
			_, errs, status := getSession(t, fsys, dir, "get /d/big out", "get -a /d tree")
			if status != 1 || strings.Count(errs, errInjected.Error()) != 2 {
				t.Errorf("status %d, stderr %q", status, errs)
			}
			if _, err := os.Lstat(filepath.Join(dir, "out")); err == nil {
				t.Error("out exists after a failed copy")
			}
			if _, err := os.Lstat(filepath.Join(dir, "tree/big")); err == nil {
				t.Error("tree/big exists after a failed copy")
			}
			if data, _ := os.ReadFile(filepath.Join(dir, "tree/good")); string(data) != "good\n" {
				t.Errorf("tree/good = %q", data)
			}
			os.WriteFile(filepath.Join(dir, "out"), []byte("old"), 0o644)
			getSession(t, fsys, dir, "get -f /d/big out")
			if data, _ := os.ReadFile(filepath.Join(dir, "out")); string(data) != "old" {
				t.Errorf("out after a failed get -f: %q", data)
			}
			if l := leftovers(t, dir); l != nil {
				t.Errorf("temporary files left: %v", l)
			}

			// Interrupted in the middle of the file.
			ui := &fakeUI{lines: []string{"get /d/big cut"}}
			s := New(ui)
			s.Mount("/", fsys)
			fsys.hook = func() {
				s.mu.Lock()
				s.cancel()
				s.mu.Unlock()
			}
			wd, _ := os.Getwd()
			os.Chdir(dir)
			s.Run()
			os.Chdir(wd)
			if fsys.hook != nil {
				t.Fatal("the copy never read the file")
			}
			if _, err := os.Lstat(filepath.Join(dir, "cut")); err == nil {
				t.Error("cut exists after an interrupted copy")
			}
			if l := leftovers(t, dir); l != nil {
				t.Errorf("temporary files left: %v", l)
			}
		})
	}
}

// For a user who is not root, get -a keeps what it can and says once
// what it could not: no device files or fifos, no other owners (and so
// no setuid bit).
func TestGetArchiveNotRoot(t *testing.T) {
	notRoot(t)
	dir := t.TempDir()
	out, errs, status := getSession(t, guest(), dir, "get -a / all")
	if status != 0 {
		t.Errorf("status %d", status)
	}
	if !strings.Contains(errs, "vmsh: get: skipped 1 device file and 1 fifo (run as root to create them)\n") ||
		!strings.Contains(errs, "vmsh: get: owners not kept for ") || strings.Count(errs, "\n") != 2 {
		t.Errorf("stderr %q", errs)
	}
	if out != "copied 11 files, 9 directories, 3 symlinks, 169 bytes to all\n" {
		t.Errorf("stdout %q", out)
	}
	for _, p := range []string{"dev/null", "dev/fifo"} {
		if _, err := os.Lstat(filepath.Join(dir, "all", p)); err == nil {
			t.Errorf("%s made", p)
		}
	}
	fi, err := os.Lstat(filepath.Join(dir, "all/usr/bin/sudo"))
	if err != nil || fi.Mode() != 0o755 {
		t.Errorf("sudo: %v %v, want -rwxr-xr-x: setuid only with its owner", fi.Mode(), err)
	}
	fi, err = os.Lstat(filepath.Join(dir, "all/tmp"))
	if err != nil || fi.Mode() != fs.ModeDir|fs.ModeSticky|0o777 {
		t.Errorf("tmp: %v %v", fi.Mode(), err)
	}
}

// As root, get is get -a: owners, setuid, devices and fifos are kept.
func TestGetArchiveRoot(t *testing.T) {
	tooltest.NeedRoot(t, "making device files")
	dir := t.TempDir()
	out, errs, status := getSession(t, guest(), dir, "get / all", "get --no-archive /dev plain")
	if status != 0 {
		t.Errorf("status %d", status)
	}
	if errs != "vmsh: get: skipping /dev/fifo: fifo\nvmsh: get: skipping /dev/null: character special file\n" {
		t.Errorf("stderr %q", errs)
	}
	if out != "copied 11 files, 9 directories, 3 symlinks, 2 special files, 169 bytes to all\n"+
		"copied 0 files, 1 directory, 0 symlinks, 0 bytes to plain (skipped 2 special)\n" {
		t.Errorf("stdout %q", out)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "all/dev/null"), &st); err != nil || st.Mode != unix.S_IFCHR|0o666 ||
		unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("dev/null: mode %o rdev %d:%d %v", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), err)
	}
	if err := unix.Lstat(filepath.Join(dir, "all/dev/fifo"), &st); err != nil || st.Mode != unix.S_IFIFO|0o644 {
		t.Errorf("dev/fifo: mode %o %v", st.Mode, err)
	}
	if err := unix.Lstat(filepath.Join(dir, "all/etc/b.conf"), &st); err != nil || st.Uid != 1001 || st.Gid != 51 {
		t.Errorf("etc/b.conf: owner %d:%d %v", st.Uid, st.Gid, err)
	}
	if err := unix.Lstat(filepath.Join(dir, "all/usr/bin/sudo"), &st); err != nil || st.Mode != unix.S_IFREG|unix.S_ISUID|0o755 {
		t.Errorf("sudo: mode %o %v", st.Mode, err)
	}
	_, errs, _ = getSession(t, guest(), dir, "get -a --no-archive /etc x")
	if !strings.Contains(errs, "contradict") {
		t.Errorf("-a --no-archive: %q", errs)
	}
}

// get --tar writes what tar writes.
func TestGetTar(t *testing.T) {
	dir := t.TempDir()
	got, errs, status := getSession(t, guest(), dir, "get --tar /etc /home")
	want, _, _ := getSession(t, guest(), dir, "tar /etc /home")
	if status != 0 || got != want || len(got) < 1024 {
		t.Errorf("get --tar: status %d, stderr %q, %d bytes, tar %d bytes", status, errs, len(got), len(want))
	}
	_, errs, status = getSession(t, guest(), dir, "get --tar -f /etc")
	if status != 1 || !strings.Contains(errs, "--tar") {
		t.Errorf("get --tar -f: %d %q", status, errs)
	}
}

// gateFS serves a MapFS whose file name blocks at its first read until
// open is closed.
type gateFS struct {
	fstest.MapFS
	name string
	open chan struct{}
}

func (g *gateFS) Open(name string) (fs.File, error) {
	f, err := g.MapFS.Open(name)
	if err != nil || name != g.name {
		return f, err
	}
	return &gateFile{f, g.open}, nil
}

type gateFile struct {
	fs.File
	open chan struct{}
}

func (f *gateFile) Read(p []byte) (int, error) {
	<-f.open
	return f.File.Read(p)
}

// On a terminal, get draws a bar with the totals found by its walk while
// it copies, and takes it away before the summary.
func TestGetProgressTerminal(t *testing.T) {
	notRoot(t)
	master, slave := openPTY(t)
	fsys := &gateFS{MapFS: fstest.MapFS{
		"d/a":    {Data: make([]byte, 3<<20), Mode: 0o644, ModTime: old},
		"d/b":    {Data: []byte("b\n"), Mode: 0o644, ModTime: old},
		"d/e/c":  {Data: []byte("c\n"), Mode: 0o644, ModTime: old},
		"d/link": {Data: []byte("b"), Mode: fs.ModeSymlink | 0o777, ModTime: old},
	}, name: "d/a", open: make(chan struct{})}
	ui := &ptyUI{tty: slave}
	ui.width = 100
	ui.lines = []string{"get /d copy"}
	s := New(ui)
	s.Mount("/", fsys)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	done := make(chan int)
	go func() { done <- s.Run() }()

	var got bytes.Buffer
	readUntil(t, master, &got, "/ 3.0 MiB, 3/4 files")
	close(fsys.open)
	if status := <-done; status != 0 {
		t.Errorf("status %d", status)
	}
	io.WriteString(slave, "END")
	readUntil(t, master, &got, "END")
	term := got.String()
	if !strings.HasSuffix(term, "\r\x1b[KEND") {
		t.Errorf("bar not erased at the end: %q", term[max(0, len(term)-200):])
	}
	if out := ui.out.String(); out != "copied 3 files, 2 directories, 1 symlink, 3145732 bytes to copy\n" {
		t.Errorf("stdout %q", out)
	}
}

// TestGetAsUser runs get -a in this test binary as user nobody, for real:
// the kernel refuses what a user may not do, and get must have noted it
// rather than failed.
func TestGetAsUser(t *testing.T) {
	if dir := os.Getenv("VMSH_GET_AS_USER"); dir != "" {
		// The child, as nobody.
		out, errs, status := getSession(t, guest(), dir, "get -a --numeric-owner / all")
		fmt.Printf("status %d\nstdout %q\nstderr %q\n", status, out, errs)
		return
	}
	tooltest.NeedRoot(t, "changing user")
	tooltest.Need(t, "setpriv")
	const nobody = 65534
	bin := filepath.Join(t.TempDir(), "shell.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(filepath.Dir(bin)), filepath.Dir(bin), dir} {
		os.Chmod(d, 0o755) // t.TempDir's are 0700
	}
	os.Chown(dir, nobody, nobody)
	cmd := exec.Command("setpriv", "--reuid", fmt.Sprint(nobody), "--regid", fmt.Sprint(nobody), "--clear-groups",
		bin, "-test.run=^TestGetAsUser$")
	cmd.Env = append(os.Environ(), "VMSH_GET_AS_USER="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "status 0\n" +
		`stdout "copied 11 files, 9 directories, 3 symlinks, 169 bytes to all\n"` + "\n" +
		`stderr "vmsh: get: skipped 1 device file and 1 fifo (run as root to create them)\nvmsh: get: owners not kept for 23 files (run as root to keep them, or use tar)\n"`
	if !strings.Contains(string(out), want) {
		t.Errorf("as nobody:\n%s\nwant:\n%s", out, want)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "all/usr/bin/sudo"), &st); err != nil || st.Mode != unix.S_IFREG|0o755 || st.Uid != nobody {
		t.Errorf("sudo: mode %o uid %d %v", st.Mode, st.Uid, err)
	}
	if err := unix.Lstat(filepath.Join(dir, "all/etc/a.conf"), &st); err != nil || st.Mode != unix.S_IFREG|0o600 ||
		st.Mtim.Nano() != old.UnixNano() {
		t.Errorf("a.conf: mode %o mtime %v %v", st.Mode, st.Mtim, err)
	}
}
