package shell

import (
	"errors"
	"strings"
)

// Colours for ls, as GNU ls draws them. A colour is a string of SGR
// parameters ("01;34") put between the left and right sequences of the
// table ("\033[" and "m"). The table starts as GNU ls's built-in one; the
// entries of $LS_COLORS (the format dircolors writes, "di=01;34:*.tar=01;31")
// replace its entries, or, when $LS_COLORS is unset or empty, those of
// dircolors' default database do.

// The two-letter keys of $LS_COLORS, in GNU ls's order.
const (
	colLeft    = "lc" // before a colour
	colRight   = "rc" // after a colour
	colEnd     = "ec" // replaces lc rs rc after a name
	colReset   = "rs"
	colNorm    = "no" // text that is not a name
	colFile    = "fi"
	colDir     = "di"
	colLink    = "ln"
	colFifo    = "pi"
	colSock    = "so"
	colBlk     = "bd"
	colChr     = "cd"
	colMissing = "mi" // where an orphan symlink points
	colOrphan  = "or" // a symlink to nothing
	colExec    = "ex"
	colDoor    = "do"
	colSetuid  = "su"
	colSetgid  = "sg"
	colSticky  = "st"
	colOtherW  = "ow"
	colStickyW = "tw"
	colCap     = "ca"
	colMultiHL = "mh"
	colClrEOL  = "cl"
)

var lsColorKeys = []string{colLeft, colRight, colEnd, colReset, colNorm, colFile, colDir, colLink,
	colFifo, colSock, colBlk, colChr, colMissing, colOrphan, colExec, colDoor, colSetuid, colSetgid,
	colSticky, colOtherW, colStickyW, colCap, colMultiHL, colClrEOL}

// builtinColors is GNU ls's own table, used under $LS_COLORS.
var builtinColors = map[string]string{
	colLeft: "\033[", colRight: "m", colReset: "0", colDir: "01;34", colLink: "01;36",
	colFifo: "33", colSock: "01;35", colBlk: "01;33", colChr: "01;33", colExec: "01;32",
	colDoor: "01;35", colSetuid: "37;41", colSetgid: "30;43", colSticky: "37;44",
	colOtherW: "34;42", colStickyW: "30;42", colClrEOL: "\033[K",
}

// defaultLSColors is what dircolors' default database sets, in the
// format of $LS_COLORS: the file types, then suffixes of archives, images
// and videos, audio, and backup or temporary files.
var defaultLSColors = "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01:" +
	"or=40;31;01:mi=00:su=37;41:sg=30;43:ca=00:tw=30;42:ow=34;42:st=37;44:ex=01;32:" +
	suffixColors("01;31", "tar tgz arc arj taz lha lz4 lzh lzma tlz txz tzo t7z zip z dz gz lrz lz lzo xz zst tzst "+
		"bz2 bz tbz tbz2 tz deb rpm jar war ear sar rar alz ace zoo cpio 7z rz cab wim swm dwm esd") +
	suffixColors("01;35", "avif jpg jpeg mjpg mjpeg gif bmp pbm pgm ppm tga xbm xpm tif tiff png svg svgz mng pcx "+
		"mov mpg mpeg m2v mkv webm webp ogm mp4 m4v mp4v vob qt nuv wmv asf rm rmvb flc avi fli flv gl dl "+
		"xcf xwd yuv cgm emf ogv ogx") +
	suffixColors("00;36", "aac au flac m4a mid midi mka mp3 mpc ogg ra wav oga opus spx xspf") +
	"*~=00;90:*#=00;90:" +
	suffixColors("00;90", "bak old orig part rej swp tmp dpkg-dist dpkg-old ucf-dist ucf-new ucf-old rpmnew rpmorig rpmsave")

// suffixColors gives each of the space-separated extensions the colour
// seq, as *.ext=seq entries.
func suffixColors(seq, exts string) string {
	var b strings.Builder
	for _, e := range strings.Fields(exts) {
		b.WriteString("*." + e + "=" + seq + ":")
	}
	return b.String()
}

// lsColors is a parsed colour table.
type lsColors struct {
	ind      map[string]string // by key; present with "" means set but empty
	suffixes []suffixColor     // in the order given; the last match wins
	asTarget bool              // ln=target: a symlink takes its target's colour
}

