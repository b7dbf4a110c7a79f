package shell

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"unicode/utf8"
)

// options parses the leading options of a command whose flags may take a
// value: bools are letters that stand alone, valued are letters followed by
// a value, attached (-n5) or as the next word (-n 5). Bool flags are also
// recorded for x.Flag. It returns the values given, last one winning, and
// the operands.
func (x *Call) options(bools, valued string) (map[byte]string, []word, error) {
	x.flags = map[byte]bool{}
	vals := map[byte]string{}
	ws := x.words
	for len(ws) > 0 && ws[0].flag && ws[0].text != "-" {
		w := ws[0].text
		ws = ws[1:]
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "--") {
			return nil, nil, badFlag("unknown flag %s", w)
		}
		for i := 1; i < len(w); i++ {
			c := w[i]
			switch {
			case strings.IndexByte(bools, c) >= 0:
				x.flags[c] = true
			case strings.IndexByte(valued, c) >= 0:
				v := w[i+1:]
				if v == "" {
					if len(ws) == 0 {
						return nil, nil, badFlag("option -%c needs an argument", c)
					}
					v = ws[0].text
					ws = ws[1:]
				}
				vals[c] = v
				x.flags[c] = true
				i = len(w)
			default:
				return nil, nil, badFlag("unknown flag -%c", c)
			}
		}
	}
	return vals, ws, nil
}

// parseCount reads a count as head, tail and hexdump take it: decimal, or
// hexadecimal with 0x, with an optional multiplier suffix (b 512, k K KiB
// 1024, kB 1000, M, MB, G, GB, T, TB).
func parseCount(s string) (int64, error) {
	num := strings.TrimRight(s, "bkKMGTBi")
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		num = s
	}
	mult := int64(1)
	switch s[len(num):] {
	case "":
	case "b":
		mult = 512
	case "k", "K", "KiB":
		mult = 1 << 10
	case "kB", "KB":
		mult = 1000
	case "M", "MiB":
		mult = 1 << 20
	case "MB":
		mult = 1000 * 1000
	case "G", "GiB":
		mult = 1 << 30
	case "GB":
		mult = 1000 * 1000 * 1000
	case "T", "TiB":
		mult = 1 << 40
	case "TB":
		mult = 1000 * 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("invalid number %q", s)
	}
	n, err := strconv.ParseInt(num, 0, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if n > (1<<63-1)/mult {
		return 1<<63 - 1, nil
	}
	return n * mult, nil
}

