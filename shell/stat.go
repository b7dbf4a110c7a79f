package shell

import (
	"fmt"
	"io/fs"
	"time"
)

func runStat(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing operand")
	}
	s := x.Shell
	if x.LongFlag("json") {
		return x.statJSON(ops)
	}
	ids := s.idNames()
	for _, p := range x.expand(ops) {
		name := s.name(p)
		fi, err := fs.Lstat(s.FS(), name)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		in := inodeOf(fi)
		file := p
		if in.mode&sIFMT == sIFLNK {
			if t, err := fs.ReadLink(s.FS(), name); err == nil {
				file += " -> " + t
			}
		}
		major, minor, blksize := s.deviceOf(name)
		fmt.Fprintf(x.Out, "  File: %s\n", s.show(file))
		fmt.Fprintf(x.Out, "  Size: %-10d\tBlocks: %-10d IO Block: %-6d %s\n", in.size, in.blocks, blksize, typeName(in))
		links := fmt.Sprintf("Links: %d", in.nlink)
		if t := in.mode & sIFMT; t == sIFCHR || t == sIFBLK {
			links = fmt.Sprintf("Links: %-5d Device type: %d,%d", in.nlink, in.major, in.minor)
		}
		ino := "?"
		if in.known {
			ino = fmt.Sprint(in.ino)
		}
		fmt.Fprintf(x.Out, "Device: %d,%d\tInode: %-11s %s\n", major, minor, ino, links)
		fmt.Fprintf(x.Out, "Access: (%04o/%s)  Uid: (%5d/%8s)   Gid: (%5d/%8s)\n",
			in.mode&0o7777, modeString(in.mode), in.uid, ids.user(in.uid), in.gid, ids.group(in.gid))
		fmt.Fprintf(x.Out, "Access: %s\n", statTime(in.atime))
		fmt.Fprintf(x.Out, "Modify: %s\n", statTime(in.mtime))
		fmt.Fprintf(x.Out, "Change: %s\n", statTime(in.ctime))
		fmt.Fprintf(x.Out, " Birth: %s\n", statTime(in.btime))
		for _, l := range s.xattrLines(name) {
			fmt.Fprintln(x.Out, l)
		}
	}
	return nil
}

// statJSON writes {"files": [...]}, one fileJSON for each path that
// exists; the others are reported on standard error and make stat fail.
func (x *Call) statJSON(ops []word) error {
	s := x.Shell
	files := []fileJSON{}
	for _, p := range x.expand(ops) {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		fi, err := fs.Lstat(s.FS(), s.name(p))
		if err != nil {
			x.Fail(p, err)
			continue
		}
		files = append(files, s.fileJSONOf(p, fi))
	}
	return x.writeJSON(struct {
		Files []fileJSON `json:"files"`
	}{files})
}

const statHelp = `stat prints the size, blocks, inode number, links, mode, owner and times of
each path, as coreutils stat does. Symbolic links are not followed.
  --json  print one JSON document instead: {"files": [...]}, each file an
          object with path, name, type, mode, perms, size, blocks, inode,
          links, uid, gid, user, group, atime, mtime, ctime and, when they
          apply, btime, target, major and minor (sizes in bytes, blocks in
          512-byte units, times in RFC 3339); a path that cannot be read is
          reported on standard error and left out, and stat fails`

// statTime formats a time as coreutils stat does, with nanoseconds; "-"
// for a time the inode does not record.
func statTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000000000 -0700")
}

// deviceOf returns the device numbers Linux would give the volume holding
// name (sda2 is 8,2) and its filesystem's block size.
func (s *Shell) deviceOf(name string) (major, minor uint32, blksize int) {
	blksize = 4096
	r, err := s.ns.resolve("stat", name, false)
	if err != nil {
		return 0, 0, blksize
	}
	mt, _ := s.ns.lookup(r)
	if mt == nil || mt.vol == nil {
		return 0, 0, blksize
	}
	v := mt.vol
	if v.blockSize > 0 {
		blksize = v.blockSize
	}
	return v.major, v.minor, blksize
}
