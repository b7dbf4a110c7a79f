package shell

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"vmsh/fsread"
	"vmsh/internal/sparse"
)

// geteuid is os.Geteuid; tests replace it to see what a user who is not
// root gets.
var geteuid = os.Geteuid

// getWorkers is how many files get copies at once. The copy of one small
// file is a handful of system calls on the host and a read of the guest,
// which wait on the kernel and the disk worker rather than on a CPU, so a
// few more than the CPUs keep both busy.
var getWorkers = max(4, 2*runtime.GOMAXPROCS(0))

// holeBlock is the granularity at which zeros in the data are left as
// holes, as cp does with the usual 4 KiB block of a host filesystem.
const holeBlock = 4096

const getHelp = `get copies guest files to the host, recursively. dest defaults to the local directory (lcd).
A dest that does not exist becomes the copy of src (with a single src); an existing directory
receives each src under its own name; "get / dest" copies the whole tree into dest.
  -a               archive mode, as cp -a: also keep owners (numeric uid and gid), setuid, setgid
                   and sticky bits, hard links (as links), device files, fifos and sockets, and
                   extended attributes with POSIX ACLs; the default when vmsh runs as root
  --no-archive     the plain copy, also as root: permission bits and times only
  --numeric-owner  owners are kept as the numbers the guest records, never mapped by name
                   (the only way get keeps owners; accepted for cp and tar habits)
  -f               replace existing files (never directories)
  --tar            write a POSIX (pax) tar of the sources to standard output instead, as tar
                   does, with every attribute above also for a user who is not root: no dest
Always: modification and access times are kept (on directories too, set once their contents
are written); symlinks are recreated as symlinks and never followed; sparse files stay sparse
(holes are skipped, not written). Without root, owners other than your own cannot be given,
and device files, fifos and sockets are skipped with a note (tar keeps them all). Extended
attributes the local filesystem refuses are noted once. Each file is written under a temporary
name (.NAME.vmsh-XXXXXXXX) in its directory and renamed when complete, so an interrupted or
failed copy leaves no partial file under its final name. A directory that already exists is
filled but keeps its own mode, owner and times. Nothing is written outside dest.
On a terminal a progress bar shows bytes, files, rate and time left; at the end a summary
line says what was copied.`

// copier copies guest files into a host directory. The walk of the guest
// tree runs in the calling goroutine and makes the directories; the files
// are copied by getWorkers goroutines. Every host operation is relative to
// an open directory and a single name checked by validName, without
// following symlinks, so no name, symlink or ".." from the guest leads
// outside the destination.
type copier struct {
	x       *Call
	force   bool
	archive bool
	root    bool     // euid 0: owners, device files, trusted.* and security.*
	euid    int      // for the owners a user who is not root can give
	groups  []uint32 // the process's groups, likewise
	top     *os.Root // the directory every hard link path is relative to
	prog    *progress
	buf     sync.Pool // *[]byte of bufSize

	jobs     chan func()
	wg       sync.WaitGroup
	counting sync.WaitGroup // the walk that finds the totals

	files, dirs, symlinks, hardlinks, specials, skipped atomic.Int64
	bytes                                               atomic.Int64

	// Walker only.
	links map[fileID]*linkOrigin // files with more than one link, by inode

	mu          sync.Mutex // guards the fields below and x.Fail / x.Warn
	noOwner     int        // files whose owner could not be given
	noDevices   map[string]int
	xattrErrs   map[string]int // "user.*: operation not supported" → files
	xattrNoRoot int            // files with trusted.* or security.* attributes not copied
}

// linkOrigin is the first copy of a file with several links; the others
// become hard links to it once it is complete.
type linkOrigin struct {
	done chan struct{}
	rel  string // its path relative to top
	ok   bool   // written under rel; set before done is closed
}

// hostDir is a directory being filled. pending counts the walker's own
// hold and every copy queued into it; when it drops to zero the directory
// is complete, finish sets its mode, owner and times, and it is closed.
type hostDir struct {
	f       *os.File
	host    string // the path shown in messages
	rel     string // the path relative to top
	parent  *hostDir
	fresh   bool // made by this get, so empty when it started
	pending atomic.Int64
	finish  func()
}

func (d *hostDir) fd() int { return int(d.f.Fd()) }

func (c *copier) hold(d *hostDir) { d.pending.Add(1) }

