package shell

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// maxSymlinks bounds the symlinks followed while resolving one path, as
// Linux's MAXSYMLINKS does.
const maxSymlinks = 40

// A mount places one filesystem at a directory of the shell's tree.
type mount struct {
	dir  string // io/fs path of the mountpoint: "." for /, "boot" for /boot
	fsys fs.FS
	vol  *Volume // nil for a filesystem given directly (tests)
}

// mountFS is the shell's view of the guest: a table of mounts presented as
// one fs.FS. A name is served by the mount with the longest directory that
// is a prefix of it. Symlinks are resolved here, component by component, so
// a link on one filesystem may lead into another (/lib -> usr/lib with /usr
// mounted separately), and absolute targets resolve against the top of the
// tree rather than the root of the filesystem holding the link.
type mountFS struct {
	mounts []mount // sorted by dir, longest first
}

var (
	_ fs.ReadDirFS  = (*mountFS)(nil)
	_ fs.StatFS     = (*mountFS)(nil)
	_ fs.ReadLinkFS = (*mountFS)(nil)
)

// add mounts fsys at dir, replacing any mount already there.
func (m *mountFS) add(dir string, fsys fs.FS, vol *Volume) {
	m.mounts = slices.DeleteFunc(m.mounts, func(mt mount) bool { return mt.dir == dir })
	m.mounts = append(m.mounts, mount{dir: dir, fsys: fsys, vol: vol})
	slices.SortStableFunc(m.mounts, func(a, b mount) int { return len(b.dir) - len(a.dir) })
}

// lookup returns the mount serving name and name relative to it.
func (m *mountFS) lookup(name string) (*mount, string) {
	for i := range m.mounts {
		mt := &m.mounts[i]
		if mt.dir == "." {
			return mt, name
		}
		if name == mt.dir {
			return mt, "."
		}
		if strings.HasPrefix(name, mt.dir) && name[len(mt.dir)] == '/' {
			return mt, name[len(mt.dir)+1:]
		}
	}
	return nil, ""
}

// mountAt returns the mount whose mountpoint is exactly dir, or nil.
func (m *mountFS) mountAt(dir string) *mount {
	for i := range m.mounts {
		if m.mounts[i].dir == dir {
			return &m.mounts[i]
		}
	}
	return nil
}

func (m *mountFS) lstatRaw(name string) (fs.FileInfo, error) {
	mt, rel := m.lookup(name)
	if mt == nil {
		return nil, errNoFS
	}
	if rel == "." {
		fi, err := fs.Stat(mt.fsys, ".")
		if err == nil && name != "." {
			fi = renamedInfo{fi, path.Base(name)}
		}
		return fi, err
	}
	return fs.Lstat(mt.fsys, rel)
}

// resolve returns name with every symlink in it replaced by its target, the
// last component too when follow is set. The result names the same file and
// has no symlink components, except perhaps the last.
func (m *mountFS) resolve(op, name string, follow bool) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if len(m.mounts) == 0 {
		return "", &fs.PathError{Op: op, Path: name, Err: errNoFS}
	}
	var parts []string
	if name != "." {
		parts = strings.Split(name, "/")
	}
	done := "."
	links := 0
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		switch p {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, p)
		last := i == len(parts)-1
		if last && !follow {
			done = next
			break
		}
		fi, err := m.lstatRaw(next)
		if err != nil {
			return "", &fs.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return "", &fs.PathError{Op: op, Path: name, Err: syscall.ELOOP}
			}
			mt, rel := m.lookup(next)
			target, err := fs.ReadLink(mt.fsys, rel)
			if err != nil {
				return "", &fs.PathError{Op: op, Path: name, Err: unwrapPathErr(err)}
			}
			if strings.HasPrefix(target, "/") {
				done = "."
			}
			rest := parts[i+1:]
			parts = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
			i = -1
			continue
		}
		if !last && !fi.IsDir() {
			return "", &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
		}
		done = next
	}
	return done, nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fixErr rewrites the path of a *fs.PathError from the mount's relative name
