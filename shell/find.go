package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

func runReadlink(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing operand")
	}
	s := x.Shell
	for _, p := range x.expand(ops) {
		var out string
		var err error
		if x.Flag('f') {
			out, err = s.canonical(p)
		} else {
			out, err = fs.ReadLink(s.FS(), s.name(p))
		}
		if err != nil {
			// As in coreutils, readlink says nothing of a failure
			// unless asked to with -v; its status still says it.
			if x.Flag('v') {
				x.Fail(p, err)
			}
			x.failed = true
			continue
		}
		fmt.Fprintln(x.Out, s.show(out))
	}
	return nil
}

// canonical returns the absolute path of p with every symlink resolved, as
// readlink -f does: every component but the last must exist.
func (s *Shell) canonical(p string) (string, error) {
	name := s.name(p)
	for range maxSymlinks {
		r, err := s.ns.resolve("readlink", name, false)
		if err != nil {
			return "", err
		}
		fi, err := s.ns.lstatRaw(r)
		if errors.Is(err, fs.ErrNotExist) {
			return shellPath(r), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return shellPath(r), nil
		}
		t, err := fs.ReadLink(s.FS(), r)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(t, "/") {
			t = shellPath(path.Dir(r)) + "/" + t
		}
		name = fsPath(path.Clean(t))
	}
	return "", &fs.PathError{Op: "readlink", Path: p, Err: syscall.ELOOP}
}

// shellPath turns an io/fs name into an absolute shell path.
func shellPath(name string) string {
	if name == "." {
		return "/"
	}
	return "/" + name
}

const readlinkHelp = `readlink prints the target of each symbolic link.
  -f  print the absolute path with every symlink resolved; every component
      but the last must exist
  -v  say why a path failed (by default readlink only fails, silently)`

// findNode is a node of a find expression: a test, an action, or an
// operator over nodes.
type findNode struct {
	op   string                              // "test", "print", "!", "and" or "or"
	test func(p string, fi fs.FileInfo) bool // for a test
	sep  byte                                // for print: '\n' for -print, 0 for -print0
	a, b *findNode                           // the operands of an operator
}

// findExpr is a parsed find command line.
type findExpr struct {
	starts             []string
	root               *findNode // nil for the empty expression
	acts               bool      // the expression has an action: no implicit -print
	minDepth, maxDepth int
	json               bool       // --json: collect the matches instead of printing them
	matches            []fileJSON // what -print found, with --json
}

func runFind(x *Call) error {
	e, err := x.parseFind(time.Now())
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(x.Out, 64<<10)
	defer w.Flush()
	for _, p := range e.starts {
		fi, err := fs.Lstat(x.Shell.FS(), x.Shell.name(p))
		if err != nil {
			w.Flush()
			x.Fail(p, err)
			continue
		}
		if err := x.findWalk(w, e, p, fi, 0); err != nil {
			return err
		}
	}
	if e.json {
		if e.matches == nil {
			e.matches = []fileJSON{}
		}
		return x.writeJSON(struct {
			Matches []fileJSON `json:"matches"`
		}{e.matches})
	}
	return nil
}

