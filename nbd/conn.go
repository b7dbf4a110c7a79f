package nbd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds Dial when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options are what a connection needs beyond its URI. TLS settings are used
// only for nbds:// and nbds+unix:// URIs.
type Options struct {
	// TLSCA names a PEM file of the certificate authorities the server's
	// certificate must chain to; "" means the system's roots.
	TLSCA string
	// TLSCert and TLSKey name PEM files holding a client certificate and
	// its private key, for servers that check their clients (mutual TLS).
	// Give both or neither.
	TLSCert, TLSKey string
	// TLSInsecure accepts any server certificate. Only for tests and
	// throwaway setups: it gives up on knowing who the server is.
	TLSInsecure bool
	// ServerName is the name the server's certificate must carry. ""
	// means the URI's tls-hostname, else its host, else "localhost" for
	// a Unix socket.
	ServerName string
	// Timeout bounds connecting and the handshake: zero means
	// DefaultTimeout, negative no bound but the context's. Reads are
	// bounded by the context given to ReadAtContext.
	Timeout time.Duration
	// Connections is how many connections to the export a Conn keeps
	// when the server allows several (NBD_FLAG_CAN_MULTI_CONN): zero
	// means 4, at most 16. Dial makes the first; the others are made in
	// the background, and if one cannot be made the Conn does with those
	// it has.
	Connections int
}

const (
	defaultConnections = 4
	maxConnections     = 16
)

// Info describes a connection and its export, as negotiated.
type Info struct {
	URI          string // the URI, redacted
	Export       string // the export name asked for
	ServerExport string // the server's canonical name for it, if it sent one
	Description  string // the server's description of the export, if any
	Size         int64  // bytes
	Flags        Flags  // transmission flags

	// Block size constraints as the server advertised them (BlockSizes
	// true), or the protocol's defaults: 1, 4096 and 0xffffffff.
	MinBlock, PreferredBlock, MaxBlock uint32
	BlockSizes                         bool

	// MaxRequest is the longest read request this client sends: 1 MiB,
	// or the server's maximum block size if that is smaller. Longer reads
	// are split into requests this long, several in flight at once.
	MaxRequest int

	// Connections is how many connections the Conn uses now.
	Connections int

	Handshake         string // "fixed newstyle", "newstyle" or "oldstyle"
	StructuredReplies bool   // NBD_OPT_STRUCTURED_REPLY was agreed
	TLS               bool
	TLSVersion        string // "TLS 1.3", ...; "" without TLS
}

// Conn is a read-only connection to one NBD export. Its methods are safe
// for concurrent use; many reads are in flight at once, each matched to its
// reply by a cookie. When the server allows it, a Conn spreads its reads
// over several connections to the export.
//
// A Conn whose connection fails stays failed: every read returns an error
// wrapping ErrDisconnected, Done is closed and Err says why. Dial again for
// a new one.
type Conn struct {
	name       string // redacted URI, for errors
	info       Info
	minBlock   int64
	maxRequest int64
	window     int // requests of one read in flight at most

	lanes atomic.Pointer[[]*lane] // the connections; more may join
	rr    atomic.Uint32           // where the next requests go, round robin

	mu     sync.Mutex
	err    error         // why the Conn is unusable; nil while it is usable
	broken chan struct{} // closed when err is set
	closed bool          // Close was called

	extraCtx  context.Context    // for making more connections
	stopExtra context.CancelFunc // stops making them
	extraDone chan struct{}      // closed when no more will be made
}

// Dial connects to the export named by an NBD URI (see URI), runs the
// handshake and returns the connection ready for reads.
//
// Errors say what failed, naming the URI without its user information.
// They wrap ErrDisconnected when the server could not be reached or the
// connection failed during the handshake, so that trying again later may
// help; a refusal (no such export, TLS required or refused, a certificate
// that does not verify) does not.
func Dial(ctx context.Context, uri string, opts Options) (*Conn, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return DialURI(ctx, u, opts)
}

