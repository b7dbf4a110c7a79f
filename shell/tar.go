package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"vmsh/fsread"
	"vmsh/internal/sparse"
	"vmsh/tarpax"
)

const tarHelp = "tar writes a POSIX (pax) tar archive of the guest files and directories named, recursively,\n" +
	"to standard output: redirect it (tar /etc > etc.tar), pipe it (tar /etc | gzip > etc.tgz), or run\n" +
	"vmsh -c \"tar /var/log\" disk > logs.tar. It refuses to write to a terminal.\n" +
	"Everything is kept, as GNU tar --format=posix keeps it: file types (regular files, directories,\n" +
	"symlinks, hard links as links to the first name archived, character and block devices, fifos;\n" +
	"sockets are skipped with a note), mode with setuid, setgid and sticky bits, numeric owner and\n" +
	"group with the guest's names for them (from its /etc/passwd and /etc/group), modification,\n" +
	"access and change times with nanoseconds, extended attributes (SCHILY.xattr records), POSIX\n" +
	"ACLs (SCHILY.acl records) and sparse files with their holes (GNU sparse format 1.0).\n" +
	"Member names are the operands as written, without a leading '/' or '../' (as GNU tar, with a\n" +
	"note): tar /etc gives etc/..., tar -C /etc . gives ./...\n" +
	"Extract as root with: tar --xattrs --xattrs-include='*' --acls --numeric-owner -xpf FILE\n" +
	"  -C dir  name the operands relative to the guest directory dir\n" +
	"  -v      list the members on standard error as they are written"

func runTar(x *Call) error {
	vals, ops, err := x.options("v", "C")
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing source operand")
	}
	dir := ""
	if d, ok := vals['C']; ok {
		dir = x.Shell.abs(d)
		fi, err := fs.Stat(x.Shell.FS(), fsPath(dir))
		if err == nil && !fi.IsDir() {
			err = errNotDir
		}
		if err != nil {
			x.Fail(d, err)
			return nil
		}
	}
	srcs := x.expandIn(dir, ops)
	if len(srcs) == 0 {
		return nil
	}
	return x.tarTo(x.Out, dir, srcs, x.Flag('v'))
}

// expandIn expands the operands as expand does, with relative ones taken
// relative to the guest directory dir ("" for the working directory). The
// names returned are still relative, as the operands were written.
func (x *Call) expandIn(dir string, ws []word) []string {
	if dir == "" {
		return x.expand(ws)
	}
	prefix := globEscape(dir) + "/"
	if dir == "/" {
		prefix = "/"
	}
	var out []string
	for _, w := range ws {
		if !w.glob || strings.HasPrefix(w.text, "/") {
			out = append(out, x.expand([]word{w})...)
			continue
		}
		w2 := w
		w2.pat = prefix + w.pat
		for _, m := range x.expand([]word{w2}) {
			out = append(out, strings.TrimPrefix(m, strings.TrimSuffix(dir, "/")+"/"))
		}
	}
	return out
}

// globEscape quotes the pattern characters of a literal path.
func globEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// runTarTo writes a tar archive of the guest paths srcs (relative to the
// working directory) to w; get --tar calls it.
func (x *Call) runTarTo(w io.Writer, srcs []string) error {
	return x.tarTo(w, "", srcs, false)
}

// tarrer writes one archive.
type tarrer struct {
	x       *Call
	tw      *tarpax.Writer
	ids     *idNames
	links   map[fileID]string // the member name of each file with several links, as first archived
	buf     []byte
	p       *progress
	verbose bool
	notes   map[string]bool // the leading parts already said to be removed from names
	written int             // members written
}