// findWalk visits p and, below the maximum depth, what it holds.
func (x *Call) findWalk(w *bufio.Writer, e *findExpr, p string, fi fs.FileInfo, depth int) error {
	if err := x.Ctx.Err(); err != nil {
		return err
	}
	if depth >= e.minDepth {
		e.visit(w, x.Shell, p, fi)
	}
	if !fi.IsDir() || depth >= e.maxDepth {
		return nil
	}
	if depth >= maxListDepth {
		w.Flush()
		x.Fail(p, fmt.Errorf("directory tree deeper than %d levels", maxListDepth))
		return nil
	}
	ents, err := fs.ReadDir(x.Shell.FS(), x.Shell.name(p))
	if err != nil {
		w.Flush()
		x.Fail(p, err)
	}
	for _, ent := range ents {
		child := strings.TrimSuffix(p, "/") + "/" + ent.Name()
		cfi, err := ent.Info()
		if err != nil {
			w.Flush()
			x.Fail(child, err)
			continue
		}
		if err := x.findWalk(w, e, child, cfi, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// visit evaluates the expression for one file, printing it when an
// action says so, or when it holds and there is no action.
func (e *findExpr) visit(w *bufio.Writer, s *Shell, p string, fi fs.FileInfo) {
	if e.eval(e.root, w, s, p, fi) && !e.acts {
		e.print(w, s, p, fi, '\n')
	}
}

// print prints p followed by sep (the path as given for -print0, else
// made safe for a terminal), or adds it to the matches with --json.
func (e *findExpr) print(w *bufio.Writer, s *Shell, p string, fi fs.FileInfo, sep byte) {
	switch {
	case e.json:
		e.matches = append(e.matches, s.fileJSONOf(p, fi))
		return
	case sep == 0:
		w.WriteString(p)
	default:
		w.WriteString(s.show(p))
	}
	w.WriteByte(sep)
}

// eval evaluates node n as find does: left to right, -a before -o, the
// right side only when the left does not decide.
func (e *findExpr) eval(n *findNode, w *bufio.Writer, s *Shell, p string, fi fs.FileInfo) bool {
	if n == nil {
		return true
	}
	switch n.op {
	case "test":
		return n.test(p, fi)
	case "print":
		e.print(w, s, p, fi, n.sep)
		return true
	case "!":
		return !e.eval(n.a, w, s, p, fi)
	case "and":
		return e.eval(n.a, w, s, p, fi) && e.eval(n.b, w, s, p, fi)
	}
	return e.eval(n.a, w, s, p, fi) || e.eval(n.b, w, s, p, fi)
}

// findParser builds the tree of a find expression from its tokens:
// operators ("!", "(", ")", "-o", "-a") and nodes.
type findParser struct {
	toks []findTok
	i    int
}

type findTok struct {
	op   string // the operator, or "" for a node
	node *findNode
}

func (fp *findParser) peek() string {
	if fp.i >= len(fp.toks) {
		return "end"
	}
	return fp.toks[fp.i].op
}

func (fp *findParser) or() (*findNode, error) {
	l, err := fp.and()
	if err != nil {
		return nil, err
	}
	for fp.peek() == "-o" {
		fp.i++
		r, err := fp.and()
		if err != nil {
			return nil, err
		}
		l = &findNode{op: "or", a: l, b: r}
	}
	return l, nil
}

func (fp *findParser) and() (*findNode, error) {
	l, err := fp.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch fp.peek() {
		case "end", "-o", ")":
			return l, nil
		case "-a":
			fp.i++
		}
		r, err := fp.unary()
		if err != nil {
			return nil, err
		}
		l = &findNode{op: "and", a: l, b: r}
	}
}

func (fp *findParser) unary() (*findNode, error) {
	switch op := fp.peek(); op {
	case "":
		fp.i++
		return fp.toks[fp.i-1].node, nil
	case "!":
		fp.i++
		n, err := fp.unary()
		if err != nil {
			return nil, err
		}
		return &findNode{op: "!", a: n}, nil
	case "(":
		fp.i++
		n, err := fp.or()
		if err != nil {
			return nil, err
		}
		if fp.peek() != ")" {
			return nil, badFlag("invalid expression: missing ')'")
		}
		fp.i++
		return n, nil
	case "end":
		return nil, badFlag("invalid expression: an operator with nothing after it")
	default:
		return nil, badFlag("invalid expression: '%s' where a test was expected", op)
	}
}

// parseFind reads the starting points and the expression of a find
// command line.
func (x *Call) parseFind(now time.Time) (*findExpr, error) {
	e := &findExpr{maxDepth: 1<<31 - 1}
	ws := x.words
	for len(ws) > 0 && ws[0].flag && ws[0].text == "--json" {
		e.json = true
		ws = ws[1:]
	}
	print0 := false
	var starts []word
	for len(ws) > 0 && !(ws[0].flag || ws[0].text == "!" || ws[0].text == "(") {
		starts = append(starts, ws[0])
		ws = ws[1:]
	}
	var toks []findTok
	for len(ws) > 0 {
		op := ws[0].text
		ws = ws[1:]
		arg := func() (string, error) {
			if len(ws) == 0 {
				return "", badFlag("missing argument to `%s'", op)
			}
			v := ws[0].text
			ws = ws[1:]
			return v, nil
		}
		var test func(p string, fi fs.FileInfo) bool
		switch op {
		case "--json":
			e.json = true
			continue
		case "!", "-not", "(", ")", "-o", "-or", "-a", "-and":
			if short, ok := map[string]string{"-not": "!", "-or": "-o", "-and": "-a"}[op]; ok {
				op = short
			}
			toks = append(toks, findTok{op: op})
			continue
		case "-print", "-print0":
			sep := byte('\n')
			if op == "-print0" {
				sep, print0 = 0, true
			}
			toks = append(toks, findTok{node: &findNode{op: "print", sep: sep}})
			e.acts = true
			continue
		case "-maxdepth", "-mindepth":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, badFlag("invalid argument `%s' to `%s'", v, op)
			}
			if op == "-maxdepth" {
				e.maxDepth = n
			} else {
				e.minDepth = n
			}
			continue
		case "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename":
			pat, err := arg()
			if err != nil {
				return nil, err
			}
			fold := op[1] == 'i'
			whole := !strings.HasSuffix(op, "name") || strings.HasSuffix(op, "wholename")
			test = func(p string, _ fs.FileInfo) bool {
				if !whole {
					p = findBase(p)
				}
				return fnmatch(pat, p, fold)
			}
		case "-type":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			var types []uint32
			for _, t := range strings.Split(v, ",") {
				m, ok := map[string]uint32{"f": sIFREG, "d": sIFDIR, "l": sIFLNK, "b": sIFBLK, "c": sIFCHR, "p": sIFIFO, "s": sIFSOCK}[t]
				if !ok {
					return nil, badFlag("unknown argument to -type: %s", t)
				}
				types = append(types, m)
			}
			test = func(_ string, fi fs.FileInfo) bool {
				return slices.Contains(types, rawMode(fi.Mode())&sIFMT)
			}
		case "-size":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			cmp, num := findCmp(v)
			unit := int64(512)
			if n := len(num); n > 0 {
				if u, ok := map[byte]int64{'c': 1, 'w': 2, 'b': 512, 'k': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}[num[n-1]]; ok {
					unit, num = u, num[:n-1]
				}
			}
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return nil, badFlag("invalid -size argument `%s'", v)
			}
			test = func(_ string, fi fs.FileInfo) bool {
				size := fi.Size()
				return cmp((size+unit-1)/unit, n)
			}
		case "-mtime", "-mmin":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			cmp, num := findCmp(v)
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n < 0 {
				return nil, badFlag("invalid argument `%s' to `%s'", v, op)
			}
			period := 24 * time.Hour
			if op == "-mmin" {
				period = time.Minute
			}
			test = func(_ string, fi fs.FileInfo) bool {
				age := now.Sub(fi.ModTime())
				// Like find, whole periods ago, rounded down; -mmin -N
				// and +N compare the exact age.
				if op == "-mmin" {
					return cmpAge(cmp, age, n, period)
				}
				return cmp(int64(age/period), n)
			}
		case "-newer":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			ref, err := fs.Stat(x.Shell.FS(), x.Shell.name(v))
			if err != nil {
				return nil, &fs.PathError{Op: "stat", Path: v, Err: unwrapPathErr(err)}
			}
			t := ref.ModTime()
			test = func(_ string, fi fs.FileInfo) bool { return fi.ModTime().After(t) }
		case "-true":
			test = func(string, fs.FileInfo) bool { return true }
		case "-false":
			test = func(string, fs.FileInfo) bool { return false }
		default:
			if strings.HasPrefix(op, "-") {
				return nil, badFlag("unknown predicate `%s'", op)
			}
			return nil, badFlag("paths must precede expression: `%s'", op)
		}
		toks = append(toks, findTok{node: &findNode{op: "test", test: test}})
	}
	if e.json && print0 {
		return nil, usagef("--json and -print0 cannot be used together")
	}
	if len(toks) > 0 {
		fp := &findParser{toks: toks}
		root, err := fp.or()
		if err != nil {
			return nil, err
		}
		if fp.peek() != "end" {
			return nil, badFlag("invalid expression: unexpected '%s'", fp.peek())
		}
		e.root = root
	}
	if len(starts) == 0 {
		e.starts = []string{"."}
	} else {
		e.starts = x.expand(starts)
	}
	return e, nil
}

