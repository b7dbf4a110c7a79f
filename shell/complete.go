package shell

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A completionSpot says what the word under the cursor is, as parseLine
// will read the line.
type completionSpot struct {
	head     string   // the line up to where the word starts
	text     string   // the word so far, with quotes and escapes removed
	words    []string // the words before it in its command
	local    bool     // the command is a local one, after | or a leading !
	redirect bool     // the word names the local file of > or >>
	comment  bool     // the cursor is in a comment
}

// scanForCompletion reads before, the line up to the cursor, as parseLine
// reads vmsh commands (and sh the local command line after | and !), and
// says where the last word starts and what is around it.
func scanForCompletion(before string) completionSpot {
	var (
		sp      completionSpot
		cur     strings.Builder
		start   int
		in      bool // a word has started
		quote   byte
		escaped bool
	)
	endWord := func() {
		if in {
			sp.words = append(sp.words, cur.String())
			if sp.redirect {
				sp.redirect = false // that word was the file
			}
		}
		cur.Reset()
		in = false
	}
	newCommand := func() {
		endWord()
		sp.words, sp.redirect = nil, false
	}
	wordStart := func(i int) {
		if !in {
			start, in = i, true
		}
	}
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
		case c == ' ' || c == '\t' || c == '\r':
			endWord()
		case c == ';' || c == '\n':
			newCommand()
			sp.local = false
		case c == '>' || sp.local && c == '<':
			endWord()
			sp.redirect = true
			if i+1 < len(before) && before[i+1] == '>' {
				i++
			}
		case sp.local && (c == '|' || c == '&' || c == '(' || c == ')'):
			// A new command of the local command line.
			newCommand()
		case c == '|' || c == '!' && !in && len(sp.words) == 0 && !sp.redirect:
			newCommand()
			sp.local = true
		case c == '#' && !in:
			sp.comment = true
			return sp
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
	sp.head, sp.text = before[:start], cur.String()
	return sp
}

// complete is the shell's Completer. For a vmsh command it proposes
// command names for the first word, then guest paths, volume names or
// command names depending on the command, and its long flags after "--".
// After > or >> it proposes local paths (relative to the local
// directory); in the local command line after | or a leading ! it proposes
// the commands on $PATH for the first word and local paths after it.
// What it proposes is quoted so that the line reads back the same.
func (s *Shell) complete(line string, pos int) (head string, completions []string, tail string) {
	runes := []rune(line)
	if pos < 0 || pos > len(runes) {
		pos = len(runes)
	}
	before, tail := string(runes[:pos]), string(runes[pos:])
	sp := scanForCompletion(before)
	head, text := sp.head, sp.text
	switch {
	case sp.comment:
		return before, nil, tail
	case sp.redirect:
		head, completions = completePath(head, text, s.localLister(true))
		return head, completions, tail
	case sp.local && len(sp.words) == 0 && !strings.Contains(text, "/"):
		return head, quoteAll(prefixed(hostCommands(text), text, " ")), tail
	case sp.local:
		head, completions = completePath(head, text, s.localLister(true))
		return head, completions, tail
	case len(sp.words) == 0:
		return head, prefixed(s.commandNames(), text, " "), tail
	}
	c := s.cmds[sp.words[0]]
	switch {
	case c == nil:
		return head, nil, tail
	case strings.HasPrefix(text, "--"):
		var flags []string
		for _, f := range c.LongFlags {
			flags = append(flags, "--"+f)
		}
		return head, prefixed(flags, text, " "), tail
	case strings.HasPrefix(text, "-"):
		return head, nil, tail
	}
	switch c.Args {
	case argCommand:
		return head, prefixed(s.commandNames(), text, ""), tail
	case argVolume:
		return head, quoteAll(prefixed(s.volumeNames(text), text, " ")), tail
	case argPath:
		head, completions = completePath(head, text, s.guestLister())
		return head, completions, tail
	case argLocalDir:
		head, completions = completePath(head, text, s.localLister(false))
		return head, completions, tail
	}
	return head, nil, tail
}

// volumeNames returns what use accepts for each volume: its name, an LV's
// /dev/VG/LV path, and LABEL=label and UUID=uuid when the word typed
// starts that way.
func (s *Shell) volumeNames(text string) []string {
	var names []string
	for _, v := range s.volumes() {
		names = append(names, v.Name)
		if v.LV != nil {
			names = append(names, "/dev/"+v.Group.VG.Name+"/"+v.LV.Name)
		}
		if v.Label != "" && strings.HasPrefix(text, "LABEL=") {
			names = append(names, "LABEL="+v.Label)
		}
		if v.UUID != "" && strings.HasPrefix(text, "UUID=") {
			names = append(names, "UUID="+v.UUID)
		}
	}
	return names
}