type suffixColor struct {
	suffix, seq string
}

var errLSColors = errors.New("unparsable value for LS_COLORS environment variable")

// lsColorsFor decides whether ls colours its output and with what: only
// when tty (standard output is a terminal), NO_COLOR is unset or empty and
// TERM is not "dumb". getenv reads the environment.
func lsColorsFor(tty bool, getenv func(string) string) (*lsColors, error) {
	if !tty || getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return nil, nil
	}
	spec := getenv("LS_COLORS")
	if spec == "" {
		spec = defaultLSColors
	}
	return parseLSColors(spec)
}

// parseLSColors reads a $LS_COLORS value over GNU ls's built-in table.
func parseLSColors(spec string) (*lsColors, error) {
	c := &lsColors{ind: map[string]string{}}
	for k, v := range builtinColors {
		c.ind[k] = v
	}
	for spec != "" {
		if spec[0] == ':' {
			spec = spec[1:]
			continue
		}
		if spec[0] == '*' {
			suffix, rest, ok := lsColorString(spec[1:], '=')
			if !ok {
				return nil, errLSColors
			}
			seq, rest, _ := lsColorString(rest, ':')
			c.suffixes = append(c.suffixes, suffixColor{suffix, seq})
			spec = rest
			continue
		}
		if len(spec) < 3 || spec[2] != '=' {
			return nil, errLSColors
		}
		key := spec[:2]
		seq, rest, _ := lsColorString(spec[3:], ':')
		spec = rest
		known := false
		for _, k := range lsColorKeys {
			if k == key {
				known = true
			}
		}
		if !known {
			return nil, errLSColors
		}
		if key == colLink && seq == "target" {
			c.asTarget = true
			delete(c.ind, colLink)
			continue
		}
		c.ind[key] = seq
	}
	return c, nil
}

// lsColorString reads one value of $LS_COLORS up to the byte end (or the
// end of s), decoding the escapes dircolors allows: \a \b \e \f \n \r \t
// \v \? \_ (space), \NNN in octal, \xHH in hex, and ^X for a control
// character. It returns the value, the rest of s after end, and whether
// end was found.
func lsColorString(s string, end byte) (string, string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == end:
			return b.String(), s[i+1:], true
		case ch == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'a':
				b.WriteByte(7)
			case 'b':
				b.WriteByte(8)
			case 'e':
				b.WriteByte(27)
			case 'f':
				b.WriteByte(12)
			case 'n':
				b.WriteByte(10)
			case 'r':
				b.WriteByte(13)
			case 't':
				b.WriteByte(9)
			case 'v':
				b.WriteByte(11)
			case '?':
				b.WriteByte(127)
			case '_':
				b.WriteByte(' ')
			case 'x', 'X':
				n, j := 0, i+1
				for ; j < len(s) && j < i+3 && isHex(s[j]); j++ {
					n = n*16 + hexVal(s[j])
				}
				b.WriteByte(byte(n))
				i = j - 1
			case '0', '1', '2', '3', '4', '5', '6', '7':
				n, j := 0, i
				for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
					n = n*8 + int(s[j]-'0')
				}
				b.WriteByte(byte(n))
				i = j - 1
			default:
				b.WriteByte(e)
			}
		case ch == '^' && i+1 < len(s):
			i++
			if s[i] == '?' {
				b.WriteByte(127)
			} else {
				b.WriteByte(s[i] & 0x1f)
			}
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), "", false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// colored reports whether key has a colour that shows: set, and not
// empty, "0" or "00".
func (c *lsColors) colored(key string) bool {
	v := c.ind[key]
	return v != "" && v != "0" && v != "00"
}

// needsTarget reports whether colouring a symlink needs to know whether
// its target exists, as GNU ls decides it: when orphans have a colour, or
// links take their target's and executables have one, or with long
// listings when missing targets have one.
func (c *lsColors) needsTarget(long bool) bool {
	return c.colored(colOrphan) || c.asTarget && c.colored(colExec) || long && c.colored(colMissing)
}

// colorFile is what colouring a name needs to know about its file.
type colorFile struct {
	name     string // the name shown, whose suffix is matched
	mode     uint32 // i_mode; 0 for a file that does not exist
	nlink    uint64
	missing  bool   // the file does not exist (a symlink's missing target)
	isLink   bool   // a symlink whose target was looked up
	linkOK   bool   // the symlink's target exists
	linkMode uint32 // the target's i_mode, when linkOK
}