// release drops one hold on d and completes every directory that is left
// with none, up the tree.
func (c *copier) release(d *hostDir) {
	for d != nil && d.pending.Add(-1) == 0 {
		if d.finish != nil {
			d.finish()
		}
		d.f.Close()
		d = d.parent
	}
}

func runGet(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing source operand")
	}
	if x.LongFlag("tar") {
		// The archive goes to standard output (or > file, | cmd): a
		// dest would be ambiguous.
		if x.Flag('f') || x.LongFlag("no-archive") {
			return usagef("--tar writes every attribute to standard output; -f and --no-archive do not apply")
		}
		srcs := x.expand(ops)
		if len(srcs) == 0 {
			return nil
		}
		return x.runTarTo(x.Out, srcs)
	}
	if x.Flag('a') && x.LongFlag("no-archive") {
		return usagef("-a and --no-archive contradict each other")
	}
	dest := "."
	if len(ops) > 1 {
		dest = ops[len(ops)-1].text
		ops = ops[:len(ops)-1]
	}
	srcs := x.expand(ops)
	if len(srcs) == 0 {
		return nil
	}
	euid := geteuid()
	c := &copier{
		x: x, force: x.Flag('f'), root: euid == 0, euid: euid,
		archive: x.Flag('a') || euid == 0 && !x.LongFlag("no-archive"),
		links:   map[fileID]*linkOrigin{},
	}
	c.buf.New = func() any { b := make([]byte, bufSize); return &b }
	if c.archive && !c.root {
		if gs, err := os.Getgroups(); err == nil {
			for _, g := range gs {
				c.groups = append(c.groups, uint32(g))
			}
		}
		c.groups = append(c.groups, uint32(os.Getegid()))
	}
	c.prog = x.startProgress("get")
	defer func() {
		c.prog.stop()
		c.counting.Wait()
		c.notes()
		if c.files.Load()+c.dirs.Load()+c.symlinks.Load()+c.hardlinks.Load()+c.specials.Load()+c.skipped.Load() > 0 {
			fmt.Fprintln(x.Out, c.summary(dest))
		}
	}()
	return c.run(dest, srcs)
}

// run copies srcs to dest, as runGet describes.
func (c *copier) run(dest string, srcs []string) error {
	x := c.x
	dfi, derr := os.Stat(x.Shell.local(dest))
	switch {
	case derr == nil && dfi.IsDir():
		root, err := os.OpenRoot(x.Shell.local(dest))
		if err != nil {
			return err
		}
		defer root.Close()
		top, err := c.openTop(root, dest)
		if err != nil {
			return err
		}
		c.start(srcs)
		for _, src := range srcs {
			if x.Ctx.Err() != nil {
				break
			}
			fi, ok := c.lstatSrc(src)
			if !ok {
				continue
			}
			base := path.Base(x.Shell.abs(src))
			if base == "/" {
				// The whole tree: its contents go straight into dest.
				c.copyContents(top, src, 0, nil)
				continue
			}
			c.copy(top, base, src, fi, nil, 0, nil)
		}
		c.release(top)
		c.wait()
		return x.Ctx.Err()
	case len(srcs) > 1:
		if derr == nil {
			return fmt.Errorf("target %s is not a directory", dest)
		}
		return fmt.Errorf("target %s: %s", dest, reason(derr))
	case derr != nil && !errors.Is(derr, fs.ErrNotExist):
		return fmt.Errorf("%s: %s", dest, reason(derr))
	}

	// A single source and a dest that is not a directory: dest names the
	// copy itself.
	src := srcs[0]
	fi, ok := c.lstatSrc(src)
	if !ok {
		return nil
	}
	if derr == nil && fi.IsDir() {
		return fmt.Errorf("cannot overwrite non-directory %s with directory %s", dest, src)
	}
	if strings.HasSuffix(dest, "/") && !fi.IsDir() {
		return fmt.Errorf("%s: %s", dest, reason(errNotDir))
	}
	clean := filepath.Clean(dest)
	parent, base := filepath.Dir(clean), filepath.Base(clean)
	if base == "." || base == ".." || base == "/" {
		return fmt.Errorf("%s: %s", dest, reason(fs.ErrInvalid))
	}
	root, err := os.OpenRoot(x.Shell.local(parent))
	if err != nil {
		return fmt.Errorf("%s: %s", parent, reason(err))
	}
	defer root.Close()
	top, err := c.openTop(root, parent)
	if err != nil {
		return err
	}
	c.start(srcs)
	c.copyAs(top, base, clean, src, fi, nil, 0, nil)
	c.release(top)
	c.wait()
	return x.Ctx.Err()
}

