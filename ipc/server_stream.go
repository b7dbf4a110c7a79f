package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The worker's side of output streams: files the shell hands over, to
// which copy requests write disk ranges in the order of their sequence
// numbers.

const (
	// maxCopyLen bounds one copy request.
	maxCopyLen = 4 << 20
	// maxStreams bounds the streams open at once in one worker.
	maxStreams = 8
	// maxCopyAhead bounds how far a copy's sequence number may run ahead
	// of the next one to be written. maxStreams*maxCopyAhead copies hold a
	// buffer at once at most, so a copy waiting for its turn never keeps
	// the copy before it from getting one.
	maxCopyAhead = 8
	// maxQueuedFDs bounds the file descriptors received and not yet
	// claimed by a stream open.
	maxQueuedFDs = 8
)

// outStream is one output file of the shell's.
type outStream struct {
	f    *os.File
	mu   sync.Mutex
	cond sync.Cond // signalled when next, closed or writing change
	next uint64    // sequence number of the next copy to write
	err  error     // the first failure; later copies are not written
	// closed: the shell closed the stream; writing: a copy is writing.
	closed, writing bool

	// free holds the stream's copy buffers not in use. A stream reuses
	// its few buffers (from mapBuffer) rather than take 4 MiB of fresh
	// memory per copy, and unmaps them when it is closed.
	free [][]byte
}

// buffer returns a copy buffer of the stream's, maxCopyLen bytes long.
func (st *outStream) buffer() ([]byte, error) {
	st.mu.Lock()
	if n := len(st.free); n > 0 {
		b := st.free[n-1]
		st.free = st.free[:n-1]
		st.mu.Unlock()
		return b, nil
	}
	st.mu.Unlock()
	return mapBuffer(maxCopyLen)
}

// release gives a buffer back for the stream's next copies, or unmaps it
// if the stream is closed or keeps enough.
func (st *outStream) release(b []byte) {
	st.mu.Lock()
	if !st.closed && len(st.free) < maxCopyAhead {
		st.free, b = append(st.free, b), nil
	}
	st.mu.Unlock()
	if b != nil {
		unmapBuffer(b)
	}
}

// rightsReader reads the shell's socket with recvmsg and queues the file
// descriptors that come with the bytes, in order. A stream open request
// takes the oldest: its descriptor comes with the frame's first bytes,
// which are read before the frame is parsed.
type rightsReader struct {
	conn *net.UnixConn
	oob  []byte
	fds  []int
}

func newRightsReader(conn *net.UnixConn) *rightsReader {
	return &rightsReader{conn: conn, oob: make([]byte, unix.CmsgSpace(4*maxQueuedFDs))}
}

func (r *rightsReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.conn.ReadMsgUnix(p, r.oob)
	n = max(n, 0) // it can be -1 with an error
	if oobn > 0 {
		r.fds = append(r.fds, parseRights(r.oob[:oobn])...)
	}
	if flags&unix.MSG_CTRUNC != 0 || len(r.fds) > maxQueuedFDs {
		return n, fmt.Errorf("%w: more than %d file descriptors sent", ErrProtocol, maxQueuedFDs)
	}
	if n == 0 && (err == nil || errors.Is(err, io.EOF)) && len(p) > 0 {
		return 0, io.EOF // recvmsg says end of stream by reading nothing
	}
	return n, err
}

// take returns the oldest queued descriptor.
func (r *rightsReader) take() (int, bool) {
	if len(r.fds) == 0 {
		return -1, false
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd, true
}

// closeAll closes the descriptors nobody claimed.
func (r *rightsReader) closeAll() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// streamOpen serves a stream open request; fd is the descriptor that came
// with it (ok false: none did).
func (s *server) streamOpen(h header, body []byte, fd int, ok bool) {
	var e encoder
	var err error
	switch {
	case len(body) != 0:
		err = fmt.Errorf("%w: stream open with a body", ErrProtocol)
		if ok {
			unix.Close(fd)
		}
	case !ok:
		err = fmt.Errorf("%w: stream open without a file descriptor", ErrProtocol)
	default:
		var id uint64
		id, err = s.openStream(fd)
		e.u64(id)
	}
	if err != nil {
		e.b = nil
	}
	s.reply(h, err, e.b, nil)
}

// openStream registers the file fd as a new stream and returns its id. It
// owns fd: on failure fd is closed.
func (s *server) openStream(fd int) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = make(map[uint64]*outStream)
	}
	if len(s.streams) >= maxStreams {
		unix.Close(fd)
		return 0, fmt.Errorf("ipc: stream open: too many open streams (limit %d)", maxStreams)
	}
	st := &outStream{f: os.NewFile(uintptr(fd), "stream")}
	st.cond.L = &st.mu
	s.nextStream++
	s.streams[s.nextStream] = st
	return s.nextStream, nil
}

