package ipc

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WorkerArg is the hidden subcommand that runs the worker: `vmsh __worker`,
// with the socket on fd 3.
const WorkerArg = "__worker"

// Backend is what the worker reads from: an open disk image or device (a
// transport.Disk). ReadAt must be safe for concurrent use; the worker runs
// up to 16 reads of one disk at once. (The shell's view of a disk is
// *Disk.)
//
// A Backend may also have any of these methods, which the worker uses when
// it finds them. The status methods are called while reads run, so they
// must be safe for concurrent use and return at once.
//
//	Name() string                  // the name the shell shows, without credentials
//	Format() string                // the image format: "raw", "qcow2", "vmdk", ...
//	ConnID() int                   // the id of the connection behind the disk
//	State() string                 // "connected", "reconnecting", "failed", ...
//	Reconnects() int               // how many times the backend reconnected
//	LastError() (error, time.Time) // the backend's own last error and when
//
// Name is asked once, at open; the others at every status request. Without
// Name the worker shows the spec's last element; without ConnID the
// connection id is the disk's id; without State the state is "ready".
// LastError reports errors the backend handled itself, such as the cause of
// a reconnect: status shows it or the last error of a read the worker
// served, whichever is newer.
type Backend interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Opener opens a disk by its spec (a path or URI). The worker gets one from
// main, so this package holds no parser or transport code.
type Opener func(spec string) (Backend, error)

// Concurrency in the worker. Every request is served by a goroutine of its
// own, so a read that hangs (a network disk reconnecting) holds up neither
// the other reads nor open, list, status and close.
const (
	// maxPending bounds the requests of one connection being served at
	// once; the read loop stops reading frames while that many are, which
	// pushes back on the shell.
	maxPending = 512
	// maxDiskReads bounds the reads of one disk running at once; more
	// wait their turn, without holding up other disks.
	maxDiskReads = 16
	// maxInlineReads bounds the reads, over all disks, whose data is held
	// in a buffer for the reply frame (MaxInline bytes each).
	maxInlineReads = 64
)

// Worker life cycle: init (waiting for hello) -> ready (hello done, shared
// memory mapped) -> running (serving requests) -> stopped.
type workerState int32

const (
	stateInit workerState = iota
	stateReady
	stateRunning
	stateStopped
)

