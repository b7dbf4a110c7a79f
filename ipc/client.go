package ipc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by calls on a closed Client or Disk. It wraps
// fs.ErrClosed.
var ErrClosed = fmt.Errorf("ipc: %w", fs.ErrClosed)

const (
	defaultSlots     = 8
	defaultSlotSize  = 1 << 20
	defaultCacheSize = 64 << 20

	// helloTimeout bounds how long a starting worker may take to answer.
	helloTimeout = 10 * time.Second
	// maxStartAttempts bounds the fresh workers tried after one dies: if
	// that many die before answering hello and reopening the disks, the
	// Client gives up.
	maxStartAttempts = 3
	// maxInFlight bounds the requests waiting for replies on one
	// connection, abandoned ones included. It is below the worker's
	// maxPending, so the worker always reads the next request and the
	// shell's writes never block behind reads that hang.
	maxInFlight = maxPending / 2
)

// Config shapes a Client. The zero Config is what Start uses.
type Config struct {
	// Command returns the command that runs the worker; Start adds the
	// socket as ExtraFiles[0] and sets Pdeathsig and Setpgid. Nil means
	// /proc/self/exe (or os.Executable) with the argument WorkerArg. Tests
	// use it to run the test binary as the worker.
	Command func() *exec.Cmd

	// Slots and SlotSize shape the shared-memory region; zero means 8
	// slots of 1 MiB. SlotSize is a multiple of the page size, at most
	// 8 MiB; a read request is at most one slot.
	Slots, SlotSize int

	// NoSharedMemory sends every read's data through the socket.
	NoSharedMemory bool

	// CacheSize bounds the block cache shared by the client's disks, in
	// bytes: zero means 64 MiB, negative turns the cache off.
	CacheSize int64

	// Timeout bounds the wait for each request to the worker (a read of
	// at most one slot or MaxInline bytes, an open, a status): a request
	// not answered in time fails with an error wrapping ErrTimeout. Zero
	// means 30 s, negative no bound. The worker is not stopped and the
	// connection stays up; the late answer is dropped when it comes.
	Timeout time.Duration
}

// Client is the shell's side of the worker protocol: it starts the worker,
// opens disks through it, and restarts it if it dies. Its methods are safe
// for concurrent use.
type Client struct {
	// OnRestart, if set, is called after the worker died and a fresh one
	// took over, with the reason the old one died. Set it before the
	// first Open.
	OnRestart func(err error)

	cfg     Config
	timeout time.Duration // per request; <= 0: none
	shm     *shmRegion    // nil: data through the socket
	cache   *cache        // nil: no block cache
	ra      *readahead    // nil without shared memory

	intr atomic.Pointer[chan struct{}] // closed by Interrupt, then replaced

	mu         sync.Mutex
	cur        *conn         // nil while restarting or closed
	ready      chan struct{} // closed when a restart ends
	restarting bool
	err        error // permanent: closed, or the worker could not be restarted
	closed     bool
	disks      map[*Disk]struct{}
	nextUID    uint64
	restarts   int

	shut atomic.Bool // closed, checked without locks by Disk.ReadAt
}

// Start starts a worker with the default Config.
func Start() (*Client, error) { return Config{}.Start() }

