package shell

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"vmsh/fsread"
)

// xattrFS is a filesystem that has extended attributes, like *fsread.FS.
type xattrFS interface {
	Xattrs(name string) ([]fsread.Xattr, error)
}

// errNoAttr is the error for an attribute a file does not have.
var errNoAttr = errors.New("No such attribute")

// xattrsOf returns the extended attributes of the guest file name sorted
// by name, as getfattr shows them; follow says whether a symbolic link in
// the last component is followed. A filesystem without extended
// attributes gives none.
func (s *Shell) xattrsOf(name string, follow bool) ([]fsread.Xattr, error) {
	r, err := s.ns.resolve("getxattr", name, follow)
	if err != nil {
		return nil, err
	}
	mt, rel := s.ns.lookup(r)
	if mt == nil {
		return nil, &fs.PathError{Op: "getxattr", Path: name, Err: errNoFS}
	}
	xf, ok := mt.fsys.(xattrFS)
	if !ok {
		if _, err := fs.Lstat(mt.fsys, rel); err != nil {
			return nil, fixErr(err, name)
		}
		return nil, nil
	}
	xs, err := xf.Xattrs(rel)
	if err != nil {
		return nil, fixErr(err, name)
	}
	fsread.SortXattrs(xs)
	return xs, nil
}

// xattrLines returns what stat shows of a file's extended attributes:
// their names, and the SELinux context as text.
func (s *Shell) xattrLines(name string) []string {
	xs, err := s.xattrsOf(name, false)
	if err != nil || len(xs) == 0 {
		return nil
	}
	var names []string
	var lines []string
	for _, x := range xs {
		names = append(names, x.Name)
		if x.Name == "security.selinux" {
			lines = append(lines, "Context: "+s.show(strings.TrimSuffix(string(x.Value), "\x00")))
		}
	}
	return append([]string{"Xattrs: " + s.show(strings.Join(names, " "))}, lines...)
}

// getfattrOpts are the options of one getfattr run.
type getfattrOpts struct {
	dump     bool
	follow   bool
	absolute bool
	name     string
	match    *regexp.Regexp
	encoding string // "", "text", "hex" or "base64"
}

