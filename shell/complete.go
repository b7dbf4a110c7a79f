package shell

import (
	"io/fs"
	"slices"
	"strings"
)

// complete is the shell's Completer: command names for the first word of a
// command, then guest paths (directories with a trailing '/') or volume
// names, depending on the command.
func (s *Shell) complete(line string, pos int) (head string, completions []string, tail string) {
	runes := []rune(line)
	if pos < 0 || pos > len(runes) {
		pos = len(runes)
	}
	before, tail := string(runes[:pos]), string(runes[pos:])

	// Scan the line up to the cursor as parseLine would, keeping where the
	// current word starts, its unquoted text, and the words before it in
	// the current command.
	var (
		words     []string
		cur       strings.Builder
		start     = 0
		in        bool
		quote     byte
		escaped   bool
		wordStart = func(i int) {
			if !in {
				start, in = i, true
			}
		}
	)
	for i := 0; i < len(before); i++ {
		c := before[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			if c == '"' {
				quote = 0
			} else if c == '\\' && i+1 < len(before) && strings.IndexByte("\"\\$`", before[i+1]) >= 0 {
				i++
				cur.WriteByte(before[i])
			} else {
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == ';':
			words, in = nil, false
			cur.Reset()
		case c == '\\':
			wordStart(i)
			escaped = true
		case c == '\'' || c == '"':
			wordStart(i)
			quote = c
		default:
			wordStart(i)
			cur.WriteByte(c)
		}
	}
	if !in {
		start = len(before)
	}
	text := cur.String()
	head = before[:start]

	if len(words) == 0 {
		return head, prefixed(s.commandNames(), text, " "), tail
	}
	c := s.cmds[words[0]]
	if c == nil || strings.HasPrefix(text, "-") {
		return head, nil, tail
	}
	switch c.Args {
	case argCommand:
		return head, prefixed(s.commandNames(), text, ""), tail
	case argVolume:
		var names []string
		for _, v := range s.volumes() {
			names = append(names, v.Name)
			if v.LV != nil {
				names = append(names, "/dev/"+v.Group.VG.Name+"/"+v.LV.Name)
			}
		}
		return head, prefixed(names, text, ""), tail
	case argPath:
		dir, base := "", text
		if i := strings.LastIndexByte(text, '/'); i >= 0 {
			dir, base = text[:i+1], text[i+1:]
		}
		listDir := dir
		if listDir == "" {
			listDir = "."
		}
		ents, err := fs.ReadDir(s.FS(), s.name(listDir))
		if err != nil {
			return head, nil, tail
		}
		var out []string
		for _, e := range ents {
			n := e.Name()
			if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".")) {
				continue
			}
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				if fi, err := fs.Stat(s.FS(), s.name(dir+n)); err == nil && fi.IsDir() {
					isDir = true
				}
			}
			q := quoteWord(printable(n))
			if isDir {
				q += "/"
			}
			out = append(out, q)
		}
		if len(out) == 1 && !strings.HasSuffix(out[0], "/") {
			out[0] += " "
		}
		if dir != "" {
			head += quoteWord(dir)
		}
		return head, out, tail
	}
	return head, nil, tail
}

// prefixed returns the names starting with prefix, each followed by sep
// when it is the only one.
func prefixed(names []string, prefix, sep string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	out = slices.Compact(out)
	if len(out) == 1 {
		out[0] += sep
	}
	return out
}
