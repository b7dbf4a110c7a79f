// Package tarpax writes POSIX.1-2001 (pax) tar archives as GNU tar writes
// them with --format=posix: ustar headers, an extended header of records
// before each member that needs one (times with nanoseconds, long or
// non-ASCII names, large sizes and ids, extended attributes as
// SCHILY.xattr.NAME, POSIX ACLs as SCHILY.acl.access and
// SCHILY.acl.default), and sparse files in GNU's pax sparse format 1.0,
// which GNU tar extracts with their holes.
//
// The standard library's archive/tar refuses GNU.sparse records, which is
// why this package exists; archive/tar reads what it writes.
package tarpax

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// BlockSize is the unit of a tar archive.
const BlockSize = 512

// Type flags of the members this package writes.
const (
	TypeReg     = '0'
	TypeLink    = '1' // a hard link to an earlier member
	TypeSymlink = '2'
	TypeChar    = '3'
	TypeBlock   = '4'
	TypeDir     = '5'
	TypeFifo    = '6'
	typeXHeader = 'x'
)

// A Region is a part of a sparse file that holds data; the rest reads as
// zeros.
type Region struct {
	Offset, Length int64
}

// A Record is one pax extended header record.
type Record struct {
	Key, Value string
}

// Header describes one member of the archive.
type Header struct {
	Name     string // with a trailing '/' for a directory, as GNU tar writes it
	Typeflag byte
	Linkname string // the target of a symlink, or the earlier member a hard link names
	Mode     int64  // permission bits with setuid, setgid and sticky (07777)
	Uid, Gid int64
	Uname    string // "" when the id has no name
	Gname    string
	Size     int64 // the file's size; for a sparse file its size with the holes

	ModTime, AccessTime, ChangeTime time.Time // zero times are not recorded

	Devmajor, Devminor int64

	// Sparse, when not nil, makes the member a sparse file: the regions
	// of the file that hold data, in increasing order, within Size. The
	// data written after the header is then these regions, one after the
	// other. Every region but the last must be a multiple of BlockSize
	// long: GNU tar reads each region from a block of its own, where
	// other readers (archive/tar) read them back to back, and the two
	// agree only then.
	Sparse []Region

	// Records are further extended header records, written in order:
	// SCHILY.xattr.NAME and SCHILY.acl.* among others.
	Records []Record
}

// Writer writes an archive to an io.Writer. Each member is a WriteHeader
// and then exactly as many bytes of Write as the member holds.
type Writer struct {
	w      io.Writer
	remain int64 // bytes of the current member still to come
	pad    int64 // zero bytes that end the current member's last block
	err    error
	blk    [BlockSize]byte
	closed bool
}

// NewWriter returns a Writer writing an archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// ErrWriteTooLong is returned by Write for bytes beyond the member's size.
var ErrWriteTooLong = errors.New("tarpax: write beyond the member's size")

// errShort is returned by WriteHeader when the last member is incomplete.
var errShort = errors.New("tarpax: previous member has fewer bytes than its header says")

// Remaining returns how many bytes of the current member are still to be
// written.
func (tw *Writer) Remaining() int64 { return tw.remain }