// DialURI is Dial for a parsed URI.
func DialURI(ctx context.Context, u URI, opts Options) (*Conn, error) {
	name := u.Redacted()
	var tlsConfig *tls.Config
	if u.TLS {
		var err error
		if tlsConfig, err = makeTLSConfig(u, opts); err != nil {
			return nil, fmt.Errorf("nbd: %s: %w", name, err)
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	dctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	wrap := func(err error) error {
		// A deadline may show as an i/o timeout a moment before the
		// context says it is done.
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		parentDL, parentHas := ctx.Deadline()
		ownDL, _ := dctx.Deadline()
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case timedOut && parentHas && !parentDL.After(ownDL):
			err = context.DeadlineExceeded
		case dctx.Err() != nil || timedOut && timeout > 0:
			err = disconnected(context.DeadlineExceeded, "no answer within %v", timeout)
		}
		return fmt.Errorf("nbd: %s: %w", name, err)
	}

	network, addr := u.Address()
	var d net.Dialer
	raw, err := d.DialContext(dctx, network, addr)
	if err != nil {
		return nil, wrap(disconnected(err, "connect"))
	}
	c, err := handshake(dctx, raw, u, tlsConfig)
	if err != nil {
		raw.Close()
		return nil, wrap(err)
	}
	n := opts.Connections
	if n <= 0 {
		n = defaultConnections
	}
	n = min(n, maxConnections)
	if n > 1 && c.info.Flags&FlagCanMultiConn != 0 {
		// Nothing else looks at extraDone before Dial returns.
		c.extraDone = make(chan struct{})
		go c.openMore(u, tlsConfig, timeout, n-1)
	}
	return c, nil
}

// handshake negotiates on raw and returns a Conn using it. It honours
// ctx's deadline and cancellation.
func handshake(ctx context.Context, raw net.Conn, u URI, tlsConfig *tls.Config) (*Conn, error) {
	nc, info, err := negotiate(ctx, raw, u, tlsConfig)
	if err != nil {
		return nil, err
	}
	c := newConn(info)
	c.addLane(raw, nc, info.StructuredReplies)
	return c, nil
}

// negotiate runs the handshake on raw, honouring ctx's deadline and
// cancellation, and leaves raw's deadlines cleared on success. It returns
// the connection for the transmission phase: raw, or TLS over it.
func negotiate(ctx context.Context, raw net.Conn, u URI, tlsConfig *tls.Config) (net.Conn, Info, error) {
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		raw.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	h := &handshaker{nc: raw, u: u, tlsConfig: tlsConfig}
	h.info.MinBlock, h.info.PreferredBlock, h.info.MaxBlock = 1, 4096, math.MaxUint32
	err := h.run(ctx)
	if !stop() {
		<-interrupted
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return nil, Info{}, err
	}
	raw.SetDeadline(time.Time{})
	info := h.info
	info.URI = u.Redacted()
	info.Export = u.Export
	return h.nc, info, nil
}

// newConn returns a Conn for the export info describes, with no
// connection yet.
func newConn(info Info) *Conn {
	maxReq := int64(maxRequestSize)
	if int64(info.MaxBlock) < maxReq {
		maxReq = int64(info.MaxBlock)
	}
	maxReq -= maxReq % int64(info.MinBlock)
	info.MaxRequest = int(maxReq)
	c := &Conn{
		name:       info.URI,
		info:       info,
		minBlock:   int64(info.MinBlock),
		maxRequest: maxReq,
		window:     defaultWindow,
		broken:     make(chan struct{}),
		extraDone:  make(chan struct{}),
	}
	c.lanes.Store(&[]*lane{})
	c.extraCtx, c.stopExtra = context.WithCancel(context.Background())
	close(c.extraDone)
	return c
}

// makeTLSConfig builds the client's TLS configuration from the options.
func makeTLSConfig(u URI, opts Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	cfg.ServerName = opts.ServerName
	if cfg.ServerName == "" {
		cfg.ServerName = u.TLSHostname
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Host
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "localhost"
	}
	if opts.TLSCA != "" {
		pem, err := os.ReadFile(opts.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA: %s holds no PEM certificate", opts.TLSCA)
		}
		cfg.RootCAs = pool
	}
	switch {
	case opts.TLSCert != "" && opts.TLSKey != "":
		cert, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case opts.TLSCert != "":
		return nil, errors.New("TLS client certificate given without its key")
	case opts.TLSKey != "":
		return nil, errors.New("TLS client key given without its certificate")
	}
	cfg.InsecureSkipVerify = opts.TLSInsecure
	return cfg, nil
}

// Info returns what was negotiated.
func (c *Conn) Info() Info {
	info := c.info
	info.Connections = len(*c.lanes.Load())
	return info
}

// Size returns the export's size in bytes.
func (c *Conn) Size() int64 { return c.info.Size }

// Done returns a channel that is closed when the connection can no longer
// be used: it failed, the server is shutting down, or Close was called.
func (c *Conn) Done() <-chan struct{} { return c.broken }

// Err returns nil while the connection is usable, and afterwards why it is
// not: ErrClosed after Close, else an error wrapping ErrDisconnected.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wrapErr(c.err)
}

// wrapErr adds the URI to a connection error; ErrClosed stays as it is.
func (c *Conn) wrapErr(err error) error {
	if err == nil || err == ErrClosed {
		return err
	}
	return fmt.Errorf("nbd: %s: %w", c.name, err)
}