// findBase is the name -name matches: the last component, or "/" for the
// root.
func findBase(p string) string {
	if t := strings.TrimRight(p, "/"); t != "" {
		p = t
	} else {
		return "/"
	}
	return p[strings.LastIndexByte(p, '/')+1:]
}

// findCmp splits a find number into its comparison (+N more than, -N
// less than, N exactly) and the digits.
func findCmp(v string) (func(a, b int64) bool, string) {
	switch {
	case strings.HasPrefix(v, "+"):
		return func(a, b int64) bool { return a > b }, v[1:]
	case strings.HasPrefix(v, "-"):
		return func(a, b int64) bool { return a < b }, v[1:]
	}
	return func(a, b int64) bool { return a == b }, v
}

// cmpAge compares an exact age with n periods for -mmin.
func cmpAge(cmp func(a, b int64) bool, age time.Duration, n int64, period time.Duration) bool {
	switch {
	case cmp(1, 0): // +N
		return age > time.Duration(n)*period
	case cmp(0, 1): // -N
		return age < time.Duration(n)*period
	}
	return int64((age+period-1)/period) == n
}

// fnmatch reports whether name matches the shell pattern pat as fnmatch(3)
// without flags does: '*' and '?' match any character, '/' and a leading
// '.' included; [...] and [!...] are sets; a backslash quotes. fold
// ignores case.
func fnmatch(pat, name string, fold bool) bool {
	if fold {
		pat, name = strings.ToLower(pat), strings.ToLower(name)
	}
	// Iterative matching with one backtrack point for the last '*'.
	px, nx := 0, 0
	starP, starN := -1, -1
	for nx < len(name) || px < len(pat) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				starP, starN = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					_, size := utf8.DecodeRuneInString(name[nx:])
					px, nx = px+1, nx+size
					continue
				}
			case '[':
				if nx < len(name) {
					r, size := utf8.DecodeRuneInString(name[nx:])
					if ok, end, valid := matchSet(pat, px, r); valid {
						if ok {
							px, nx = end, nx+size
							continue
						}
						break
					}
				}
				if nx < len(name) && name[nx] == '[' {
					px, nx = px+1, nx+1
					continue
				}
			case '\\':
				if px+1 < len(pat) {
					if nx < len(name) && name[nx] == pat[px+1] {
						px, nx = px+2, nx+1
						continue
					}
					break
				}
				fallthrough
			default:
				if nx < len(name) && name[nx] == c {
					px, nx = px+1, nx+1
					continue
				}
			}
		}
		if starP >= 0 && starN < len(name) {
			_, size := utf8.DecodeRuneInString(name[starN:])
			starN += size
			px, nx = starP+1, starN
			continue
		}
		return false
	}
	return true
}