func runGetfattr(x *Call) error {
	o := getfattrOpts{follow: true}
	pattern := `^user\.`
	ws := x.words
	arg := func(flag string) (string, error) {
		if len(ws) < 2 {
			return "", badFlag("option %s needs an argument", flag)
		}
		v := ws[1].text
		ws = ws[1:]
		return v, nil
	}
	for len(ws) > 0 && ws[0].flag && ws[0].text != "-" {
		w := ws[0].text
		if w == "--" {
			ws = ws[1:]
			break
		}
		var err error
		switch {
		case w == "--absolute-names":
			o.absolute = true
		case w == "--dump":
			o.dump = true
		case w == "--no-dereference":
			o.follow = false
		case strings.HasPrefix(w, "--"):
			return badFlag("unknown flag %s", w)
		default:
			for i := 1; i < len(w); i++ {
				switch c := w[i]; c {
				case 'd':
					o.dump = true
				case 'h':
					o.follow = false
				case 'n', 'm', 'e':
					v := w[i+1:]
					if v == "" {
						if v, err = arg("-" + string(c)); err != nil {
							return err
						}
					}
					switch c {
					case 'n':
						o.name = v
					case 'm':
						pattern = v
					case 'e':
						o.encoding = v
					}
					i = len(w)
				default:
					return badFlag("unknown flag -%c", c)
				}
			}
		}
		ws = ws[1:]
	}
	switch o.encoding {
	case "", "text", "hex", "base64":
	default:
		return usagef("unrecognized encoding %q (text, hex or base64)", o.encoding)
	}
	if pattern == "-" {
		pattern = ""
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return usagef("bad pattern %q: %v", pattern, err)
	}
	o.match = re
	if len(ws) == 0 {
		return usagef("missing operand")
	}
	warned := false
	for _, p := range x.expand(ws) {
		if err := x.Ctx.Err(); err != nil {
			return err
		}
		xs, err := x.Shell.xattrsOf(x.Shell.name(p), o.follow)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		shown := p
		if !o.absolute && strings.HasPrefix(p, "/") {
			shown = strings.TrimLeft(p, "/")
			if shown == "" {
				shown = "."
			}
			if !warned {
				x.Warn("Removing leading '/' from absolute path names")
				warned = true
			}
		}
		var lines []string
		if o.name != "" {
			found := false
			for _, a := range xs {
				if a.Name == o.name {
					lines = append(lines, a.Name+"="+encodeXattr(a.Value, o.encoding))
					found = true
				}
			}
			if !found {
				x.Fail(p, fmt.Errorf("%s: %w", o.name, errNoAttr))
				continue
			}
		} else {
			for _, a := range xs {
				if !o.match.MatchString(a.Name) {
					continue
				}
				if o.dump {
					lines = append(lines, a.Name+"="+encodeXattr(a.Value, o.encoding))
				} else {
					lines = append(lines, a.Name)
				}
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(x.Out, "# file: %s\n", x.Shell.show(shown))
		for _, l := range lines {
			fmt.Fprintln(x.Out, x.Shell.show(l))
		}
		fmt.Fprintln(x.Out)
	}
	return nil
}

// encodeXattr formats a value as getfattr does: "text" in double quotes
// with NUL, newline and carriage return as octal escapes and '"' and '\'
// escaped (a final NUL is dropped); "hex" as 0x…; "base64" as 0s…. With
// no encoding named, text is used for values of which at most one byte in
// eight is not printable, base64 otherwise.
func encodeXattr(v []byte, enc string) string {
	if enc == "" {
		nonpr, t := 0, v
		if len(t) > 0 && t[len(t)-1] == 0 {
			t = t[:len(t)-1] // a final NUL is not shown
		}
		for _, c := range t {
			if c < 0x20 || c > 0x7e {
				nonpr++
			}
		}
		enc = "base64"
		if len(t) >= nonpr*8 {
			enc = "text"
		}
	}
	switch enc {
	case "hex":
		return "0x" + hex.EncodeToString(v)
	case "base64":
		return "0s" + base64.StdEncoding.EncodeToString(v)
	}
	var b strings.Builder
	b.WriteByte('"')
	for i, c := range v {
		switch {
		case c == 0 && i == len(v)-1:
		case c == 0 || c == '\n' || c == '\r':
			fmt.Fprintf(&b, "\\%03o", c)
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func runGetfacl(x *Call) error {
	ops, err := x.parse(x.cmd())
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usagef("missing operand")
	}
	s := x.Shell
	ids := s.idNames()
	numeric := x.Flag('n')
	user := func(id uint32) string {
		if numeric {
			return fmt.Sprint(id)
		}
		return ids.user(id)
	}
	group := func(id uint32) string {
		if numeric {
			return fmt.Sprint(id)
		}
		return ids.group(id)
	}
	warned := false
	for _, p := range x.expand(ops) {
		name := s.name(p)
		fi, err := fs.Stat(s.FS(), name)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		xs, err := s.xattrsOf(name, true)
		if err != nil {
			x.Fail(p, err)
			continue
		}
		in := inodeOf(fi)
		var access, def []fsread.ACLEntry
		for _, a := range xs {
			switch a.Name {
			case "system.posix_acl_access":
				access, err = fsread.DecodeACL(a.Value)
			case "system.posix_acl_default":
				def, err = fsread.DecodeACL(a.Value)
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			x.Fail(p, err)
			continue
		}
		if access == nil {
			access = []fsread.ACLEntry{
				{Tag: fsread.ACLUserObj, Perm: uint16(in.mode>>6) & 7},
				{Tag: fsread.ACLGroupObj, Perm: uint16(in.mode>>3) & 7},
				{Tag: fsread.ACLOther, Perm: uint16(in.mode) & 7},
			}
		}
		shown := p
		if strings.HasPrefix(p, "/") {
			shown = strings.TrimLeft(p, "/")
			if shown == "" {
				shown = "."
			}
			if !warned {
				x.Warn("Removing leading '/' from absolute path names")
				warned = true
			}
		}
		fmt.Fprintf(x.Out, "# file: %s\n# owner: %s\n# group: %s\n", s.show(shown), s.show(user(in.uid)), s.show(group(in.gid)))
		if in.mode&0o7000 != 0 {
			f := []byte("---")
			if in.mode&sISUID != 0 {
				f[0] = 's'
			}
			if in.mode&sISGID != 0 {
				f[1] = 's'
			}
			if in.mode&sISVTX != 0 {
				f[2] = 't'
			}
			fmt.Fprintf(x.Out, "# flags: %s\n", f)
		}
		for _, l := range aclLines(access, "", user, group) {
			fmt.Fprintln(x.Out, s.show(l))
		}
		for _, l := range aclLines(def, "default:", user, group) {
			fmt.Fprintln(x.Out, s.show(l))
		}
		fmt.Fprintln(x.Out)
	}
	return nil
}

// aclLines formats an ACL as getfacl does, with an "#effective:" comment
// where the mask takes rights away.
func aclLines(acl []fsread.ACLEntry, prefix string, user, group func(uint32) string) []string {
	mask, hasMask := uint16(7), false
	for _, e := range acl {
		if e.Tag == fsread.ACLMask {
			mask, hasMask = e.Perm, true
		}
	}
	var out []string
	for _, e := range acl {
		var l string
		switch e.Tag {
		case fsread.ACLUser:
			l = "user:" + user(e.ID) + ":" + fsread.PermString(e.Perm)
		case fsread.ACLGroup:
			l = "group:" + group(e.ID) + ":" + fsread.PermString(e.Perm)
		default:
			l = e.String()
		}
		l = prefix + l
		switch e.Tag {
		case fsread.ACLUser, fsread.ACLGroupObj, fsread.ACLGroup:
			if hasMask && e.Perm&^mask != 0 {
				l += "\t#effective:" + fsread.PermString(e.Perm&mask)
			}
		}
		out = append(out, l)
	}
	return out
}

const getfattrHelp = "getfattr prints extended attributes as attr's getfattr does: \"# file: path\", then one line per\n" +
	"attribute, then an empty line. Without -d or -n only names are shown. Symlinks are followed unless -h.\n" +
	"  -d          dump values too\n" +
	"  -n name     show only the attribute name, with its value\n" +
	"  -m pattern  show attributes whose names match the regular expression (default ^user\\.; - for all)\n" +
	"  -e enc      encode values as text, hex or base64 (default: text if printable, else base64)\n" +
	"  -h          do not follow a symlink named as an operand\n" +
	"  --absolute-names  keep the leading '/' of paths"

const getfaclHelp = "getfacl prints the access ACL of each file, and its default ACL if it has one, as getfacl does\n" +
	"(from system.posix_acl_access and system.posix_acl_default, or from the mode bits).\n" +
	"Owners are named from the guest's /etc/passwd and /etc/group.\n" +
	"  -n  numeric user and group ids"