// Start starts a worker: it re-executes the running binary with WorkerArg
// and one end of a socketpair as fd 3, and exchanges hello with it.
func (cfg Config) Start() (*Client, error) {
	if cfg.Slots == 0 {
		cfg.Slots = defaultSlots
	}
	if cfg.SlotSize == 0 {
		cfg.SlotSize = defaultSlotSize
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.Slots < 1 || cfg.Slots > maxSlots || cfg.SlotSize < 1 || cfg.SlotSize > maxSlotSize ||
		cfg.SlotSize%os.Getpagesize() != 0 || cfg.Slots*cfg.SlotSize > maxShmSize {
		return nil, fmt.Errorf("ipc: bad shared memory shape: %d slots of %d bytes", cfg.Slots, cfg.SlotSize)
	}
	c := &Client{cfg: cfg, timeout: cfg.Timeout, disks: make(map[*Disk]struct{}), ready: make(chan struct{})}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	close(c.ready)
	intr := make(chan struct{})
	c.intr.Store(&intr)
	if cfg.CacheSize > 0 {
		c.cache = newCache(cfg.CacheSize)
	}
	if !cfg.NoSharedMemory {
		if sh, err := newShm(cfg.Slots, cfg.SlotSize); err == nil {
			c.shm = sh
			c.ra = newReadahead(sh)
			sh.reclaim = c.ra.reclaim
		}
		// Without memfd the socket carries the data.
	}
	k, err := c.dial()
	if err != nil {
		if c.shm != nil {
			c.shm.close()
		}
		return nil, err
	}
	c.cur = k
	return c, nil
}

// SharedMemory reports whether the current worker reads into shared memory.
func (c *Client) SharedMemory() bool {
	k, err := c.conn(detached(0))
	return err == nil && k.shm
}

// Interrupt makes every call that is waiting for the worker at this moment
// (reads of any Disk, Open, List, Status) return at once with an error
// wrapping ErrInterrupted. Calls made after it are not affected, and the
// connection stays up: the worker finishes the interrupted requests and
// their answers are dropped. The shell calls it on Ctrl-C, so that the
// command stops and the next one works.
func (c *Client) Interrupt() {
	next := make(chan struct{})
	close(*c.intr.Swap(&next))
}

// waiter returns what a call begun now waits on besides its reply: ctx,
// Interrupt and the per-request timeout.
func (c *Client) waiter(ctx context.Context) *waiter {
	if ctx == nil {
		ctx = context.Background()
	}
	return &waiter{ctx: ctx, intr: *c.intr.Load(), timeout: c.timeout}
}

// Restarts returns how many times the worker was restarted.
func (c *Client) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// Close stops the worker (it sees EOF and exits) and releases the shared
// memory. Disks of a closed Client return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.shut.Store(true)
	c.err = ErrClosed
	k := c.cur
	c.cur = nil
	restarting, ready := c.restarting, c.ready
	c.mu.Unlock()
	if restarting {
		<-ready
	}
	if k != nil {
		k.shutdown()
	}
	if c.shm != nil {
		c.shm.close()
	}
	return nil
}

// Open opens a disk in the worker. spec is whatever the worker's Opener
// accepts (a path, a URI).
func (c *Client) Open(spec string) (*Disk, error) {
	if len(spec) > maxSpec {
		return nil, fmt.Errorf("ipc: open: spec of %d bytes, limit %d", len(spec), maxSpec)
	}
	w := c.waiter(nil)
	for attempt := 0; ; attempt++ {
		k, err := c.conn(w)
		if err != nil {
			return nil, stopContext(err, "open", displayName(spec))
		}
		info, err := k.open(w, spec)
		if err != nil {
			if isConnLost(err) && attempt == 0 {
				continue
			}
			return nil, stopContext(err, "open", displayName(spec))
		}
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, c.err
		}
		c.nextUID++
		d := &Disk{c: c, spec: spec, name: info.Name, size: info.Size, uid: c.nextUID, k: k, remote: info.ID}
		c.disks[d] = struct{}{}
		c.mu.Unlock()
		return d, nil
	}
}

// List returns the disks open in the worker.
func (c *Client) List() ([]DiskInfo, error) {
	body, err := c.control(msgList)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := decodeCount(&d, maxDisks, 2+4+8+2, "list")
	out := make([]DiskInfo, 0, n)
	for range n {
		out = append(out, decodeDiskInfo(&d))
	}
	if err := d.end("list reply"); err != nil {
		return nil, err
	}
	return out, nil
}

// Status returns the worker's view of every open disk: bytes and requests
// served, the last error and when. The counters start over when the worker
// restarts.
func (c *Client) Status() ([]DiskStatus, error) {
	body, err := c.control(msgStatus)
	if err != nil {
		return nil, err
	}
	d := decoder{b: body}
	n := decodeCount(&d, maxDisks, 2, "status")
	out := make([]DiskStatus, 0, n)
	for range n {
		out = append(out, decodeDiskStatus(&d))
	}
	if err := d.end("status reply"); err != nil {
		return nil, err
	}
	return out, nil
}