// matchSet matches r against the set starting at pat[i] == '['. It
// returns whether r is in it, the index just past the set, and whether
// the set is well formed (else '[' is an ordinary character).
func matchSet(pat string, i int, r rune) (match bool, end int, valid bool) {
	i++
	neg := false
	if i < len(pat) && (pat[i] == '!' || pat[i] == '^') {
		neg, i = true, i+1
	}
	first := true
	for i < len(pat) {
		if pat[i] == ']' && !first {
			return match != neg, i + 1, true
		}
		first = false
		lo, size := utf8.DecodeRuneInString(pat[i:])
		if lo == '\\' && i+1 < len(pat) {
			i++
			lo, size = utf8.DecodeRuneInString(pat[i:])
		}
		i += size
		hi := lo
		if i+1 < len(pat) && pat[i] == '-' && pat[i+1] != ']' {
			var s2 int
			hi, s2 = utf8.DecodeRuneInString(pat[i+1:])
			if hi == '\\' && i+2 < len(pat) {
				hi, s2 = utf8.DecodeRuneInString(pat[i+2:])
				s2++
			}
			i += 1 + s2
		}
		if lo <= r && r <= hi {
			match = true
		}
	}
	return false, 0, false
}

const findHelp = `find walks each path (by default .) and prints the names that pass every
expression, as GNU find does: the paths as given, with what is below them.
Symbolic links are never followed. Tests and actions:
  -name GLOB, -iname GLOB     the last component matches (-iname: any case);
                              quote the pattern so the shell does not expand it
  -path GLOB, -ipath GLOB     the whole printed path matches; '*' matches '/'
  -type f|d|l|b|c|p|s         the file type (several: -type f,d)
  -size [+-]N[cwbkMG]         size in units (default 512-byte blocks, rounded up)
  -mtime [+-]N, -mmin [+-]N   modified N days (minutes) ago; +N more, -N less
  -newer FILE                 modified after FILE
  ! EXPR, -not EXPR           the expression fails
  EXPR -o EXPR, EXPR -or EXPR either holds (the right one is not evaluated
                              when the left one holds)
  EXPR EXPR, EXPR -a EXPR     both hold; binds tighter than -o
  ( EXPR )                    grouping; quote the parentheses: '(' ')'
  -print, -print0             print the path, ended by a newline or a NUL
Options: -maxdepth N, -mindepth N limit how deep the names printed lie
(0 is the starting path itself). Without -print or -print0 every name that
passes is printed.

With --json (before the paths or among the options) find prints one JSON
document instead of names: {"matches": [...]}, one object for each name it
would print, in the same order, as stat --json describes a file (path as
find prints it, name, type, mode, perms, size, blocks, inode, links, uid,
gid, user, group, atime, mtime, ctime, and btime, target, major, minor when
they apply). -print0 makes no sense with it and is refused.`