// openTop opens the destination directory itself as the first hostDir.
func (c *copier) openTop(root *os.Root, host string) (*hostDir, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("%s: %s", host, reason(err))
	}
	c.top = root
	d := &hostDir{f: f, host: host, rel: "."}
	d.pending.Store(1)
	return d, nil
}

// start starts the workers and, when a bar is drawn, a walk of the
// sources that gives it totals.
func (c *copier) start(srcs []string) {
	c.jobs = make(chan func(), 4*getWorkers)
	for range getWorkers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for job := range c.jobs {
				job()
			}
		}()
	}
	if c.prog.drawn() {
		c.counting.Add(1)
		go func() {
			defer c.counting.Done()
			c.count(srcs)
		}()
	}
}

// wait waits for every queued copy.
func (c *copier) wait() {
	close(c.jobs)
	c.wg.Wait()
}

// queue runs job on a worker, with a hold on d until it is done.
func (c *copier) queue(d *hostDir, job func()) {
	c.hold(d)
	c.jobs <- func() {
		defer c.release(d)
		if c.x.Ctx.Err() == nil {
			job()
		}
	}
}

// count walks the sources as the copy will and gives the progress bar
// its totals; it gives up when the copy ends first.
func (c *copier) count(srcs []string) {
	s := c.x.Shell
	fsys := s.FS()
	var bytes int64
	files := 0
	for _, src := range srcs {
		fi, err := fs.Lstat(fsys, s.name(src))
		if strings.HasSuffix(src, "/") {
			fi, err = fs.Stat(fsys, s.name(src))
		}
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			files++
			if fi.Mode().IsRegular() {
				bytes += dataSize(fi)
			}
			continue
		}
		stop := errors.New("stop")
		fs.WalkDir(fsys, s.name(src), func(p string, d fs.DirEntry, err error) error {
			if c.prog.stopped() || c.x.Ctx.Err() != nil {
				return stop
			}
			if err != nil || d.IsDir() {
				return nil
			}
			files++
			if d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					bytes += dataSize(fi)
				}
			}
			return nil
		})
	}
	if !c.prog.stopped() && c.x.Ctx.Err() == nil {
		c.prog.setTotal(bytes, files)
	}
}

// dataSize is about how many bytes of the file get reads: its size, less
// the holes that the blocks it uses show.
func dataSize(fi fs.FileInfo) int64 {
	in := inodeOf(fi)
	return min(in.size, in.blocks*512)
}

// fail reports an error about one file; safe from any goroutine.
func (c *copier) fail(arg string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.x.Fail(arg, err)
}

// warn prints a note; safe from any goroutine.
func (c *copier) warn(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.x.Warn(format, a...)
}

// lstatSrc returns what the guest path src names, without following a
// final symlink unless src ends in '/'.
func (c *copier) lstatSrc(src string) (fs.FileInfo, bool) {
	s := c.x.Shell
	stat := fs.Lstat
	if strings.HasSuffix(src, "/") {
		stat = fs.Stat
	}
	fi, err := stat(s.FS(), s.name(src))
	if err != nil {
		c.fail(src, err)
		return nil, false
	}
	return fi, true
}

// validName reports whether a name read from the guest may be used as a
// single path element on the host.
func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00")
}

// copy copies the guest file src (described by fi, not followed if a
// symlink) into d under name. g, if not nil, is the filesystem whose
// directory listing gave fi, through which a file is opened by its inode
// number rather than by its path.
func (c *copier) copy(d *hostDir, name, src string, fi fs.FileInfo, g byInodeFS, depth int, seen []fileID) {
	c.copyAs(d, name, filepath.Join(d.host, name), src, fi, g, depth, seen)
}