// control sends a body-less request and returns the reply payload.
func (c *Client) control(typ uint8) ([]byte, error) {
	w := c.waiter(nil)
	for attempt := 0; ; attempt++ {
		k, err := c.conn(w)
		if err != nil {
			return nil, stopContext(err, msgName(typ), "")
		}
		cl := k.do(w, w.deadline(), typ, nil, nil, nil, 0)
		if err := k.await(w, cl); err != nil {
			return nil, stopContext(err, msgName(typ), "")
		}
		if isConnLost(cl.err) && attempt == 0 {
			continue
		}
		return cl.body, stopContext(cl.err, msgName(typ), "")
	}
}

// stopContext says which call stopped when err is a timeout or an
// interruption: "ipc: open disk.img: interrupted". Other errors are
// returned as they are.
func stopContext(err error, op, name string) error {
	if err == nil || !isStop(err) {
		return err
	}
	if name != "" {
		op += " " + name
	}
	return fmt.Errorf("ipc: %s: %w", op, err)
}

// conn returns the live connection, waiting for a restart in progress
// unless w stops it.
func (c *Client) conn(w *waiter) (*conn, error) {
	for {
		c.mu.Lock()
		k, ready, err := c.cur, c.ready, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if k == nil {
			if err := w.await(ready, time.Time{}); err != nil {
				return nil, err
			}
			continue
		}
		if k.cause() == nil {
			return k, nil
		}
		// Dead, but its reader has not handed over to a restart yet.
		if err := w.await(k.down, time.Time{}); err != nil {
			return nil, err
		}
	}
}

func (c *Client) command() *exec.Cmd {
	if c.cfg.Command != nil {
		return c.cfg.Command()
	}
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if e, err := os.Executable(); err == nil {
			exe = e
		}
	}
	return &exec.Cmd{Path: exe, Args: []string{exe, WorkerArg}}
}

// dial starts a worker and says hello.
//
// The socket is SOCK_STREAM rather than SOCK_SEQPACKET: a seqpacket message
// must fit the socket send buffer in one piece, and an inline read reply
// (up to 1 MiB of data) would not; a stream also lets both sides read
// through a buffer. Frames are delimited by their length prefix. The memfd
// travels as SCM_RIGHTS on the bytes of the hello, which the worker reads
// with recvmsg before it starts buffering.
func (c *Client) dial() (*conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "ipc-shell")
	theirs := os.NewFile(uintptr(fds[1]), "ipc-worker")
	cmd := c.command()
	cmd.ExtraFiles = []*os.File{theirs}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// The worker ends with the shell even when it does not notice the
	// socket closing: SIGTERM, on which it closes its disks (an NBD server
	// is told goodbye, not reset) and exits, at the latest a few seconds
	// later. (Linux sends Pdeathsig when the forking thread exits; Go
	// keeps its threads unless a goroutine exits while locked to one,
	// which this process does not do.) Its own process group keeps Ctrl-C
	// at the terminal away from it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	cmd.SysProcAttr.Setpgid = true
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("ipc: start worker: %w", err)
	}
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("ipc: worker socket: %w", err)
	}
	k := &conn{
		c:       c,
		uc:      fc.(*net.UnixConn),
		cmd:     cmd,
		exited:  make(chan struct{}),
		down:    make(chan struct{}),
		tokens:  make(chan struct{}, maxInFlight),
		pending: make(map[uint64]*call),
	}
	go func() {
		k.exitErr = cmd.Wait()
		close(k.exited)
	}()
	go k.readLoop()
	if err := k.hello(); err != nil {
		k.shutdown()
		if k.exitErr != nil {
			return nil, fmt.Errorf("%w (worker %v)", err, k.exitErr)
		}
		return nil, err
	}
	return k, nil
}