// openRegular opens the guest file p for reading its contents: a directory
// is an error. The caller closes the file.
func (x *Call) openRegular(p string) (fs.File, int64, error) {
	f, err := x.Shell.FS().Open(x.Shell.name(p))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = errIsDir
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readerAt returns f as an io.ReaderAt: the guest filesystems' files are
// ones.
func readerAt(f fs.File) (io.ReaderAt, error) {
	if r, ok := f.(io.ReaderAt); ok {
		return r, nil
	}
	return nil, errors.New("file does not support random access")
}

// headTailOpts is what head and tail were asked for.
type headTailOpts struct {
	bytes bool  // -c: count bytes, not lines
	n     int64 // how many
	from  bool  // tail +N: from line or byte N; head -N: all but the last N
}

func headTailArgs(x *Call, isTail bool) (headTailOpts, []string, error) {
	// The old form head -5 is head -n 5.
	if len(x.words) > 0 && x.words[0].flag && len(x.words[0].text) > 1 &&
		strings.Trim(x.words[0].text[1:], "0123456789") == "" {
		ws := []word{{text: "-n", flag: true}, {text: x.words[0].text[1:]}}
		x.words = append(ws, x.words[1:]...)
	}
	vals, ops, err := x.options("qv", "nc")
	if err != nil {
		return headTailOpts{}, nil, err
	}
	o := headTailOpts{n: 10}
	// The later of -n and -c wins in coreutils; here -c wins when both are
	// given, which is what a user giving both means.
	v, ok := vals['n']
	if c, okc := vals['c']; okc {
		v, ok, o.bytes = c, true, true
	}
	if ok {
		switch {
		case isTail && strings.HasPrefix(v, "+"):
			o.from, v = true, v[1:]
		case isTail && strings.HasPrefix(v, "-"):
			v = v[1:]
		case !isTail && strings.HasPrefix(v, "-"):
			o.from, v = true, v[1:]
		}
		if v == "" {
			return o, nil, badFlag("invalid number of %s: %q", map[bool]string{true: "bytes", false: "lines"}[o.bytes], vals['n'])
		}
		n, err := parseCount(v)
		if err != nil {
			return o, nil, badFlag("%v", err)
		}
		o.n = n
	}
	if len(ops) == 0 {
		return o, nil, usagef("missing file operand")
	}
	return o, x.expand(ops), nil
}

func runHead(x *Call) error { return headTail(x, false) }
func runTail(x *Call) error { return headTail(x, true) }

// headTail runs head or tail. Headers "==> name <==" separate several
// files, as in coreutils.
func headTail(x *Call, isTail bool) error {
	o, args, err := headTailArgs(x, isTail)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(x.Out, 64<<10)
	defer w.Flush()
	headers := (len(args) > 1 || x.Flag('v')) && !x.Flag('q')
	first := true
	for _, p := range args {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		f, size, err := x.openRegular(p)
		// As in coreutils, a file that opens but cannot be read, like a
		// directory, still gets its header.
		if headers && (err == nil || errors.Is(err, errIsDir)) {
			if !first {
				w.WriteString("\n")
			}
			fmt.Fprintf(w, "==> %s <==\n", x.Shell.show(p))
			first = false
		}
		if err != nil {
			w.Flush()
			x.Fail(p, err)
			continue
		}
		if isTail {
			err = x.tailFile(w, f, size, o)
		} else {
			err = x.headFile(w, f, size, o)
		}
		f.Close()
		if err != nil {
			if x.Ctx.Err() != nil {
				return x.Ctx.Err()
			}
			w.Flush()
			x.Fail(p, err)
		}
	}
	return nil
}

func (x *Call) headFile(w io.Writer, f fs.File, size int64, o headTailOpts) error {
	r := ctxReader{x.Ctx, f}
	switch {
	case o.bytes && !o.from:
		_, err := io.CopyN(w, r, o.n)
		if err == io.EOF {
			err = nil
		}
		return err
	case o.bytes:
		_, err := io.CopyN(w, r, max(size-o.n, 0))
		if err == io.EOF {
			err = nil
		}
		return err
	case o.from:
		ra, err := readerAt(f)
		if err != nil {
			return err
		}
		end, err := x.lastLines(ra, size, o.n)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, io.NewSectionReader(ra, 0, end))
		return err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := int64(0); n < o.n; n++ {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			w.Write(line)
			line, err = br.ReadSlice('\n')
		}
		w.Write(line)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (x *Call) tailFile(w io.Writer, f fs.File, size int64, o headTailOpts) error {
	ra, err := readerAt(f)
	if err != nil {
		return err
	}
	var start int64
	switch {
	case o.bytes && o.from:
		start = min(max(o.n-1, 0), size)
	case o.bytes:
		start = max(size-o.n, 0)
	case o.from:
		start, err = x.lineStart(ra, size, max(o.n-1, 0))
	default:
		start, err = x.lastLines(ra, size, o.n)
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(w, ctxReader{x.Ctx, io.NewSectionReader(ra, start, size-start)})
	return err
}

// lineStart returns the offset just past the first n newlines of the file,
// or its size when it has fewer.
func (x *Call) lineStart(r io.ReaderAt, size, n int64) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		if err := x.Ctx.Err(); err != nil {
			return 0, err
		}
		k, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for i, c := range buf[:k] {
			if c == '\n' {
				if n--; n == 0 {
					return off + int64(i) + 1, nil
				}
			}
		}
		off += int64(k)
		if err == io.EOF || k == 0 {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return size, nil
}

// lastLines returns the offset where the last n lines of the file start,
// reading backwards from the end. A last line without a newline counts as
// a line.
func (x *Call) lastLines(r io.ReaderAt, size, n int64) (int64, error) {
	if n == 0 {
		return size, nil
	}
	buf := make([]byte, 64<<10)
	end := size
	first := true
	for end > 0 {
		if err := x.Ctx.Err(); err != nil {
			return 0, err
		}
		k := min(int64(len(buf)), end)
		off := end - k
		if _, err := r.ReadAt(buf[:k], off); err != nil && err != io.EOF {
			return 0, err
		}
		b := buf[:k]
		if first {
			// The newline that ends the last line starts nothing.
			b = bytes.TrimSuffix(b, []byte{'\n'})
			first = false
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				if n--; n == 0 {
					return off + int64(i) + 1, nil
				}
			}
		}
		end = off
	}
	return 0, nil
}

// dumpArgs parses the options of hexdump and xxd: the flags, the offset
// flag and the length flag.
func dumpArgs(x *Call, bools string, skip, length byte) (off, n int64, args []string, err error) {
	vals, ops, err := x.options(bools, string([]byte{skip, length}))
	if err != nil {
		return 0, 0, nil, err
	}
	n = -1
	if v, ok := vals[skip]; ok {
		if off, err = parseCount(strings.TrimPrefix(v, "+")); err != nil {
			return 0, 0, nil, badFlag("%v", err)
		}
	}
	if v, ok := vals[length]; ok {
		if n, err = parseCount(v); err != nil {
			return 0, 0, nil, badFlag("%v", err)
		}
	}
	if len(ops) == 0 {
		return 0, 0, nil, usagef("missing file operand")
	}
	return off, n, x.expand(ops), nil
}

// dump calls line for each 16-byte line of r from off, at most n bytes
// (all if n < 0), with the line's offset. It returns the offset where it
// stopped.
func (x *Call) dump(r io.ReaderAt, size, off, n int64, line func(addr int64, b []byte)) (end int64, err error) {
	off = min(off, size)
	stop := size
	if n >= 0 && off+n < size {
		stop = off + n
	}
	buf := make([]byte, 64<<10)
	for pos := off; pos < stop; {
		if err := x.Ctx.Err(); err != nil {
			return pos, err
		}
		k, err := r.ReadAt(buf[:min(int64(len(buf)), stop-pos)], pos)
		for i := 0; i < k; i += 16 {
			line(pos+int64(i), buf[i:min(i+16, k)])
		}
		pos += int64(k)
		if err != nil && err != io.EOF {
			return pos, err
		}
		if k == 0 {
			stop = pos
		}
	}
	return stop, nil
}

// concat reads files one after the other as one stream, as hexdump
// reads its operands.
type concat struct {
	parts []io.ReaderAt
	sizes []int64
}

func (c *concat) size() int64 {
	var n int64
	for _, s := range c.sizes {
		n += s
	}
	return n
}

func (c *concat) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for i, r := range c.parts {
		if len(p) == 0 {
			break
		}
		if off >= c.sizes[i] {
			off -= c.sizes[i]
			continue
		}
		want := min(int64(len(p)), c.sizes[i]-off)
		k, err := r.ReadAt(p[:want], off)
		done += k
		if err != nil && !(err == io.EOF && int64(k) == want) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the file is shorter than it said
			}
			return done, err
		}
		p, off = p[k:], 0
	}
	if len(p) > 0 {
		return done, io.EOF
	}
	return done, nil
}

