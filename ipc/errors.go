package ipc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
)

// Error codes carried in every reply. codeOK means success.
const (
	codeOK            uint16 = 0
	codeEOF           uint16 = 1  // io.EOF
	codeUnexpectedEOF uint16 = 2  // io.ErrUnexpectedEOF
	codeErrno         uint16 = 3  // a syscall.Errno, number in the errno field
	codeNotExist      uint16 = 4  // fs.ErrNotExist
	codePermission    uint16 = 5  // fs.ErrPermission
	codeUnsupported   uint16 = 6  // errors.ErrUnsupported
	codeInvalid       uint16 = 7  // fs.ErrInvalid
	codeClosed        uint16 = 8  // fs.ErrClosed, or an unknown disk id
	codeVersion       uint16 = 9  // incompatible protocol version
	codeBadRequest    uint16 = 10 // malformed or unknown request
	codeOther         uint16 = 11 // anything else; the message says what
)

// ErrVersion is wrapped when the shell and the worker speak incompatible
// protocol versions.
var ErrVersion = errors.New("ipc: incompatible protocol version")

// RemoteError is an error that happened in the worker, as it was carried
// back to the shell. It unwraps to the standard error it stood for
// (fs.ErrNotExist, a syscall.Errno, ...), so errors.Is works across the
// process boundary. io.EOF and io.ErrUnexpectedEOF are never wrapped: they
// come back as themselves.
type RemoteError struct {
	Code  uint16
	Errno syscall.Errno // set when Code is the errno code
	Msg   string        // the worker's err.Error()
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the standard error the code stands for, or nil.
func (e *RemoteError) Unwrap() error {
	switch e.Code {
	case codeErrno:
		return e.Errno
	case codeNotExist:
		return fs.ErrNotExist
	case codePermission:
		return fs.ErrPermission
	case codeUnsupported:
		return errors.ErrUnsupported
	case codeInvalid:
		return fs.ErrInvalid
	case codeClosed:
		return fs.ErrClosed
	case codeVersion:
		return ErrVersion
	case codeBadRequest:
		return ErrProtocol
	}
	return nil
}

// errCode classifies err for the wire.
func errCode(err error) (code uint16, errno syscall.Errno) {
	var en syscall.Errno
	switch {
	case err == nil:
		return codeOK, 0
	case err == io.EOF:
		return codeEOF, 0
	case err == io.ErrUnexpectedEOF:
		return codeUnexpectedEOF, 0
	case errors.As(err, &en):
		return codeErrno, en
	case errors.Is(err, fs.ErrNotExist):
		return codeNotExist, 0
	case errors.Is(err, fs.ErrPermission):
		return codePermission, 0
	case errors.Is(err, errors.ErrUnsupported):
		return codeUnsupported, 0
	case errors.Is(err, fs.ErrInvalid):
		return codeInvalid, 0
	case errors.Is(err, fs.ErrClosed):
		return codeClosed, 0
	case errors.Is(err, ErrVersion):
		return codeVersion, 0
	case errors.Is(err, ErrProtocol):
		return codeBadRequest, 0
	case errors.Is(err, io.EOF):
		// A wrapped EOF keeps its message but still reads as the end.
		return codeEOF, 0
	}
	return codeOther, 0
}

// Error block at the start of every reply body:
//
//	uint16 code, uint32 errno, uint16 message length, message bytes
const errBlockMin = 8

func appendErr(e *encoder, err error) {
	code, errno := errCode(err)
	e.u16(code)
	e.u32(uint32(errno))
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	e.str(msg, maxErrMsg)
}

func decodeErr(d *decoder) error {
	code := d.u16("error code")
	errno := d.u32("errno")
	msg := d.str(maxErrMsg, "error message")
	if d.err != nil {
		return nil
	}
	return makeErr(code, errno, msg)
}

func makeErr(code uint16, errno uint32, msg string) error {
	switch code {
	case codeOK:
		return nil
	case codeEOF:
		return io.EOF
	case codeUnexpectedEOF:
		return io.ErrUnexpectedEOF
	}
	if code > codeOther {
		code = codeOther
	}
	if msg == "" {
		msg = fmt.Sprintf("ipc: worker error code %d", code)
	}
	e := &RemoteError{Code: code, Msg: msg}
	if code == codeErrno {
		e.Errno = syscall.Errno(errno)
	}
	return e
}