// connDied is called once by a connection's reader when it stops. If the
// connection was the live one, a restart begins.
func (c *Client) connDied(k *conn) {
	c.mu.Lock()
	if c.cur != k || c.err != nil {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	c.ready = make(chan struct{})
	c.restarting = true
	c.mu.Unlock()
	go c.restart(k)
}

// restart reaps the dead worker, starts a fresh one, reopens every disk on
// it and makes it the live connection. It gives up after maxStartAttempts
// workers in a row fail to get that far.
func (c *Client) restart(old *conn) {
	cause := old.cause()
	exit := old.reap(time.Second)
	why := fmt.Errorf("ipc: worker died: %w", cause)
	if exit != nil {
		why = fmt.Errorf("ipc: worker died: %w", exit)
	}
	var last error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		c.mu.Lock()
		closed := c.err != nil
		c.mu.Unlock()
		if closed {
			break
		}
		k, err := c.dial()
		if err == nil {
			if err = c.reopenAll(k); err != nil {
				k.shutdown()
			}
		}
		if err != nil {
			last = err
			continue
		}
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			k.shutdown()
			break
		}
		c.cur = k
		c.restarts++
		c.restarting = false
		close(c.ready)
		c.mu.Unlock()
		if f := c.OnRestart; f != nil {
			f(why)
		}
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%v; %d fresh workers failed in a row, giving up: %w", why, maxStartAttempts, last)
	}
	c.restarting = false
	close(c.ready)
	c.mu.Unlock()
}

// reopenAll opens every disk of the client on the new worker k. It fails
// only if k itself fails; a disk that cannot be reopened keeps the error
// for its reads, and one whose open timed out is reopened by its next read.
func (c *Client) reopenAll(k *conn) error {
	c.mu.Lock()
	disks := make([]*Disk, 0, len(c.disks))
	for d := range c.disks {
		disks = append(disks, d)
	}
	c.mu.Unlock()
	for _, d := range disks {
		d.mu.Lock()
		var err error
		if !d.closed {
			err = d.reopenLocked(detached(c.timeout), k)
		}
		d.mu.Unlock()
		if isConnLost(err) {
			return err
		}
	}
	return nil
}

// connError is a failure of the connection to the worker (as opposed to an
// error the worker reported). Reads that fail with it are retried once on
// the restarted worker.
type connError struct{ err error }

