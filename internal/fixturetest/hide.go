package fixturetest

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"syscall"
)

// FullFS is a file system with everything fsread.FS offers besides Open.
type FullFS interface {
	fs.ReadDirFS
	fs.StatFS
	fs.ReadLinkFS
}

// hideFS is a view of a file system without some of its entries. It is a
// complete FullFS itself: a hidden entry is missing from the listings of
// its directory (fs.ReadDir and ReadDir on an opened directory), and Open,
// ReadDir, Stat, Lstat and ReadLink of any name that leads to or through a
// hidden entry fail with fs.ErrNotExist, also when the name reaches it
// through symbolic links.
//
// Every other call is passed on to the underlying file system with the
// name unchanged, and its results are returned as they are (only the
// entries of a directory are filtered), so that fstest.TestFS checks the
// underlying file system's own path resolution, file reading and errors.
type hideFS struct {
	fsys   FullFS
	hidden map[string]bool // real paths (no symbolic links in them)

	mu    sync.Mutex
	nodes map[string]node // Lstat and ReadLink results by real path
}

type node struct {
	mode   fs.FileMode
	target string
	err    error
}

func newHideFS(fsys FullFS, hidden map[string]bool) *hideFS {
	return &hideFS{fsys: fsys, hidden: hidden, nodes: map[string]node{}}
}

var (
	_ FullFS         = (*hideFS)(nil)
	_ fs.ReadDirFile = (*hideDir)(nil)
)

// validName is the check fsread applies to names: fs.ValidPath without
// its UTF-8 test (ext4 names are arbitrary bytes).
func validName(name string) bool {
	if name == "." {
		return true
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

// lstat returns what Lstat and ReadLink say about the real path p.
func (h *hideFS) lstat(p string) node {
	h.mu.Lock()
	n, ok := h.nodes[p]
	h.mu.Unlock()
	if ok {
		return n
	}
	fi, err := h.fsys.Lstat(p)
	if err != nil {
		n = node{err: err}
	} else {
		n = node{mode: fi.Mode()}
		if n.mode.Type() == fs.ModeSymlink {
			n.target, n.err = h.fsys.ReadLink(p)
		}
	}
	h.mu.Lock()
	h.nodes[p] = n
	h.mu.Unlock()
	return n
}

// maxHops is the number of symbolic links followed in one name, as in
// Linux and fsread.
const maxHops = 40

// resolve resolves a valid name to its real path the way fsread and Linux
// do (".." goes to the parent of the real path; absolute targets start at
// the root), with the underlying Lstat and ReadLink. It follows a symbolic
// link in the last component if follow is set. hidden reports that the
// name leads to or through a hidden entry.
func (h *hideFS) resolve(name string, follow bool) (real string, hidden bool, err error) {
	var comps []string
	if name != "." {
		comps = strings.Split(name, "/")
	}
	cur := "."
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := c
		if cur != "." {
			next = cur + "/" + c
		}
		if h.hidden[next] {
			return "", true, nil
		}
		if len(comps) == 0 && !follow {
			return next, false, nil
		}
		n := h.lstat(next)
		if n.err != nil {
			return "", false, n.err
		}
		if n.mode.Type() == fs.ModeSymlink {
			if hops++; hops > maxHops {
				return "", false, syscall.ELOOP
			}
			if n.target == "" {
				return "", false, fs.ErrNotExist
			}
			if strings.HasPrefix(n.target, "/") {
				cur = "."
			}
			comps = append(strings.Split(n.target, "/"), comps...)
			continue
		}
		if len(comps) > 0 && !n.mode.IsDir() {
			return "", false, syscall.ENOTDIR
		}
		cur = next
	}
	return cur, false, nil
}

// check resolves name for op. It returns the real path, or an error for a
// hidden name. Invalid names, and names the resolution fails on, are left
// to the underlying file system to reject (real is "").
func (h *hideFS) check(op, name string, follow bool) (string, error) {
	if !validName(name) {
		return "", nil
	}
	real, hidden, err := h.resolve(name, follow)
	if hidden {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if err != nil {
		return "", nil
	}
	return real, nil
}

// mismatch reports a name the underlying file system found although
// resolving it with its own Lstat and ReadLink failed.
func mismatch(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("succeeded, but resolving the name with Lstat and ReadLink fails")}
}

func (h *hideFS) Open(name string) (fs.File, error) {
	real, err := h.check("open", name, true)
	if err != nil {
		return nil, err
	}
	f, err := h.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if d, ok := f.(fs.ReadDirFile); ok {
		if real == "" {
			d.Close()
			return nil, mismatch("open", name)
		}
		return &hideDir{ReadDirFile: d, h: h, dir: real}, nil
	}
	return f, nil
}

func (h *hideFS) ReadDir(name string) ([]fs.DirEntry, error) {
	real, err := h.check("readdir", name, true)
	if err != nil {
		return nil, err
	}
	ents, err := h.fsys.ReadDir(name)
	if err == nil && real == "" {
		return nil, mismatch("readdir", name)
	}
	return h.filter(real, ents), err
}

func (h *hideFS) Stat(name string) (fs.FileInfo, error) {
	if _, err := h.check("stat", name, true); err != nil {
		return nil, err
	}
	return h.fsys.Stat(name)
}

func (h *hideFS) Lstat(name string) (fs.FileInfo, error) {
	if _, err := h.check("lstat", name, false); err != nil {
		return nil, err
	}
	return h.fsys.Lstat(name)
}

func (h *hideFS) ReadLink(name string) (string, error) {
	if _, err := h.check("readlink", name, false); err != nil {
		return "", err
	}
	return h.fsys.ReadLink(name)
}

// filter returns the entries of directory dir (a real path) that are not
// hidden. It returns ents itself if none is.
func (h *hideFS) filter(dir string, ents []fs.DirEntry) []fs.DirEntry {
	keep := func(e fs.DirEntry) bool { return !h.hidden[path.Join(dir, e.Name())] }
	for i, e := range ents {
		if keep(e) {
			continue
		}
		out := append([]fs.DirEntry(nil), ents[:i]...)
		for _, e := range ents[i+1:] {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	return ents
}

// hideDir is an open directory of a hideFS.
type hideDir struct {
	fs.ReadDirFile
	h   *hideFS
	dir string // real path
}

// ReadDir returns the next n entries that are not hidden, as
// fs.ReadDirFile describes: for n > 0, it reads on past hidden entries
// until it has one or reaches the end.
func (d *hideDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		ents, err := d.ReadDirFile.ReadDir(n)
		return d.h.filter(d.dir, ents), err
	}
	var out []fs.DirEntry
	for len(out) < n {
		ents, err := d.ReadDirFile.ReadDir(n - len(out))
		out = append(out, d.h.filter(d.dir, ents)...)
		if err == io.EOF && len(out) > 0 {
			return out, nil
		}
		if err != nil || len(ents) == 0 {
			return out, err
		}
	}
	return out, nil
}
