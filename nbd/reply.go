package nbd

import (
	"encoding/binary"
	"errors"
	"io"
	"sort"
)

// request is one NBD_CMD_READ in flight.
type request struct {
	cookie uint64
	off    uint64 // export offset of the data
	n      int    // length of the data; never 0
	buf    []byte // where the data goes, n bytes; nil once cancelled

	// call receives the request when it completes, with err set.
	call chan<- *request
	err  error
	ok   bool // completed without error, as the caller saw

	// sem is held by the reader while it writes into buf, and by anyone
	// setting cancelled; once cancelled is set, buf is never written (and
	// dropped, so that a reply that never comes keeps no caller's buffer).
	sem       chan struct{}
	cancelled bool

	// Used by the reader only, for structured replies.
	have   []span // parts of buf received, sorted, adjacent ones merged
	srvErr *Error // the first error chunk
}

// span is a byte range [lo, hi) within a request's buffer.
type span struct{ lo, hi uint64 }

// pieceSize is how much data the reader receives into a caller's buffer
// at a time: between pieces a cancelled read can take its buffer back.
const pieceSize = 256 << 10

// readLoop receives replies until the connection ends, then fails the
// Conn: a connection that stops answering leaves reads nowhere to go.
func (l *lane) readLoop() {
	defer close(l.readerDone)
	l.c.fail(l.receive())
}

// receive reads and dispatches replies. It returns why it stopped: the
// connection dropped, or the server broke the protocol.
func (l *lane) receive() error {
	var hdr [structuredHeaderSize]byte
	for {
		if _, err := io.ReadFull(l.br, hdr[:4]); err != nil {
			return l.c.readErr(err, true)
		}
		switch magic := binary.BigEndian.Uint32(hdr[:4]); magic {
		case magicSimple:
			if _, err := io.ReadFull(l.br, hdr[4:simpleReplySize]); err != nil {
				return l.c.readErr(err, false)
			}
			errno := binary.BigEndian.Uint32(hdr[4:])
			cookie := binary.BigEndian.Uint64(hdr[8:])
			r := l.lookup(cookie)
			if r == nil {
				return protocolError("simple reply for cookie %#x, which no request in flight has", cookie)
			}
			if errno != 0 {
				e := &Error{Op: "read", Off: int64(r.off), Errno: errno}
				l.finish(r, e)
				if errno == errShutdown {
					l.c.shutdown(e)
				}
				continue
			}
			// Also taken when structured replies were agreed: a simple
			// reply to a read is then against the protocol, but it
			// carries exactly the data asked for, so it is read as such.
			if err := l.fill(r, 0, r.n); err != nil {
				return err
			}
			l.finish(r, nil)
		case magicStructured:
			if !l.structured {
				return protocolError("structured reply, which was not agreed")
			}
			if _, err := io.ReadFull(l.br, hdr[4:structuredHeaderSize]); err != nil {
				return l.c.readErr(err, false)
			}
			flags := binary.BigEndian.Uint16(hdr[4:])
			typ := binary.BigEndian.Uint16(hdr[6:])
			cookie := binary.BigEndian.Uint64(hdr[8:])
			length := binary.BigEndian.Uint32(hdr[16:])
			r := l.lookup(cookie)
			if r == nil {
				return protocolError("%s for cookie %#x, which no request in flight has", chunkName(typ), cookie)
			}
			if err := l.chunk(r, typ, length); err != nil {
				return err
			}
			if flags&replyFlagDone == 0 {
				continue
			}
			switch {
			case r.srvErr != nil:
				l.finish(r, r.srvErr)
				if r.srvErr.Errno == errShutdown {
					l.c.shutdown(r.srvErr)
				}
			case len(r.have) != 1 || r.have[0] != (span{0, uint64(r.n)}):
				return protocolError("reply to the read of %d bytes at offset %d ended with %d bytes of it", r.n, r.off, covered(r.have))
			default:
				l.finish(r, nil)
			}
		default:
			return protocolError("reply magic %#08x, want %#08x or %#08x", magic, magicSimple, magicStructured)
		}
	}
}

// chunk handles one structured reply chunk's payload of length bytes.
func (l *lane) chunk(r *request, typ uint16, length uint32) error {
	var b [12]byte
	switch typ {
	case chunkNone:
		if length != 0 {
			return protocolError("%s with %d bytes of payload", chunkName(typ), length)
		}
	case chunkOffsetData:
		if length < 9 {
			return protocolError("%s of %d bytes", chunkName(typ), length)
		}
		n := uint64(length) - 8
		if n > uint64(r.n) {
			return protocolError("%s of %d bytes for a read of %d", chunkName(typ), n, r.n)
		}
		if _, err := io.ReadFull(l.br, b[:8]); err != nil {
			return l.c.readErr(err, false)
		}
		at, err := r.claim(typ, binary.BigEndian.Uint64(b[:]), n)
		if err != nil {
			return err
		}
		return l.fill(r, int(at), int(n))
	case chunkOffsetHole:
		if length != 12 {
			return protocolError("%s of %d bytes, want 12", chunkName(typ), length)
		}
		if _, err := io.ReadFull(l.br, b[:12]); err != nil {
			return l.c.readErr(err, false)
		}
		n := uint64(binary.BigEndian.Uint32(b[8:]))
		if n == 0 {
			return protocolError("%s of size 0", chunkName(typ))
		}
		at, err := r.claim(typ, binary.BigEndian.Uint64(b[:]), n)
		if err != nil {
			return err
		}
		r.sem <- struct{}{}
		if !r.cancelled {
			clear(r.buf[at : at+n])
		}
		<-r.sem
	default:
		if typ&chunkErrBit == 0 {
			return protocolError("%s in reply to a read", chunkName(typ))
		}
		return l.errorChunk(r, typ, length)
	}
	return nil
}