// copyAs is copy with the host path for messages given.
func (c *copier) copyAs(d *hostDir, name, host, src string, fi fs.FileInfo, g byInodeFS, depth int, seen []fileID) {
	x := c.x
	if x.Ctx.Err() != nil {
		return
	}
	in := inodeOf(fi)
	t := fi.Mode().Type()
	if t == fs.ModeDir {
		c.copyDir(d, name, host, src, in, depth, seen)
		return
	}
	if t != 0 && t != fs.ModeSymlink && !c.archive {
		c.skipped.Add(1)
		c.warn("skipping %s: %s", src, typeName(in))
		return
	}
	if t != 0 && t != fs.ModeSymlink && !c.root {
		c.noDevice(in)
		return
	}
	f := file{d: d, name: name, host: host, src: src, in: in}
	if in.known {
		f.g = g
	}
	if c.archive && in.nlink > 1 {
		if id, ok := x.Shell.fileID(src, in); ok {
			if o := c.links[id]; o != nil {
				c.queue(d, func() { c.link(f, o) })
				return
			}
			o := &linkOrigin{done: make(chan struct{}), rel: path.Join(d.rel, name)}
			c.links[id] = o
			c.queue(d, func() {
				defer close(o.done)
				o.ok = c.copyOne(f)
			})
			return
		}
	}
	c.queue(d, func() { c.copyOne(f) })
}

// noDevice counts a special file that could not be made, for the note at
// the end.
func (c *copier) noDevice(in inode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noDevices == nil {
		c.noDevices = map[string]int{}
	}
	c.noDevices[specialKind(in)]++
}

// errNotMade is the error of a special file that may not be made here,
// counted rather than reported.
var errNotMade = errors.New("not permitted")

// specialKind names the kind of a special file for the note about those
// skipped.
func specialKind(in inode) string {
	switch in.mode & sIFMT {
	case sIFCHR, sIFBLK:
		return "device file"
	case sIFIFO:
		return "fifo"
	}
	return "socket"
}

// file is one non-directory to copy.
type file struct {
	d          *hostDir
	name, host string
	src        string
	in         inode
	g          byInodeFS // opens it by in.ino; nil: by src
}

// byInodeFS is a filesystem that opens files by inode number, as fsread's
// does.
type byInodeFS interface {
	OpenInode(ino uint64, name string) (fs.File, error)
	InodeXattrs(ino uint64) ([]fsread.Xattr, error)
}

// dirFS returns the filesystem that lists the guest directory src, if it
// opens files by inode number.
func (c *copier) dirFS(src string) byInodeFS {
	s := c.x.Shell
	r, err := s.ns.resolve("open", s.name(src), true)
	if err != nil {
		return nil
	}
	mt, _ := s.ns.lookup(r)
	if mt == nil {
		return nil
	}
	g, _ := mt.fsys.(byInodeFS)
	return g
}

// open opens the guest file f.
func (c *copier) open(f file) (fs.File, error) {
	if f.g != nil {
		return f.g.OpenInode(f.in.ino, f.name)
	}
	return c.x.Shell.FS().Open(c.x.Shell.name(f.src))
}

// fileXattrs returns the extended attributes of f in archive mode.
func (c *copier) fileXattrs(f file) []fsread.Xattr {
	if !c.archive || f.g == nil {
		return c.xattrs(f.src)
	}
	xs, err := f.g.InodeXattrs(f.in.ino)
	if err != nil {
		c.fail(f.src, err)
		return nil
	}
	fsread.SortXattrs(xs)
	return xs
}

// copyOne copies a file, symlink or special file and reports whether it
// now exists under its name.
func (c *copier) copyOne(f file) bool {
	var ok bool
	switch f.in.mode & sIFMT {
	case sIFREG:
		ok = c.copyFile(f)
	case sIFLNK:
		ok = c.copySymlink(f)
	default:
		ok = c.copySpecial(f)
	}
	if ok {
		c.prog.fileDone()
	}
	return ok
}

// copyDir makes the directory name in d and copies the guest directory
// src into it. Its mode, owner, attributes and times are set when all of
// its contents are written, so that a read-only mode does not stop the
// copy and writing the contents does not change the times.
func (c *copier) copyDir(d *hostDir, name, host, src string, in inode, depth int, seen []fileID) {
	x := c.x
	if depth >= maxListDepth {
		c.fail(src, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return
	}
	id, known := x.Shell.fileID(src, in)
	if known && slices.Contains(seen, id) {
		c.fail(src, errors.New("directory cycle"))
		return
	}
	fresh := true
	if err := unix.Mkdirat(d.fd(), name, 0o700); err != nil {
		var st unix.Stat_t
		if !errors.Is(err, unix.EEXIST) {
			c.fail(host, err)
			return
		}
		if err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			c.fail(host, errors.New("exists and is not a directory"))
			return
		}
		fresh = false
	}
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		c.fail(host, &fs.PathError{Op: "open", Path: host, Err: err})
		return
	}
	sub := &hostDir{f: os.NewFile(uintptr(fd), host), host: host, rel: path.Join(d.rel, name), parent: d, fresh: fresh}
	sub.pending.Store(1)
	c.hold(d)
	if fresh {
		c.dirs.Add(1)
		xs := c.xattrs(src)
		sub.finish = func() { c.setDirMeta(sub, src, in, xs) }
	}
	c.copyContents(sub, src, depth+1, append(seen, id))
	c.release(sub)
}

