package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"vmsh/nbd"
)

// Reconnection backoff: the first retry comes after minBackoff, each later
// one after twice the wait before, at most maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// dialNBD is nbd.Dial; tests replace it.
var dialNBD = nbd.Dial

// nbdDisk is an NBD export that survives its connection: when a read fails
// because the connection is gone (the server hung up or restarted, the
// network failed, the server broke the protocol), it dials again, with a
// capped exponential backoff, and retries the read, until the read's
// deadline (Options.Timeout from its start) passes. Errors the server
// reports for a read (an *nbd.Error) are returned at once: the connection
// is fine, the data is not there.
type nbdDisk struct {
	spec    string // as given, for messages: may hold credentials
	name    string // spec without credentials
	opts    nbd.Options
	timeout time.Duration
	size    int64

	mu         sync.Mutex
	conn       *nbd.Conn     // nil while reconnecting or closed
	ready      chan struct{} // closed when the current reconnection ends
	dialing    bool
	closed     bool
	reconnects int
	lastErr    error
	lastErrAt  time.Time
}

// openNBD dials the export spec names. The first connection gets the whole
// timeout; a server that cannot be reached at open is an error at once.
func openNBD(spec string, o Options) (*nbdDisk, error) {
	u, err := nbd.ParseURI(spec)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	d := &nbdDisk{
		spec: spec, name: u.Redacted(), timeout: timeout,
		opts: nbd.Options{TLSCA: o.TLSCA, TLSCert: o.TLSCert, TLSKey: o.TLSKey, TLSInsecure: o.TLSInsecure, Timeout: timeout},
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dialNBD(ctx, spec, d.opts)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err) // nbd's errors name the URI
	}
	d.conn, d.size = c, c.Size()
	d.ready = make(chan struct{})
	close(d.ready)
	return d, nil
}

// Name is the export's URI without credentials, for status displays.
func (d *nbdDisk) Name() string { return d.name }

// Size is the export's size when first connected.
func (d *nbdDisk) Size() int64 { return d.size }

// Format says what the worker reads.
func (d *nbdDisk) Format() string { return "raw (nbd)" }

// State is "connected"; "reconnecting" while a read waits for a new
// connection; "failed" when the last attempt gave up (the next read tries
// again); or "closed".
func (d *nbdDisk) State() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return "closed"
	case d.conn != nil:
		return "connected"
	case d.dialing:
		return "reconnecting"
	}
	return "failed"
}

// Reconnects counts the connections made after the first.
func (d *nbdDisk) Reconnects() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reconnects
}

// LastError is the last transport error and when it happened.
func (d *nbdDisk) LastError() (error, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr, d.lastErrAt
}

func (d *nbdDisk) ReadAt(p []byte, off int64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	return d.ReadAtContext(ctx, p, off)
}

// ReadAtContext reads, reconnecting as often as needed until ctx ends.
func (d *nbdDisk) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("transport: %s: read at negative offset %d", d.name, off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want := p
	if int64(len(p)) > d.size-off {
		want = p[:d.size-off]
	}
	for {
		c, err := d.current(ctx)
		if err != nil {
			return 0, fmt.Errorf("transport: %s: read at offset %d: %w", d.name, off, err)
		}
		n, err := c.ReadAtContext(ctx, want, off)
		if err == nil {
			if len(want) < len(p) {
				return n, io.EOF
			}
			return n, nil
		}
		if !errors.Is(err, nbd.ErrDisconnected) || ctx.Err() != nil {
			if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return 0, fmt.Errorf("transport: %s: read at offset %d: %w", d.name, off, d.deadlineError(err))
			}
			return 0, fmt.Errorf("transport: %w", err) // nbd's errors name the export and offset
		}
		d.broken(c, err)
	}
}

// deadlineError says what kept a read from finishing in time.
func (d *nbdDisk) deadlineError(err error) error {
	d.mu.Lock()
	last := d.lastErr
	d.mu.Unlock()
	if last != nil {
		return fmt.Errorf("no answer in %v (last transport error: %v): %w", d.timeout, last, context.DeadlineExceeded)
	}
	return fmt.Errorf("no answer in %v: %w", d.timeout, err)
}

// broken records that c failed and drops it, so the next read dials again.
// The old connections are closed first: a server with a limit on clients
// (qemu-nbd -e) would otherwise keep the new ones waiting.
func (d *nbdDisk) broken(c *nbd.Conn, err error) {
	d.mu.Lock()
	d.lastErr, d.lastErrAt = err, time.Now()
	mine := d.conn == c
	if mine {
		d.conn = nil
	}
	d.mu.Unlock()
	if mine {
		c.Close()
	}
}

// current returns the live connection, dialling a new one (one caller
// dials, the others wait) with backoff while ctx lasts.
func (d *nbdDisk) current(ctx context.Context) (*nbd.Conn, error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, nbd.ErrClosed
		}
		if d.conn != nil {
			c := d.conn
			d.mu.Unlock()
			return c, nil
		}
		if d.dialing {
			ready := d.ready
			d.mu.Unlock()
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return nil, d.deadlineError(ctx.Err())
			}
		}
		d.dialing = true
		d.ready = make(chan struct{})
		d.mu.Unlock()
		c, err := d.redial(ctx)
		d.mu.Lock()
		d.dialing = false
		close(d.ready)
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return nil, nbd.ErrClosed
		}
		d.conn = c
		d.reconnects++
		d.mu.Unlock()
		return c, nil
	}
}

// redial dials until it connects to an export of the same size or ctx
// ends, waiting longer after each failure.
func (d *nbdDisk) redial(ctx context.Context) (*nbd.Conn, error) {
	wait := minBackoff
	for {
		dctx, cancel := context.WithTimeout(ctx, d.timeout)
		c, err := dialNBD(dctx, d.spec, d.opts)
		cancel()
		if err == nil && c.Size() != d.size {
			c.Close()
			err = fmt.Errorf("the export's size changed from %d to %d bytes on reconnection", d.size, c.Size())
			d.record(err)
			return nil, err // a different disk: never read it as the old one
		}
		if err == nil {
			return c, nil
		}
		d.record(err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, d.deadlineError(ctx.Err())
		}
		wait = min(2*wait, maxBackoff)
	}
}

func (d *nbdDisk) record(err error) {
	d.mu.Lock()
	d.lastErr, d.lastErrAt = err, time.Now()
	d.mu.Unlock()
}

// Close sends NBD_CMD_DISC on the live connection and stops reconnecting.
func (d *nbdDisk) Close() error {
	d.mu.Lock()
	c := d.conn
	d.conn, d.closed = nil, true
	d.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}
