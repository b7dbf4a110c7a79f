package shell

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
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