func (e *connError) Error() string { return "ipc: lost the worker: " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

func isConnLost(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

// conn is one worker process and the socket to it.
type conn struct {
	c       *Client
	uc      *net.UnixConn
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	exitErr error
	down    chan struct{} // closed when the reader has stopped and reported
	shm     bool          // reads go through shared memory
	streams bool          // the worker writes to output streams

	wmu sync.Mutex // serialises request writes

	// tokens holds one element per request waiting for its reply; its
	// capacity bounds them.
	tokens chan struct{}

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]*call
	err     error // why the connection died; nil while alive
}

// call is one request in flight.
type call struct {
	typ      uint8
	want     int       // read: requested length
	dst      []byte    // inline read: the data lands here
	deadline time.Time // when its caller stops waiting; zero: never
	body     []byte    // reply payload after the error block
	n        int       // read: bytes read
	err      error     // *connError, the worker's error, or why it was never sent
	done     chan struct{}

	// Guarded by conn.mu. Once the reader has claimed the call it reads
	// the reply into it; once its caller has abandoned it the reply is
	// read and dropped, and dst is never touched.
	claimed, abandoned bool
}

// do sends a request and returns its call; wait on call.done with await.
// w may stop the wait for room among the requests in flight (then the call
// is done with that error); dl is when the caller stops waiting for the
// reply. rights, if set, is SCM_RIGHTS ancillary data sent with the frame.
func (k *conn) do(w *waiter, dl time.Time, typ uint8, body, dst, rights []byte, want int) *call {
	cl := &call{typ: typ, dst: dst, want: want, deadline: dl, done: make(chan struct{})}
	select {
	case k.tokens <- struct{}{}:
	default:
		if err := k.waitToken(w, dl); err != nil {
			cl.err = err
			close(cl.done)
			return cl
		}
	}
	k.mu.Lock()
	if k.err != nil {
		cl.err = &connError{k.err}
		k.mu.Unlock()
		<-k.tokens
		close(cl.done)
		return cl
	}
	k.seq++
	id := k.seq
	k.pending[id] = cl
	k.mu.Unlock()

	frame := appendFrame(make([]byte, 0, headerSize+len(body)), header{Type: typ, ID: id}, body)
	k.wmu.Lock()
	var err error
	if rights != nil {
		var n int
		n, _, err = k.uc.WriteMsgUnix(frame, rights, nil)
		if err == nil && n != len(frame) {
			err = io.ErrShortWrite
		}
	} else {
		_, err = k.uc.Write(frame)
	}
	k.wmu.Unlock()
	if err != nil {
		k.fail(fmt.Errorf("write %s: %w", msgName(typ), err))
	}
	return cl
}

// waitToken waits for room among the requests in flight.
func (k *conn) waitToken(w *waiter, dl time.Time) error {
	s := w.stopper(dl)
	defer s.stop()
	select {
	case k.tokens <- struct{}{}:
		return nil
	case <-s.timer:
		return s.timedOut(fmt.Sprintf("%d requests to the worker unanswered", maxInFlight))
	case <-w.intr:
		return interruptedError{}
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// await waits for cl's reply until w stops it. If w stops it first, the
// call is abandoned and await returns why: its reply, when it comes, is
// read and dropped, and never lands in cl.dst. A reply that the reader is
// already reading when w stops is waited for and kept, so a caller never
// sees a reply half written into its buffer.
func (k *conn) await(w *waiter, cl *call) error {
	err := w.await(cl.done, cl.deadline)
	if err == nil {
		return nil
	}
	k.mu.Lock()
	claimed := cl.claimed
	if !claimed {
		cl.abandoned = true
	}
	k.mu.Unlock()
	if !claimed {
		return err
	}
	<-cl.done
	return nil
}

// fail marks the connection dead, closes the socket and fails every call
// in flight. The first reason sticks.
func (k *conn) fail(err error) {
	k.mu.Lock()
	if k.err != nil {
		k.mu.Unlock()
		return
	}
	k.err = err
	pending := k.pending
	k.pending = nil
	k.mu.Unlock()
	k.uc.Close()
	for _, cl := range pending {
		<-k.tokens
		cl.err = &connError{err}
		close(cl.done)
	}
}

func (k *conn) cause() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// reap waits up to grace for the worker to exit, kills it after that, and
// returns its exit error.
func (k *conn) reap(grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-k.exited:
	case <-t.C:
		k.cmd.Process.Kill()
		<-k.exited
	}
	return k.exitErr
}

// shutdown closes the socket (a healthy worker exits on EOF) and reaps the
// worker.
func (k *conn) shutdown() {
	k.fail(ErrClosed)
	k.reap(2 * time.Second)
}

// readLoop routes replies to their calls until the connection fails.
func (k *conn) readLoop() {
	br := bufio.NewReaderSize(k.uc, 64<<10)
	var err error
	for err == nil {
		err = k.readReply(br)
	}
	if err == io.EOF {
		err = errors.New("worker closed the connection")
	}
	k.fail(err)
	k.c.connDied(k)
	close(k.down)
}

func (k *conn) readReply(br *bufio.Reader) error {
	h, err := readHeader(br, maxReplyBody)
	if err != nil {
		return err
	}
	if h.Type&replyBit == 0 {
		return fmt.Errorf("%w: worker sent a request (%s)", ErrProtocol, msgName(h.Type))
	}
	k.mu.Lock()
	cl := k.pending[h.ID]
	delete(k.pending, h.ID)
	drop := false
	if cl != nil {
		drop, cl.claimed = cl.abandoned, true
	}
	k.mu.Unlock()
	if cl != nil {
		<-k.tokens
	}
	if cl == nil || cl.typ != h.Type&^replyBit {
		err := fmt.Errorf("%w: %s for unknown request %d", ErrProtocol, msgName(h.Type), h.ID)
		if cl != nil {
			cl.err = &connError{err}
			close(cl.done)
		}
		return err
	}
	if err := k.readBody(br, h, cl, drop); err != nil {
		cl.err = &connError{err}
		close(cl.done)
		return err
	}
	close(cl.done)
	return nil
}

// readBody reads the reply to cl. drop says that cl's caller has gone:
// the data of an inline read is then read and thrown away.
func (k *conn) readBody(br *bufio.Reader, h header, cl *call, drop bool) error {
	if cl.dst != nil {
		return readInlineBody(br, h, cl, drop)
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("%w: truncated %s: %v", ErrProtocol, msgName(h.Type), err)
	}
	d := decoder{b: body}
	rerr := decodeErr(&d)
	if d.err != nil {
		return d.err
	}
	if cl.typ == msgRead || cl.typ == msgCopy {
		n := d.u32("read count")
		if err := d.end("read reply"); err != nil {
			return err
		}
		if int64(n) > int64(cl.want) {
			return fmt.Errorf("%w: %s reply of %d bytes for %d", ErrProtocol, msgName(cl.typ), n, cl.want)
		}
		cl.n = int(n)
	} else if rerr == nil {
		cl.body = d.b
	}
	cl.err = rerr
	return nil
}

// readInlineBody reads a read reply that carries its data, straight into
// the caller's buffer, or, if drop is set, into nothing.
func readInlineBody(br *bufio.Reader, h header, cl *call, drop bool) error {
	rest := int64(h.Length)
	var fixed [errBlockMin]byte
	if rest < errBlockMin {
		return fmt.Errorf("%w: short read reply", ErrProtocol)
	}
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return fmt.Errorf("%w: truncated read reply: %v", ErrProtocol, err)
	}
	rest -= errBlockMin
	code := binary.LittleEndian.Uint16(fixed[0:])
	errno := binary.LittleEndian.Uint32(fixed[2:])
	mlen := int64(binary.LittleEndian.Uint16(fixed[6:]))
	if mlen > maxErrMsg || mlen+4 > rest {
		return fmt.Errorf("%w: malformed read reply", ErrProtocol)
	}
	tail := make([]byte, mlen+4)
	if _, err := io.ReadFull(br, tail); err != nil {
		return fmt.Errorf("%w: truncated read reply: %v", ErrProtocol, err)
	}
	rest -= mlen + 4
	n := int64(binary.LittleEndian.Uint32(tail[mlen:]))
	if n > int64(len(cl.dst)) || n != rest {
		return fmt.Errorf("%w: read reply with %d bytes of data, %d announced, %d asked", ErrProtocol, rest, n, len(cl.dst))
	}
	var err error
	if drop {
		_, err = br.Discard(int(n))
	} else {
		_, err = io.ReadFull(br, cl.dst[:n])
	}
	if err != nil {
		return fmt.Errorf("%w: truncated read data: %v", ErrProtocol, err)
	}
	cl.n = int(n)
	cl.err = makeErr(code, errno, string(tail[:mlen]))
	return nil
}

func (k *conn) hello() error {
	m := helloMsg{Version: ProtocolVersion, MaxInline: MaxInline, Caps: capStream}
	var rights []byte
	sh := k.c.shm
	if sh != nil {
		m.Caps |= capSHM
		m.Slots, m.SlotSize = uint32(sh.slots), uint32(sh.slotSize)
		rights = unix.UnixRights(sh.fd)
	}
	var e encoder
	m.encode(&e)
	w := detached(helloTimeout)
	cl := k.do(w, w.deadline(), msgHello, e.b, nil, rights, 0)
	if err := w.await(cl.done, cl.deadline); err != nil {
		k.fail(fmt.Errorf("no hello from the worker in %v", helloTimeout))
		<-cl.done
	}
	if cl.err != nil {
		return fmt.Errorf("ipc: worker hello: %w", cl.err)
	}
	d := decoder{b: cl.body}
	ans := decodeHello(&d)
	if d.err != nil {
		return fmt.Errorf("ipc: worker hello: %w", d.err)
	}
	if ans.Version != ProtocolVersion {
		return fmt.Errorf("ipc: worker hello: %w: worker speaks version %d, shell speaks version %d", ErrVersion, ans.Version, ProtocolVersion)
	}
	if ans.Caps&capSHM != 0 {
		if sh == nil || ans.Slots != uint32(sh.slots) || ans.SlotSize != uint32(sh.slotSize) {
			return fmt.Errorf("ipc: worker hello: %w: shared memory the shell did not offer", ErrProtocol)
		}
		k.shm = true
	}
	k.streams = ans.Caps&capStream != 0
	return nil
}

// open opens spec on the worker. If w stops the wait, a disk the worker
// opens after all is closed again.
func (k *conn) open(w *waiter, spec string) (DiskInfo, error) {
	var e encoder
	e.str(spec, maxSpec)
	cl := k.do(w, w.deadline(), msgOpen, e.b, nil, nil, 0)
	if err := k.await(w, cl); err != nil {
		go func() {
			<-cl.done
			if info, err := k.openReply(cl); err == nil {
				k.closeDisk(detached(k.c.timeout), info.ID)
			}
		}()
		return DiskInfo{}, err
	}
	return k.openReply(cl)
}

func (k *conn) openReply(cl *call) (DiskInfo, error) {
	if cl.err != nil {
		return DiskInfo{}, cl.err
	}
	d := decoder{b: cl.body}
	info := decodeDiskInfo(&d)
	if err := d.end("open reply"); err != nil {
		k.fail(err)
		return DiskInfo{}, &connError{err}
	}
	if info.Size < 0 {
		err := fmt.Errorf("%w: negative disk size %d", ErrProtocol, info.Size)
		k.fail(err)
		return DiskInfo{}, &connError{err}
	}
	return info, nil
}

func (k *conn) closeDisk(w *waiter, id uint32) error {
	var e encoder
	e.u32(id)
	cl := k.do(w, w.deadline(), msgClose, e.b, nil, nil, 0)
	if err := k.await(w, cl); err != nil {
		return err
	}
	return cl.err
}

// readInline reads len(p) <= MaxInline bytes with the data in the reply,
// waiting for it until dl.
func (k *conn) readInline(w *waiter, dl time.Time, id uint32, p []byte, off int64) (int, error) {
	var e encoder
	readReq{Disk: id, Slot: noSlot, Off: off, Len: uint32(len(p))}.encode(&e)
	if len(p) == 0 {
		return 0, nil
	}
	cl := k.do(w, dl, msgRead, e.b, p, nil, len(p))
	if err := k.await(w, cl); err != nil {
		return 0, err
	}
	return cl.n, cl.err
}

// readInlineAll reads p at off in requests of at most MaxInline bytes, one
// after the other.
func (k *conn) readInlineAll(w *waiter, dl time.Time, id uint32, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m := min(len(p)-n, MaxInline)
		got, err := k.readInline(w, dl, id, p[n:n+m], off+int64(n))
		n += got
		if got < m || err != nil {
			return n, err
		}
	}
	return n, nil
}

// readShm reads len(p) <= slot size bytes through a shared-memory slot,
// waiting for it until dl. While every slot is busy and some are held by
// abandoned requests, it reads through the socket instead.
func (k *conn) readShm(w *waiter, dl time.Time, sh *shmRegion, id uint32, p []byte, off int64) (int, error) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if sh.mem == nil {
		return 0, ErrClosed
	}
	slot, err := sh.get(w, dl)
	if err == errNoSlot {
		return k.readInlineAll(w, dl, id, p, off)
	}
	if err != nil {
		return 0, err
	}
	var e encoder
	readReq{Disk: id, Slot: uint32(slot), Off: off, Len: uint32(len(p))}.encode(&e)
	cl := k.do(w, dl, msgRead, e.b, nil, nil, len(p))
	if err := k.await(w, cl); err != nil {
		sh.orphan(k, cl, slot)
		return 0, err
	}
	if isConnLost(cl.err) {
		// The worker may still be writing into the slot until it is
		// reaped; only then may another read use it.
		<-k.exited
		sh.free <- slot
		return 0, cl.err
	}
	n := copy(p, sh.slot(slot)[:cl.n])
	sh.free <- slot
	return n, cl.err
}
