package shell

import (
	"errors"
	"fmt"
	"strings"
)

// A word is one argument of a command line after quote removal.
type word struct {
	text string // the argument with quotes and escapes removed
	pat  string // text as a path.Match pattern: quoted metacharacters escaped
	glob bool   // an unquoted *, ? or [ appears, so the word is a pattern
	flag bool   // starts with an unquoted '-': may be an option

	// op, when set, makes the word an operator instead of an argument:
	// ">" or ">>" (the next word names the local file), "|" or "!" (text
	// is the local command line that follows, as typed).
	op string
}

var errUnterminated = errors.New("unterminated quote")

// parseLine splits a command line into commands (separated by unquoted ';'
// or newlines) and each command into words. Quoting is a small subset of
// the POSIX shell's: '...' is literal, "..." is literal except for \" \\ \$
// and \`, a backslash outside quotes escapes the next character, and an
// unquoted # at the start of a word begins a comment.
//
// Outside quotes, > and >> are operators that redirect the command's
// output to a local file, | ends the command and passes the rest of it to
// a local shell, and so does ! at the start of a command. Redirections of
// other file descriptors (2>, >&) and of input (<) are refused.
func parseLine(line string) ([][]word, error) {
	var (
		cmds   [][]word
		cur    []word
		w      word
		in     bool // a word has started (possibly empty, as in '')
		quoted bool // part of the current word was quoted or escaped
	)
	endWord := func() {
		if in {
			cur = append(cur, w)
		}
		w, in, quoted = word{}, false, false
	}
	endCmd := func() {
		endWord()
		if len(cur) > 0 {
			cmds = append(cmds, cur)
		}
		cur = nil
	}
	// Words are built a byte at a time: string([]byte{c}), not
	// string(c), which would make a rune of each byte of a UTF-8 name.
	lit := func(c byte) {
		b := string([]byte{c})
		w.text += b
		if c == '*' || c == '?' || c == '[' || c == '\\' || c == ']' {
			w.pat += `\`
		}
		w.pat += b
		in = true
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			endWord()
		case c == ';' || c == '\n':
			endCmd()
		case c == '>':
			if in && !quoted && strings.Trim(w.text, "0123456789") == "" {
				return nil, fmt.Errorf("%s>: only standard output can be redirected", w.text)
			}
			endWord()
			op := ">"
			if i+1 < len(line) && line[i+1] == '>' {
				op, i = ">>", i+1
			}
			if i+1 < len(line) && line[i+1] == '&' {
				return nil, fmt.Errorf("%s&: only standard output can be redirected, to a file", op)
			}
			cur = append(cur, word{text: op, op: op})
		case c == '<':
			return nil, errors.New("<: input redirection is not supported")
		case c == '|' || c == '!' && !in && len(cur) == 0:
			if c == '|' && i+1 < len(line) && line[i+1] == '|' {
				return nil, errors.New("||: not supported (separate commands with ';')")
			}
			endWord()
			end, err := localEnd(line, i+1)
			if err != nil {
				return nil, err
			}
			text := strings.TrimSpace(line[i+1 : end])
			cur = append(cur, word{text: text, op: string(c)})
			endCmd()
			i = end
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
			quoted = true
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errUnterminated
			}
			for _, b := range []byte(line[i+1 : i+1+j]) {
				lit(b)
			}
			in, quoted = true, true
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
			in, quoted = true, true
		default:
			if !in && c == '-' {
				w.flag = true
			}
			if c == '*' || c == '?' || c == '[' {
				w.glob = true
			}
			w.text += line[i : i+1]
			w.pat += line[i : i+1]
			in = true
		}
	}
	endCmd()
	return cmds, nil
}

// localEnd returns the index of the unquoted ';' or newline that ends the
// local command line starting at i, or len(line). Quotes and backslashes
// are skipped over as the local shell will read them.
func localEnd(line string, i int) (int, error) {
	for ; i < len(line); i++ {
		switch line[i] {
		case ';', '\n':
			return i, nil
		case '\\':
			i++
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return 0, errUnterminated
			}
			i += j + 1
		case '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
			if i >= len(line) {
				return 0, errUnterminated
			}
		}
	}
	return len(line), nil
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
