package fsread

import (
	"io/fs"
	"strconv"
)

// OpenInode opens the file with inode number ino, as Open opens a path;
// name is what its Stat and errors call it. It serves a caller that has
// the number from a directory listing (Stat.Ino of an entry's Info) and
// would otherwise look the whole path up again, as a copy of a tree does
// for every file. The number is checked as any read from the image is;
// an inode that is not in use may still open, with what it holds.
func (f *FS) OpenInode(ino uint64, name string) (fs.File, error) {
	in, err := f.inode(ino)
	if err != nil {
		return nil, pathErr("open", inodeName(ino, name), err)
	}
	if err := f.checkReadable(in); err != nil {
		return nil, pathErr("open", inodeName(ino, name), err)
	}
	if in.isDir() {
		return &dir{fsys: f, name: name, in: in}, nil
	}
	return newFile(f, name, in), nil
}

// InodeXattrs returns the extended attributes of inode ino, as Xattrs
// returns those of a path.
func (f *FS) InodeXattrs(ino uint64) ([]Xattr, error) {
	in, err := f.inode(ino)
	if err != nil {
		return nil, pathErr("listxattr", inodeName(ino, ""), err)
	}
	xs, err := f.xattrs(in)
	if err != nil {
		return nil, pathErr("listxattr", inodeName(ino, ""), err)
	}
	return xs, nil
}

func inodeName(ino uint64, name string) string {
	if name != "" {
		return name
	}
	return "<" + strconv.FormatUint(ino, 10) + ">"
}