func (s workerState) String() string {
	switch s {
	case stateInit:
		return "init"
	case stateReady:
		return "ready"
	case stateRunning:
		return "running"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

type server struct {
	conn  *net.UnixConn
	open  Opener
	state atomic.Int32

	wmu sync.Mutex // serialises reply writes

	mu     sync.Mutex
	disks  map[uint32]*serverDisk
	nextID uint32

	shm      []byte // mapped region, nil without shared memory
	slots    uint32
	slotSize uint32

	sem    chan struct{} // one element per request being served
	inline chan struct{} // one element per inline read buffer in use
	copies chan struct{} // one element per copy buffer in use
	wg     sync.WaitGroup

	// Output streams, guarded by mu.
	streams    map[uint64]*outStream
	nextStream uint64
}

type serverDisk struct {
	id   uint32
	name string
	d    Backend
	size int64

	sem chan struct{} // one element per read running on d

	mu     sync.Mutex
	active int  // reads running on d
	closed bool // closed by the shell; d is closed when active drops to 0

	bytes, requests, errors atomic.Uint64

	emu       sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

// ServeWorker is the worker's main: it serves the socket on fd 3 (the
// shell's socketpair end, ExtraFiles[0]) until the shell closes it, then
// returns nil. The worker ignores SIGINT, so Ctrl-C at the shell's terminal
// cancels a command without killing the worker; it ends with the shell
// (EOF on the socket, and SIGTERM as Pdeathsig). Either way it closes its
// disks as Close does, so a network server sees a clean disconnect rather
// than a reset, but it waits no longer than workerGrace for reads still
// running: the shell that wanted them is gone.
func ServeWorker(open Opener) error {
	signal.Ignore(os.Interrupt)
	f := os.NewFile(3, "ipc-socket")
	if f == nil {
		return errors.New("ipc: worker: no socket on fd 3")
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("ipc: worker: fd 3: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return errors.New("ipc: worker: fd 3 is not a unix socket")
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	go func() {
		if _, ok := <-term; ok {
			uc.Close() // as if the shell had closed its end
		}
	}()
	return serve(uc, open, workerGrace)
}

// workerGrace bounds how long a worker whose shell has gone waits for the
// reads still running, so that their disks close cleanly (an NBD
// connection waits up to 2 s for the server to answer what is in flight).
const workerGrace = 3 * time.Second

// Serve runs the worker protocol on conn until the peer closes it (then it
// returns nil) or sends something malformed (then it returns the error).
// Every frame is untrusted: lengths are checked before allocation, disk ids,
// slots and offsets before use. Serve closes conn and every disk it opened,
// and returns when the requests being served have ended.
func Serve(conn *net.UnixConn, open Opener) error {
	return serve(conn, open, 0)
}

// serve is Serve; with grace > 0 it returns at the latest grace after the
// connection has ended, even while requests still run (their disks are
// closed when they end, and the shared memory stays mapped for them).
func serve(conn *net.UnixConn, open Opener, grace time.Duration) error {
	s := &server{
		conn:   conn,
		open:   open,
		disks:  make(map[uint32]*serverDisk),
		sem:    make(chan struct{}, maxPending),
		inline: make(chan struct{}, maxInlineReads),
		copies: make(chan struct{}, maxStreams*maxCopyAhead),
	}
	defer s.stop(grace)
	if err := s.handshake(); err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	s.state.Store(int32(stateRunning))
	rr := newRightsReader(conn)
	defer rr.closeAll()
	br := bufio.NewReaderSize(rr, 16<<10)
	for {
		h, body, err := readFrame(br, maxRequestBody)
		if err != nil {
			if err == io.EOF || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				// The shell closed the socket; with replies it had not
				// read yet, that is a reset.
				return nil
			}
			return fmt.Errorf("ipc: worker: %w", err)
		}
		if h.Type&replyBit != 0 || h.Type == msgHello {
			return fmt.Errorf("ipc: worker: %w: unexpected %s", ErrProtocol, msgName(h.Type))
		}
		if h.Type == msgStreamOpen {
			// Its descriptor is the oldest queued: take it now, in
			// the order the frames came.
			fd, ok := rr.take()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.streamOpen(h, body, fd, ok)
			}()
			continue
		}
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			s.handle(h, body)
		}()
	}
}

// stop closes the connection and every disk (a disk with reads running
// closes when the last of them ends), then waits for the requests being
// served: all of them, or at most grace when grace > 0. The shared memory
// is unmapped only when none runs any longer.
func (s *server) stop(grace time.Duration) {
	s.conn.Close()
	s.closeStreams()
	s.closeDisks()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			return
		}
	}
	<-done
	s.closeDisks() // any an open request added meanwhile
	s.state.Store(int32(stateStopped))
	if s.shm != nil {
		unix.Munmap(s.shm)
		s.shm = nil
	}
}

// closeDisks closes every open disk and forgets it.
func (s *server) closeDisks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, d := range s.disks {
		d.close()
		delete(s.disks, id)
	}
}