// WriteHeader writes the header of the next member: an extended header
// first when the member needs one. The data to write afterwards is Size
// bytes for a regular file, the sum of the regions' lengths for a sparse
// one, and nothing for the other types.
func (tw *Writer) WriteHeader(h *Header) error {
	if tw.err != nil {
		return tw.err
	}
	if tw.closed {
		return errors.New("tarpax: write after close")
	}
	if tw.remain > 0 {
		return errShort
	}
	if err := tw.finishMember(); err != nil {
		return err
	}
	if err := validate(h); err != nil {
		return err
	}
	var recs []Record
	add := func(k, v string) { recs = append(recs, Record{k, v}) }

	name := h.Name
	var sparseMap []byte
	dataSize := int64(0)
	switch h.Typeflag {
	case TypeReg:
		dataSize = h.Size
	}
	if h.Sparse != nil {
		if h.Typeflag != TypeReg {
			return errors.New("tarpax: only regular files can be sparse")
		}
		regions := h.Sparse
		if n := len(regions); n == 0 || regions[n-1].Offset+regions[n-1].Length < h.Size {
			regions = append(regions[:n:n], Region{h.Size, 0})
		}
		sparseMap, dataSize = sparseData(regions)
		add("GNU.sparse.major", "1")
		add("GNU.sparse.minor", "0")
		add("GNU.sparse.name", h.Name)
		add("GNU.sparse.realsize", strconv.FormatInt(h.Size, 10))
		// What a reader that does not know the format extracts: GNU
		// tar's placeholder name, with a fixed number for the process id
		// so that the output does not depend on the run.
		dir, base := path.Split(h.Name)
		name = dir + "GNUSparseFile.0/" + base
	}

	var blk [BlockSize]byte
	ustarName, ustarPrefix, fits := splitName(name)
	if !fits {
		if h.Sparse == nil {
			add("path", name)
		}
		ustarName, ustarPrefix = truncate(name, 100), ""
	}
	copy(blk[0:100], ustarName)
	copy(blk[345:500], ustarPrefix)
	if h.Linkname != "" {
		if len(h.Linkname) > 100 || !ascii(h.Linkname) {
			add("linkpath", h.Linkname)
		}
		copy(blk[157:257], truncate(h.Linkname, 100))
	}
	formatOctal(blk[100:108], h.Mode&0o7777)
	if !formatOctal(blk[108:116], h.Uid) {
		add("uid", strconv.FormatInt(h.Uid, 10))
	}
	if !formatOctal(blk[116:124], h.Gid) {
		add("gid", strconv.FormatInt(h.Gid, 10))
	}
	storedSize := int64(len(sparseMap)) + dataSize
	if !formatOctal(blk[124:136], storedSize) {
		add("size", strconv.FormatInt(storedSize, 10))
	}
	formatOctal(blk[136:148], 0)
	if !h.ModTime.IsZero() {
		formatOctal(blk[136:148], h.ModTime.Unix())
		add("mtime", formatTime(h.ModTime))
	}
	if !h.AccessTime.IsZero() {
		add("atime", formatTime(h.AccessTime))
	}
	if !h.ChangeTime.IsZero() {
		add("ctime", formatTime(h.ChangeTime))
	}
	blk[156] = h.Typeflag
	copy(blk[257:265], "ustar\x0000")
	for _, f := range []struct {
		key, v string
		field  []byte
	}{{"uname", h.Uname, blk[265:297]}, {"gname", h.Gname, blk[297:329]}} {
		if len(f.v) > len(f.field) || !ascii(f.v) {
			add(f.key, f.v)
		}
		copy(f.field, truncate(f.v, len(f.field)))
	}
	formatNumeric(blk[329:337], h.Devmajor)
	formatNumeric(blk[337:345], h.Devminor)
	recs = append(recs, h.Records...)

	if len(recs) > 0 {
		if err := tw.writeXHeader(name, recs); err != nil {
			return err
		}
	}
	setChecksum(&blk)
	if err := tw.write(blk[:]); err != nil {
		return err
	}
	tw.remain = storedSize
	tw.pad = -storedSize & (BlockSize - 1)
	if len(sparseMap) > 0 {
		tw.remain -= int64(len(sparseMap))
		if err := tw.write(sparseMap); err != nil {
			return err
		}
	}
	return nil
}

// validate refuses what no tar reader could take back.
func validate(h *Header) error {
	switch {
	case h.Name == "":
		return errors.New("tarpax: empty name")
	case strings.IndexByte(h.Name, 0) >= 0, strings.IndexByte(h.Linkname, 0) >= 0,
		strings.IndexByte(h.Uname, 0) >= 0, strings.IndexByte(h.Gname, 0) >= 0:
		return fmt.Errorf("tarpax: %q: a name contains a NUL byte", h.Name)
	case h.Size < 0 || h.Uid < 0 || h.Gid < 0 || h.Devmajor < 0 || h.Devminor < 0:
		return fmt.Errorf("tarpax: %q: negative size or id", h.Name)
	}
	for _, r := range h.Records {
		if r.Key == "" || strings.ContainsAny(r.Key, "=\x00") {
			return fmt.Errorf("tarpax: %q: bad record key %q", h.Name, r.Key)
		}
	}
	end := int64(0)
	for i, r := range h.Sparse {
		if r.Offset < end || r.Length < 0 || r.Offset > h.Size || r.Length > h.Size-r.Offset {
			return fmt.Errorf("tarpax: %q: sparse regions out of order or outside the file", h.Name)
		}
		if i < len(h.Sparse)-1 && r.Length%BlockSize != 0 {
			return fmt.Errorf("tarpax: %q: a sparse region other than the last is not whole blocks long", h.Name)
		}
		end = r.Offset + r.Length
	}
	return nil
}

// sparseData returns the sparse map that begins a sparse member's data,
// padded to whole blocks, and the number of data bytes that follow it.
// When the file ends in a hole, a last region of length zero at the end
// tells GNU tar to extend the file to its full size.
func sparseData(regions []Region) ([]byte, int64) {
	var b []byte
	b = strconv.AppendInt(b, int64(len(regions)), 10)
	b = append(b, '\n')
	var n int64
	for _, r := range regions {
		b = strconv.AppendInt(b, r.Offset, 10)
		b = append(b, '\n')
		b = strconv.AppendInt(b, r.Length, 10)
		b = append(b, '\n')
		n += r.Length
	}
	b = append(b, make([]byte, -len(b)&(BlockSize-1))...)
	return b, n
}

