package shell

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"vmsh/internal/sparse"
)

// copier copies guest files under one host directory opened as an
// os.Root, so that no name, symlink or ".." can lead outside it.
type copier struct {
	x     *Call
	force bool
	buf   []byte

	files, dirs, links, skipped int
	bytes                       int64
}

func runGet(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing source operand")
	}
	dest := "."
	if len(ops) > 1 {
		dest = ops[len(ops)-1].text
		ops = ops[:len(ops)-1]
	}
	srcs := x.expand(ops)
	if len(srcs) == 0 {
		return nil
	}
	c := &copier{x: x, force: x.Flag('f'), buf: make([]byte, bufSize)}
	defer func() {
		if c.files+c.dirs+c.links+c.skipped > 0 {
			fmt.Fprintln(x.Out, c.summary(dest))
		}
	}()

	dfi, derr := os.Stat(x.Shell.local(dest))
	switch {
	case derr == nil && dfi.IsDir():
		root, err := os.OpenRoot(x.Shell.local(dest))
		if err != nil {
			return err
		}
		defer root.Close()
		for _, src := range srcs {
			if x.Ctx.Err() != nil {
				return x.Ctx.Err()
			}
			fi, ok := c.lstatSrc(src)
			if !ok {
				continue
			}
			base := path.Base(x.Shell.abs(src))
			if base == "/" {
				// The whole tree: its contents go straight into dest.
				c.copyContents(root, dest, src, 0, nil)
				continue
			}
			c.copy(root, base, filepath.Join(dest, base), src, fi, 0, nil)
		}
		return nil
	case len(srcs) > 1:
		if derr == nil {
			return fmt.Errorf("target %s is not a directory", dest)
		}
		return fmt.Errorf("target %s: %s", dest, reason(derr))
	case derr != nil && !errors.Is(derr, fs.ErrNotExist):
		return fmt.Errorf("%s: %s", dest, reason(derr))
	}

	// A single source and a dest that is not a directory: dest names the
	// copy itself.
	src := srcs[0]
	fi, ok := c.lstatSrc(src)
	if !ok {
		return nil
	}
	if derr == nil && fi.IsDir() {
		return fmt.Errorf("cannot overwrite non-directory %s with directory %s", dest, src)
	}
	if strings.HasSuffix(dest, "/") && !fi.IsDir() {
		return fmt.Errorf("%s: %s", dest, reason(errNotDir))
	}
	clean := filepath.Clean(dest)
	parent, base := filepath.Dir(clean), filepath.Base(clean)
	if base == "." || base == ".." || base == "/" {
		return fmt.Errorf("%s: %s", dest, reason(fs.ErrInvalid))
	}
	root, err := os.OpenRoot(x.Shell.local(parent))
	if err != nil {
		return fmt.Errorf("%s: %s", parent, reason(err))
	}
	defer root.Close()
	c.copy(root, base, clean, src, fi, 0, nil)
	return nil
}

// lstatSrc returns what the guest path src names, without following a
// final symlink unless src ends in '/'.
func (c *copier) lstatSrc(src string) (fs.FileInfo, bool) {
	s := c.x.Shell
	stat := fs.Lstat
	if strings.HasSuffix(src, "/") {
		stat = fs.Stat
	}
	fi, err := stat(s.FS(), s.name(src))
	if err != nil {
		c.x.Fail(src, err)
		return nil, false
	}
	return fi, true
}