// handshake reads the shell's hello (with the memfd, if any, attached as
// SCM_RIGHTS to its first bytes), maps the region and answers.
func (s *server) handshake() error {
	var hb [headerSize]byte
	oob := make([]byte, unix.CmsgSpace(4))
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for n := 0; n < headerSize; {
		m, oobn, flags, _, err := s.conn.ReadMsgUnix(hb[n:], oob)
		if oobn > 0 {
			fds = append(fds, parseRights(oob[:oobn])...)
		}
		n += m
		if err != nil {
			if err == io.EOF && n == 0 {
				return io.EOF
			}
			return fmt.Errorf("ipc: worker: reading hello: %w", err)
		}
		if m == 0 {
			return fmt.Errorf("ipc: worker: %w: truncated hello", ErrProtocol)
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return fmt.Errorf("ipc: worker: %w: too many file descriptors with hello", ErrProtocol)
		}
	}
	h, err := parseHeader(hb[:], maxRequestBody)
	if err != nil {
		return fmt.Errorf("ipc: worker: %w", err)
	}
	if h.Type != msgHello {
		return fmt.Errorf("ipc: worker: %w: first message is %s, want hello", ErrProtocol, msgName(h.Type))
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(s.conn, body); err != nil {
		return fmt.Errorf("ipc: worker: %w: truncated hello: %v", ErrProtocol, err)
	}
	d := decoder{b: body}
	hello := decodeHello(&d)
	// A newer shell may append fields; ignore them.
	if d.err != nil {
		return fmt.Errorf("ipc: worker: %w", d.err)
	}
	if hello.Version != ProtocolVersion {
		err := fmt.Errorf("%w: shell speaks version %d, worker speaks version %d", ErrVersion, hello.Version, ProtocolVersion)
		s.reply(h, err, nil, nil)
		return fmt.Errorf("ipc: worker: %w", err)
	}
	ans := helloMsg{Version: ProtocolVersion, MaxInline: MaxInline}
	if hello.Caps&capSHM != 0 && len(fds) == 1 {
		if err := s.mapShm(fds[0], hello.Slots, hello.SlotSize); err == nil {
			ans.Caps |= capSHM
			ans.Slots, ans.SlotSize = s.slots, s.slotSize
		}
	}
	if hello.Caps&capStream != 0 {
		ans.Caps |= capStream
	}
	s.state.Store(int32(stateReady))
	var e encoder
	ans.encode(&e)
	return s.reply(h, nil, e.b, nil)
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// mapShm maps the shell's region after checking its shape against the
// limits and the file's real size.
func (s *server) mapShm(fd int, slots, slotSize uint32) error {
	if slots == 0 || slots > maxSlots || slotSize == 0 || slotSize > maxSlotSize ||
		uint64(slots)*uint64(slotSize) > maxShmSize || slotSize%uint32(os.Getpagesize()) != 0 {
		return fmt.Errorf("ipc: worker: bad shared memory shape %d x %d", slots, slotSize)
	}
	size := int(slots) * int(slotSize)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Size < int64(size) {
		return fmt.Errorf("ipc: worker: shared memory is %d bytes, want %d", st.Size, size)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	s.shm, s.slots, s.slotSize = mem, slots, slotSize
	return nil
}

// reply writes one reply frame: header, error block, payload, then data.
func (s *server) reply(req header, err error, payload, data []byte) error {
	var e encoder
	e.b = make([]byte, headerSize, headerSize+errBlockMin+64+len(payload))
	appendErr(&e, err)
	e.b = append(e.b, payload...)
	putHeader(e.b, header{Type: req.Type | replyBit, ID: req.ID, Length: uint32(len(e.b) - headerSize + len(data))})
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(data) == 0 {
		_, err = s.conn.Write(e.b)
	} else {
		bufs := net.Buffers{e.b, data}
		_, err = bufs.WriteTo(s.conn)
	}
	return err
}

var inlinePool = sync.Pool{New: func() any { b := make([]byte, MaxInline); return &b }}

func (s *server) handle(h header, body []byte) {
	d := decoder{b: body}
	var e encoder
	var err error
	switch h.Type {
	case msgOpen:
		spec := d.str(maxSpec, "open spec")
		if err = d.end("open request"); err == nil {
			var info DiskInfo
			info, err = s.openDisk(spec)
			info.encode(&e)
		}
	case msgList:
		if err = d.end("list request"); err == nil {
			list := s.list()
			e.u32(uint32(len(list)))
			for _, sd := range list {
				DiskInfo{ID: sd.id, Size: sd.size, Name: sd.name}.encode(&e)
			}
		}
	case msgStatus:
		if err = d.end("status request"); err == nil {
			list := s.list()
			e.u32(uint32(len(list)))
			for _, sd := range list {
				sd.status().encode(&e)
			}
		}
	case msgClose:
		id := d.u32("close disk id")
		if err = d.end("close request"); err == nil {
			err = s.closeDisk(id)
		}
	case msgRead:
		req := decodeReadReq(&d)
		if err = d.end("read request"); err == nil {
			s.read(h, req)
			return
		}
	case msgCopy:
		req := decodeCopyReq(&d)
		if err = d.end("copy request"); err == nil {
			s.copy(h, req)
			return
		}
	case msgStreamClose:
		id := d.u64("stream close id")
		if err = d.end("stream close request"); err == nil {
			err = s.closeStream(id)
		}
	default:
		err = fmt.Errorf("%w: unknown request %s", ErrProtocol, msgName(h.Type))
	}
	if err != nil {
		e.b = nil
		if h.Type == msgRead || h.Type == msgCopy {
			e.u32(0) // a read or copy reply always carries its count
		}
	}
	s.reply(h, err, e.b, nil)
}

func (s *server) read(h header, req readReq) {
	var e encoder
	fail := func(err error) {
		e.u32(0)
		s.reply(h, err, e.b, nil)
	}
	sd := s.disk(req.Disk)
	if sd == nil {
		fail(fmt.Errorf("ipc: read: %w: no open disk with id %d", os.ErrClosed, req.Disk))
		return
	}
	if req.Off < 0 {
		fail(fmt.Errorf("ipc: read %s: %w: negative offset %d", sd.name, os.ErrInvalid, req.Off))
		return
	}
	if req.Slot == noSlot && req.Len > MaxInline {
		fail(fmt.Errorf("%w: inline read of %d bytes, limit %d", ErrProtocol, req.Len, MaxInline))
		return
	}
	if req.Slot != noSlot && (s.shm == nil || req.Slot >= s.slots || req.Len > s.slotSize) {
		fail(fmt.Errorf("%w: read into slot %d length %d outside shared memory", ErrProtocol, req.Slot, req.Len))
		return
	}
	sd.sem <- struct{}{}
	var buf []byte
	if req.Slot == noSlot {
		s.inline <- struct{}{}
		p := inlinePool.Get().(*[]byte)
		defer func() {
			inlinePool.Put(p)
			<-s.inline
		}()
		buf = (*p)[:req.Len]
	} else {
		off := int(req.Slot) * int(s.slotSize)
		buf = s.shm[off : off+int(req.Len) : off+int(req.Len)]
	}
	n, err := sd.readAt(buf, req.Off)
	<-sd.sem
	e.u32(uint32(n))
	if req.Slot == noSlot {
		s.reply(h, err, e.b, buf[:n])
	} else {
		s.reply(h, err, e.b, nil)
	}
}

func (s *server) disk(id uint32) *serverDisk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disks[id]
}

func (s *server) list() []*serverDisk {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*serverDisk, 0, len(s.disks))
	for _, d := range s.disks {
		list = append(list, d)
	}
	slices.SortFunc(list, func(a, b *serverDisk) int { return cmp.Compare(a.id, b.id) })
	return list
}

func (s *server) openDisk(spec string) (DiskInfo, error) {
	s.mu.Lock()
	full := len(s.disks) >= maxDisks
	s.mu.Unlock()
	if full {
		return DiskInfo{}, fmt.Errorf("ipc: open %s: too many open disks (limit %d)", displayName(spec), maxDisks)
	}
	d, err := s.open(spec)
	if err != nil {
		return DiskInfo{}, err
	}
	size := d.Size()
	if size < 0 {
		d.Close()
		return DiskInfo{}, fmt.Errorf("ipc: open %s: negative size %d", displayName(spec), size)
	}
	name := ""
	if n, ok := d.(interface{ Name() string }); ok {
		name = n.Name()
	}
	if name == "" {
		name = displayName(spec)
	}
	sd := &serverDisk{name: truncate(name, maxName), d: d, size: size, sem: make(chan struct{}, maxDiskReads)}
	s.mu.Lock()
	if len(s.disks) >= maxDisks {
		s.mu.Unlock()
		d.Close()
		return DiskInfo{}, fmt.Errorf("ipc: open %s: too many open disks (limit %d)", name, maxDisks)
	}
	s.nextID++
	sd.id = s.nextID
	s.disks[sd.id] = sd
	s.mu.Unlock()
	return DiskInfo{ID: sd.id, Size: sd.size, Name: sd.name}, nil
}

func (s *server) closeDisk(id uint32) error {
	s.mu.Lock()
	sd := s.disks[id]
	delete(s.disks, id)
	s.mu.Unlock()
	if sd == nil {
		return fmt.Errorf("ipc: close: %w: no open disk with id %d", os.ErrClosed, id)
	}
	return sd.close()
}

func (sd *serverDisk) readAt(p []byte, off int64) (int, error) {
	sd.mu.Lock()
	if sd.closed {
		sd.mu.Unlock()
		return 0, fmt.Errorf("ipc: read %s: %w", sd.name, os.ErrClosed)
	}
	sd.active++
	sd.mu.Unlock()
	defer func() {
		sd.mu.Lock()
		sd.active--
		last := sd.closed && sd.active == 0
		sd.mu.Unlock()
		if last {
			sd.d.Close()
		}
	}()
	n, err := sd.d.ReadAt(p, off)
	if n < 0 || n > len(p) {
		n, err = 0, fmt.Errorf("ipc: read %s: disk returned %d bytes for a %d-byte read", sd.name, n, len(p))
	}
	sd.requests.Add(1)
	sd.bytes.Add(uint64(n))
	if err != nil && err != io.EOF {
		sd.errors.Add(1)
		sd.emu.Lock()
		sd.lastErr, sd.lastErrAt = err.Error(), time.Now()
		sd.emu.Unlock()
	}
	return n, err
}

// close closes the disk: the backend at once if no read runs on it, else
// when the last one returns, so that closing a disk whose reads hang does
// not hang as well. (The backend's error is lost then.)
func (sd *serverDisk) close() error {
	sd.mu.Lock()
	if sd.closed {
		sd.mu.Unlock()
		return nil
	}
	sd.closed = true
	idle := sd.active == 0
	sd.mu.Unlock()
	if idle {
		return sd.d.Close()
	}
	return nil
}

func (sd *serverDisk) status() DiskStatus {
	st := DiskStatus{
		ID:       sd.id,
		Name:     sd.name,
		Size:     sd.size,
		Bytes:    sd.bytes.Load(),
		Requests: sd.requests.Load(),
		Errors:   sd.errors.Load(),
		State:    "ready",
	}
	if s, ok := sd.d.(interface{ State() string }); ok {
		st.State = s.State()
	}
	if f, ok := sd.d.(interface{ Format() string }); ok {
		st.Format = f.Format()
	}
	st.ConnID = sd.id
	if c, ok := sd.d.(interface{ ConnID() int }); ok {
		if id := c.ConnID(); id >= 0 && uint64(id) <= math.MaxUint32 {
			st.ConnID = uint32(id)
		}
	}
	if r, ok := sd.d.(interface{ Reconnects() int }); ok {
		st.Reconnects = uint64(max(0, r.Reconnects()))
	}
	sd.emu.Lock()
	st.LastErr, st.LastErrAt = sd.lastErr, sd.lastErrAt
	sd.emu.Unlock()
	if l, ok := sd.d.(interface{ LastError() (error, time.Time) }); ok {
		if err, at := l.LastError(); err != nil && (st.LastErr == "" || at.After(st.LastErrAt)) {
			st.LastErr, st.LastErrAt = err.Error(), at
		}
	}
	return st
}

// displayName is a short name for a spec: the last path element of a file,
// or host/path of a URI without its user info and query, so no credential
// is shown.
func displayName(spec string) string {
	if i := strings.Index(spec, "://"); i >= 0 {
		rest := spec[i+3:]
		if j := strings.IndexAny(rest, "?#"); j >= 0 {
			rest = rest[:j]
		}
		host, p, _ := strings.Cut(rest, "/")
		if k := strings.LastIndexByte(host, '@'); k >= 0 {
			host = host[k+1:]
		}
		if p == "" {
			return spec[:i+3] + host
		}
		return spec[:i+3] + host + "/" + p
	}
	return path.Base(spec)
}