// copyContents copies the entries of guest directory src into d.
func (c *copier) copyContents(d *hostDir, src string, depth int, seen []fileID) {
	x := c.x
	s := x.Shell
	ents, err := fs.ReadDir(s.FS(), s.name(src))
	if err != nil {
		c.fail(src, err)
		return
	}
	g := c.dirFS(src)
	for _, e := range ents {
		if x.Ctx.Err() != nil {
			return
		}
		child := path.Join(src, e.Name())
		if !validName(e.Name()) {
			c.fail(child, fmt.Errorf("refusing to copy a file named %q", e.Name()))
			continue
		}
		fi, err := e.Info()
		if err != nil {
			c.fail(child, err)
			continue
		}
		c.copy(d, e.Name(), child, fi, g, depth, seen)
	}
}

// setDirMeta gives a finished directory the guest's attributes.
func (c *copier) setDirMeta(d *hostDir, src string, in inode, xs []fsread.Xattr) {
	fd := d.fd()
	mode := c.setOwner(fd, "", in, d.host)
	c.setXattrs(fd, "", xs, d.host)
	if err := unix.Fchmod(fd, mode); err != nil {
		c.fail(d.host, &fs.PathError{Op: "chmod", Path: d.host, Err: err})
	}
	if err := unix.UtimesNanoAt(fd, "", times(in), unix.AT_EMPTY_PATH); err != nil {
		c.fail(d.host, &fs.PathError{Op: "utimes", Path: d.host, Err: err})
	}
}

// times are the access and modification times to give a copy: the
// guest's, with the modification time as access time when the guest
// records none. Not UnixNano: ext4 times reach the year 2446, past int64
// nanoseconds.
func times(in inode) []unix.Timespec {
	atime := in.atime
	if atime.IsZero() {
		atime = in.mtime
	}
	return []unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: in.mtime.Unix(), Nsec: int64(in.mtime.Nanosecond())},
	}
}

// setOwner gives the file (fd, or name in directory fd when name is not
// "") the guest's owner in archive mode, and returns the mode to set
// after it: all of the guest's mode bits, less setuid and setgid when the
// owner could not be given, as cp does; without archive mode the
// permission bits only.
func (c *copier) setOwner(fd int, name string, in inode, host string) uint32 {
	if !c.archive {
		return in.mode & 0o777
	}
	mode := in.mode & 0o7777
	uid, gid := int(in.uid), int(in.gid)
	if !c.root {
		// Only root may give a file away; a user may choose among his
		// own groups.
		if uid != c.euid || !slices.Contains(c.groups, in.gid) {
			c.mu.Lock()
			c.noOwner++
			c.mu.Unlock()
			return mode &^ (sISUID | sISGID)
		}
		uid = -1
	}
	var err error
	if name == "" {
		err = unix.Fchown(fd, uid, gid)
	} else {
		err = unix.Fchownat(fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
		// Root in a user namespace that does not map the id.
		c.mu.Lock()
		c.noOwner++
		c.mu.Unlock()
		return mode &^ (sISUID | sISGID)
	}
	if err != nil {
		c.fail(host, &fs.PathError{Op: "chown", Path: host, Err: err})
		return mode &^ (sISUID | sISGID)
	}
	return mode
}

// xattrs returns the guest file's extended attributes in archive mode.
func (c *copier) xattrs(src string) []fsread.Xattr {
	if !c.archive {
		return nil
	}
	xs, err := c.x.Shell.xattrsOf(c.x.Shell.name(src), false)
	if err != nil {
		c.fail(src, err)
		return nil
	}
	return xs
}

// setXattrs sets attributes on the file fd, or on name in the directory
// fd when name is not "" (a symlink or special file, which cannot be
// opened for writing). Attributes the host refuses are counted for one
// note at the end rather than reported file by file; trusted.* and
// security.* need root.
func (c *copier) setXattrs(fd int, name string, xs []fsread.Xattr, host string) {
	skipped := false
	for _, a := range xs {
		if !c.root && (strings.HasPrefix(a.Name, "trusted.") || strings.HasPrefix(a.Name, "security.")) {
			skipped = true
			continue
		}
		var err error
		if name == "" {
			err = unix.Fsetxattr(fd, a.Name, a.Value, 0)
		} else {
			// No *at call for attributes: name the file through the
			// directory's descriptor, without following it.
			err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(fd)+"/"+name, a.Name, a.Value, 0)
		}
		if err != nil {
			ns, _, _ := strings.Cut(a.Name, ".")
			c.mu.Lock()
			if c.xattrErrs == nil {
				c.xattrErrs = map[string]int{}
			}
			c.xattrErrs[ns+".*: "+reason(err)]++
			c.mu.Unlock()
		}
	}
	if skipped {
		c.mu.Lock()
		c.xattrNoRoot++
		c.mu.Unlock()
	}
}

