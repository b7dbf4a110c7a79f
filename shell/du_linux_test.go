package shell

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"vmsh/fsread"
)

// inodeFS is a host directory whose files describe themselves as the
// guest filesystems' do, with *fsread.Stat, so that du sees the same block
// counts and inode numbers as the host's du.
type inodeFS struct{ dir string }

func (f inodeFS) Open(name string) (fs.File, error) { return os.DirFS(f.dir).Open(name) }

func (f inodeFS) info(fi fs.FileInfo, err error) (fs.FileInfo, error) {
	if err != nil {
		return nil, err
	}
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fi, nil
	}
	return inodeInfo{fi, &fsread.Stat{Ino: s.Ino, Mode: s.Mode, Nlink: uint32(s.Nlink), Size: s.Size, Blocks: s.Blocks,
		Uid: s.Uid, Gid: s.Gid, Mtime: fi.ModTime()}}, nil
}

func (f inodeFS) Stat(name string) (fs.FileInfo, error) {
	return f.info(fs.Stat(os.DirFS(f.dir), name))
}

func (f inodeFS) Lstat(name string) (fs.FileInfo, error) {
	return f.info(os.Lstat(filepath.Join(f.dir, filepath.FromSlash(name))))
}

func (f inodeFS) ReadLink(name string) (string, error) {
	return fs.ReadLink(os.DirFS(f.dir), name)
}

func (f inodeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(os.DirFS(f.dir), name)
	for i, e := range ents {
		ents[i] = inodeEntry{e, f, name}
	}
	return ents, err
}

type inodeInfo struct {
	fs.FileInfo
	st *fsread.Stat
}

func (i inodeInfo) Sys() any { return i.st }

type inodeEntry struct {
	fs.DirEntry
	f   inodeFS
	dir string
}

func (e inodeEntry) Info() (fs.FileInfo, error) {
	return e.f.Lstat(filepath.ToSlash(filepath.Join(e.dir, e.Name())))
}

func TestDuLikeGNU(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a/small": "x", "a/big": string(make([]byte, 300000)), "a/b/c/d": "deep", "a/empty/": "",
		"lnk": "->a", "top": string(make([]byte, 5000)), "a/.hid": "h",
	})
	if err := os.Link(filepath.Join(dir, "a/big"), filepath.Join(dir, "a/b/hard")); err != nil {
		t.Fatal(err)
	}
	sparse, err := os.Create(filepath.Join(dir, "a/sparse"))
	if err != nil {
		t.Fatal(err)
	}
	sparse.Truncate(50 << 20)
	sparse.Close()
	for _, args := range [][]string{
		{}, {"."}, {"a"}, {"a/"}, {"-s", "a", "top"}, {"-h"}, {"-sh", "a"}, {"-a", "a"}, {"lnk", "top"},
		{"a/b", "a"}, {"nope", "top"},
	} {
		line := "du " + quoteArgs(args)
		sameAsToolSortedFS(t, inodeFS{dir}, dir, '\n', line, append([]string{"du"}, args...)...)
	}
}
