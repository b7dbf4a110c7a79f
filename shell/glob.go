package shell

import (
	"io/fs"
	"path"
	"strings"
)

// hasMeta reports whether the pattern component p has an unescaped
// metacharacter.
func hasMeta(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// unescape removes the backslashes of a pattern without metacharacters.
func unescape(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			i++
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// glob returns the guest paths matching pattern, in the form the user wrote
// it (relative patterns give relative paths), sorted component by
// component. As in the shell, a wildcard does not match a leading '.'
// unless the pattern component starts with one.
func (s *Shell) glob(pattern string) ([]string, error) {
	abs := strings.HasPrefix(pattern, "/")
	dirOnly := strings.HasSuffix(pattern, "/")
	var comps []string
	for _, c := range strings.Split(pattern, "/") {
		if c != "" {
			comps = append(comps, c)
		}
	}
	display := func(parts string, name string) string {
		if parts == "" {
			return name
		}
		return parts + "/" + name
	}
	root := ""
	if abs {
		root = "/"
	}
	cands := []string{""} // paths relative to the pattern's start, "" for the start itself
	for _, c := range comps {
		var next []string
		if !hasMeta(c) {
			lit := unescape(c)
			for _, p := range cands {
				next = append(next, display(p, lit))
			}
			cands = next
			continue
		}
		if _, err := path.Match(c, ""); err != nil {
			return nil, err
		}
		for _, p := range cands {
			dir := root + p
			if dir == "" {
				dir = "."
			}
			ents, err := fs.ReadDir(s.FS(), s.name(dir))
			if err != nil {
				continue
			}
			for _, e := range ents {
				n := e.Name()
				if strings.HasPrefix(n, ".") && !strings.HasPrefix(c, ".") {
					continue
				}
				if ok, _ := path.Match(c, n); ok {
					next = append(next, display(p, n))
				}
			}
		}
		cands = next
	}
	var out []string
	for _, p := range cands {
		full := root + p
		if full == "" {
			full = "."
		}
		var fi fs.FileInfo
		var err error
		if dirOnly {
			fi, err = fs.Stat(s.FS(), s.name(full))
			if err != nil || !fi.IsDir() {
				continue
			}
			full += "/"
		} else if _, err = fs.Lstat(s.FS(), s.name(full)); err != nil {
			continue
		}
		out = append(out, full)
	}
	return out, nil
}