// Close ends the connections with NBD_CMD_DISC, lets the server finish
// the reads in flight (for a moment at most), and closes the sockets.
// Reads still waiting then fail with ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	usable := c.err == nil
	if usable {
		c.err = ErrClosed
		close(c.broken)
	}
	c.mu.Unlock()
	c.stopExtra()
	<-c.extraDone
	lanes := *c.lanes.Load()
	if usable {
		inflight := false
		for _, l := range lanes {
			if l.disconnect() == nil && l.inflight() {
				inflight = true
			}
		}
		if inflight {
			// The server answers what it has, then hangs up.
			t := time.NewTimer(closeGrace)
		wait:
			for _, l := range lanes {
				select {
				case <-l.readerDone:
				case <-t.C:
					break wait
				}
			}
			t.Stop()
		}
	}
	c.fail(ErrClosed)
	for _, l := range lanes {
		<-l.readerDone
	}
	return nil
}

// closeGrace is how long Close waits for replies to reads in flight.
const closeGrace = 2 * time.Second

// shutdown stops new reads after the server said ESHUTDOWN, and sends
// NBD_CMD_DISC as the protocol requires; the server then finishes the reads
// in flight and hangs up.
func (c *Conn) shutdown(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = disconnected(cause, "the server is shutting down")
	close(c.broken)
	c.mu.Unlock()
	c.stopExtra()
	for _, l := range *c.lanes.Load() {
		go l.disconnect()
	}
}

// fail closes the sockets and fails every read in flight. The first error
// given to fail (or shutdown, or Close) is the one every read sees.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
		close(c.broken)
	}
	err = c.err
	c.mu.Unlock()
	c.stopExtra()
	// No lane joins once err is set (addLane checks it under mu).
	for _, l := range *c.lanes.Load() {
		l.kill(err)
	}
}

// appendRequest encodes a request header.
func appendRequest(b []byte, cmd uint16, cookie, off uint64, length uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, magicRequest)
	b = binary.BigEndian.AppendUint16(b, 0) // command flags
	b = binary.BigEndian.AppendUint16(b, cmd)
	b = binary.BigEndian.AppendUint64(b, cookie)
	b = binary.BigEndian.AppendUint64(b, off)
	return binary.BigEndian.AppendUint32(b, length)
}

