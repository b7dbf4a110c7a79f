package shell

import (
	"bufio"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// duRun is one du command's state: its options and the hard-linked
// files already counted.
type duRun struct {
	x    *Call
	w    *bufio.Writer
	seen map[[3]uint64]bool // device major, minor and inode of directories and of files with several links
}

func runDu(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	args := x.expand(ops)
	if len(ops) == 0 {
		args = []string{"."}
	}
	d := &duRun{x: x, w: bufio.NewWriterSize(x.Out, 64<<10), seen: map[[3]uint64]bool{}}
	defer d.w.Flush()
	for _, p := range args {
		fi, err := fs.Lstat(x.Shell.FS(), x.Shell.name(p))
		if err != nil {
			d.w.Flush()
			x.Fail(p, err)
			continue
		}
		size, err := d.walk(p, fi, 0)
		if err != nil {
			return err
		}
		if size >= 0 {
			d.print(size, p)
		}
	}
	return nil
}

// walk returns the bytes used by p and what it holds, printing the
// subdirectories' totals unless -s. It returns -1 for a hard link already
// counted.
func (d *duRun) walk(p string, fi fs.FileInfo, depth int) (int64, error) {
	x := d.x
	if err := x.Ctx.Err(); err != nil {
		return 0, err
	}
	in := inodeOf(fi)
	// As GNU du does, a directory or a file with several links already
	// counted, under another name or another operand, is not counted again.
	if in.known && (in.nlink > 1 || fi.IsDir()) {
		major, minor, _ := x.Shell.deviceOf(x.Shell.name(p))
		key := [3]uint64{uint64(major), uint64(minor), in.ino}
		if d.seen[key] {
			return -1, nil
		}
		d.seen[key] = true
	}
	size := in.blocks * 512
	if !fi.IsDir() {
		return size, nil
	}
	if depth >= maxListDepth {
		d.w.Flush()
		x.Fail(p, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return size, nil
	}
	ents, err := fs.ReadDir(x.Shell.FS(), x.Shell.name(p))
	if err != nil {
		d.w.Flush()
		x.Fail(p, err)
	}
	for _, e := range ents {
		child := strings.TrimSuffix(p, "/") + "/" + e.Name()
		cfi, err := e.Info()
		if err != nil {
			d.w.Flush()
			x.Fail(child, err)
			continue
		}
		n, err := d.walk(child, cfi, depth+1)
		if err != nil {
			return 0, err
		}
		if n < 0 {
			continue
		}
		size += n
		if x.Flag('a') && !cfi.IsDir() {
			d.print(n, child)
		}
		if cfi.IsDir() && !x.Flag('s') {
			d.print(n, child)
		}
	}
	return size, nil
}

// print writes one line: the size in KiB rounded up, or with -h in
// K, M, G, and the path.
func (d *duRun) print(bytes int64, p string) {
	s := strconv.FormatInt((bytes+1023)/1024, 10)
	if d.x.Flag('h') {
		s = humanSize(bytes)
	}
	fmt.Fprintf(d.w, "%s\t%s\n", s, d.x.Shell.show(p))
}

const duHelp = `du prints the disk space used by each path (by default .) and by each
directory below it, from the block counts in the inodes, in KiB rounded up as
GNU du does. A file with several hard links is counted once. Symbolic links
are not followed.
  -s  print only the total of each path
  -a  print the files too, not only the directories
  -h  sizes in K, M, G`

// treeRun is one tree command's state.
type treeRun struct {
	x           *Call
	w           *bufio.Writer
	dirs, files int
}

func runTree(x *Call) error {
	vals, ops, err := x.options("a", "L")
	if err != nil {
		return err
	}
	maxDepth := 1<<31 - 1
	if v, ok := vals['L']; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badFlag("invalid level, must be greater than 0")
		}
		maxDepth = n
	}
	args := x.expand(ops)
	if len(ops) == 0 {
		args = []string{"."}
	}
	t := &treeRun{x: x, w: bufio.NewWriterSize(x.Out, 64<<10)}
	defer t.w.Flush()
	for _, p := range args {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		// As tree(1) does, a path that is not a directory is named with
		// a note on standard output; a file given counts as a file, a
		// missing path fails the command.
		fi, err := fs.Stat(x.Shell.FS(), x.Shell.name(p))
		if err != nil || !fi.IsDir() {
			fmt.Fprintf(t.w, "%s  [error opening dir]\n", x.Shell.show(p))
			if err != nil {
				x.failed = true
			} else {
				t.files++
			}
			continue
		}
		fmt.Fprintln(t.w, x.Shell.show(p))
		t.dirs++
		if err := t.dir(p, "", 1, maxDepth); err != nil {
			return err
		}
	}
	dirs, files := "directories", "files"
	if t.dirs == 1 {
		dirs = "directory"
	}
	if t.files == 1 {
		files = "file"
	}
	fmt.Fprintf(t.w, "\n%d %s, %d %s\n", t.dirs, dirs, t.files, files)
	return nil
}

// dir prints the entries of directory p, each line after prefix.
func (t *treeRun) dir(p, prefix string, depth, maxDepth int) error {
	x := t.x
	if err := x.Ctx.Err(); err != nil {
		return err
	}
	ents, err := fs.ReadDir(x.Shell.FS(), x.Shell.name(p))
	if err != nil {
		t.w.Flush()
		x.Fail(p, err)
		return nil
	}
	if !x.Flag('a') {
		var vis []fs.DirEntry
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				vis = append(vis, e)
			}
		}
		ents = vis
	}
	for i, e := range ents {
		last := i == len(ents)-1
		// tree(1) pads the vertical line with no-break spaces.
		branch, indent := "├── ", "│\u00a0\u00a0 "
		if last {
			branch, indent = "└── ", "    "
		}
		child := strings.TrimSuffix(p, "/") + "/" + e.Name()
		line := x.Shell.show(e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if target, err := fs.ReadLink(x.Shell.FS(), x.Shell.name(child)); err == nil {
				line += " -> " + x.Shell.show(target)
			}
			// As tree does, a link to a directory counts as one but is
			// not entered.
			if fi, err := fs.Stat(x.Shell.FS(), x.Shell.name(child)); err == nil && fi.IsDir() {
				t.dirs++
			} else {
				t.files++
			}
			fmt.Fprintf(t.w, "%s%s%s\n", prefix, branch, line)
			continue
		}
		fmt.Fprintf(t.w, "%s%s%s\n", prefix, branch, line)
		if !isDir {
			t.files++
			continue
		}
		t.dirs++
		if depth < maxDepth && depth < maxListDepth {
			if err := t.dir(child, prefix+indent, depth+1, maxDepth); err != nil {
				return err
			}
		}
	}
	return nil
}

const treeHelp = `tree draws the directories below each path (by default .) as tree(1) does,
with ├── └── │ lines, then counts the directories and files (the paths given
among them; a path that is not a directory is named with a note). Names starting
with '.' are left out unless -a. Symbolic links are shown with their target
and not entered.
  -a    include names starting with '.'
  -L N  descend at most N levels`
