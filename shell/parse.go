package shell

import (
	"errors"
	"strings"
)

// A word is one argument of a command line after quote removal.
type word struct {
	text string // the argument with quotes and escapes removed
	pat  string // text as a path.Match pattern: quoted metacharacters escaped
	glob bool   // an unquoted *, ? or [ appears, so the word is a pattern
	flag bool   // starts with an unquoted '-': may be an option
}

var errUnterminated = errors.New("unterminated quote")

// parseLine splits a command line into commands (separated by unquoted ';'
// or newlines) and each command into words. Quoting is a small subset of
// the POSIX shell's: '...' is literal, "..." is literal except for \" \\ \$
// and \`, a backslash outside quotes escapes the next character, and an
// unquoted # at the start of a word begins a comment.
func parseLine(line string) ([][]word, error) {
	var (
		cmds [][]word
		cur  []word
		w    word
		in   bool // a word has started (possibly empty, as in '')
	)
	endWord := func() {
		if in {
			cur = append(cur, w)
		}
		w, in = word{}, false
	}
	endCmd := func() {
		endWord()
		if len(cur) > 0 {
			cmds = append(cmds, cur)
		}
		cur = nil
	}
	lit := func(c byte) {
		w.text += string(c)
		if c == '*' || c == '?' || c == '[' || c == '\\' || c == ']' {
			w.pat += `\`
		}
		w.pat += string(c)
		in = true
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			endWord()
		case c == ';' || c == '\n':
			endCmd()
		case c == '#' && !in:
			for i < len(line) && line[i] != '\n' {
				i++
			}
			endCmd()
		case c == '\\':
			if i+1 >= len(line) {
				lit('\\')
				continue
			}
			i++
			if line[i] == '\n' { // line continuation
				continue
			}
			lit(line[i])
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errUnterminated
			}
			for _, b := range []byte(line[i+1 : i+1+j]) {
				lit(b)
			}
			in = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				b := line[i]
				if b == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
					b = line[i]
				}
				lit(b)
			}
			if i >= len(line) {
				return nil, errUnterminated
			}
			in = true
		default:
			if !in && c == '-' {
				w.flag = true
			}
			if c == '*' || c == '?' || c == '[' {
				w.glob = true
			}
			w.text += string(c)
			w.pat += string(c)
			in = true
		}
	}
	endCmd()
	return cmds, nil
}

// quoteWord returns s in a form parseLine reads back as the single word s:
// unchanged when it needs no quoting, else with backslash escapes.
func quoteWord(s string) string {
	if s == "" {
		return "''"
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(" \t\n'\"\\;#*?[]$`&|<>()!{}~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