// dumpText appends b as hexdump and xxd show it: bytes outside ' '..'~'
// as '.'.
func dumpText(dst, b []byte) []byte {
	for _, c := range b {
		if c < ' ' || c > '~' {
			c = '.'
		}
		dst = append(dst, c)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

func runHexdump(x *Call) error {
	off, n, args, err := dumpArgs(x, "Cv", 's', 'n')
	if err != nil {
		return err
	}
	// Like hexdump, the files are read as one stream; one that cannot
	// be opened is reported and left out.
	var c concat
	for _, p := range args {
		f, size, err := x.openRegular(p)
		if err == nil {
			var r io.ReaderAt
			if r, err = readerAt(f); err == nil {
				defer f.Close()
				c.parts, c.sizes = append(c.parts, r), append(c.sizes, size)
				continue
			}
			f.Close()
		}
		x.Fail(p, err)
	}
	w := bufio.NewWriterSize(x.Out, 64<<10)
	defer w.Flush()
	var prev []byte
	star := false
	var out []byte
	end, err := x.dump(&c, c.size(), off, n, func(addr int64, b []byte) {
		if !x.Flag('v') && len(b) == 16 && bytes.Equal(b, prev) {
			if !star {
				w.WriteString("*\n")
				star = true
			}
			return
		}
		star = false
		prev = append(prev[:0], b...)
		out = fmt.Appendf(out[:0], "%08x ", addr)
		for i := 0; i < 16; i++ {
			if i == 8 {
				out = append(out, ' ')
			}
			if i < len(b) {
				out = append(out, ' ', hexDigits[b[i]>>4], hexDigits[b[i]&15])
			} else {
				out = append(out, "   "...)
			}
		}
		out = append(out, "  |"...)
		out = dumpText(out, b)
		out = append(out, "|\n"...)
		w.Write(out)
	})
	if err != nil {
		if x.Ctx.Err() != nil {
			return x.Ctx.Err()
		}
		w.Flush()
		x.Fail(strings.Join(args, " "), err)
		return nil
	}
	if end > 0 {
		fmt.Fprintf(w, "%08x\n", end)
	}
	return nil
}

func runXxd(x *Call) error {
	off, n, args, err := dumpArgs(x, "", 's', 'l')
	if err != nil {
		return err
	}
	if len(args) > 1 {
		return usagef("too many arguments")
	}
	w := bufio.NewWriterSize(x.Out, 64<<10)
	defer w.Flush()
	var out []byte
	f, size, err := x.openRegular(args[0])
	if err != nil {
		x.Fail(args[0], err)
		return nil
	}
	defer f.Close()
	r, err := readerAt(f)
	if err != nil {
		x.Fail(args[0], err)
		return nil
	}
	_, err = x.dump(r, size, off, n, func(addr int64, b []byte) {
		out = fmt.Appendf(out[:0], "%08x: ", addr)
		for i := 0; i < 16; i++ {
			if i < len(b) {
				out = append(out, hexDigits[b[i]>>4], hexDigits[b[i]&15])
			} else {
				out = append(out, ' ', ' ')
			}
			if i%2 == 1 {
				out = append(out, ' ')
			}
		}
		out = append(out, ' ')
		out = dumpText(out, b)
		out = append(out, '\n')
		w.Write(out)
	})
	if err != nil {
		if x.Ctx.Err() != nil {
			return x.Ctx.Err()
		}
		w.Flush()
		x.Fail(args[0], err)
	}
	return nil
}

const headHelp = `head prints the first 10 lines of each file, with a "==> name <==" header
before each when there are several. Counts may end in K, M, G (1024) or kB, MB, GB.
  -n N   the first N lines; -n -N: all but the last N lines
  -c N   the first N bytes; -c -N: all but the last N bytes
  -q     never print headers
  -v     always print headers`

const tailHelp = `tail prints the last 10 lines of each file, reading from the end of the file,
with a "==> name <==" header before each when there are several.
  -n N   the last N lines; -n +N: from line N on
  -c N   the last N bytes; -c +N: from byte N on
  -q     never print headers
  -v     always print headers`

const hexdumpHelp = `hexdump shows the files, read one after the other as one stream, in the
canonical hex+ASCII form of hexdump -C: offset, sixteen bytes in hex, and the
bytes that are printable. A run of
identical lines is shown as one line and a '*'. The last line is the offset
just past the end. The canonical form is the only one: -C may be given or not.
  -s offset  start at this byte (decimal, 0x hex, or with a K, M, G suffix)
  -n length  show at most this many bytes
  -v         show every line, even repeated ones`

const xxdHelp = `xxd shows a file as xxd does: offset, sixteen bytes in groups of two, and the
bytes that are printable.
  -s offset  start at this byte (decimal or 0x hex)
  -l length  show at most this many bytes`

func runFile(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing file operand")
	}
	// As file(1) does, the descriptions line up after the longest name.
	s := x.Shell
	args := x.expand(ops)
	width := 0
	for _, p := range args {
		width = max(width, utf8.RuneCountInString(s.show(p)))
	}
	for _, p := range args {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		desc, err := x.fileType(p)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		name := s.show(p) + ":"
		fmt.Fprintf(x.Out, "%s%s %s\n", name, strings.Repeat(" ", width+1-utf8.RuneCountInString(name)), desc)
	}
	return nil
}

// fileType describes the file p as file(1) does, by its mode and, for a
// regular file, by its first bytes.
func (x *Call) fileType(p string) (string, error) {
	s := x.Shell
	fi, err := fs.Lstat(s.FS(), s.name(p))
	if err != nil {
		return "", err
	}
	in := inodeOf(fi)
	switch in.mode & sIFMT {
	case sIFDIR:
		return "directory", nil
	case sIFLNK:
		t, err := fs.ReadLink(s.FS(), s.name(p))
		if err != nil {
			return "", err
		}
		return "symbolic link to " + t, nil
	case sIFCHR:
		return fmt.Sprintf("character special (%d/%d)", in.major, in.minor), nil
	case sIFBLK:
		return fmt.Sprintf("block special (%d/%d)", in.major, in.minor), nil
	case sIFIFO:
		return "fifo (named pipe)", nil
	case sIFSOCK:
		return "socket", nil
	}
	f, size, err := x.openRegular(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if size == 0 {
		return "empty", nil
	}
	head := make([]byte, min(size, 8192))
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", err
	}
	return contentType(head[:n], in.mode&0o111 != 0), nil
}

// elfMachines names the ELF machines as file(1) does.
var elfMachines = map[uint16]string{
	2: "SPARC", 3: "Intel 80386", 8: "MIPS", 20: "PowerPC or cisco 4500", 21: "64-bit PowerPC or cisco 7500",
	22: "IBM S/390", 40: "ARM", 43: "SPARC V9", 62: "x86-64", 183: "ARM aarch64", 243: "UCB RISC-V",
	258: "LoongArch",
}

// contentType names the kind of data that starts with b.
func contentType(b []byte, executable bool) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\x7fELF") && len(b) >= 20:
		return elfType(b)
	case has(0, "\x1f\x8b"):
		return "gzip compressed data"
	case has(0, "BZh") && len(b) >= 4 && b[3] >= '1' && b[3] <= '9':
		return fmt.Sprintf("bzip2 compressed data, block size = %c00k", b[3])
	case has(0, "\xfd7zXZ\x00"):
		return "XZ compressed data"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "Zstandard compressed data"
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"):
		return "Zip archive data"
	case has(257, "ustar\x0000"):
		return "POSIX tar archive"
	case has(257, "ustar  \x00"):
		return "POSIX tar archive (GNU)"
	case has(0, "\x89PNG\r\n\x1a\n") && len(b) >= 24 && has(12, "IHDR"):
		return fmt.Sprintf("PNG image data, %d x %d", be32(b[16:]), be32(b[20:]))
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "PNG image data"
	case has(0, "\xff\xd8\xff"):
		return "JPEG image data"
	case has(0, "%PDF-") && len(b) >= 8:
		return "PDF document, version " + strings.TrimRight(string(b[5:8]), "\r\n ")
	}
	text := textType(b)
	if has(0, "#!") && text != "" {
		line, _, _ := bytes.Cut(b[2:], []byte{'\n'})
		fields := strings.Fields(string(line))
		kind := "script"
		if len(fields) > 0 {
			prog := fields[0][strings.LastIndexByte(fields[0], '/')+1:]
			if prog == "env" && len(fields) > 1 {
				prog = fields[1]
			}
			switch {
			case prog == "sh":
				kind = "POSIX shell script"
			case prog == "bash":
				kind = "Bourne-Again shell script"
			case strings.HasPrefix(prog, "python"):
				kind = "Python script"
			case strings.HasPrefix(prog, "perl"):
				kind = "Perl script"
			default:
				kind = "a " + fields[0] + " script"
			}
		}
		if executable {
			return kind + ", " + text + " executable"
		}
		return kind + ", " + text
	}
	if text != "" {
		return text
	}
	return "data"
}