// tempName returns a name for the copy of name while it is written: hidden,
// beside it, and unlikely to exist.
func tempName(name string) string {
	var rnd [4]byte
	rand.Read(rnd[:])
	suffix := ".vmsh-" + hex.EncodeToString(rnd[:])
	if len(name)+1+len(suffix) > 255 {
		return suffix + ".tmp"
	}
	return "." + name + suffix
}

// exists returns the error for a copy whose name is taken in d: nil if
// the name is free, fs.ErrExist if it is taken and -f allows replacing
// what is there.
func (c *copier) exists(f file) error {
	if f.d.fresh {
		return nil // nothing was there when get began
	}
	var st unix.Stat_t
	if err := unix.Fstatat(f.d.fd(), f.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	return existsErr(st.Mode&unix.S_IFMT == unix.S_IFDIR, c.force)
}

func existsErr(dir, force bool) error {
	switch {
	case dir:
		return errors.New("exists and is a directory")
	case !force:
		return errors.New("file exists (use get -f to replace it)")
	}
	return fs.ErrExist
}

// place renames the finished temporary tmp to f's name: over what is
// there with -f, else only if the name is still free.
func (c *copier) place(f file, tmp string) error {
	fd := f.d.fd()
	if c.force {
		err := unix.Renameat(fd, tmp, fd, f.name)
		if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return existsErr(true, true)
		}
		return err
	}
	err := unix.Renameat2(fd, tmp, fd, f.name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A filesystem without RENAME_NOREPLACE: check, then rename.
		if err := c.exists(file{d: &hostDir{f: f.d.f}, name: f.name}); err != nil {
			return err
		}
		err = unix.Renameat(fd, tmp, fd, f.name)
	}
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		unix.Fstatat(fd, f.name, &st, unix.AT_SYMLINK_NOFOLLOW)
		return existsErr(st.Mode&unix.S_IFMT == unix.S_IFDIR, false)
	}
	return err
}

// copyFile copies a regular file: into a temporary name beside its own,
// renamed when complete and removed on failure or interruption.
func (c *copier) copyFile(f file) bool {
	x := c.x
	if err := c.exists(f); err != nil && !errors.Is(err, fs.ErrExist) {
		c.fail(f.host, err)
		return false
	}
	r, err := c.open(f)
	if err != nil {
		c.fail(f.src, err)
		return false
	}
	defer r.Close()
	xs := c.fileXattrs(f)
	tmp := tempName(f.name)
	dfd := f.d.fd()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		c.fail(f.host, &fs.PathError{Op: "open", Path: f.host, Err: err})
		return false
	}
	w := os.NewFile(uintptr(fd), f.host)
	n, err := c.copyData(w, r, f)
	c.bytes.Add(n)
	if err == nil {
		mode := c.setOwner(fd, "", f.in, f.host)
		c.setXattrs(fd, "", xs, f.host)
		if err = unix.Fchmod(fd, mode); err != nil {
			err = &fs.PathError{Op: "chmod", Path: f.host, Err: err}
		}
	}
	if err == nil {
		if err = unix.UtimesNanoAt(fd, "", times(f.in), unix.AT_EMPTY_PATH); err != nil {
			err = &fs.PathError{Op: "utimes", Path: f.host, Err: err}
		}
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.place(f, tmp)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		if x.Ctx.Err() == nil {
			c.fail(f.host, err)
		}
		return false
	}
	c.files.Add(1)
	return true
}

