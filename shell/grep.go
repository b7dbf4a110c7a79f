package shell

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
)

// grepMaxLine bounds the part of a line grep keeps in memory: the rest of
// a longer line is not searched.
const grepMaxLine = 1 << 20

// grepBinaryCheck is how much of a file's start is checked for a NUL byte
// to call it binary.
const grepBinaryCheck = 32 << 10

// grepRun is one grep command's pattern and output options.
type grepRun struct {
	x       *Call
	re      *regexp.Regexp
	w       *bufio.Writer
	names   bool // prefix lines with the file name
	matched bool // some line matched somewhere
}

func runGrep(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing pattern")
	}
	re, err := grepPattern(ops[0].text, x.Flag('E'), x.Flag('F'), x.Flag('i'), x.Flag('w'), x.Flag('x'))
	if err != nil {
		return badFlag("%v", err)
	}
	ops = ops[1:]
	g := &grepRun{x: x, re: re, w: bufio.NewWriterSize(x.Out, 64<<10)}
	defer g.w.Flush()
	var args []string
	implicit := false
	switch {
	case len(ops) > 0:
		args = x.expand(ops)
	case x.Flag('r'):
		args, implicit = []string{"."}, true
	default:
		return usagef("missing file operand (vmsh has no standard input to search)")
	}
	g.names = (len(args) > 1 || x.Flag('r')) && !x.Flag('h') || x.Flag('H')
	for _, p := range args {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		fi, err := fs.Stat(x.Shell.FS(), x.Shell.name(p))
		if err != nil {
			g.fail(p, err)
			continue
		}
		if fi.IsDir() {
			if !x.Flag('r') {
				g.fail(p, errIsDir)
				continue
			}
			if err := g.walk(p, implicit, 0); err != nil {
				return err
			}
			continue
		}
		if err := g.file(p); err != nil {
			return err
		}
	}
	if !g.matched {
		x.failed = true
	}
	return nil
}

func (g *grepRun) fail(p string, err error) {
	g.w.Flush()
	g.x.Fail(p, err)
}

// walk searches the regular files below directory d, not following
// symlinks. With implicit (grep -r and no path) names are shown without
// the leading "./", as GNU grep does.
func (g *grepRun) walk(d string, implicit bool, depth int) error {
	if depth >= maxListDepth {
		g.fail(d, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return nil
	}
	ents, err := fs.ReadDir(g.x.Shell.FS(), g.x.Shell.name(d))
	if err != nil {
		g.fail(d, err)
		return nil
	}
	for _, e := range ents {
		if err := g.x.Ctx.Err(); err != nil {
			return err
		}
		child := strings.TrimSuffix(d, "/") + "/" + e.Name()
		if implicit && depth == 0 {
			child = e.Name()
		}
		switch {
		case e.IsDir():
			if err := g.walk(child, false, depth+1); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if err := g.file(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// file searches one file line by line. It returns only an interruption;
// other errors are reported and the search goes on.
func (g *grepRun) file(p string) error {
	x := g.x
	f, _, err := x.openRegular(p)
	if err != nil {
		g.fail(p, err)
		return nil
	}
	defer f.Close()
	br := bufio.NewReaderSize(ctxReader{x.Ctx, f}, 64<<10)
	head, _ := br.Peek(grepBinaryCheck)
	binary := bytes.IndexByte(head, 0) >= 0
	name := x.Shell.show(p)
	var line []byte
	count := 0
	long := false
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			if len(line) < grepMaxLine {
				line = append(line, chunk[:min(len(chunk), grepMaxLine-len(line))]...)
			} else if !long {
				long = true
				x.Warn("%s: line %d is longer than %d bytes: only its start is searched", name, n, grepMaxLine)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			if x.Ctx.Err() != nil {
				return x.Ctx.Err()
			}
			g.fail(p, err)
			return nil
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		text := bytes.TrimSuffix(line, []byte{'\n'})
		if g.re.Match(text) != x.Flag('v') {
			g.matched = true
			count++
			switch {
			case x.Flag('l'):
				fmt.Fprintf(g.w, "%s\n", name)
				return nil
			case x.Flag('c'):
			case binary:
				g.w.Flush()
				x.Shell.Warnf("grep: %s: binary file matches", p)
				return nil
			default:
				if g.names {
					g.w.WriteString(name)
					g.w.WriteByte(':')
				}
				if x.Flag('n') {
					fmt.Fprintf(g.w, "%d:", n)
				}
				g.w.Write(text)
				g.w.WriteByte('\n')
			}
		}
		if err == io.EOF {
			break
		}
	}
	if x.Flag('c') {
		if g.names {
			fmt.Fprintf(g.w, "%s:", name)
		}
		fmt.Fprintf(g.w, "%d\n", count)
	}
	return nil
}

// grepPattern compiles a grep pattern: a basic regular expression as
// grep reads it by default, an extended one with -E, a fixed string with
// -F; Go's regexp does the matching.
func grepPattern(pat string, extended, fixed, fold, word, line bool) (*regexp.Regexp, error) {
	switch {
	case fixed:
		pat = regexp.QuoteMeta(pat)
	case !extended:
		pat = basicToExtended(pat)
	}
	if word {
		pat = `(?:^|\W)(?:` + pat + `)(?:\W|$)`
	}
	if line {
		pat = `^(?:` + pat + `)$`
	}
	if fold {
		pat = "(?i)" + pat
	}
	return regexp.Compile(pat)
}

// basicToExtended rewrites a POSIX basic regular expression in the
// extended syntax: \( \) \{ \} \| \+ \? become operators, and the bare
// characters become literals. A '*' that starts the expression or a group
// is literal.
func basicToExtended(p string) string {
	var b strings.Builder
	inSet := false
	start := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inSet:
			b.WriteByte(c)
			if c == ']' {
				inSet = false
			}
			if c == '[' && i+1 < len(p) && (p[i+1] == ':' || p[i+1] == '.' || p[i+1] == '=') {
				end := strings.Index(p[i+2:], string(p[i+1])+"]")
				if end >= 0 {
					b.WriteString(p[i+1 : i+2+end+2])
					i += 1 + end + 2
				}
			}
			continue
		case c == '[':
			inSet = true
			b.WriteByte(c)
			// A ']' first in the set (after an optional '^') is literal.
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
		case c == '\\' && i+1 < len(p):
			i++
			switch d := p[i]; d {
			case '(', ')', '{', '}', '|', '+', '?':
				b.WriteByte(d)
				start = d == '(' || d == '|'
				continue
			default:
				b.WriteByte('\\')
				b.WriteByte(d)
			}
		case c == '*' && start:
			b.WriteString(`\*`)
		case strings.IndexByte("(){}|+?", c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
		start = c == '^' && b.Len() == 1
	}
	return b.String()
}

const grepHelp = `grep prints the lines of files that match a pattern, read line by line, with
the file's name before each line when there are several files or with -r.
The pattern is a POSIX basic regular expression, or extended with -E,
matched by Go's regexp engine (no back-references). A file with a NUL byte
near its start is binary: a match prints a note instead of the line. grep
fails when no line matched.
  -r  search the files below directories (symlinks are not followed)
  -i  ignore case          -v  select the lines that do not match
  -n  show line numbers    -c  print the number of matching lines per file
  -l  print only the names of files that match
  -E  extended regular expression      -F  fixed string
  -w  match whole words    -x  match whole lines
  -h  never print file names           -H  always print file names`