// validName reports whether a name read from the guest may be used as a
// single path element on the host.
func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// copy copies the guest file src (described by fi, not followed if a
// symlink) to name in root. host is the host path shown in messages.
func (c *copier) copy(root *os.Root, name, host, src string, fi fs.FileInfo, depth int, seen []fileID) {
	x := c.x
	if x.Ctx.Err() != nil {
		return
	}
	in := inodeOf(fi)
	switch fi.Mode().Type() {
	case 0:
		c.copyFile(root, name, host, src, fi, in)
	case fs.ModeSymlink:
		c.copySymlink(root, name, host, src, in)
	case fs.ModeDir:
		if depth >= maxListDepth {
			x.Fail(src, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
			return
		}
		id, known := x.Shell.fileID(src, in)
		if known && slices.Contains(seen, id) {
			x.Fail(src, errors.New("directory cycle"))
			return
		}
		created := false
		if ofi, err := root.Lstat(name); err == nil {
			if !ofi.IsDir() {
				x.Fail(host, errors.New("exists and is not a directory"))
				return
			}
		} else if err := root.Mkdir(name, 0o700); err != nil {
			x.Fail(host, err)
			return
		} else {
			created = true
			c.dirs++
		}
		sub, err := root.OpenRoot(name)
		if err != nil {
			x.Fail(host, err)
			return
		}
		c.copyContents(sub, host, src, depth+1, append(seen, id))
		sub.Close()
		if created {
			if err := root.Chmod(name, fi.Mode().Perm()); err != nil {
				x.Fail(host, err)
			}
			if err := root.Chtimes(name, atimeOf(in), in.mtime); err != nil {
				x.Fail(host, err)
			}
		}
	default:
		c.skipped++
		x.Warn("skipping %s: %s", src, typeName(in))
	}
}

// copyContents copies the entries of guest directory src into root.
func (c *copier) copyContents(root *os.Root, host, src string, depth int, seen []fileID) {
	x := c.x
	s := x.Shell
	ents, err := fs.ReadDir(s.FS(), s.name(src))
	if err != nil {
		x.Fail(src, err)
		return
	}
	for _, e := range ents {
		if x.Ctx.Err() != nil {
			return
		}
		child := path.Join(src, e.Name())
		if !validName(e.Name()) {
			x.Fail(child, fmt.Errorf("refusing to copy a file named %q", e.Name()))
			continue
		}
		fi, err := e.Info()
		if err != nil {
			x.Fail(child, err)
			continue
		}
		c.copy(root, e.Name(), filepath.Join(host, e.Name()), child, fi, depth, seen)
	}
}

func (c *copier) copySymlink(root *os.Root, name, host, src string, in inode) {
	x := c.x
	target, err := fs.ReadLink(x.Shell.FS(), x.Shell.name(src))
	if err != nil {
		x.Fail(src, err)
		return
	}
	if strings.ContainsRune(target, 0) {
		x.Fail(src, errors.New("symlink target contains a NUL byte"))
		return
	}
	if ofi, err := root.Lstat(name); err == nil {
		if !c.force || ofi.IsDir() {
			x.Fail(host, existsErr(ofi, c.force))
			return
		}
		if err := root.Remove(name); err != nil {
			x.Fail(host, err)
			return
		}
	}
	if err := root.Symlink(target, name); err != nil {
		x.Fail(host, err)
		return
	}
	c.links++
	if err := lchtimes(root, name, atimeOf(in), in.mtime); err != nil {
		x.Fail(host, err)
	}
}

// lchtimes sets the times of the symlink name in root itself, as cp -a
// does; os.Root has no call for it, so it goes through the directory's
// descriptor with AT_SYMLINK_NOFOLLOW, which can neither follow the link
// nor leave root.
func lchtimes(root *os.Root, name string, atime, mtime time.Time) error {
	dir, err := root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer dir.Close()
	// Not UnixNano: ext4 times reach the year 2446, past int64 nanoseconds.
	ts := []unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())},
	}
	if err := unix.UtimesNanoAt(int(dir.Fd()), filepath.Base(name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lchtimes", Path: name, Err: err}
	}
	return nil
}

func existsErr(fi fs.FileInfo, force bool) error {
	switch {
	case fi.IsDir():
		return errors.New("exists and is a directory")
	case !force:
		return errors.New("file exists (use get -f to replace it)")
	}
	return fs.ErrExist
}

// copyFile copies a regular file. A new file is created exclusively; with
// -f an existing one is replaced by writing a temporary file beside it and
// renaming it over, so the old file is never left half written and a
// symlink in its place is replaced, not followed.
func (c *copier) copyFile(root *os.Root, name, host, src string, fi fs.FileInfo, in inode) {
	x := c.x
	final := name
	if ofi, err := root.Lstat(name); err == nil {
		if !c.force || ofi.IsDir() {
			x.Fail(host, existsErr(ofi, c.force))
			return
		}
		var rnd [6]byte
		rand.Read(rnd[:])
		name = ".vmsh-" + hex.EncodeToString(rnd[:]) + ".tmp"
	}
	r, err := x.Shell.FS().Open(x.Shell.name(src))
	if err != nil {
		x.Fail(src, err)
		return
	}
	defer r.Close()
	w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		x.Fail(host, err)
		return
	}
	n, err := sparse.Copy(w, ctxReader{x.Ctx, r}, c.buf)
	c.bytes += n
	if err == nil {
		err = w.Chmod(fi.Mode().Perm())
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chtimes(name, atimeOf(in), in.mtime)
	}
	if err == nil && name != final {
		err = root.Rename(name, final)
	}
	if err != nil {
		root.Remove(name)
		if x.Ctx.Err() != nil {
			return
		}
		x.Fail(host, err)
		return
	}
	c.files++
}

// atimeOf is the access time to give a copy: the guest's, or its
// modification time when the guest records none.
func atimeOf(in inode) time.Time {
	if in.atime.IsZero() {
		return in.mtime
	}
	return in.atime
}

// summary is the line printed after a get.
func (c *copier) summary(dest string) string {
	s := fmt.Sprintf("copied %s, %s, %s, %s to %s",
		plural(c.files, "file"), plural(c.dirs, "directory"), plural(c.links, "symlink"),
		plural(int(c.bytes), "byte"), dest)
	if c.skipped > 0 {
		s += fmt.Sprintf(" (skipped %d special)", c.skipped)
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, what[:len(what)-1])
	}
	return fmt.Sprintf("%d %ss", n, what)
}