func (s *server) stream(id uint64) *outStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// closeStream marks the stream closed, waits until no copy writes to it,
// and closes its file. Copies that have not written yet never will.
func (s *server) closeStream(id uint64) error {
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if st == nil {
		return fmt.Errorf("ipc: stream close: %w: no open stream with id %d", os.ErrClosed, id)
	}
	st.shut()
	return nil
}

// shut closes st once no copy writes to it.
func (st *outStream) shut() {
	st.mu.Lock()
	st.closed = true
	st.cond.Broadcast()
	for st.writing {
		st.cond.Wait()
	}
	free := st.free
	st.free = nil
	st.mu.Unlock()
	st.f.Close()
	// Copies still reading into a buffer unmap theirs when they are done.
	for _, b := range free {
		unmapBuffer(b)
	}
}

// closeStreams closes every stream (the shell is gone).
func (s *server) closeStreams() {
	s.mu.Lock()
	list := s.streams
	s.streams = nil
	s.mu.Unlock()
	for _, st := range list {
		go st.shut() // a write blocked on a full pipe must not hold up the exit
	}
}

// errStreamFailed answers the copies after one that failed.
var errStreamFailed = errors.New("an earlier copy to this stream failed")

// copy serves a copy request: it reads the range, waits for the stream's
// earlier copies to be written, and writes it.
func (s *server) copy(h header, req copyReq) {
	n, err := s.doCopy(req)
	var e encoder
	e.u32(uint32(n))
	s.reply(h, err, e.b, nil)
}

func (s *server) doCopy(req copyReq) (int, error) {
	st := s.stream(req.Stream)
	if st == nil {
		return 0, fmt.Errorf("ipc: copy: %w: no open stream with id %d", os.ErrClosed, req.Stream)
	}
	// failLocked ends the stream's run of copies: after a gap nothing
	// may be written. Order no longer matters then.
	failLocked := func(err error) (int, error) {
		if st.err == nil {
			st.err = err
		}
		st.cond.Broadcast()
		st.mu.Unlock()
		return 0, err
	}
	st.mu.Lock()
	if req.Seq < st.next || req.Seq-st.next >= maxCopyAhead {
		return failLocked(fmt.Errorf("%w: copy %d to a stream at %d", ErrProtocol, req.Seq, st.next))
	}
	st.mu.Unlock()

	sd := s.disk(req.Disk)
	var rerr error
	var n int
	var buf []byte
	switch {
	case sd == nil:
		rerr = fmt.Errorf("ipc: copy: %w: no open disk with id %d", os.ErrClosed, req.Disk)
	case req.Off < 0 || req.Len > maxCopyLen:
		rerr = fmt.Errorf("%w: copy of %d bytes at offset %d", ErrProtocol, req.Len, req.Off)
	default:
		s.copies <- struct{}{}
		defer func() { <-s.copies }()
		if buf, rerr = st.buffer(); rerr != nil {
			break
		}
		defer st.release(buf)
		sd.sem <- struct{}{}
		n, rerr = sd.readAt(buf[:req.Len], req.Off)
		<-sd.sem
		if n == int(req.Len) {
			rerr = nil
		} else if rerr == nil || rerr == io.EOF {
			rerr = io.ErrUnexpectedEOF
		}
	}

	st.mu.Lock()
	for st.next != req.Seq && !st.closed && st.err == nil {
		st.cond.Wait()
	}
	switch {
	case st.closed:
		st.mu.Unlock()
		return 0, fmt.Errorf("ipc: copy: %w: the stream was closed", os.ErrClosed)
	case st.err != nil:
		st.mu.Unlock()
		return 0, errStreamFailed
	case rerr != nil:
		return failLocked(rerr)
	}
	st.writing = true
	st.mu.Unlock()
	w, werr := st.f.Write(buf[:n])
	st.mu.Lock()
	st.writing = false
	if werr != nil {
		return failLocked(&writeError{werr})
	}
	st.next++
	st.cond.Broadcast()
	st.mu.Unlock()
	return w, nil
}

// writeError is a failure to write to a stream's file, as opposed to
// reading the disk. It wraps the error of the write (EPIPE, ENOSPC, ...).
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
