package shell

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxListDepth bounds ls -R and get on a corrupt tree whose directories
// form a cycle the inode check cannot see.
const maxListDepth = 256

// lsHelp is the help text of ls.
const lsHelp = `ls lists each directory named, or the working directory: names sorted by
name, files named on the command line before directories. Flags:
  -l  long listing: mode, links, owner, group, size, time, name
  -n  like -l, with numeric user and group IDs
  -a  include names starting with '.', and . and ..
  -A  include names starting with '.', but not . and ..
  -h  sizes in K, M, G (with -l)
  -i  the inode number before each name
  -t  sort by modification time, newest first
  -S  sort by size, largest first
  -r  reverse the order of the sort
  -R  list subdirectories recursively
  -d  list directories themselves, not their contents
  -1  one name per line
  --json  one JSON document: {"files": [...], "dirs": [{"path", "entries": [...]}]}
Owners are shown by name when the guest's /etc/passwd and /etc/group name them.
On a terminal names are coloured as GNU ls does, by $LS_COLORS or dircolors'
defaults; not when output goes to a file or pipe, nor when NO_COLOR is set.`

// lsEntry is one line of an ls listing.
type lsEntry struct {
	name   string // as shown
	full   string // shell path, for reading a symlink's target
	info   fs.FileInfo
	target string // symlink target, with -l
}

func runLs(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	args := x.expand(ops)
	if len(ops) == 0 {
		args = []string{"."}
	}
	s := x.Shell
	long, dirsAsFiles := x.Flag('l'), x.Flag('d')
	var files []lsEntry
	var dirs []string
	for _, a := range args {
		fi, err := fs.Lstat(s.FS(), s.name(a))
		if err != nil {
			x.Fail(a, err)
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 && !dirsAsFiles && (!long || strings.HasSuffix(a, "/")) {
			if t, err := fs.Stat(s.FS(), s.name(a)); err == nil {
				fi = t
			}
		}
		if fi.IsDir() && !dirsAsFiles {
			dirs = append(dirs, a)
			continue
		}
		files = append(files, lsEntry{name: a, full: a, info: fi})
	}
	first := true
	if len(files) > 0 {
		x.printEntries(files, false)
		first = false
	}
	headers := len(args) > 1 || x.Flag('R')
	for _, d := range dirs {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		x.listDir(d, headers, &first, 0, nil)
	}
	return nil
}

// listDir lists directory d, and with -R its subdirectories. seen holds the
// identities of the directories being listed above d.
func (x *Call) listDir(d string, header bool, first *bool, depth int, seen []fileID) {
	s := x.Shell
	if header {
		if !*first {
			fmt.Fprintln(x.Out)
		}
		fmt.Fprintf(x.Out, "%s:\n", s.show(d))
	}
	*first = false
	ents, err := fs.ReadDir(s.FS(), s.name(d))
	if err != nil {
		x.Fail(d, err)
		return
	}
	all := x.Flag('a') || x.Flag('A')
	var list []lsEntry
	if x.Flag('a') {
		for _, n := range []string{".", ".."} {
			if fi, err := fs.Stat(s.FS(), s.name(d+"/"+n)); err == nil {
				list = append(list, lsEntry{name: n, full: path.Join(d, n), info: renamedInfo{fi, n}})
			}
		}
	}
	for _, e := range ents {
		if !all && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			x.Fail(path.Join(d, e.Name()), err)
			continue
		}
		list = append(list, lsEntry{name: e.Name(), full: path.Join(d, e.Name()), info: fi})
	}
	x.printEntries(list, true)
	if !x.Flag('R') {
		return
	}
	if depth >= maxListDepth {
		x.Fail(d, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return
	}
	for _, e := range list {
		if !e.info.IsDir() || e.name == "." || e.name == ".." {
			continue
		}
		if x.Ctx.Err() != nil {
			return
		}
		in := inodeOf(e.info)
		id, known := s.fileID(e.full, in)
		if known && slices.Contains(seen, id) {
			x.Fail(e.full, fmt.Errorf("directory cycle"))
			continue
		}
		x.listDir(e.full, true, first, depth+1, append(seen, id))
	}
}

// fileID names a file across the whole tree: its mount and inode number.
type fileID struct {
	mount string
	ino   uint64
}

// fileID returns the identity of the file at shell path p, described by in;
// false when the filesystem gives no inode numbers.
func (s *Shell) fileID(p string, in inode) (fileID, bool) {
	if !in.known {
		return fileID{}, false
	}
	r, err := s.ns.resolve("stat", s.name(p), false)
	if err != nil {
		return fileID{}, false
	}
	mt, _ := s.ns.lookup(r)
	if mt == nil {
		return fileID{}, false
	}
	return fileID{mt.dir, in.ino}, true
}

// printEntries prints a group of entries: one per line with -l or -1 or
// when output is not a terminal, else in columns. inDir says the entries
// are a directory's contents, which ls -l precedes with a total.
func (x *Call) printEntries(list []lsEntry, inDir bool) {
	if !x.Flag('l') {
		names := make([]string, len(list))
		w := x.Shell.ui.Width()
		for i, e := range list {
			names[i] = e.name
			if w > 0 {
				names[i] = printable(e.name)
			}
		}
		if w > 0 && !x.Flag('1') {
			printColumns(x.Out, names, w)
			return
		}
		for _, n := range names {
			fmt.Fprintln(x.Out, n)
		}
		return
	}
	ids := x.Shell.idNames()
	human := x.Flag('h')
	type row struct {
		mode, nlink, user, group, size, date, name string
		dev                                        bool
		major, minor                               string
	}
	rows := make([]row, len(list))
	var total int64
	var wl, wu, wg, ws, wmaj, wmin int
	now := time.Now()
	for i, e := range list {
		in := inodeOf(e.info)
		total += in.blocks
		r := row{
			mode:  modeString(in.mode),
			nlink: strconv.FormatUint(in.nlink, 10),
			user:  ids.user(in.uid),
			group: ids.group(in.gid),
			date:  lsTime(in.mtime, now),
			name:  e.name,
		}
		if x.Shell.ui.Width() > 0 {
			r.name = printable(r.name)
		}
		switch in.mode & sIFMT {
		case sIFCHR, sIFBLK:
			r.dev = true
			r.major = strconv.FormatUint(uint64(in.major), 10)
			r.minor = strconv.FormatUint(uint64(in.minor), 10)
			wmaj, wmin = max(wmaj, len(r.major)), max(wmin, len(r.minor))
		default:
			if human {
				r.size = humanSize(in.size)
			} else {
				r.size = strconv.FormatInt(in.size, 10)
			}
		}
		if in.mode&sIFMT == sIFLNK {
			if t, err := fs.ReadLink(x.Shell.FS(), x.Shell.name(e.full)); err == nil {
				if x.Shell.ui.Width() > 0 {
					t = printable(t)
				}
				r.name += " -> " + t
			}
		}
		wl, wu, wg = max(wl, len(r.nlink)), max(wu, len(r.user)), max(wg, len(r.group))
		ws = max(ws, len(r.size))
		rows[i] = r
	}
	if wmaj > 0 {
		ws = max(ws, wmaj+2+wmin)
	}
	if inDir {
		if human {
			fmt.Fprintf(x.Out, "total %s\n", humanSize(total*512))
		} else {
			fmt.Fprintf(x.Out, "total %d\n", (total+1)/2)
		}
	}
	for _, r := range rows {
		size := r.size
		if r.dev {
			size = fmt.Sprintf("%*s, %*s", ws-2-wmin, r.major, wmin, r.minor)
		}
		fmt.Fprintf(x.Out, "%s %*s %-*s %-*s %*s %s %s\n", r.mode, wl, r.nlink, wu, r.user, wg, r.group, ws, size, r.date, r.name)
	}
}

// lsTime formats a modification time as ls -l does: the time of day for
// the last six months, else the year.
func lsTime(t, now time.Time) string {
	t = t.Local()
	const halfYear = 31556952 / 2 * time.Second
	if t.After(now.Add(-halfYear)) && !t.After(now.Add(time.Minute)) {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

// humanSize formats n bytes as ls -h does: powers of 1024, rounded up, one
// decimal below 10.
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	const units = "KMGTPE"
	v := float64(n)
	for i := 0; i < len(units); i++ {
		v /= 1024
		if v < 10 {
			r := math.Ceil(v*10) / 10
			if r < 10 {
				return strconv.FormatFloat(r, 'f', 1, 64) + units[i:i+1]
			}
			return "10" + units[i:i+1]
		}
		if r := math.Ceil(v); r < 1024 || i == len(units)-1 {
			return strconv.FormatFloat(r, 'f', 0, 64) + units[i:i+1]
		}
	}
	return strconv.FormatInt(n, 10)
}

// printColumns prints names down then across in as many columns as fit in
// width, as ls does on a terminal.
func printColumns(w io.Writer, names []string, width int) {
	if len(names) == 0 {
		return
	}
	widths := make([]int, len(names))
	for i, n := range names {
		widths[i] = utf8.RuneCountInString(n)
	}
	// Try the most columns first; each column is as wide as its longest
	// name plus two spaces.
	for cols := min(len(names), max(1, (width+2)/3)); cols >= 1; cols-- {
		rows := (len(names) + cols - 1) / cols
		cols := (len(names) + rows - 1) / rows
		colw := make([]int, cols)
		for i, wd := range widths {
			c := i / rows
			colw[c] = max(colw[c], wd)
		}
		total := 0
		for c, cw := range colw {
			total += cw
			if c < cols-1 {
				total += 2
			}
		}
		if total > width && cols > 1 {
			continue
		}
		for r := 0; r < rows; r++ {
			var b strings.Builder
			for c := 0; c < cols; c++ {
				i := c*rows + r
				if i >= len(names) {
					break
				}
				b.WriteString(names[i])
				if c < cols-1 && (c+1)*rows+r < len(names) {
					b.WriteString(strings.Repeat(" ", colw[c]-widths[i]+2))
				}
			}
			fmt.Fprintln(w, b.String())
		}
		return
	}
}

// printable replaces control characters, which could drive the terminal,
// with '?', as ls does on a terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}
