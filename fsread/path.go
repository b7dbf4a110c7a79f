package fsread

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadLinkFS = (*FS)(nil)
)

// validPath is fs.ValidPath without the UTF-8 check: ext4 names are
// arbitrary bytes, and a name listed by ReadDir must be openable.
func validPath(name string) bool {
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

// resolve walks name from the root and returns its inode. Symbolic links
// are followed in every component but the last, and in the last one too
// when followLast is set.
func (f *FS) resolve(name string, followLast bool) (*inode, error) {
	if !validPath(name) {
		return nil, fs.ErrInvalid
	}
	root, err := f.inode(rootIno)
	if err != nil {
		return nil, err
	}
	var comps []string
	if name != "." {
		comps = strings.Split(name, "/")
	}
	stack := []*inode{root}
	hops := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		cur := stack[len(stack)-1]
		if !cur.isDir() {
			// Also for "" from a symlink target ending in a slash.
			return nil, syscall.ENOTDIR
		}
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		l, err := f.readDirList(cur)
		if err != nil {
			return nil, err
		}
		ino, ok := f.lookup(cur, l, c)
		if !ok {
			return nil, fs.ErrNotExist
		}
		child, err := f.inode(ino)
		if err != nil {
			return nil, err
		}
		if child.isSymlink() && (len(comps) > 0 || followLast) {
			hops++
			if hops > maxSymlinkHops {
				return nil, syscall.ELOOP
			}
			target, err := f.readLink(child)
			if err != nil {
				return nil, err
			}
			if target == "" {
				return nil, fs.ErrNotExist
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			comps = append(strings.Split(target, "/"), comps...)
			continue
		}
		stack = append(stack, child)
	}
	return stack[len(stack)-1], nil
}

// readLink returns the target of symbolic link in.
func (f *FS) readLink(in *inode) (string, error) {
	if err := f.checkReadable(in); err != nil {
		return "", err
	}
	if in.size > maxSymlinkLen {
		return "", formatErr(-1, "symlink inode %d: target length %d too large", in.ino, in.size)
	}
	eaBlocks := int64(0)
	if in.fileACL != 0 {
		eaBlocks = int64(f.bs / 512)
	}
	if in.flags&flagInlineData != 0 {
		b, err := f.inlineData(in)
		return string(b), err
	}
	if in.st.Blocks-eaBlocks == 0 {
		// Fast symlink: the target is stored in i_block.
		if in.size > uint64(len(in.block)) {
			return "", formatErr(-1, "symlink inode %d: fast symlink of %d bytes", in.ino, in.size)
		}
		return string(in.block[:in.size]), nil
	}
	buf := make([]byte, in.size)
	d := f.newDataReader(in)
	if _, err := d.ReadAt(buf, 0); err != nil && len(buf) > 0 {
		return "", err
	}
	return string(buf), nil
}

func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open opens the named file or directory, following symbolic links.
// Directories implement fs.ReadDirFile; other files implement io.ReaderAt
// and io.Seeker as well as fs.File.
func (f *FS) Open(name string) (fs.File, error) {
	in, err := f.resolve(name, true)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if err := f.checkReadable(in); err != nil {
		return nil, pathErr("open", name, err)
	}
	base := path.Base(name)
	if in.isDir() {
		return &dir{fsys: f, name: base, in: in}, nil
	}
	return newFile(f, base, in), nil
}

// ReadDir returns the entries of the named directory sorted by name,
// without "." and "..".
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	in, err := f.resolve(name, true)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if !in.isDir() {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	l, err := f.readDirList(in)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	return f.dirEntries(l), nil
}

// Stat describes the named file, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	in, err := f.resolve(name, true)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return &fileInfo{name: path.Base(name), in: in}, nil
}

// Lstat describes the named file without following a symbolic link in
// the last component.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	in, err := f.resolve(name, false)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return &fileInfo{name: path.Base(name), in: in}, nil
}

// ReadLink returns the target of the named symbolic link.
func (f *FS) ReadLink(name string) (string, error) {
	in, err := f.resolve(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	if !in.isSymlink() {
		return "", pathErr("readlink", name, fs.ErrInvalid)
	}
	t, err := f.readLink(in)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return t, nil
}
