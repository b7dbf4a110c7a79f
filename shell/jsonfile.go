package shell

import (
	"fmt"
	"io/fs"
	"path"
	"time"
)

// fileJSON is how ls, stat and find describe a file with --json. Sizes are
// bytes, blocks are 512-byte units, times are RFC 3339 with nanoseconds in
// the local time zone, mode holds the permission and set-id/sticky bits in
// octal.
type fileJSON struct {
	Path   string     `json:"path"`
	Name   string     `json:"name"`
	Type   string     `json:"type"`  // file, dir, symlink, char, block, fifo, socket, unknown
	Mode   string     `json:"mode"`  // "0755"
	Perms  string     `json:"perms"` // "drwxr-xr-x", as ls -l shows it
	Size   int64      `json:"size"`
	Blocks int64      `json:"blocks"`
	Inode  uint64     `json:"inode"`
	Links  uint64     `json:"links"`
	UID    uint32     `json:"uid"`
	GID    uint32     `json:"gid"`
	User   string     `json:"user"`  // the guest's name for uid, or the number
	Group  string     `json:"group"` // the guest's name for gid, or the number
	Atime  time.Time  `json:"atime"`
	Mtime  time.Time  `json:"mtime"`
	Ctime  time.Time  `json:"ctime"`
	Btime  *time.Time `json:"btime,omitempty"`  // creation time, when the filesystem keeps one
	Target *string    `json:"target,omitempty"` // where a symlink points
	Major  *uint32    `json:"major,omitempty"`  // device numbers of a device file
	Minor  *uint32    `json:"minor,omitempty"`
}

// fileJSONOf describes the file at shell path p, whose Lstat is fi. A
// symlink's target is read from the guest.
func (s *Shell) fileJSONOf(p string, fi fs.FileInfo) fileJSON {
	in := inodeOf(fi)
	ids := s.idNames()
	j := fileJSON{
		Path: p, Name: path.Base(p), Type: jsonType(in.mode),
		Mode: fmt.Sprintf("%04o", in.mode&0o7777), Perms: modeString(in.mode),
		Size: in.size, Blocks: in.blocks, Inode: in.ino, Links: in.nlink,
		UID: in.uid, GID: in.gid, User: ids.user(in.uid), Group: ids.group(in.gid),
		Atime: in.atime, Mtime: in.mtime, Ctime: in.ctime,
	}
	if !in.btime.IsZero() {
		bt := in.btime
		j.Btime = &bt
	}
	switch in.mode & sIFMT {
	case sIFLNK:
		if t, err := fs.ReadLink(s.FS(), s.name(p)); err == nil {
			j.Target = &t
		}
	case sIFCHR, sIFBLK:
		maj, mnr := in.major, in.minor
		j.Major, j.Minor = &maj, &mnr
	}
	return j
}

// jsonType names a file type in one word.
func jsonType(mode uint32) string {
	switch mode & sIFMT {
	case sIFREG:
		return "file"
	case sIFDIR:
		return "dir"
	case sIFLNK:
		return "symlink"
	case sIFCHR:
		return "char"
	case sIFBLK:
		return "block"
	case sIFIFO:
		return "fifo"
	case sIFSOCK:
		return "socket"
	}
	return "unknown"
}
