package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"vmsh/internal/devio"
)

// Output streams.
//
// Reading a big file through the shell costs a copy of every byte out of
// shared memory, and a trip through the shell's goroutines. A Stream
// spares both: the shell hands the worker its output file once (the
// descriptor travels with a stream open request, SCM_RIGHTS), and then
// asks for disk ranges to be written to it (copy requests, up to
// maxCopyLen each, copyAhead of them in flight). The worker reads each
// range and writes it in the order of the copies' sequence numbers; after
// a failure it writes nothing more to the stream. The layers above the
// disk reach this through devio.RangeWriter: Disk.WriteRange recognises a
// Stream of its own client.
//
// A Stream is buffered, as a bufio.Writer is: WriteRange returns once its
// last copy is sent, and the copies of one range and the next are in
// flight together, so that a file in many pieces (an ext4 file's extents,
// a striped volume's chunks) flows as well as one in a single piece. A
// copy's failure is returned by the next WriteRange, Write or Close, and
// nothing is written after it. Write and Close wait for the copies in
// flight first.
//
// A copy's reply waits for the write, and a write may wait for a reader
// (a pager, a pipe); so copies have no deadline, and a disk that hangs is
// bounded by the worker's own transport timeouts. Interrupt and the
// context of the WriteRange that sent them stop the wait as for reads;
// the copies already sent may still be written until Close returns.

// copyAhead bounds the copies of a stream in flight.
const copyAhead = maxCopyAhead

// ErrNoStreams is returned by OpenStream when the worker cannot write to
// the shell's files.
var ErrNoStreams = errors.New("ipc: the worker takes no output streams")

// Stream is a file of this process that the worker writes disk ranges to
// itself (see Disk.WriteRange). Its Write writes to the file from this
// process, in order with the ranges. It is not safe for concurrent use.
type Stream struct {
	c   *Client
	f   *os.File
	k   *conn
	id  uint64
	seq uint64 // the next copy's sequence number

	mu     sync.Mutex
	err    error // sticky: nothing more is written after a failure
	closed bool

	// queue holds the copies sent and not yet answered, oldest first; w
	// is the waiter of the WriteRange that sent the newest, which Write
	// and Close wait with.
	queue []pendingCopy
	w     *waiter
	calls uint64 // WriteRange calls that sent copies, for pendingCopy.call
}

// pendingCopy is a copy request in flight.
type pendingCopy struct {
	cl   *call
	name string // the disk's
	off  int64
	len  int
	call uint64 // the WriteRange that sent it
}

// OpenStream hands f to the worker. The caller keeps f open until the
// Stream is closed.
func (c *Client) OpenStream(f *os.File) (*Stream, error) {
	w := c.waiter(nil)
	k, err := c.conn(w)
	if err != nil {
		return nil, stopContext(err, "stream open", f.Name())
	}
	if !k.streams {
		return nil, ErrNoStreams
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("ipc: stream open %s: %w", f.Name(), err)
	}
	var rights []byte
	if err := raw.Control(func(fd uintptr) { rights = unix.UnixRights(int(fd)) }); err != nil {
		return nil, fmt.Errorf("ipc: stream open %s: %w", f.Name(), err)
	}
	cl := k.do(w, w.deadline(), msgStreamOpen, nil, nil, rights, 0)
	runtime.KeepAlive(f)
	if err := k.await(w, cl); err != nil {
		go func() {
			<-cl.done
			if id, err := streamID(cl); err == nil {
				k.closeStream(detached(c.timeout), id)
			}
		}()
		return nil, stopContext(err, "stream open", f.Name())
	}
	id, err := streamID(cl)
	if err != nil {
		return nil, err
	}
	return &Stream{c: c, f: f, k: k, id: id}, nil
}

func streamID(cl *call) (uint64, error) {
	if cl.err != nil {
		return 0, cl.err
	}
	d := decoder{b: cl.body}
	id := d.u64("stream id")
	if err := d.end("stream open reply"); err != nil {
		return 0, &connError{err}
	}
	return id, nil
}

func (k *conn) closeStream(w *waiter, id uint64) error {
	var e encoder
	e.u64(id)
	cl := k.do(w, w.deadline(), msgStreamClose, e.b, nil, nil, 0)
	if err := k.await(w, cl); err != nil {
		return err
	}
	return cl.err
}