// writeXHeader writes the extended header of the member name.
func (tw *Writer) writeXHeader(name string, recs []Record) error {
	var data []byte
	for _, r := range recs {
		data = appendRecord(data, r.Key, r.Value)
	}
	var blk [BlockSize]byte
	dir, base := path.Split(strings.TrimSuffix(name, "/"))
	xname := dir + "PaxHeaders/" + base
	if len(xname) > 100 {
		xname = truncate("PaxHeaders/"+base, 100)
	}
	copy(blk[0:100], xname)
	formatOctal(blk[100:108], 0o644)
	formatOctal(blk[108:116], 0)
	formatOctal(blk[116:124], 0)
	if !formatOctal(blk[124:136], int64(len(data))) {
		return errors.New("tarpax: extended header too large")
	}
	formatOctal(blk[136:148], 0)
	blk[156] = typeXHeader
	copy(blk[257:265], "ustar\x0000")
	setChecksum(&blk)
	if err := tw.write(blk[:]); err != nil {
		return err
	}
	data = append(data, make([]byte, -len(data)&(BlockSize-1))...)
	return tw.write(data)
}

// appendRecord appends "LEN key=value\n", where LEN counts the whole
// record, its own digits included.
func appendRecord(b []byte, key, value string) []byte {
	n := len(key) + len(value) + 3 // ' ', '=', '\n'
	l := n + len(strconv.Itoa(n))
	if len(strconv.Itoa(l)) > len(strconv.Itoa(n)) {
		l++
	}
	b = strconv.AppendInt(b, int64(l), 10)
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	b = append(b, value...)
	return append(b, '\n')
}

// formatTime formats t as pax times are: seconds since 1970 with a decimal
// fraction, "-1.25" being a second and a quarter before 1970.
func formatTime(t time.Time) string {
	sec, ns := t.Unix(), int64(t.Nanosecond())
	if ns == 0 {
		return strconv.FormatInt(sec, 10)
	}
	sign := ""
	if sec < 0 {
		sign = "-"
		sec, ns = -(sec + 1), 1e9-ns
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
	return sign + strconv.FormatInt(sec, 10) + "." + frac
}

// formatOctal writes v as zero-padded octal digits ending in a NUL, and
// reports whether it fits; when it does not, the field is zero.
func formatOctal(f []byte, v int64) bool {
	s := strconv.FormatInt(v, 8)
	ok := v >= 0 && len(s) < len(f)
	if !ok {
		s = "0"
	}
	s = strings.Repeat("0", len(f)-1-len(s)) + s
	copy(f, s)
	f[len(f)-1] = 0
	return ok
}

// formatNumeric writes v in octal, or in GNU's base-256 form (the high bit
// of the first byte set, then big-endian binary) when octal is too short;
// GNU tar and archive/tar read both.
func formatNumeric(f []byte, v int64) {
	if formatOctal(f, v) {
		return
	}
	for i := len(f) - 1; i >= 0; i-- {
		f[i] = byte(v)
		v >>= 8
	}
	f[0] |= 0x80
}

// setChecksum fills the header's checksum: the sum of its bytes with the
// checksum field counted as spaces, in six octal digits, NUL, space.
func setChecksum(blk *[BlockSize]byte) {
	copy(blk[148:156], "        ")
	var sum int64
	for _, c := range blk {
		sum += int64(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// splitName returns the ustar name and prefix fields for name, and whether
// it fits in them: ASCII, at most 100 bytes, or split at a '/' into a
// prefix of at most 155 bytes and a name of at most 100.
func splitName(name string) (string, string, bool) {
	if !ascii(name) {
		return "", "", false
	}
	if len(name) <= 100 {
		return name, "", true
	}
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != '/' || i > 155 {
			continue
		}
		if len(name)-i-1 > 100 {
			break
		}
		if i == len(name)-1 {
			continue // a directory's trailing slash: the name part would be empty
		}
		return name[i+1:], name[:i], true
	}
	return "", "", false
}

// ascii reports whether s is printable ASCII, which every tar reader takes
// in a header field as it is.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Write writes data of the current member.
func (tw *Writer) Write(p []byte) (int, error) {
	if tw.err != nil {
		return 0, tw.err
	}
	over := false
	if int64(len(p)) > tw.remain {
		p, over = p[:tw.remain], true
	}
	if err := tw.write(p); err != nil {
		return 0, err
	}
	tw.remain -= int64(len(p))
	if over {
		return len(p), ErrWriteTooLong
	}
	return len(p), nil
}

// ReadFrom copies r into the current member until it ends or the member
// is full, and returns the number of bytes copied.
func (tw *Writer) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{tw}, io.LimitReader(r, tw.remain))
}

// finishMember pads the member just written to a whole block.
func (tw *Writer) finishMember() error {
	if tw.pad == 0 {
		return nil
	}
	n := tw.pad
	tw.pad = 0
	return tw.write(tw.blk[:n])
}

// Close ends the archive with two zero blocks; it does not close the
// underlying writer. It fails if the last member is incomplete.
func (tw *Writer) Close() error {
	if tw.err != nil || tw.closed {
		return tw.err
	}
	if tw.remain > 0 {
		return errShort
	}
	if err := tw.finishMember(); err != nil {
		return err
	}
	tw.closed = true
	return tw.write(make([]byte, 2*BlockSize))
}

// write writes p, keeping the first error for every later call.
func (tw *Writer) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := tw.w.Write(p); err != nil {
		tw.err = err
		return err
	}
	return nil
}
