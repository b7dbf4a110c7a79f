// Package fixturetest compares vmsh's reading of disk images with listings
// the Linux kernel made of the same images.
//
// The images and listings are built by testdata/mkfixtures.sh: for an image
// NAME.img.gz (or NAME.img) the listing of a filesystem that fills the whole
// disk is NAME.expect, and that of the filesystem in partition N is
// NAME-pN.expect; NAME.parts is `sfdisk --json` of a partitioned disk.
//
// A listing has one line per entry, sorted bytewise by path, with the
// tab-separated fields path ("." for the root), type (f, d, l, c, b, p, s),
// mode (four octal digits: permissions, setuid, setgid and sticky bits), uid,
// gid, size, nlink, mtime (seconds.nanoseconds, seconds rounded down),
// symlink target, device major:minor and the sha256 of a regular file's
// content; the last three are "-" where they do not apply. Lines starting
// with '#' are comments.
package fixturetest

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"vmsh/fsread"
	"vmsh/internal/sparse"
)

// Fields names the columns of a listing line.
var Fields = []string{"path", "type", "mode", "uid", "gid", "size", "nlink", "mtime", "symlink", "dev", "sha256"}

// Entry is one parsed listing line.
type Entry struct {
	Path    string
	Type    string
	Line    string
	Fields  []string
	Target  string // symlink target, "" if not a symlink
	Size    int64
	Entries int // entries below a directory (filled by Index)
}

// Listing lists fsys, which must implement fs.ReadLinkFS and return
// *fsread.Stat from FileInfo.Sys, in the listing format. It walks the tree
// with fs.WalkDir, describes every entry from Lstat and ReadLink, and hashes
// every regular file's content, streaming it through Open and Read.
func Listing(fsys fs.FS) ([]string, error) {
	return ListingOpt(fsys, -1)
}

// ListingOpt is Listing, except that regular files larger than hashMax
// bytes (if hashMax >= 0) are read to the end but not hashed: their sha256
// field is "-".
func ListingOpt(fsys fs.FS, hashMax int64) ([]string, error) {
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return nil, fmt.Errorf("fixturetest: %T does not implement fs.ReadLinkFS", fsys)
	}
	var lines []string
	buf := make([]byte, 1<<20)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		line, err := describe(rl, p, buf, hashMax)
		if err != nil {
			return err
		}
		if d.Type() != modeType(line) {
			return fmt.Errorf("%s: ReadDir type %v, Lstat type %q", p, d.Type(), line[len(p)+1:len(p)+2])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		return lines, err
	}
	SortLines(lines)
	return lines, nil
}

// modeType returns the fs.FileMode type bits of a listing line's type field.
func modeType(line string) fs.FileMode {
	f := strings.SplitN(line, "\t", 3)
	switch f[1] {
	case "d":
		return fs.ModeDir
	case "l":
		return fs.ModeSymlink
	case "p":
		return fs.ModeNamedPipe
	case "s":
		return fs.ModeSocket
	case "c":
		return fs.ModeDevice | fs.ModeCharDevice
	case "b":
		return fs.ModeDevice
	case "f":
		return 0
	}
	return fs.ModeIrregular
}

func describe(fsys fs.ReadLinkFS, p string, buf []byte, hashMax int64) (string, error) {
	info, err := fsys.Lstat(p)
	if err != nil {
		return "", err
	}
	st, ok := info.Sys().(*fsread.Stat)
	if !ok {
		return "", fmt.Errorf("%s: FileInfo.Sys() is %T, not *fsread.Stat", p, info.Sys())
	}
	m := info.Mode()
	var typ string
	switch m.Type() {
	case fs.ModeDir:
		typ = "d"
	case fs.ModeSymlink:
		typ = "l"
	case fs.ModeNamedPipe:
		typ = "p"
	case fs.ModeSocket:
		typ = "s"
	case fs.ModeDevice | fs.ModeCharDevice:
		typ = "c"
	case fs.ModeDevice:
		typ = "b"
	case 0:
		typ = "f"
	default:
		typ = fmt.Sprintf("?%v", m.Type())
	}
	perm := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	mt := info.ModTime()
	target, dev, sum := "-", "-", "-"
	switch typ {
	case "l":
		if target, err = fsys.ReadLink(p); err != nil {
			return "", err
		}
	case "c", "b":
		dev = fmt.Sprintf("%d:%d", st.Major, st.Minor)
	case "f":
		if sum, err = hashFile(fsys, p, info.Size(), buf, hashMax < 0 || info.Size() <= hashMax); err != nil {
			return "", err
		}
	}
	name := p
	return strings.Join([]string{
		name, typ, fmt.Sprintf("%04o", perm),
		fmt.Sprint(st.Uid), fmt.Sprint(st.Gid), fmt.Sprint(info.Size()), fmt.Sprint(st.Nlink),
		fmt.Sprintf("%d.%09d", mt.Unix(), mt.Nanosecond()),
		target, dev, sum,
	}, "\t"), nil
}

func hashFile(fsys fs.FS, p string, size int64, buf []byte, hash bool) (string, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.Discard
	if hash {
		w = h
	}
	n, err := io.CopyBuffer(onlyWriter{w}, onlyReader{f}, buf)
	if err != nil {
		return "", fmt.Errorf("%s: read after %d bytes: %w", p, n, err)
	}
	if n != size {
		return "", fmt.Errorf("%s: read %d bytes, size is %d", p, n, size)
	}
	if !hash {
		return "-", nil
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// onlyWriter hides any ReaderFrom, so that the file's Read is what is tested.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// onlyReader hides any WriterTo, so that the file's Read is what is tested.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// SortLines sorts listing lines bytewise by their path field.
func SortLines(lines []string) {
	sort.SliceStable(lines, func(i, j int) bool { return pathOf(lines[i]) < pathOf(lines[j]) })
}

func pathOf(line string) string {
	if i := strings.IndexByte(line, '\t'); i >= 0 {
		return line[:i]
	}
	return line
}

// ReadExpect reads a listing file, without its comment lines.
func ReadExpect(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if n := strings.Count(l, "\t") + 1; n != len(Fields) {
			return nil, fmt.Errorf("%s: %d fields in line %q", name, n, l)
		}
		lines = append(lines, l)
	}
	return lines, sc.Err()
}

// Diff compares two listings and describes up to max differences, one per
// line, naming the path and the fields that differ. It returns "" if the
// listings are equal.
func Diff(want, got []string, max int) string {
	var b strings.Builder
	n := 0
	add := func(format string, args ...any) {
		n++
		if n <= max {
			fmt.Fprintf(&b, format+"\n", args...)
		}
	}
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && pathOf(want[i]) < pathOf(got[j]):
			add("missing %q (kernel: %s)", pathOf(want[i]), want[i])
			i++
		case i == len(want) || pathOf(got[j]) < pathOf(want[i]):
			add("extra %q (vmsh: %s)", pathOf(got[j]), got[j])
			j++
		default:
			if want[i] != got[j] {
				w, g := strings.Split(want[i], "\t"), strings.Split(got[j], "\t")
				var d []string
				for k := 1; k < len(w) || k < len(g); k++ {
					wk, gk := field(w, k), field(g, k)
					if wk != gk {
						d = append(d, fmt.Sprintf("%s: kernel %q, vmsh %q", fieldName(k), wk, gk))
					}
				}
				add("%q: %s", pathOf(want[i]), strings.Join(d, "; "))
			}
			i++
			j++
		}
	}
	if n > max {
		fmt.Fprintf(&b, "... and %d more differences\n", n-max)
	}
	return b.String()
}

func field(f []string, k int) string {
	if k < len(f) {
		return f[k]
	}
	return "<none>"
}

func fieldName(k int) string {
	if k < len(Fields) {
		return Fields[k]
	}
	return fmt.Sprintf("field %d", k+1)
}

// Index parses listing lines into entries by path, and counts for every
// directory the entries below it.
func Index(lines []string) map[string]*Entry {
	idx := make(map[string]*Entry, len(lines))
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != len(Fields) {
			continue
		}
		e := &Entry{Path: f[0], Type: f[1], Line: l, Fields: f}
		fmt.Sscan(f[5], &e.Size)
		if e.Type == "l" {
			e.Target = f[8]
		}
		idx[e.Path] = e
	}
	for p := range idx {
		for d := p; d != "."; {
			d = path.Dir(d)
			if e := idx[d]; e != nil {
				e.Entries++
			}
		}
	}
	return idx
}

// Resolve follows symlinks in p (relative to the listing's root, like
// fsread resolves them) and returns the final entry, or nil if a component
// is missing, a loop is found or a non-directory is traversed.
func Resolve(idx map[string]*Entry, p string) *Entry {
	return resolve(idx, p, 0)
}

func resolve(idx map[string]*Entry, p string, depth int) *Entry {
	if depth > 40 {
		return nil
	}
	cur := "."
	parts := strings.Split(p, "/")
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		e := idx[next]
		if e == nil {
			return nil
		}
		if e.Type == "l" {
			t := e.Target
			if !strings.HasPrefix(t, "/") {
				t = path.Join(cur, t)
			}
			r := resolve(idx, t, depth+1)
			if r == nil {
				return nil
			}
			e = r
			next = r.Path
		}
		if i < len(parts)-1 && e.Type != "d" {
			return nil
		}
		cur = next
	}
	return idx[cur]
}

// OpenImage opens NAME.img in dir, or else NAME.img.gz decompressed into a
// sparse file in tmpdir. The caller closes the file.
func OpenImage(dir, name, tmpdir string) (*os.File, int64, error) {
	p := path.Join(dir, name+".img")
	if f, err := os.Open(p); err == nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, fi.Size(), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, err
	}
	return gunzipFile(p+".gz", tmpdir, name+".img")
}

// gunzipFile decompresses the gzip file gz into a sparse temporary file
// in tmpdir whose name starts with base. The caller closes the file.
func gunzipFile(gz, tmpdir, base string) (*os.File, int64, error) {
	in, err := os.Open(gz)
	if err != nil {
		return nil, 0, err
	}
	defer in.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", gz, err)
	}
	out, err := os.CreateTemp(tmpdir, base+"-*")
	if err != nil {
		return nil, 0, err
	}
	size, err := sparse.Copy(out, zr, make([]byte, 64<<10))
	if err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("%s: %w", gz, err)
	}
	return out, size, nil
}
