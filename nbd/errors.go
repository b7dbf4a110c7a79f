package nbd

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// ErrDisconnected is wrapped by every error that means the connection to
// the server failed or was lost: it could not be made, it dropped or timed
// out, or the server broke the protocol and the client hung up. A Conn that
// returned such an error is broken for good; a new one (Dial again) may
// work. A server's refusal of one read is an *Error instead, and the Conn
// stays usable.
var ErrDisconnected = errors.New("nbd: disconnected")

// ErrProtocol is wrapped, beside ErrDisconnected, when the server sent
// something the protocol does not allow: a bad magic number, a reply to a
// request never made, a chunk outside its request, and the like.
var ErrProtocol = errors.New("nbd: protocol error")

// ErrClosed is returned by reads on a Conn after Close. It matches
// fs.ErrClosed too.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string        { return "nbd: connection closed" }
func (closedError) Is(target error) bool { return target == fs.ErrClosed }

// Error is an error the server reported for a request. It unwraps to the
// syscall.Errno its error value stands for, so errors.Is(err, syscall.EIO)
// works.
type Error struct {
	Op    string // "read"
	Off   int64  // where the error is: the request's offset, or the one the server named
	Errno uint32 // the NBD error value (EIO is 5, ...)
	Msg   string // the server's message, if it sent one
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s at offset %d: server error ", e.Op, e.Off)
	if x, ok := errnos[e.Errno]; ok {
		s += x.name + " (" + x.en.Error() + ")"
	} else {
		s += fmt.Sprintf("%d (not an NBD error value; taken as EINVAL)", e.Errno)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Unwrap returns the syscall.Errno the NBD error value stands for. Values
// the protocol does not define are read as EINVAL, as the protocol says.
func (e *Error) Unwrap() error { return e.errno() }

// Is reports ESHUTDOWN as ErrDisconnected as well: the server is going
// away, and the client has ended the connection as the protocol requires.
func (e *Error) Is(target error) bool {
	return target == ErrDisconnected && e.Errno == errShutdown
}

// NBD error values.
const (
	errPerm     = 1
	errIO       = 5
	errNoMem    = 12
	errInval    = 22
	errNoSpc    = 28
	errOverflow = 75
	errNotSup   = 95
	errShutdown = 108
)

var errnos = map[uint32]struct {
	name string
	en   syscall.Errno
}{
	errPerm:     {"EPERM", syscall.EPERM},
	errIO:       {"EIO", syscall.EIO},
	errNoMem:    {"ENOMEM", syscall.ENOMEM},
	errInval:    {"EINVAL", syscall.EINVAL},
	errNoSpc:    {"ENOSPC", syscall.ENOSPC},
	errOverflow: {"EOVERFLOW", syscall.EOVERFLOW},
	errNotSup:   {"ENOTSUP", syscall.ENOTSUP},
	errShutdown: {"ESHUTDOWN", syscall.ESHUTDOWN},
}

func (e *Error) errno() syscall.Errno {
	if x, ok := errnos[e.Errno]; ok {
		return x.en
	}
	return syscall.EINVAL
}

// connError is the error a broken connection fails its reads with. The
// Conn adds "nbd: URI: " in front when it returns one.
type connError struct {
	msg   string
	cause error
	proto bool // the server broke the protocol
}

func (e *connError) Error() string {
	s := e.msg
	if e.proto {
		s = "protocol error: " + s
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *connError) Unwrap() error { return e.cause }

func (e *connError) Is(target error) bool {
	return target == ErrDisconnected || e.proto && target == ErrProtocol
}

// disconnected returns an error wrapping ErrDisconnected and cause.
func disconnected(cause error, format string, args ...any) error {
	return &connError{msg: fmt.Sprintf(format, args...), cause: cause}
}

// protocolError returns an error wrapping ErrProtocol and ErrDisconnected.
func protocolError(format string, args ...any) error {
	return &connError{msg: fmt.Sprintf(format, args...), proto: true}
}