// errorChunk reads an error chunk (any type with bit 15 set: unknown ones
// count as errors too, as the protocol says).
func (l *lane) errorChunk(r *request, typ uint16, length uint32) error {
	if length < 6 || length > maxErrorChunk {
		return protocolError("%s of %d bytes", chunkName(typ), length)
	}
	p := make([]byte, length)
	if _, err := io.ReadFull(l.br, p); err != nil {
		return l.c.readErr(err, false)
	}
	errno := binary.BigEndian.Uint32(p)
	msgLen := int(binary.BigEndian.Uint16(p[4:]))
	if msgLen > len(p)-6 {
		return protocolError("%s with a message of %d bytes in %d", chunkName(typ), msgLen, length)
	}
	if errno == 0 {
		return protocolError("%s with error value 0", chunkName(typ))
	}
	e := &Error{Op: "read", Off: int64(r.off), Errno: errno, Msg: cleanMsg(p[6 : 6+msgLen])}
	if typ == chunkErrorOffset {
		rest := p[6+msgLen:]
		if len(rest) != 8 {
			return protocolError("%s with %d bytes after its message, want 8", chunkName(typ), len(rest))
		}
		off := binary.BigEndian.Uint64(rest)
		if off < r.off || off-r.off >= uint64(r.n) {
			return protocolError("%s at offset %d, outside the read of %d bytes at %d", chunkName(typ), off, r.n, r.off)
		}
		e.Off = int64(off)
	}
	if r.srvErr == nil {
		r.srvErr = e
	}
	return nil
}

// claim checks that a content chunk of n bytes at export offset off lies
// within the request and overlaps nothing received before, records it,
// and returns where in the buffer it goes.
func (r *request) claim(typ uint16, off, n uint64) (uint64, error) {
	if off < r.off || off-r.off > uint64(r.n) || n > uint64(r.n)-(off-r.off) {
		return 0, protocolError("%s for %d bytes at offset %d, outside the read of %d bytes at %d", chunkName(typ), n, off, r.n, r.off)
	}
	lo := off - r.off
	hi := lo + n
	i := sort.Search(len(r.have), func(i int) bool { return r.have[i].hi > lo })
	if i < len(r.have) && r.have[i].lo < hi {
		return 0, protocolError("%s for %d bytes at offset %d overlaps data already received", chunkName(typ), n, off)
	}
	switch {
	case i > 0 && r.have[i-1].hi == lo && i < len(r.have) && r.have[i].lo == hi:
		r.have[i-1].hi = r.have[i].hi
		r.have = append(r.have[:i], r.have[i+1:]...)
	case i > 0 && r.have[i-1].hi == lo:
		r.have[i-1].hi = hi
	case i < len(r.have) && r.have[i].lo == hi:
		r.have[i].lo = lo
	default:
		r.have = append(r.have, span{})
		copy(r.have[i+1:], r.have[i:])
		r.have[i] = span{lo, hi}
	}
	return lo, nil
}

func covered(have []span) uint64 {
	var n uint64
	for _, s := range have {
		n += s.hi - s.lo
	}
	return n
}

// fill receives n bytes of data into r.buf at at, a piece at a time, or
// drops them if r was cancelled.
func (l *lane) fill(r *request, at, n int) error {
	for n > 0 {
		k := min(n, pieceSize)
		r.sem <- struct{}{}
		var err error
		if r.cancelled {
			<-r.sem
			_, err = l.br.Discard(k)
		} else {
			_, err = io.ReadFull(l.br, r.buf[at:at+k])
			<-r.sem
		}
		if err != nil {
			return l.c.readErr(err, false)
		}
		at, n = at+k, n-k
	}
	return nil
}

// lookup returns the request in flight with the cookie, or nil.
func (l *lane) lookup(cookie uint64) *request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending[cookie]
}

// finish completes r with err, unless the connection failed it already.
func (l *lane) finish(r *request, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending[r.cookie] != r {
		return
	}
	delete(l.pending, r.cookie)
	r.err = err
	r.call <- r
}

// readErr describes a failed read from the server. atBoundary says whether
// it came between two replies, where the server hanging up is a clean end.
func (c *Conn) readErr(err error, atBoundary bool) error {
	c.mu.Lock()
	closing := c.closed
	c.mu.Unlock()
	if closing {
		return ErrClosed
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if atBoundary {
			return disconnected(io.EOF, "the server closed the connection")
		}
		return disconnected(io.ErrUnexpectedEOF, "the server closed the connection in the middle of a reply")
	}
	return disconnected(err, "receiving replies")
}