// to the name the caller used.
func fixErr(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

func (m *mountFS) Open(name string) (fs.File, error) {
	r, err := m.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	mt, rel := m.lookup(r)
	f, err := mt.fsys.Open(rel)
	if err != nil {
		return nil, fixErr(err, name)
	}
	if d, ok := f.(fs.ReadDirFile); ok && (m.hasMountsBelow(r) || rel == "." && r != ".") {
		return &mountDir{ReadDirFile: d, m: m, name: r}, nil
	}
	return f, nil
}

func (m *mountFS) Stat(name string) (fs.FileInfo, error) {
	r, err := m.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := m.lstatRaw(r)
	return fi, fixErr(err, name)
}

func (m *mountFS) Lstat(name string) (fs.FileInfo, error) {
	r, err := m.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	fi, err := m.lstatRaw(r)
	return fi, fixErr(err, name)
}

func (m *mountFS) ReadLink(name string) (string, error) {
	r, err := m.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	mt, rel := m.lookup(r)
	if rel == "." {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t, err := fs.ReadLink(mt.fsys, rel)
	return t, fixErr(err, name)
}

func (m *mountFS) ReadDir(name string) ([]fs.DirEntry, error) {
	r, err := m.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	mt, rel := m.lookup(r)
	ents, err := fs.ReadDir(mt.fsys, rel)
	if err != nil {
		return nil, fixErr(err, name)
	}
	return m.overlay(r, ents), nil
}

// hasMountsBelow reports whether a mountpoint's parent is dir.
func (m *mountFS) hasMountsBelow(dir string) bool {
	for _, mt := range m.mounts {
		if mt.dir != "." && path.Dir(mt.dir) == dir {
			return true
		}
	}
	return false
}

// overlay replaces the entries of directory dir that are mountpoints with
// the roots of the filesystems mounted there, and adds mountpoints the
// directory lacks.
func (m *mountFS) overlay(dir string, ents []fs.DirEntry) []fs.DirEntry {
	if !m.hasMountsBelow(dir) {
		return ents
	}
	seen := map[string]bool{}
	for i, e := range ents {
		child := path.Join(dir, e.Name())
		if mt := m.mountAt(child); mt != nil {
			ents[i] = m.mountEntry(e.Name(), mt)
			seen[e.Name()] = true
		}
	}
	added := false
	for i := range m.mounts {
		mt := &m.mounts[i]
		if mt.dir == "." || path.Dir(mt.dir) != dir || seen[path.Base(mt.dir)] {
			continue
		}
		ents = append(ents, m.mountEntry(path.Base(mt.dir), mt))
		added = true
	}
	if added {
		slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return ents
}

func (m *mountFS) mountEntry(name string, mt *mount) fs.DirEntry {
	fi, err := fs.Stat(mt.fsys, ".")
	if err != nil {
		fi = dirInfo{name: name}
	}
	return fs.FileInfoToDirEntry(renamedInfo{FileInfo: fi, name: name})
}

// mountDir is a directory with mountpoints below it: its listing shows the
// mounted roots.
type mountDir struct {
	fs.ReadDirFile
	m    *mountFS
	name string
	ents []fs.DirEntry // nil until read
	off  int
}

func (d *mountDir) Stat() (fs.FileInfo, error) {
	fi, err := d.ReadDirFile.Stat()
	if err == nil && d.name != "." {
		fi = renamedInfo{fi, path.Base(d.name)}
	}
	return fi, err
}

// ReadDir reads the whole directory on the first call, so mountpoints the
// directory lacks are added once, then serves it n entries at a time.
func (d *mountDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.ents == nil {
		ents, err := d.ReadDirFile.ReadDir(-1)
		if err != nil {
			return nil, err
		}
		d.ents = d.m.overlay(d.name, ents)
		if d.ents == nil {
			d.ents = []fs.DirEntry{}
		}
	}
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.off += len(rest)
	return rest, nil
}

type renamedInfo struct {
	fs.FileInfo
	name string
}

func (r renamedInfo) Name() string { return r.name }

// dirInfo describes a mountpoint whose filesystem cannot be read.
type dirInfo struct{ name string }

func (d dirInfo) Name() string       { return d.name }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }
