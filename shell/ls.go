package shell

import (
	"bufio"
	"cmp"
	"fmt"
	"io/fs"
	"math"
	"os"
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

// lsEntry is one name of an ls listing.
type lsEntry struct {
	name string // as shown
	full string // shell path
	info fs.FileInfo
	in   inode
}

// lsOpts is how one ls command lists.
type lsOpts struct {
	long, numeric, human, inode, one bool
	all, almost, recursive, dirs     bool
	sortBy                           byte // 0 by name, 't' by time, 'S' by size
	reverse                          bool
	width                            int      // terminal columns, 0 when not a terminal
	paint                            *painter // nil: no colours
}

// lsJSON is the document ls --json writes: the files named, then each
// directory listed.
type lsJSON struct {
	Files []fileJSON  `json:"files"`
	Dirs  []lsDirJSON `json:"dirs"`
}

// lsDirJSON is one directory of ls --json.
type lsDirJSON struct {
	Path    string     `json:"path"`
	Entries []fileJSON `json:"entries"`
}

// lsState is one run of ls.
type lsState struct {
	x     *Call
	o     lsOpts
	w     *bufio.Writer
	first bool    // nothing listed yet
	json  *lsJSON // collects the document with --json
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
	o := x.lsOptions()
	colors, err := lsColorsFor(isTerminal(x.Out), os.Getenv)
	if err != nil {
		x.Warn("%v", err)
	}
	if colors != nil {
		o.paint = &painter{c: colors}
	}
	return x.ls(args, o)
}

// lsOptions reads ls's flags.
func (x *Call) lsOptions() lsOpts {
	o := lsOpts{
		long: x.Flag('l') || x.Flag('n'), numeric: x.Flag('n'), human: x.Flag('h'), inode: x.Flag('i'),
		one: x.Flag('1'), all: x.Flag('a'), almost: x.Flag('A'), recursive: x.Flag('R'), dirs: x.Flag('d'),
		reverse: x.Flag('r'), width: x.Shell.ui.Width(),
	}
	switch {
	case x.Flag('S'):
		o.sortBy = 'S'
	case x.Flag('t'):
		o.sortBy = 't'
	}
	return o
}

// ls lists args as o says, or with --json describes them.
func (x *Call) ls(args []string, o lsOpts) error {
	l := &lsState{x: x, o: o, w: bufio.NewWriterSize(x.Out, 64<<10), first: true}
	if x.LongFlag("json") {
		l.o.paint = nil
		l.json = &lsJSON{Files: []fileJSON{}, Dirs: []lsDirJSON{}}
	}
	err := l.run(args)
	l.w.Flush()
	if err == nil && l.json != nil {
		err = x.writeJSON(l.json)
	}
	return err
}

// run lists the operands: files first, then directories, each group in
// the order of the sort.
func (l *lsState) run(args []string) error {
	x, s, o := l.x, l.x.Shell, &l.o
	var files, dirs []lsEntry
	for _, a := range args {
		fi, err := fs.Lstat(s.FS(), s.name(a))
		if err != nil {
			l.fail(a, err)
			continue
		}
		// As GNU ls does, a symlink named is followed when it ends in
		// "/", and without -l or -d when it leads to a directory.
		if fi.Mode()&fs.ModeSymlink != 0 && !o.dirs {
			if t, err := fs.Stat(s.FS(), s.name(a)); err == nil && (strings.HasSuffix(a, "/") || !o.long && t.IsDir()) {
				fi = t
			}
		}
		e := lsEntry{name: a, full: a, info: fi, in: inodeOf(fi)}
		if fi.IsDir() && !o.dirs {
			dirs = append(dirs, e)
		} else {
			files = append(files, e)
		}
	}
	l.sort(files)
	l.sort(dirs)
	if len(files) > 0 {
		if l.json != nil {
			for _, e := range files {
				l.json.Files = append(l.json.Files, s.fileJSONOf(e.full, e.info))
			}
		} else {
			// GNU ls sizes the columns of the files named by all the
			// operands, directories too.
			l.print(append(files, dirs...), len(files), false)
		}
		l.first = false
	}
	header := len(args) > 1 || o.recursive
	for _, d := range dirs {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		l.listDir(d.full, header, 0, nil)
	}
	return x.Ctx.Err()
}

// fail reports an error about one operand after the output so far.
func (l *lsState) fail(arg string, err error) {
	l.w.Flush()
	l.x.Fail(arg, err)
}

// sort orders entries by name, time or size, as the flags ask.
func (l *lsState) sort(list []lsEntry) {
	by, rev := l.o.sortBy, l.o.reverse
	slices.SortStableFunc(list, func(a, b lsEntry) int {
		c := 0
		switch by {
		case 't':
			c = b.in.mtime.Compare(a.in.mtime)
		case 'S':
			c = cmp.Compare(b.in.size, a.in.size)
		}
		if c == 0 {
			c = strings.Compare(a.name, b.name)
		}
		if rev {
			return -c
		}
		return c
	})
}

// listDir lists directory d, and with -R its subdirectories. seen holds the
// identities of the directories being listed above d.
func (l *lsState) listDir(d string, header bool, depth int, seen []fileID) {
	x, s, o := l.x, l.x.Shell, &l.o
	if header && l.json == nil {
		if !l.first {
			l.w.WriteString("\n")
		}
		fmt.Fprintf(l.w, "%s:\n", s.show(d))
	}
	l.first = false
	ents, err := fs.ReadDir(s.FS(), s.name(d))
	if err != nil {
		l.fail(d, err)
		return
	}
	var list []lsEntry
	if o.all {
		for _, n := range []string{".", ".."} {
			if fi, err := fs.Stat(s.FS(), s.name(d+"/"+n)); err == nil {
				list = append(list, lsEntry{name: n, full: d + "/" + n, info: renamedInfo{fi, n}, in: inodeOf(fi)})
			}
		}
	}
	for i, e := range ents {
		if i%1024 == 0 && x.Ctx.Err() != nil {
			return
		}
		if !o.all && !o.almost && strings.HasPrefix(e.Name(), ".") {
			continue
		}
		full := joinShown(d, e.Name())
		fi, err := e.Info()
		if err != nil {
			l.fail(full, err)
			continue
		}
		list = append(list, lsEntry{name: e.Name(), full: full, info: fi, in: inodeOf(fi)})
	}
	ents = nil
	l.sort(list)
	if l.json != nil {
		dj := lsDirJSON{Path: d, Entries: make([]fileJSON, 0, len(list))}
		for _, e := range list {
			dj.Entries = append(dj.Entries, s.fileJSONOf(joinShown(d, e.name), e.info))
		}
		l.json.Dirs = append(l.json.Dirs, dj)
	} else {
		l.print(list, len(list), true)
	}
	if !o.recursive {
		return
	}
	if depth >= maxListDepth {
		l.fail(d, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return
	}
	for _, e := range list {
		if !e.info.IsDir() || e.name == "." || e.name == ".." {
			continue
		}
		if x.Ctx.Err() != nil {
			return
		}
		id, known := s.fileID(e.full, e.in)
		if known && slices.Contains(seen, id) {
			l.fail(e.full, fmt.Errorf("directory cycle"))
			continue
		}
		l.listDir(e.full, true, depth+1, append(seen, id))
	}
}

// joinShown joins a directory and a name without cleaning, so that "."
// and ".." stay as they are listed.
func joinShown(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
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

// colorOf describes entry e, or the target of the symlink e with target
// set, for choosing its colour.
func (l *lsState) colorOf(e *lsEntry, target bool, linkText string) colorFile {
	f := colorFile{name: e.name, mode: e.in.mode, nlink: e.in.nlink}
	if l.o.paint == nil || e.in.mode&sIFMT != sIFLNK {
		return f
	}
	f.isLink = true
	// GNU ls looks at a symlink's target only when a colour depends on
	// it; otherwise the target counts as missing.
	if l.o.paint.c.needsTarget(l.o.long) {
		if t, err := fs.Stat(l.x.Shell.FS(), l.x.Shell.name(e.full)); err == nil {
			f.linkOK, f.linkMode = true, inodeOf(t).mode
		}
	}
	if target {
		f.name, f.mode, f.missing = linkText, f.linkMode, !f.linkOK
	}
	return f
}

// inodeText is the inode number of an entry as ls -i shows it.
func inodeText(in inode) string {
	if !in.known {
		return "?"
	}
	return strconv.FormatUint(in.ino, 10)
}

// print prints the first n entries of list: one per line with -l or -1 or
// when output is not a terminal, else in columns. The widths of the fields
// fit all of list. inDir says the entries are a directory's contents,
// which ls -l precedes with a total.
func (l *lsState) print(list []lsEntry, n int, inDir bool) {
	o := &l.o
	wi := 0
	if o.inode {
		for _, e := range list {
			wi = max(wi, len(inodeText(e.in)))
		}
	}
	if o.long {
		l.printLong(list, n, inDir, wi)
		return
	}
	list = list[:n]
	cells := make([]lsCell, len(list))
	for i := range list {
		e := &list[i]
		var b strings.Builder
		if o.inode {
			fmt.Fprintf(&b, "%*s ", wi, inodeText(e.in))
		}
		prefix := b.Len()
		name := e.name
		if o.width > 0 {
			name = printable(name)
		}
		cells[i] = lsCell{entry: e, prefix: b.String(), name: name, width: prefix + utf8.RuneCountInString(name)}
	}
	if o.width > 0 && !o.one {
		l.printColumns(cells)
		return
	}
	for _, c := range cells {
		var b strings.Builder
		o.paint.normal(&b)
		b.WriteString(c.prefix)
		o.paint.name(&b, c.name, l.colorOf(c.entry, false, ""), 0, o.width)
		b.WriteByte('\n')
		l.w.WriteString(b.String())
	}
}

// printLong prints entries as ls -l does; wi is the width of the inode
// numbers, with -i.
func (l *lsState) printLong(list []lsEntry, n int, inDir bool, wi int) {
	s, o := l.x.Shell, &l.o
	ids := s.idNames()
	type row struct {
		nlink, user, group, size, date string
		major, minor                   string
		dev                            bool
		userNum, groupNum              bool // numbers, aligned right
	}
	rows := make([]row, len(list))
	var total int64
	var wl, wu, wg, ws, wmaj, wmin int
	now := time.Now()
	for i := range list {
		in := &list[i].in
		total += in.blocks
		r := row{nlink: strconv.FormatUint(in.nlink, 10), date: lsTime(in.mtime, now)}
		r.user, r.group = strconv.FormatUint(uint64(in.uid), 10), strconv.FormatUint(uint64(in.gid), 10)
		r.userNum, r.groupNum = true, true
		if !o.numeric {
			if name, ok := ids.users[in.uid]; ok {
				r.user, r.userNum = name, false
			}
			if name, ok := ids.groups[in.gid]; ok {
				r.group, r.groupNum = name, false
			}
		}
		switch in.mode & sIFMT {
		case sIFCHR, sIFBLK:
			r.dev = true
			r.major = strconv.FormatUint(uint64(in.major), 10)
			r.minor = strconv.FormatUint(uint64(in.minor), 10)
			wmaj, wmin = max(wmaj, len(r.major)), max(wmin, len(r.minor))
		default:
			if o.human {
				r.size = humanSize(in.size)
			} else {
				r.size = strconv.FormatInt(in.size, 10)
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
		if o.human {
			fmt.Fprintf(l.w, "total %s\n", humanSize(total*512))
		} else {
			fmt.Fprintf(l.w, "total %d\n", (total+1)/2)
		}
	}
	var b strings.Builder
	for i, r := range rows[:n] {
		if i%1024 == 0 && l.x.Ctx.Err() != nil {
			return
		}
		e := &list[i]
		b.Reset()
		o.paint.normal(&b)
		mark := b.Len()
		if o.inode {
			fmt.Fprintf(&b, "%*s ", wi, inodeText(e.in))
		}
		size := r.size
		if r.dev {
			size = fmt.Sprintf("%*s, %*s", ws-2-wmin, r.major, wmin, r.minor)
		}
		fmt.Fprintf(&b, "%s %*s %s %s %*s %s ", modeString(e.in.mode), wl, r.nlink,
			alignID(r.user, wu, r.userNum), alignID(r.group, wg, r.groupNum), ws, size, r.date)
		col := b.Len() - mark
		name := e.name
		if o.width > 0 {
			name = printable(name)
		}
		o.paint.name(&b, name, l.colorOf(e, false, ""), col, o.width)
		if e.in.mode&sIFMT == sIFLNK {
			if t, err := fs.ReadLink(s.FS(), s.name(e.full)); err == nil {
				shown := t
				if o.width > 0 {
					shown = printable(t)
				}
				b.WriteString(" -> ")
				col += utf8.RuneCountInString(name) + 4
				o.paint.name(&b, shown, l.colorOf(e, true, t), col, o.width)
			}
		}
		b.WriteByte('\n')
		l.w.WriteString(b.String())
	}
}

// alignID pads an owner to width columns: a name on the right, a number
// on the left, as GNU ls does.
func alignID(s string, width int, number bool) string {
	if number {
		return fmt.Sprintf("%*s", width, s)
	}
	return fmt.Sprintf("%-*s", width, s)
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

// lsCell is one name of a multi-column listing.
type lsCell struct {
	entry  *lsEntry
	prefix string // the inode number, with -i
	name   string
	width  int // columns taken by prefix and name
}

// minColumnWidth is the narrowest a column can be, as in GNU ls.
const minColumnWidth = 3

// printColumns prints cells down then across in as many columns as fit in
// the width, as GNU ls does on a terminal: a layout fits when its line is
// shorter than the width, and columns are two spaces wider than their
// widest name (the last one excepted).
func (l *lsState) printColumns(cells []lsCell) {
	n := len(cells)
	if n == 0 {
		return
	}
	width := l.o.width
	maxCols := max(1, width/minColumnWidth)
	maxCols = min(maxCols, n)
	// layout[i] describes i+1 columns.
	type layout struct {
		valid   bool
		lineLen int
		cols    []int
	}
	layouts := make([]layout, maxCols)
	for i := range layouts {
		cols := make([]int, i+1)
		for j := range cols {
			cols[j] = minColumnWidth
		}
		layouts[i] = layout{valid: true, lineLen: (i + 1) * minColumnWidth, cols: cols}
	}
	for f, c := range cells {
		for i := range layouts {
			lay := &layouts[i]
			if !lay.valid {
				continue
			}
			idx := f / ((n + i) / (i + 1))
			w := c.width
			if idx != i {
				w += 2
			}
			if lay.cols[idx] < w {
				lay.lineLen += w - lay.cols[idx]
				lay.cols[idx] = w
				lay.valid = lay.lineLen < width
			}
		}
	}
	cols := maxCols
	for ; cols > 1; cols-- {
		if layouts[cols-1].valid {
			break
		}
	}
	colw := layouts[cols-1].cols
	rows := (n + cols - 1) / cols
	var b strings.Builder
	for r := 0; r < rows; r++ {
		if l.x.Ctx.Err() != nil {
			return
		}
		b.Reset()
		pos := 0
		for c, f := 0, r; ; c++ {
			cell := cells[f]
			l.o.paint.normal(&b)
			b.WriteString(cell.prefix)
			l.o.paint.name(&b, cell.name, l.colorOf(cell.entry, false, ""), pos, width)
			f += rows
			if f >= n {
				break
			}
			indent(&b, pos+cell.width, pos+colw[c], l.o.paint == nil)
			pos += colw[c]
		}
		b.WriteByte('\n')
		l.w.WriteString(b.String())
	}
}

// indent moves from column from to column to with spaces, and tabs when
// tabs is set. GNU ls uses no tabs with colours, whose backgrounds they
// would break.
func indent(b *strings.Builder, from, to int, tabs bool) {
	const tab = 8
	for from < to {
		if tabs && to/tab > (from+1)/tab {
			b.WriteByte('\t')
			from += tab - from%tab
		} else {
			b.WriteByte(' ')
			from++
		}
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