// Write writes p to the file from this process, after the copies in
// flight.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	n, err := s.f.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// Flush waits for the copies in flight and returns the stream's failure,
// if a copy failed, as a bufio.Writer's Flush returns its writer's: a
// caller that flushes after its last WriteRange sees every failure there,
// rather than at Close.
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.flush()
}

// Close waits for the copies in flight, tells the worker to let go of the
// file, and returns once it no longer writes to it (or the timeout has
// passed). It returns the stream's failure, if a copy failed. It does not
// close the file.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	ferr := s.flush()
	s.closed = true
	err := s.k.closeStream(detached(s.c.timeout), s.id)
	if isConnLost(err) {
		err = nil // a dead worker writes nothing more
	}
	if ferr != nil {
		return ferr
	}
	return err
}

// WriteRange writes the n bytes of the disk at off to w. When w is a
// Stream of d's client, the worker reads and writes them itself; else they
// are read and written here. A range past the end of the disk writes what
// there is and returns io.ErrUnexpectedEOF.
func (d *Disk) WriteRange(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	s, ok := w.(*Stream)
	if !ok || s.c != d.c {
		return devio.Copy(ctx, d, w, off, n)
	}
	return devio.Within(d.size, off, n, func(off, n int64) (int64, error) {
		return s.copyFrom(ctx, d, off, n)
	})
}

// copyFrom has the worker write the n bytes of d at off to s's file. It
// sends the copies, keeping up to copyAhead of the stream's in flight, and
// returns n once the last is sent; the count with an error is what this
// call wrote before the failure.
func (s *Stream) copyFrom(ctx context.Context, d *Disk, off, n int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	if n == 0 {
		return 0, nil
	}
	w := d.c.waiter(ctx)
	if err := w.check(); err != nil {
		return 0, readError(d.name, off, int(min(n, maxCopyLen)), err)
	}
	k, id, err := d.handle(w)
	if err != nil {
		return 0, err
	}
	if k != s.k {
		s.err = fmt.Errorf("ipc: copy of %s: the worker was restarted and lost the output", d.name)
		return 0, s.err
	}
	s.w = w
	s.calls++
	var sent, done int64 // done: bytes of this call's copies answered
	for sent < n {
		if len(s.queue) == copyAhead {
			p, err := s.reap()
			if err != nil {
				return done, err
			}
			if p.call == s.calls {
				done += int64(p.len)
			}
		}
		m := int(min(n-sent, maxCopyLen))
		var e encoder
		copyReq{Disk: id, Stream: s.id, Seq: s.seq, Off: off + sent, Len: uint32(m)}.encode(&e)
		cl := k.do(w, noDeadline, msgCopy, e.b, nil, nil, m)
		s.seq++
		s.queue = append(s.queue, pendingCopy{cl, d.name, off + sent, m, s.calls})
		sent += int64(m)
	}
	return n, nil
}

// flush waits for the copies in flight and returns the stream's error.
func (s *Stream) flush() error {
	for len(s.queue) > 0 && s.err == nil {
		s.reap()
	}
	return s.err
}

// reap waits for the oldest copy in flight and returns it with the
// stream's error. The first failure becomes the stream's error and the
// copies after it are abandoned: the worker writes none of them after a
// failed copy, and none once Close returns after a stop (Interrupt, the
// context).
func (s *Stream) reap() (pendingCopy, error) {
	p := s.queue[0]
	s.queue = s.queue[1:]
	var err error
	switch werr := s.k.await(s.w, p.cl); {
	case werr != nil:
		err = readError(p.name, p.off, p.len, werr)
	case p.cl.err != nil:
		err = fmt.Errorf("ipc: copy of %s at offset %#x (%s): %w", p.name, p.off, sizeString(p.len), p.cl.err)
	case p.cl.n != p.len:
		err = fmt.Errorf("ipc: copy of %s at offset %#x (%s): %w", p.name, p.off, sizeString(p.len), io.ErrShortWrite)
	}
	if err != nil {
		s.err = err
		for _, q := range s.queue {
			s.k.await(&waiter{ctx: cancelled}, q.cl)
		}
		s.queue = nil
	}
	return p, s.err
}

// noDeadline: a copy waits for its reply until its caller stops it.
var noDeadline time.Time

// cancelled is a context that is done: a waiter on it abandons at once.
var cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