// A dirEntry is what path completion needs of a directory entry.
type dirEntry struct {
	name string
	dir  bool // a directory, or a symlink to one
}

// A lister lists the directory dir, a path as typed ("" for the current
// directory, else ending in '/').
type lister func(dir string) ([]dirEntry, error)

// guestLister lists guest directories.
func (s *Shell) guestLister() lister {
	return func(dir string) ([]dirEntry, error) {
		if dir == "" {
			dir = "."
		}
		ents, err := fs.ReadDir(s.FS(), s.name(dir))
		if err != nil {
			return nil, err
		}
		out := make([]dirEntry, 0, len(ents))
		for _, e := range ents {
			d := dirEntry{name: e.Name(), dir: e.IsDir()}
			if e.Type()&fs.ModeSymlink != 0 {
				if fi, err := fs.Stat(s.FS(), s.name(dir+e.Name())); err == nil && fi.IsDir() {
					d.dir = true
				}
			}
			out = append(out, d)
		}
		return out, nil
	}
}

// localLister lists host directories, relative ones in the local
// directory; "~/" stands for the home directory, as sh reads it. With
// files false it lists only directories.
func (s *Shell) localLister(files bool) lister {
	return func(dir string) ([]dirEntry, error) {
		if rest, ok := strings.CutPrefix(dir, "~/"); ok {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, err
			}
			dir = filepath.Join(home, rest)
		}
		if dir == "" {
			dir = "."
		}
		dir = s.local(dir)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		out := make([]dirEntry, 0, len(ents))
		for _, e := range ents {
			d := dirEntry{name: e.Name(), dir: e.IsDir()}
			if e.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.IsDir() {
					d.dir = true
				}
			}
			if d.dir || files {
				out = append(out, d)
			}
		}
		return out, nil
	}
}

// completePath completes text, a path, with the names in its directory
// that start with its last component: head is extended with the directory
// part, quoted; each name is quoted, a directory followed by '/' and the
// only match, when it is not a directory, by a space. Names starting with
// '.' are proposed only when the last component does.
func completePath(head, text string, list lister) (string, []string) {
	dir, base := "", text
	if i := strings.LastIndexByte(text, '/'); i >= 0 {
		dir, base = text[:i+1], text[i+1:]
	}
	ents, err := list(dir)
	if err != nil {
		return head, nil
	}
	var out []string
	for _, e := range ents {
		n := e.name
		if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		q := quoteCompletion(n)
		if e.dir {
			q += "/"
		}
		out = append(out, q)
	}
	slices.Sort(out)
	if len(out) == 1 && !strings.HasSuffix(out[0], "/") {
		out[0] += " "
	}
	if rest, ok := strings.CutPrefix(dir, "~/"); ok {
		head += "~/" + quoteCompletion(rest)
	} else if dir != "" {
		head += quoteCompletion(dir)
	}
	return head, out
}

// quoteCompletion quotes a name for the line as quoteWord does, except
// that a character a terminal cannot show (a control character or a byte
// that is not UTF-8) becomes an unquoted '?', a pattern that matches it.
func quoteCompletion(name string) string {
	var b strings.Builder
	for _, r := range name {
		if printable(string(r)) != string(r) {
			b.WriteByte('?')
			continue
		}
		b.WriteString(quoteWord(string(r)))
	}
	return b.String()
}

// quoteAll quotes each completion, keeping a trailing space unquoted.
func quoteAll(names []string) []string {
	for i, n := range names {
		t, sp := strings.CutSuffix(n, " ")
		names[i] = quoteCompletion(t)
		if sp {
			names[i] += " "
		}
	}
	return names
}

// hostCommands returns the names of the executable files in the
// directories of $PATH that start with prefix, sorted, each once.
func hostCommands(prefix string) []string {
	var names []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), prefix) || e.IsDir() {
				continue
			}
			fi, err := os.Stat(filepath.Join(dir, e.Name()))
			if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				names = append(names, e.Name())
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// prefixed returns the names starting with prefix, each once, the only one
// followed by sep.
func prefixed(names []string, prefix, sep string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 1 {
		out[0] += sep
	}
	return out
}