// tarTo writes the archive of srcs, taken relative to the guest directory
// dir ("" for the working directory), to w.
func (x *Call) tarTo(w io.Writer, dir string, srcs []string, verbose bool) error {
	if isTerminal(w) {
		return errors.New("refusing to write an archive to a terminal (redirect it: > file.tar)")
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	t := &tarrer{
		x: x, tw: tarpax.NewWriter(bw), ids: x.Shell.idNames(), links: map[fileID]string{},
		buf: make([]byte, bufSize), verbose: verbose, notes: map[string]bool{},
	}
	t.p = x.startProgress("tar")
	defer t.p.stop()
	done := make(chan struct{})
	defer close(done)
	go t.count(dir, srcs, done)

	for _, src := range srcs {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		full := src
		if dir != "" && !strings.HasPrefix(src, "/") {
			full = path.Join(dir, src)
		}
		// The operand's symlinks are resolved here, once, all but a
		// last one, which is archived as a symlink.
		r, err := x.Shell.ns.resolve("lstat", x.Shell.name(full), false)
		var fi fs.FileInfo
		if err == nil {
			fi, err = fs.Lstat(x.Shell.FS(), r)
		}
		if err != nil {
			x.Fail(src, err)
			continue
		}
		abs := "/" + r
		if r == "." {
			abs = "/"
		}
		if err := t.add(abs, t.memberName(src), fi, 0, nil); err != nil {
			return err
		}
	}
	if err := x.Ctx.Err(); err != nil {
		// An archive cut short has no end blocks, so that tar(1) says
		// it is truncated instead of extracting it as whole.
		bw.Flush()
		return err
	}
	err := t.tw.Close()
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	t.p.stop()
	if err == nil && x.Ctx.Err() == nil {
		x.Shell.flush()
		fmt.Fprintf(x.Shell.ui.Stderr(), "tar: %s\n", t.p.summary())
	}
	return err
}

// memberName returns the name an operand has in the archive, without a
// trailing '/': leading '/' and everything up to a last ".." removed, as
// GNU tar does (saying so once for each kind of prefix), "//" and inner
// "." components collapsed. "" stands for the root ("/"), whose member is
// "./" and whose entries are named without a prefix.
func (t *tarrer) memberName(src string) string {
	var comps []string
	for i, c := range strings.Split(src, "/") {
		if c == "" || c == "." && i > 0 {
			continue
		}
		comps = append(comps, c)
	}
	removed := ""
	if strings.HasPrefix(src, "/") {
		removed = "/"
	}
	for i := len(comps) - 1; i >= 0; i-- {
		if comps[i] == ".." {
			removed += strings.Join(comps[:i+1], "/") + "/"
			comps = comps[i+1:]
			break
		}
	}
	if removed != "" && !t.notes[removed] {
		t.notes[removed] = true
		t.x.Warn("removing leading '%s' from member names", removed)
	}
	return strings.Join(comps, "/")
}

// add writes the member for the guest file src (an absolute shell path,
// described by fi and not followed if a symlink) under name, and, for a
// directory, the members of everything in it. It returns an error only
// when the archive cannot go on: the output failed or Ctrl-C was pressed.
func (t *tarrer) add(src, name string, fi fs.FileInfo, depth int, seen []fileID) error {
	x := t.x
	if err := x.Ctx.Err(); err != nil {
		return err
	}
	in := inodeOf(fi)
	h := &tarpax.Header{
		Name: name, Mode: int64(in.mode & 0o7777), Uid: int64(in.uid), Gid: int64(in.gid),
		Uname: t.ids.users[in.uid], Gname: t.ids.groups[in.gid], ModTime: in.mtime,
	}
	if in.known {
		h.AccessTime, h.ChangeTime = in.atime, in.ctime
	}
	typ := in.mode & sIFMT
	if typ != sIFDIR && in.nlink > 1 {
		if id, ok := t.fileID(src, in); ok {
			if first, ok := t.links[id]; ok {
				h.Typeflag, h.Linkname = tarpax.TypeLink, first
				return t.writeHeader(src, h)
			}
			// Later names link to this one once it is in the archive.
			defer func(n int) {
				if t.written > n {
					t.links[id] = h.Name
				}
			}(t.written)
		}
	}
	switch typ {
	case sIFREG:
		return t.addFile(src, h, in)
	case sIFDIR:
		return t.addDir(src, h, in, depth, seen)
	case sIFLNK:
		fsys, rel := t.direct(src)
		target, err := fs.ReadLink(fsys, rel)
		if err != nil {
			x.Fail(src, err)
			return nil
		}
		h.Typeflag, h.Linkname = tarpax.TypeSymlink, target
	case sIFCHR, sIFBLK:
		h.Typeflag = tarpax.TypeChar
		if typ == sIFBLK {
			h.Typeflag = tarpax.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(in.major), int64(in.minor)
	case sIFIFO:
		h.Typeflag = tarpax.TypeFifo
	case sIFSOCK:
		x.Warn("%s: socket ignored", src)
		return nil
	default:
		x.Fail(src, fmt.Errorf("unknown file type %#o", typ))
		return nil
	}
	if h.Name == "" {
		h.Name = "."
	}
	t.addXattrs(src, h)
	return t.writeHeader(src, h)
}

// direct returns the filesystem holding the guest file src and the name
// of the file in it. The archive reaches every file through directories
// and from operands whose symlinks were resolved first, so src has no
// symlink to resolve but perhaps its last component, which tar never
// follows: the path is looked up in the mount table directly, without
// the walk component by component that resolving a path costs.
func (t *tarrer) direct(src string) (fs.FS, string) {
	mt, rel := t.x.Shell.ns.lookup(fsPath(src))
	if mt == nil {
		return noFS{}, fsPath(src)
	}
	return mt.fsys, rel
}

// fileID names the file src across the mounted filesystems, as the
// shell's fileID does, with src looked up directly.
func (t *tarrer) fileID(src string, in inode) (fileID, bool) {
	mt, _ := t.x.Shell.ns.lookup(fsPath(src))
	if !in.known || mt == nil {
		return fileID{}, false
	}
	return fileID{mt.dir, in.ino}, true
}

// noFS is where a path outside every mount leads.
type noFS struct{}

func (noFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: errNoFS}
}

// writeHeader writes a member that has no data.
func (t *tarrer) writeHeader(src string, h *tarpax.Header) error {
	if strings.IndexByte(h.Linkname, 0) >= 0 {
		t.x.Fail(src, errors.New("symlink target contains a NUL byte"))
		return nil
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	t.member(h)
	return nil
}

// member counts a member written and lists it with -v.
func (t *tarrer) member(h *tarpax.Header) {
	t.written++
	t.p.fileDone()
	if t.verbose {
		t.p.above(func() {
			t.x.Shell.flush()
			fmt.Fprintln(t.x.Shell.ui.Stderr(), t.x.Shell.show(h.Name))
		})
	}
}

func (t *tarrer) addDir(src string, h *tarpax.Header, in inode, depth int, seen []fileID) error {
	x := t.x
	s := x.Shell
	if depth >= maxListDepth {
		x.Fail(src, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return nil
	}
	id, known := t.fileID(src, in)
	if known && slices.Contains(seen, id) {
		x.Fail(src, errors.New("directory cycle"))
		return nil
	}
	prefix := h.Name + "/"
	switch h.Name {
	case "":
		h.Name, prefix = "./", ""
	case ".":
		h.Name, prefix = "./", "./"
	default:
		h.Name += "/"
	}
	h.Typeflag = tarpax.TypeDir
	t.addXattrs(src, h)
	if err := t.writeHeader(src, h); err != nil {
		return err
	}
	ents, err := fs.ReadDir(s.FS(), s.name(src))
	if err != nil {
		x.Fail(src, err)
		return nil
	}
	for _, e := range ents {
		child := path.Join(src, e.Name())
		if !validName(e.Name()) {
			x.Fail(child, fmt.Errorf("refusing to archive a file named %q", e.Name()))
			continue
		}
		fi, err := e.Info()
		if err != nil {
			x.Fail(child, err)
			continue
		}
		if err := t.add(child, prefix+e.Name(), fi, depth+1, append(seen, id)); err != nil {
			return err
		}
	}
	return nil
}

// addXattrs adds the extended attributes of src to h, as GNU tar --xattrs
// --acls records them: POSIX ACLs also as text with numeric ids
// (SCHILY.acl.access, SCHILY.acl.default), then every attribute as it is
// (SCHILY.xattr.NAME), the ACLs' binary form included.
func (t *tarrer) addXattrs(src string, h *tarpax.Header) {
	x := t.x
	var xs []fsread.Xattr
	fsys, rel := t.direct(src)
	xf, ok := fsys.(xattrFS)
	if !ok {
		return
	}
	xs, err := xf.Xattrs(rel)
	if err == nil {
		fsread.SortXattrs(xs)
	}
	if err != nil {
		x.Fail(src, fmt.Errorf("extended attributes not archived: %s", reason(err)))
		return
	}
	for _, a := range xs {
		key := ""
		switch a.Name {
		case "system.posix_acl_access":
			key = "SCHILY.acl.access"
		case "system.posix_acl_default":
			key = "SCHILY.acl.default"
		default:
			continue
		}
		acl, err := fsread.DecodeACL(a.Value)
		if err != nil {
			x.Warn("%s: %s not archived as text: %v", src, a.Name, err)
			continue
		}
		var b strings.Builder
		for _, e := range acl {
			b.WriteString(e.String() + "\n")
		}
		h.Records = append(h.Records, tarpax.Record{Key: key, Value: b.String()})
	}
	for _, a := range xs {
		if a.Name == "" || strings.ContainsAny(a.Name, "=\x00") {
			x.Warn("%s: extended attribute %q not archived: its name cannot be a pax keyword", src, a.Name)
			continue
		}
		h.Records = append(h.Records, tarpax.Record{Key: "SCHILY.xattr." + a.Name, Value: string(a.Value)})
	}
}

// addFile writes a regular file: as a sparse member when it has holes.
func (t *tarrer) addFile(src string, h *tarpax.Header, in inode) error {
	x := t.x
	if h.Name == "" {
		h.Name = "."
	}
	h.Typeflag, h.Size = tarpax.TypeReg, in.size
	t.addXattrs(src, h)
	fsys, rel := t.direct(src)
	f, err := fsys.Open(rel)
	if err != nil {
		x.Fail(src, err)
		return nil
	}
	defer f.Close()
	ra, _ := f.(io.ReaderAt)
	regions, sparse, err := t.regions(f, ra, in)
	if err != nil {
		if x.Ctx.Err() != nil {
			return x.Ctx.Err()
		}
		x.Fail(src, err)
		return nil
	}
	if sparse {
		h.Sparse = regions
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	var rerr error
	if ra != nil {
		for _, r := range regions {
			if rerr = t.copyRegion(ra, r); rerr != nil {
				break
			}
		}
	} else {
		_, rerr = io.CopyBuffer(onlyWriter{t.tw}, countingReader{ctxReader{x.Ctx, f}, t.p}, t.buf)
		if rerr == nil && t.tw.Remaining() > 0 {
			rerr = io.ErrUnexpectedEOF
		}
	}
	if rerr != nil {
		if x.Ctx.Err() != nil {
			return x.Ctx.Err()
		}
		// The header promised the bytes: zeros keep the archive whole.
		n := t.tw.Remaining()
		if err := t.zeros(n); err != nil {
			return err
		}
		x.Fail(src, fmt.Errorf("%s; %d bytes archived as zeros", reason(rerr), n))
	}
	t.member(h)
	return nil
}

// copyRegion writes the bytes of one region of a file.
func (t *tarrer) copyRegion(ra io.ReaderAt, r tarpax.Region) error {
	off, end := r.Offset, r.Offset+r.Length
	for off < end {
		if err := t.x.Ctx.Err(); err != nil {
			return err
		}
		b := t.buf[:min(int64(len(t.buf)), end-off)]
		n, err := ra.ReadAt(b, off)
		if n < len(b) && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if n > 0 {
			if _, werr := t.tw.Write(b[:n]); werr != nil {
				return werr
			}
			t.p.add(int64(n))
			off += int64(n)
		}
		if err == io.EOF && off < end {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && off < end {
			return err
		}
	}
	return nil
}

// zeros writes n zero bytes into the current member.
func (t *tarrer) zeros(n int64) error {
	clear(t.buf)
	for n > 0 {
		k := min(n, int64(len(t.buf)))
		if _, err := t.tw.Write(t.buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// regionFile is a file that says where its data lies, as SEEK_DATA and
// SEEK_HOLE do: the files of fsread.
type regionFile interface {
	Region(off int64) (end int64, data bool, err error)
}

// maxRegions bounds the sparse map of one file; a file broken into more
// pieces is archived whole, its holes as zeros.
const maxRegions = 1 << 20

// regions returns the parts of a file that hold data, and whether it has
// holes, which makes it a sparse member. As with GNU tar --sparse, only a
// file with fewer blocks than its size needs can be sparse (so a file
// preallocated with fallocate is archived whole); its holes are then
// those the filesystem reports, as the kernel's SEEK_HOLE does (unmapped
// blocks and unwritten extents), or else its blocks of zeros.
func (t *tarrer) regions(f fs.File, ra io.ReaderAt, in inode) ([]tarpax.Region, bool, error) {
	whole := []tarpax.Region{{Offset: 0, Length: in.size}}
	if ra == nil || !in.known || in.size == 0 || in.blocks*512 >= in.size {
		return whole, false, nil
	}
	var out []tarpax.Region
	if rf, ok := f.(regionFile); ok {
		out = []tarpax.Region{}
		for off := int64(0); off < in.size; {
			if err := t.x.Ctx.Err(); err != nil {
				return nil, false, err
			}
			end, data, err := rf.Region(off)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, false, err
			}
			if end <= off || end > in.size {
				return nil, false, fmt.Errorf("data region at %d ends at %d", off, end)
			}
			if data {
				out = appendRegion(out, off, end-off, in.size)
			}
			if len(out) > maxRegions {
				return whole, false, nil
			}
			off = end
		}
	} else {
		var err error
		if out, err = t.zeroRegions(ra, in.size); err != nil {
			return nil, false, err
		}
	}
	var n int64
	for _, r := range out {
		n += r.Length
	}
	if n == in.size {
		return whole, false, nil
	}
	return out, true, nil
}

// appendRegion adds the region at off, n bytes long, to rs, widened to
// whole tar blocks (within size), as tarpax needs, and joined to the last
// one when they touch.
func appendRegion(rs []tarpax.Region, off, n, size int64) []tarpax.Region {
	end := off + n
	if r := end % tarpax.BlockSize; r != 0 {
		end = min(end+tarpax.BlockSize-r, size)
	}
	off -= off % tarpax.BlockSize
	if k := len(rs); k > 0 && rs[k-1].Offset+rs[k-1].Length >= off {
		rs[k-1].Length = max(rs[k-1].Length, end-rs[k-1].Offset)
		return rs
	}
	return append(rs, tarpax.Region{Offset: off, Length: end - off})
}

// holeGrain is the size of the blocks of zeros that become holes when
// the filesystem cannot say where its holes are.
const holeGrain = 4096

// zeroRegions returns the parts of a file of the given size that are not
// blocks of zeros.
func (t *tarrer) zeroRegions(ra io.ReaderAt, size int64) ([]tarpax.Region, error) {
	out := []tarpax.Region{}
	for off := int64(0); off < size; {
		if err := t.x.Ctx.Err(); err != nil {
			return nil, err
		}
		b := t.buf[:min(int64(len(t.buf)), size-off)]
		n, err := ra.ReadAt(b, off)
		if n < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		for i := 0; i < n; i += holeGrain {
			blk := b[i:min(i+holeGrain, n)]
			if !sparse.IsZero(blk) {
				out = appendRegion(out, off+int64(i), int64(len(blk)), size)
			}
		}
		if len(out) > maxRegions {
			return []tarpax.Region{{Offset: 0, Length: size}}, nil
		}
		off += int64(n)
	}
	return out, nil
}

// count walks the operands in the background, as the archive is written,
// and gives the progress bar its totals: the members, and the bytes of
// the regular files (as allocated, for files with holes).
func (t *tarrer) count(dir string, srcs []string, done <-chan struct{}) {
	s := t.x.Shell
	var files int
	var bytes int64
	var walk func(name string, fi fs.FileInfo, depth int) bool
	walk = func(name string, fi fs.FileInfo, depth int) bool {
		select {
		case <-done:
			return false
		default:
		}
		if t.x.Ctx.Err() != nil {
			return false
		}
		files++
		in := inodeOf(fi)
		switch in.mode & sIFMT {
		case sIFREG:
			// What addFile writes: files with holes only their blocks.
			if in.known && in.blocks*512 < in.size {
				bytes += max(in.blocks*512, 0)
			} else {
				bytes += in.size
			}
		case sIFDIR:
			if depth >= maxListDepth {
				return true
			}
			ents, err := fs.ReadDir(s.FS(), name)
			if err != nil {
				return true
			}
			for _, e := range ents {
				if !validName(e.Name()) {
					continue
				}
				cfi, err := e.Info()
				if err == nil && !walk(path.Join(name, e.Name()), cfi, depth+1) {
					return false
				}
			}
		}
		return true
	}
	for _, src := range srcs {
		full := src
		if dir != "" && !strings.HasPrefix(src, "/") {
			full = path.Join(dir, src)
		}
		fi, err := fs.Lstat(s.FS(), s.name(full))
		if err != nil {
			continue
		}
		if !walk(s.name(full), fi, 0) {
			return
		}
	}
	t.p.setTotal(bytes, files)
}