// textType returns "ASCII text" or "UTF-8 Unicode text", with the notes
// file(1) adds about line ends, or "" when b is not text.
func textType(b []byte) string {
	kind := "ASCII text"
	for _, c := range b {
		if c >= 0x80 {
			kind = "Unicode text, UTF-8 text"
			break
		}
	}
	if kind != "ASCII text" && !utf8ValidPrefix(b) {
		return ""
	}
	for _, c := range b {
		if c < ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\b' && c != 0x1b {
			return ""
		}
		if c == 0x7f {
			return ""
		}
	}
	switch {
	case bytes.Contains(b, []byte("\r\n")):
		kind += ", with CRLF line terminators"
	case !bytes.Contains(b, []byte{'\n'}):
		kind += ", with no line terminators"
	}
	return kind
}

// utf8ValidPrefix reports whether b is UTF-8, allowing a rune cut at the
// end of the sample.
func utf8ValidPrefix(b []byte) bool {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:])
		}
		i += n
	}
	return true
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// elfType describes an ELF header.
func elfType(b []byte) string {
	class := map[byte]string{1: "32-bit", 2: "64-bit"}[b[4]]
	var bo binary.ByteOrder
	endian := ""
	switch b[5] {
	case 1:
		bo, endian = binary.LittleEndian, "LSB"
	case 2:
		bo, endian = binary.BigEndian, "MSB"
	}
	if class == "" || bo == nil {
		return "ELF, invalid class or byte order"
	}
	kind := "unknown type"
	switch bo.Uint16(b[16:]) {
	case 1:
		kind = "relocatable"
	case 2:
		kind = "executable"
	case 3:
		kind = "shared object"
	case 4:
		kind = "core file"
	}
	m := bo.Uint16(b[18:])
	machine, ok := elfMachines[m]
	if !ok {
		machine = fmt.Sprintf("*unknown arch %#x*", m)
	}
	abi := "SYSV"
	if b[7] == 3 {
		abi = "GNU/Linux"
	}
	return fmt.Sprintf("ELF %s %s %s, %s, version %d (%s)", class, endian, kind, machine, b[6], abi)
}

const fileHelp = `file names the type of each file: directories, symlinks (with their target),
devices and fifos by their mode; regular files by their first bytes: ELF
binaries (class, byte order, type, machine), gzip, bzip2, xz, zstd, zip, tar,
PNG, JPEG, PDF, scripts (by their #! line), ASCII and UTF-8 text, empty, or data.`