// sequence returns the colour sequence for f and whether there is one, as
// GNU ls chooses it: by file type and mode bits, then for a plain file by
// the last suffix in the table that ends its name, ignoring case.
func (c *lsColors) sequence(f colorFile) (string, bool) {
	mode := f.mode
	if c.asTarget && f.isLink && f.linkOK {
		mode = f.linkMode
	}
	var key string
	switch {
	case f.missing && c.colored(colMissing):
		key = colMissing
	case f.missing:
		key = colOrphan
	default:
		switch mode & sIFMT {
		case sIFREG:
			key = colFile
			switch {
			case mode&sISUID != 0 && c.colored(colSetuid):
				key = colSetuid
			case mode&sISGID != 0 && c.colored(colSetgid):
				key = colSetgid
			case mode&0o111 != 0 && c.colored(colExec):
				key = colExec
			case f.nlink > 1 && c.colored(colMultiHL):
				key = colMultiHL
			}
		case sIFDIR:
			key = colDir
			switch {
			case mode&sISVTX != 0 && mode&0o002 != 0 && c.colored(colStickyW):
				key = colStickyW
			case mode&0o002 != 0 && c.colored(colOtherW):
				key = colOtherW
			case mode&sISVTX != 0 && c.colored(colSticky):
				key = colSticky
			}
		case sIFLNK:
			key = colLink
		case sIFIFO:
			key = colFifo
		case sIFSOCK:
			key = colSock
		case sIFBLK:
			key = colBlk
		case sIFCHR:
			key = colChr
		default:
			key = colOrphan
		}
	}
	if key == colFile {
		for i := len(c.suffixes) - 1; i >= 0; i-- {
			sc := c.suffixes[i]
			if len(sc.suffix) <= len(f.name) && strings.EqualFold(f.name[len(f.name)-len(sc.suffix):], sc.suffix) {
				return sc.seq, true
			}
		}
	}
	if key == colLink && f.isLink && !f.linkOK && (c.asTarget || c.colored(colOrphan)) {
		key = colOrphan
	}
	seq, ok := c.ind[key]
	return seq, ok
}

// painter writes coloured names for one ls command. The first colour it
// writes is preceded by a reset, as GNU ls does.
type painter struct {
	c    *lsColors
	used bool
}

// put writes a table entry, with the reset before the first one.
func (p *painter) put(b *strings.Builder, s string) {
	if !p.used {
		p.used = true
		p.endColor(b)
	}
	b.WriteString(s)
}

// endColor writes what follows a coloured name: ec, or lc rs rc.
func (p *painter) endColor(b *strings.Builder) {
	if ec, ok := p.c.ind[colEnd]; ok {
		p.put(b, ec)
		return
	}
	p.put(b, p.c.ind[colLeft]+p.c.ind[colReset]+p.c.ind[colRight])
}

// normal writes the colour of text that is not a name, if it has one.
func (p *painter) normal(b *strings.Builder) {
	if p != nil && p.c.colored(colNorm) {
		p.put(b, p.c.ind[colLeft])
		p.put(b, p.c.ind[colNorm])
		p.put(b, p.c.ind[colRight])
	}
}

// name writes name, shown from column col of a line width columns wide
// (0: unknown), in the colour f calls for.
func (p *painter) name(b *strings.Builder, name string, f colorFile, col, width int) {
	if p == nil {
		b.WriteString(name)
		return
	}
	seq, ok := p.c.sequence(f)
	norm := p.c.colored(colNorm)
	if ok {
		if norm {
			p.put(b, p.c.ind[colLeft])
			p.put(b, p.c.ind[colRight])
		}
		p.put(b, p.c.ind[colLeft])
		p.put(b, seq)
		p.put(b, p.c.ind[colRight])
	}
	b.WriteString(name)
	if ok || norm {
		p.endColor(b)
		// A name that may wrap onto the next line clears the rest of
		// it, so the background colour does not spill.
		if n := len(name); width > 0 && n > 0 && col/width != (col+n-1)/width {
			p.put(b, p.c.ind[colClrEOL])
		}
	}
}