// copyData writes the contents of r to w. The holes of a guest file that
// can tell where its data lies are skipped without reading them; in the
// data, and in any file that cannot tell, blocks of zeros are skipped
// too, so the copy takes no more room than cp --sparse=auto's.
func (c *copier) copyData(w *os.File, r fs.File, f file) (int64, error) {
	bp := c.buf.Get().(*[]byte)
	defer c.buf.Put(bp)
	buf := *bp
	ctx := c.x.Ctx
	rf, ok := r.(fsread.RegionFile)
	ra, isRA := r.(io.ReaderAt)
	if !ok || !isRA {
		n, err := sparse.Copy(w, countingReader{ctxReader{ctx, r}, c.prog}, buf)
		return n, err
	}
	size := f.in.size
	var off, written int64 // written: the end of the last data written
	for off < size {
		end, data, err := rf.Region(off)
		if err == io.EOF {
			break
		}
		if err != nil {
			return off, err
		}
		if end <= off {
			return off, fmt.Errorf("block map gives no progress at offset %d", off)
		}
		if !data {
			off = end // not read, not counted: the bar's total has no holes
			continue
		}
		for off < end {
			if err := ctx.Err(); err != nil {
				return off, err
			}
			n := int(min(int64(len(buf)), end-off))
			m, err := ra.ReadAt(buf[:n], off)
			if m < n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return off, err
			}
			if e, err := writeNonZero(w, buf[:n], off); err != nil {
				return off, err
			} else if e > 0 {
				written = e
			}
			off += int64(n)
			c.prog.add(int64(n))
		}
	}
	if written < size {
		if err := w.Truncate(size); err != nil {
			return off, err
		}
	}
	return size, nil
}

// writeNonZero writes b at off, leaving out the holeBlock-aligned blocks
// that are all zeros, and returns where the last write ended (0 if none).
func writeNonZero(w *os.File, b []byte, off int64) (int64, error) {
	var end int64
	start := -1 // start in b of the pending write
	flush := func(i int) error {
		if start < 0 {
			return nil
		}
		_, err := w.WriteAt(b[start:i], off+int64(start))
		end = off + int64(i)
		start = -1
		return err
	}
	for i := 0; i < len(b); {
		// Blocks are aligned to the file, not to b.
		j := min(len(b), i+holeBlock-int((off+int64(i))%holeBlock))
		if sparse.IsZero(b[i:j]) {
			if err := flush(i); err != nil {
				return end, err
			}
		} else if start < 0 {
			start = i
		}
		i = j
	}
	return end, flush(len(b))
}

// copySymlink recreates a symlink, with the owner, attributes and times
// of the link itself in archive mode.
func (c *copier) copySymlink(f file) bool {
	x := c.x
	target, err := fs.ReadLink(x.Shell.FS(), x.Shell.name(f.src))
	if err != nil {
		c.fail(f.src, err)
		return false
	}
	if strings.ContainsRune(target, 0) {
		c.fail(f.src, errors.New("symlink target contains a NUL byte"))
		return false
	}
	xs := c.fileXattrs(f)
	ok := c.makeNode(f, func(dfd int, name string) error { return unix.Symlinkat(target, dfd, name) }, func(dfd int, name string) error {
		c.setOwner(dfd, name, f.in, f.host) // a symlink's mode means nothing
		c.setXattrs(dfd, name, xs, f.host)
		return nil
	})
	if ok {
		c.symlinks.Add(1)
	}
	return ok
}

// copySpecial makes a device file, fifo or socket (root, archive mode).
func (c *copier) copySpecial(f file) bool {
	xs := c.fileXattrs(f)
	mode := f.in.mode & sIFMT
	dev := int(unix.Mkdev(f.in.major, f.in.minor))
	mk := func(dfd int, name string) error {
		err := unix.Mknodat(dfd, name, mode|0o600, dev)
		if errors.Is(err, unix.EPERM) {
			// Root in a container that may not make devices.
			c.noDevice(f.in)
			return errNotMade
		}
		return err
	}
	ok := c.makeNode(f, mk, func(dfd int, name string) error {
		m := c.setOwner(dfd, name, f.in, f.host)
		c.setXattrs(dfd, name, xs, f.host)
		// The node was made here just now; no symlink can stand in its
		// place in a directory only this user can write to.
		if err := unix.Fchmodat(dfd, name, m, 0); err != nil {
			return &fs.PathError{Op: "chmod", Path: f.host, Err: err}
		}
		return nil
	})
	if ok {
		c.specials.Add(1)
	}
	return ok
}

