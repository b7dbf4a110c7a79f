package shell

import (
	"bufio"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"vmsh/fsread"
)

// Unix file type and mode bits, as in i_mode.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
)

// inode is what the shell shows about a file, from *fsread.Stat when the
// filesystem provides it, else guessed from the fs.FileInfo.
type inode struct {
	known                      bool // from the filesystem's inode, not guessed
	ino                        uint64
	mode                       uint32 // raw i_mode
	nlink                      uint64
	uid, gid                   uint32
	size, blocks               int64 // blocks in 512-byte units
	atime, mtime, ctime, btime time.Time
	major, minor               uint32
}

func inodeOf(fi fs.FileInfo) inode {
	if st, ok := fi.Sys().(*fsread.Stat); ok && st != nil {
		return inode{
			known: true, ino: st.Ino, mode: st.Mode, nlink: uint64(st.Nlink),
			uid: st.Uid, gid: st.Gid, size: st.Size, blocks: st.Blocks,
			atime: st.Atime, mtime: st.Mtime, ctime: st.Ctime, btime: st.Crtime,
			major: st.Major, minor: st.Minor,
		}
	}
	in := inode{mode: rawMode(fi.Mode()), nlink: 1, size: fi.Size(), mtime: fi.ModTime()}
	in.atime, in.ctime = in.mtime, in.mtime
	if fi.IsDir() {
		in.nlink = 2
	}
	in.blocks = (in.size + 511) / 512
	return in
}

// rawMode converts an fs.FileMode to Unix i_mode bits.
func rawMode(m fs.FileMode) uint32 {
	r := uint32(m.Perm())
	switch {
	case m&fs.ModeDir != 0:
		r |= sIFDIR
	case m&fs.ModeSymlink != 0:
		r |= sIFLNK
	case m&fs.ModeCharDevice != 0:
		r |= sIFCHR
	case m&fs.ModeDevice != 0:
		r |= sIFBLK
	case m&fs.ModeNamedPipe != 0:
		r |= sIFIFO
	case m&fs.ModeSocket != 0:
		r |= sIFSOCK
	default:
		r |= sIFREG
	}
	if m&fs.ModeSetuid != 0 {
		r |= sISUID
	}
	if m&fs.ModeSetgid != 0 {
		r |= sISGID
	}
	if m&fs.ModeSticky != 0 {
		r |= sISVTX
	}
	return r
}

// modeString formats i_mode as ls -l does: "drwxr-xr-x", "-rwsr-xr-x",
// "drwxrwxrwt", "crw-rw-rw-".
func modeString(mode uint32) string {
	b := []byte("?---------")
	switch mode & sIFMT {
	case sIFREG:
		b[0] = '-'
	case sIFDIR:
		b[0] = 'd'
	case sIFLNK:
		b[0] = 'l'
	case sIFCHR:
		b[0] = 'c'
	case sIFBLK:
		b[0] = 'b'
	case sIFIFO:
		b[0] = 'p'
	case sIFSOCK:
		b[0] = 's'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[1+i] = rwx[i]
		}
	}
	special := func(pos int, bit uint32, set, unset byte) {
		if mode&bit == 0 {
			return
		}
		if b[pos] == 'x' || b[pos] == 't' {
			b[pos] = set
		} else {
			b[pos] = unset
		}
	}
	special(3, sISUID, 's', 'S')
	special(6, sISGID, 's', 'S')
	special(9, sISVTX, 't', 'T')
	return string(b)
}

// typeName is the file type as coreutils stat words it.
func typeName(in inode) string {
	switch in.mode & sIFMT {
	case sIFREG:
		if in.size == 0 {
			return "regular empty file"
		}
		return "regular file"
	case sIFDIR:
		return "directory"
	case sIFLNK:
		return "symbolic link"
	case sIFCHR:
		return "character special file"
	case sIFBLK:
		return "block special file"
	case sIFIFO:
		return "fifo"
	case sIFSOCK:
		return "socket"
	}
	return "weird file"
}

// idNames maps the guest's user and group ids to names, from its
// /etc/passwd and /etc/group.
type idNames struct {
	users, groups map[uint32]string
}

func (s *Shell) idNames() *idNames {
	if s.ids == nil {
		s.ids = &idNames{users: readIDFile(s.FS(), "etc/passwd"), groups: readIDFile(s.FS(), "etc/group")}
	}
	return s.ids
}

// readIDFile reads name:x:id lines; at most 1 MiB of the file is read.
func readIDFile(fsys fs.FS, name string) map[uint32]string {
	m := map[uint32]string{}
	f, err := fsys.Open(name)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	read := 0
	for sc.Scan() && read < 1<<20 {
		line := sc.Text()
		read += len(line) + 1
		fields := strings.SplitN(line, ":", 4)
		if len(fields) < 3 || fields[0] == "" || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = fields[0]
		}
	}
	return m
}

func (n *idNames) user(id uint32) string {
	if s, ok := n.users[id]; ok {
		return s
	}
	return strconv.FormatUint(uint64(id), 10)
}

func (n *idNames) group(id uint32) string {
	if s, ok := n.groups[id]; ok {
		return s
	}
	return strconv.FormatUint(uint64(id), 10)
}
