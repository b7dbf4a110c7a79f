package shell

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
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

func TestGetFile(t *testing.T) {
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
