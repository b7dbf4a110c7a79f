package shell

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// errNoMatch is the error of a pattern that matches nothing.
var errNoMatch = errors.New("no match")

// errNoFS is the error of a path command run while nothing is mounted.
var errNoFS = errors.New("no filesystem mounted (see lsblk and use)")

// usageError reports a command used wrongly: a bad flag or argument count.
type usageError struct {
	msg       string
	showUsage bool // follow the message with the command's usage line
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), showUsage: true}
}

func badFlag(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// reason returns the short, lower-case text of err that follows the path in
// an error line: "no such file or directory", not "open etc/x: file does
// not exist". The path is dropped because the caller prints the name the
// user typed.
func reason(err error) string {
unwrap:
	for {
		switch e := err.(type) {
		case *fs.PathError:
			err = e.Err
		case *os.LinkError:
			err = e.Err
		case *os.SyscallError:
			err = e.Err
		default:
			break unwrap
		}
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		// syscall texts are already the usual words.
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrExist):
		return "file exists"
	case errors.Is(err, fs.ErrInvalid):
		return "invalid argument"
	case errors.Is(err, fs.ErrClosed):
		return "file already closed"
	}
	return strings.TrimSpace(err.Error())
}

var (
	errNotDir = syscall.ENOTDIR
	errIsDir  = syscall.EISDIR
)