// makeNode makes a file that has no contents (symlink, special file)
// with mk, then sets its attributes with meta and its times. It is made
// under its own name, or with -f under a temporary one renamed over what
// is there.
func (c *copier) makeNode(f file, mk, meta func(dfd int, name string) error) bool {
	if err := c.exists(f); err != nil && !errors.Is(err, fs.ErrExist) {
		c.fail(f.host, err)
		return false
	}
	dfd := f.d.fd()
	name := f.name
	if !f.d.fresh && c.force {
		name = tempName(f.name)
	}
	if err := mk(dfd, name); err != nil {
		if err == errNotMade {
			return false
		}
		if errors.Is(err, unix.EEXIST) {
			err = existsErr(false, false)
		}
		c.fail(f.host, err)
		return false
	}
	err := meta(dfd, name)
	if err == nil {
		if err = unix.UtimesNanoAt(dfd, name, times(f.in), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			err = &fs.PathError{Op: "utimes", Path: f.host, Err: err}
		}
	}
	if err == nil && name != f.name {
		err = c.place(f, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, name, 0)
		c.fail(f.host, err)
		return false
	}
	return true
}

// link makes f a hard link to the first copy of its inode, once that is
// complete; if that copy failed, f is copied on its own.
func (c *copier) link(f file, o *linkOrigin) {
	select {
	case <-o.done:
	case <-c.x.Ctx.Done():
		return
	}
	if !o.ok {
		c.copyOne(f)
		return
	}
	dir, err := c.top.Open(path.Dir(o.rel))
	if err != nil {
		c.fail(f.host, err)
		return
	}
	defer dir.Close()
	if err := c.exists(f); err != nil && !errors.Is(err, fs.ErrExist) {
		c.fail(f.host, err)
		return
	}
	dfd := f.d.fd()
	name := f.name
	if !f.d.fresh && c.force {
		name = tempName(f.name)
	}
	err = unix.Linkat(int(dir.Fd()), path.Base(o.rel), dfd, name, 0)
	if errors.Is(err, unix.EEXIST) {
		err = existsErr(false, false)
	}
	if err == nil && name != f.name {
		if err = c.place(f, name); err != nil {
			unix.Unlinkat(dfd, name, 0)
		}
	}
	if err != nil {
		c.fail(f.host, err)
		return
	}
	c.hardlinks.Add(1)
	c.prog.fileDone()
}

// notes prints, once each, what archive mode could not keep.
func (c *copier) notes() {
	x := c.x
	if len(c.noDevices) > 0 {
		kinds := []string{"device file", "fifo", "socket"}
		var parts []string
		for _, k := range kinds {
			if n := c.noDevices[k]; n > 0 {
				parts = append(parts, plural(n, k))
			}
		}
		why := "run as root to create them"
		if c.root {
			why = "not permitted here"
		}
		x.Warn("skipped %s (%s)", joinAnd(parts), why)
	}
	if c.noOwner > 0 {
		why := "run as root to keep them, or use tar"
		if c.root {
			why = "ids not mapped here; tar keeps them"
		}
		x.Warn("owners not kept for %s (%s)", plural(c.noOwner, "file"), why)
	}
	if c.xattrNoRoot > 0 {
		x.Warn("trusted.* and security.* attributes not copied for %s (run as root to copy them)", plural(c.xattrNoRoot, "file"))
	}
	keys := make([]string, 0, len(c.xattrErrs))
	for k := range c.xattrErrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ns, why, _ := strings.Cut(k, ": ")
		x.Warn("could not set %s extended attributes on %s: %s", ns, plural(c.xattrErrs[k], "file"), why)
	}
}

// joinAnd joins words as a list in a sentence: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// summary is the line printed after a get.
func (c *copier) summary(dest string) string {
	s := fmt.Sprintf("copied %s, %s, %s", plural(int(c.files.Load()), "file"), plural(int(c.dirs.Load()), "directory"),
		plural(int(c.symlinks.Load()), "symlink"))
	if n := c.hardlinks.Load(); n > 0 {
		s += ", " + plural(int(n), "hard link")
	}
	if n := c.specials.Load(); n > 0 {
		s += ", " + plural(int(n), "special file")
	}
	s += fmt.Sprintf(", %s to %s", plural(int(c.bytes.Load()), "byte"), dest)
	if n := c.skipped.Load(); n > 0 {
		s += fmt.Sprintf(" (skipped %d special)", n)
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, what[:len(what)-1])
	}
	return fmt.Sprintf("%d %ss", n, what)
}
