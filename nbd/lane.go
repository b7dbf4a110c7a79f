package nbd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

var errTimedOut = errors.New("timed out")

// A lane is one connection of a Conn, in the transmission phase: a socket,
// the requests in flight on it, and the goroutine reading its replies.
type lane struct {
	c          *Conn
	raw        net.Conn // the socket
	nc         net.Conn // raw, or TLS over it
	br         *bufio.Reader
	structured bool // structured replies were agreed on this connection

	wlock chan struct{} // held while writing requests

	mu      sync.Mutex
	pending map[uint64]*request
	cookie  uint64
	dead    bool // raw is closed and pending failed

	readerDone chan struct{}
}

// addLane adds a connection to c and starts its reader. It refuses (and
// closes raw) once c is unusable.
func (c *Conn) addLane(raw, nc net.Conn, structured bool) bool {
	l := &lane{
		c:          c,
		raw:        raw,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 64<<10),
		structured: structured,
		wlock:      make(chan struct{}, 1),
		pending:    make(map[uint64]*request),
		readerDone: make(chan struct{}),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		raw.Close()
		return false
	}
	lanes := append(slices.Clone(*c.lanes.Load()), l)
	c.lanes.Store(&lanes)
	go l.readLoop()
	return true
}

// openMore makes up to n more connections to the export, one after the
// other, and stops at the first that fails or differs from the first.
func (c *Conn) openMore(u URI, tlsConfig *tls.Config, timeout time.Duration, n int) {
	defer close(c.extraDone)
	network, addr := u.Address()
	for range n {
		ctx, cancel := c.extraCtx, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, timeout)
		}
		ok := c.openLane(ctx, network, addr, u, tlsConfig)
		cancel()
		if !ok {
			return
		}
	}
}

func (c *Conn) openLane(ctx context.Context, network, addr string, u URI, tlsConfig *tls.Config) bool {
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return false
	}
	nc, info, err := negotiate(ctx, raw, u, tlsConfig)
	if err != nil {
		raw.Close()
		return false
	}
	want := c.info
	if info.Size != want.Size || info.Flags != want.Flags || info.StructuredReplies != want.StructuredReplies ||
		info.MinBlock != want.MinBlock || info.MaxBlock != want.MaxBlock {
		// Not the same export as far as this client can tell.
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(appendRequest(nil, cmdDisc, 1, 0, 0))
		raw.Close()
		return false
	}
	return c.addLane(raw, nc, info.StructuredReplies)
}

// send registers the requests on l and writes them in one go. If ctx ends
// while the write is blocked, the Conn is failed (half a request cannot be
// taken back).
func (l *lane) send(ctx context.Context, reqs []*request) error {
	c := l.c
	select {
	case l.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.broken:
		return c.errNow()
	}
	defer func() { <-l.wlock }()
	// Checked with the write lock held: nothing is sent after Close's
	// NBD_CMD_DISC.
	if err := c.errNow(); err != nil {
		return err
	}

	buf := make([]byte, 0, requestHeaderSize*len(reqs))
	l.mu.Lock()
	if l.dead {
		l.mu.Unlock()
		return c.errNow()
	}
	for _, r := range reqs {
		l.cookie++
		r.cookie = l.cookie
		l.pending[r.cookie] = r
		buf = appendRequest(buf, cmdRead, r.cookie, r.off, uint32(r.n))
	}
	l.mu.Unlock()

	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			l.nc.SetWriteDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
				l.nc.SetWriteDeadline(time.Time{})
			}
		}()
	}
	if _, err := l.nc.Write(buf); err != nil {
		c.fail(disconnected(err, "sending read requests"))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.errNow()
	}
	return nil
}

// disconnect sends NBD_CMD_DISC. Nothing may be sent after it.
func (l *lane) disconnect() error {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case l.wlock <- struct{}{}:
	case <-t.C:
		return errTimedOut
	}
	defer func() { <-l.wlock }()
	l.mu.Lock()
	l.cookie++
	cookie := l.cookie
	l.mu.Unlock()
	l.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := l.nc.Write(appendRequest(nil, cmdDisc, cookie, 0, 0))
	return err
}

// inflight reports whether requests wait for replies on l.
func (l *lane) inflight() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending) > 0
}

// kill closes l's socket and fails its requests with err.
func (l *lane) kill(err error) {
	l.mu.Lock()
	reqs := l.pending
	l.pending = make(map[uint64]*request)
	dead := l.dead
	l.dead = true
	l.mu.Unlock()
	if !dead {
		l.raw.Close()
	}
	for _, r := range reqs {
		// The reader may be filling r's buffer: wait for it to let go.
		// With the socket closed its read ends at once.
		r.sem <- struct{}{}
		r.cancelled, r.buf = true, nil
		<-r.sem
		r.err = err
		r.call <- r
	}
}