// ReadAt reads len(p) bytes at off, like ReadAtContext with a context that
// is never cancelled.
func (c *Conn) ReadAt(p []byte, off int64) (int, error) {
	return c.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext reads len(p) bytes from the export at offset off. It
// follows io.ReaderAt: a read that reaches the end of the export returns
// the bytes before it and io.EOF.
//
// A long read is split into requests of at most Info().MaxRequest bytes,
// up to 16 of them in flight at once; a read not aligned to the server's
// minimum block size reads the aligned blocks around it and copies out the
// part asked for.
//
// Errors: a server's refusal is an *Error (wrapped; errors.As finds it)
// and leaves the connection usable; an error wrapping ErrDisconnected
// means the connection is gone. If ctx ends first, ReadAtContext returns
// ctx.Err() at once; the late reply is read and dropped, p is not written
// after the return, and the connection stays usable. (If the server is
// stuck in the middle of sending data into p, ReadAtContext waits two
// seconds at most, then drops the connection to take p back; if it stopped
// reading requests, the connection is dropped at once.)
func (c *Conn) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("nbd: %s: read at negative offset %d", c.name, off)
	}
	if err := c.Err(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	size := c.info.Size
	if off >= size {
		return 0, io.EOF
	}
	want, eof := p, false
	if int64(len(p)) > size-off {
		want, eof = p[:size-off], true
	}

	reqs, copies := c.plan(want, off)
	failed, err := c.run(ctx, reqs)
	if err != nil && (err == ctx.Err() || err == ErrClosed) {
		return 0, err
	}
	// Bytes count from the start of p up to the first failed request.
	n := len(want)
	if err != nil {
		n = int(min(max(int64(reqs[failed].off)-off, 0), int64(len(want))))
	}
	for _, cp := range copies {
		if cp.at+len(cp.dst) <= n {
			copy(cp.dst, cp.src)
		}
	}
	if err != nil {
		return n, c.wrapErr(err)
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// run sends the requests, keeping at most c.window of them in flight (enough
// to keep the server and the socket busy, few enough not to swamp it), and
// waits for them. If one fails, or ctx ends, it stops: it abandons the
// requests in flight and returns the index of the first request, in order,
// that did not succeed, and the error. Otherwise it returns len(reqs), nil.
func (c *Conn) run(ctx context.Context, reqs []*request) (int, error) {
	call := make(chan *request, len(reqs))
	for _, r := range reqs {
		r.call = call
	}
	sent, inflight := 0, 0
	done := ctx.Done()
	var err error
wait:
	for completed := 0; completed < len(reqs); {
		if k := min(sent+c.window-inflight, len(reqs)); k > sent {
			if err = c.send(ctx, reqs[sent:k]); err != nil {
				break
			}
			inflight += k - sent
			sent = k
		}
		select {
		case r := <-call:
			inflight--
			completed++
			if r.err != nil {
				err = r.err
				break wait
			}
			r.ok = true
		case <-done:
			err = ctx.Err()
			break wait
		}
	}
	if err == nil {
		return len(reqs), nil
	}
	c.abandon(reqs[:sent])
	for i, r := range reqs {
		if !r.ok {
			return i, err
		}
	}
	return len(reqs), err
}

// bounce is a copy from a bounce buffer into the caller's buffer, for the
// unaligned ends of a read.
type bounce struct {
	at       int // where dst starts in the read's buffer
	dst, src []byte
}

// plan turns a read of want at off into requests: aligned to the minimum
// block size, at most maxRequest long. Unaligned ends are read into bounce
// buffers.
func (c *Conn) plan(want []byte, off int64) ([]*request, []bounce) {
	m := c.minBlock
	start, end := off, off+int64(len(want))
	if m <= 1 {
		return c.split(nil, want, start), nil
	}
	size := c.info.Size
	alignDown := func(x int64) int64 { return x - x%m }
	alignUp := func(x int64) int64 { return min(alignDown(x+m-1), size) }
	var reqs []*request
	var copies []bounce
	// bounceRead reads [lo, hi) into a fresh buffer and copies the part
	// of it within [start, end) into want.
	bounceRead := func(lo, hi int64) {
		buf := make([]byte, hi-lo)
		reqs = c.split(reqs, buf, lo)
		a, b := max(lo, start), min(hi, end)
		copies = append(copies, bounce{at: int(a - start), dst: want[a-start : b-start], src: buf[a-lo : b-lo]})
	}
	aStart, aEnd := alignUp(start), alignDown(end)
	if aStart >= aEnd {
		bounceRead(alignDown(start), alignUp(end))
		return reqs, copies
	}
	if start < aStart {
		bounceRead(alignDown(start), aStart)
	}
	reqs = c.split(reqs, want[aStart-start:aEnd-start], aStart)
	if aEnd < end {
		bounceRead(aEnd, alignUp(end))
	}
	return reqs, copies
}

// split appends requests reading buf at off, each at most maxRequest long.
func (c *Conn) split(reqs []*request, buf []byte, off int64) []*request {
	for len(buf) > 0 {
		n := min(int64(len(buf)), c.maxRequest)
		reqs = append(reqs, &request{
			off: uint64(off),
			n:   int(n),
			buf: buf[:n:n],
			sem: make(chan struct{}, 1),
		})
		buf, off = buf[n:], off+n
	}
	return reqs
}

// send sends the requests, spread over the connections in runs of
// consecutive ones. If it fails part way, it abandons those it sent.
func (c *Conn) send(ctx context.Context, reqs []*request) error {
	lanes := *c.lanes.Load()
	k := min(len(lanes), len(reqs))
	first := int(c.rr.Add(uint32(k)))
	per := (len(reqs) + k - 1) / k
	for i := 0; i < len(reqs); i += per {
		l := lanes[(first+i/per)%len(lanes)]
		if err := l.send(ctx, reqs[i:min(i+per, len(reqs))]); err != nil {
			c.abandon(reqs[:i])
			return err
		}
	}
	return nil
}

func (c *Conn) errNow() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// abandon gives up on requests whose caller goes away: their replies will
// be read and dropped. It returns once the reader no longer writes into
// their buffers. If the reader is stuck in the middle of a reply to one of
// them for longer than cancelGrace, the connection is failed instead.
func (c *Conn) abandon(reqs []*request) {
	var t *time.Timer
	for _, r := range reqs {
		select {
		case r.sem <- struct{}{}:
		default:
			if t == nil {
				t = time.NewTimer(cancelGrace)
				defer t.Stop()
			}
			select {
			case r.sem <- struct{}{}:
			case <-t.C:
				c.fail(disconnected(nil, "the server stalled in the middle of a reply to a cancelled read"))
				r.sem <- struct{}{}
			}
		}
		r.cancelled, r.buf = true, nil
		<-r.sem
	}
}

// cancelGrace is how long a cancelled read waits for the reader to finish
// a piece of data it is receiving into the read's buffer. A variable for
// tests.
var cancelGrace = 2 * time.Second

// defaultWindow is how many requests of one read are in flight at most.
const defaultWindow = 16
