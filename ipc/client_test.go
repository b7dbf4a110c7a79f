package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// workerEnv tells the test binary to act as the worker instead of running
// tests: "serve" serves fd 3 with fileOpener, "die" exits at once.
const workerEnv = "VMSH_IPC_TEST_WORKER"

func TestMain(m *testing.M) {
	switch os.Getenv(workerEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		if err := ServeWorker(fileOpener); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "shell":
		// A shell that starts a worker, prints its pid and waits to be
		// killed.
		c, err := Config{Command: workerCommand("serve")}.Start()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(c.workerPid())
		select {}
	default:
		os.Exit(3)
	}
}

// fileBackend is an image file as the worker's transport would open it
// (no Name method, so the worker derives the name from the spec).
type fileBackend struct {
	f    *os.File
	size int64
}

func (f fileBackend) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f fileBackend) Size() int64                             { return f.size }
func (f fileBackend) Close() error                            { return f.f.Close() }

func fileOpener(spec string) (Backend, error) {
	if b, ok, err := openFaulty(spec); ok {
		return b, err
	}
	f, err := os.Open(spec)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileBackend{f, st.Size()}, nil
}

func workerCommand(mode string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// A race-enabled binary sleeps a second at exit unless told not to.
		cmd.Env = append(os.Environ(), workerEnv+"="+mode, "GORACE=atexit_sleep_ms=0")
		return cmd
	}
}

func startClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Command == nil {
		cfg.Command = workerCommand("serve")
	}
	c, err := cfg.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openDisk opens the disk spec names on c, and fails the test if it
// cannot.
func openDisk(t testing.TB, c *Client, spec string) *Disk {
	t.Helper()
	d, err := c.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tempImage writes size pseudo-random bytes to a file in a temp dir.
func tempImage(t testing.TB, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	name := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name, data
}

// modes are the data paths every read test runs over.
var modes = []struct {
	name     string
	cfg      Config
	shm      bool
	declined bool // the shell offers shared memory, the worker declines
}{
	{"shm", Config{}, true, false},
	{"shm-nocache", Config{CacheSize: -1}, true, false},
	{"socket", Config{NoSharedMemory: true}, false, false},
	{"socket-nocache", Config{NoSharedMemory: true, CacheSize: -1}, false, false},
	{"smallslots", Config{Slots: 2, SlotSize: 64 << 10, CacheSize: 256 << 10}, true, false},
	{"declined", Config{Slots: 2, SlotSize: 4 << 20}, false, true},
}

func TestReadAtConcurrent(t *testing.T) {
	// Not a multiple of the chunk or slot size, so the tail is ragged.
	name, data := tempImage(t, 5<<20+12345)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			if m.declined {
				c.cur.shm = false
			}
			if got := c.SharedMemory(); got != m.shm {
				t.Fatalf("SharedMemory = %v, want %v", got, m.shm)
			}
			d := openDisk(t, c, name)
			if d.Size() != int64(len(data)) || d.Name() != "disk.img" {
				t.Fatalf("size %d name %q", d.Size(), d.Name())
			}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 2))
					for range 60 {
						var n int
						switch r.IntN(3) {
						case 0:
							n = r.IntN(4096) + 1
						case 1:
							n = r.IntN(300 << 10)
						default:
							n = r.IntN(3 << 20)
						}
						off := r.Int64N(int64(len(data)) + 1000)
						checkRead(t, d, data, off, n)
					}
				})
			}
			wg.Wait()
		})
	}
}

// checkRead reads n bytes at off and checks them and the error against
// io.ReaderAt's contract.
func checkRead(t *testing.T, r io.ReaderAt, data []byte, off int64, n int) {
	t.Helper()
	p := make([]byte, n)
	got, err := r.ReadAt(p, off)
	want := 0
	if off < int64(len(data)) {
		want = min(n, len(data)-int(off))
	}
	if got != want {
		t.Errorf("ReadAt(%d, %d) = %d, %v; want %d bytes", n, off, got, err, want)
		return
	}
	if want < n && err != io.EOF {
		t.Errorf("ReadAt(%d, %d) short: err %v, want io.EOF", n, off, err)
	}
	if want == n && err != nil {
		t.Errorf("ReadAt(%d, %d): %v", n, off, err)
	}
	if want > 0 && !bytes.Equal(p[:got], data[off:off+int64(got)]) {
		t.Errorf("ReadAt(%d, %d): wrong data", n, off)
	}
}

func TestEOF(t *testing.T) {
	name, data := tempImage(t, 100000)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d := openDisk(t, c, name)
			size := int64(len(data))
			for _, tc := range []struct {
				off int64
				n   int
			}{{size - 10, 10}, {size - 10, 20}, {size - 10, 2 << 20}, {size, 1}, {size + 5, 1}, {0, len(data) + 1}, {0, 0}} {
				checkRead(t, d, data, tc.off, tc.n)
			}
			if _, err := d.ReadAt(make([]byte, 1), -1); err == nil {
				t.Error("negative offset: no error")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	c := startClient(t, Config{})
	_, err := c.Open(filepath.Join(t.TempDir(), "missing.img"))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("open missing: %v, want fs.ErrNotExist", err)
	}
	if _, err := c.Open(string(make([]byte, maxSpec+1))); err == nil {
		t.Error("oversized spec accepted")
	}
}

func TestListStatusClose(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	c := startClient(t, Config{})
	d1 := openDisk(t, c, name)
	d2 := openDisk(t, c, name)
	checkRead(t, d1, data, 0, 1<<20)
	list, err := c.List()
	if err != nil || len(list) != 2 || list[0].Name != "disk.img" || list[1].Size != 1<<20 {
		t.Fatalf("list: %+v %v", list, err)
	}
	st, err := c.Status()
	if err != nil || len(st) != 2 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if st[0].Bytes != 1<<20 || st[0].Requests == 0 || st[0].State != "ready" || st[0].LastErr != "" ||
		st[0].ConnID != st[0].ID || st[0].Format != "" || st[0].Reconnects != 0 {
		t.Errorf("status[0] = %+v", st[0])
	}
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d1.ReadAt(make([]byte, 10), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if list, _ := c.List(); len(list) != 1 {
		t.Errorf("after close, list = %+v", list)
	}
	checkRead(t, d2, data, 100, 1000)
	c.Close()
	if _, err := d2.ReadAt(make([]byte, 10), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("read after client close: %v", err)
	}
	if _, err := c.Open(name); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("open after client close: %v", err)
	}
}

func (c *Client) workerPid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.cmd.Process.Pid
}

func TestRestart(t *testing.T) {
	name, data := tempImage(t, 4<<20)
	for _, m := range modes[:3] {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			var restarts atomic.Int32
			var why error
			c.OnRestart = func(err error) { why = err; restarts.Add(1) }
			d := openDisk(t, c, name)
			checkRead(t, d, data, 12345, 100)
			pid := c.workerPid()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Uncached and cached reads after the kill both work.
			checkRead(t, d, data, 1<<20, 3<<20)
			checkRead(t, d, data, 3<<20+7, 1000)
			if n := restarts.Load(); n != 1 {
				t.Fatalf("OnRestart called %d times", n)
			}
			t.Logf("OnRestart: %v", why)
			if c.workerPid() == pid || c.Restarts() != 1 {
				t.Errorf("no fresh worker")
			}
			// The old worker was reaped.
			if alive(pid) {
				t.Errorf("old worker %d still exists", pid)
			}
		})
	}
}

// Reads in flight when the worker dies are retried on the new one.
func TestRestartInFlight(t *testing.T) {
	name, data := tempImage(t, 8<<20)
	c := startClient(t, Config{CacheSize: -1})
	var restarts atomic.Int32
	c.OnRestart = func(error) { restarts.Add(1) }
	d := openDisk(t, c, name)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for {
				select {
				case <-stop:
					return
				default:
				}
				checkRead(t, d, data, r.Int64N(int64(len(data))), r.IntN(2<<20)+1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	syscall.Kill(c.workerPid(), syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := restarts.Load(); n != 1 {
		t.Errorf("OnRestart called %d times", n)
	}
}

func TestRestartGivesUp(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	var starts atomic.Int32
	c := startClient(t, Config{Command: func() *exec.Cmd {
		if starts.Add(1) == 1 {
			return workerCommand("serve")()
		}
		return workerCommand("die")()
	}})
	restarted := false
	c.OnRestart = func(error) { restarted = true }
	d := openDisk(t, c, name)
	checkRead(t, d, data, 0, 100)
	syscall.Kill(c.workerPid(), syscall.SIGKILL)
	_, err := d.ReadAt(make([]byte, 1<<20), 0)
	if err == nil || restarted {
		t.Fatalf("read after failed restarts: err %v, restarted %v", err, restarted)
	}
	t.Logf("error: %v", err)
	if n := starts.Load(); n != 1+maxStartAttempts {
		t.Errorf("%d workers started, want %d", n, 1+maxStartAttempts)
	}
	if _, err2 := c.Open(name); err2 == nil {
		t.Error("open after giving up: no error")
	}
}

// A disk that cannot be reopened after a restart reports why; the others
// keep working.
func TestRestartReopenFails(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	gone := filepath.Join(t.TempDir(), "gone.img")
	os.WriteFile(gone, data, 0o644)
	c := startClient(t, Config{CacheSize: -1})
	d := openDisk(t, c, name)
	dg := openDisk(t, c, gone)
	os.Remove(gone)
	syscall.Kill(c.workerPid(), syscall.SIGKILL)
	checkRead(t, d, data, 10, 1000)
	if _, err := dg.ReadAt(make([]byte, 10), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read of vanished disk: %v", err)
	}
}

func TestWorkerExitsOnClose(t *testing.T) {
	c := startClient(t, Config{})
	c.mu.Lock()
	k := c.cur
	c.mu.Unlock()
	start := time.Now()
	c.Close()
	select {
	case <-k.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not exit")
	}
	if !k.cmd.ProcessState.Success() {
		t.Errorf("worker exit: %v", k.cmd.ProcessState)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("worker took %v to exit", d)
	}
}

// serveInProcess runs Serve on one end of a socketpair and returns the
// other end and Serve's result.
func serveInProcess(t *testing.T) (*net.UnixConn, <-chan error) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "sock")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(conns[0], fileOpener) }()
	t.Cleanup(func() { conns[1].Close() })
	return conns[1], done
}

func sendFrame(t *testing.T, c *net.UnixConn, typ uint8, id uint64, body []byte) {
	t.Helper()
	if _, err := c.Write(appendFrame(nil, header{Type: typ, ID: id}, body)); err != nil {
		t.Fatal(err)
	}
}

func recvReply(t *testing.T, c *net.UnixConn) (header, error, []byte) {
	t.Helper()
	h, body, err := readFrame(c, maxReplyBody)
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{b: body}
	rerr := decodeErr(&d)
	if d.err != nil {
		t.Fatal(d.err)
	}
	return h, rerr, d.b
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// helloOpen says hello on c (frame 1) and opens name (frame 2).
func helloOpen(t *testing.T, c *net.UnixConn, name string) DiskInfo {
	t.Helper()
	sendFrame(t, c, msgHello, 1, helloBody(ProtocolVersion))
	if _, rerr, _ := recvReply(t, c); rerr != nil {
		t.Fatal(rerr)
	}
	var e encoder
	e.str(name, maxSpec)
	sendFrame(t, c, msgOpen, 2, e.b)
	_, rerr, payload := recvReply(t, c)
	d := decoder{b: payload}
	info := decodeDiskInfo(&d)
	if rerr != nil || d.err != nil {
		t.Fatal(rerr, d.err)
	}
	return info
}

func helloBody(version uint16) []byte {
	var e encoder
	helloMsg{Version: version}.encode(&e)
	return e.b
}

func TestServeVersionMismatch(t *testing.T) {
	c, done := serveInProcess(t)
	sendFrame(t, c, msgHello, 1, helloBody(99))
	h, rerr, _ := recvReply(t, c)
	if h.Type != msgHello|replyBit || !errors.Is(rerr, ErrVersion) {
		t.Errorf("reply %+v %v, want ErrVersion", h, rerr)
	}
	t.Logf("refusal: %v", rerr)
	if err := waitServe(t, done); !errors.Is(err, ErrVersion) {
		t.Errorf("Serve: %v", err)
	}
}

func TestServeOversizedFrame(t *testing.T) {
	c, done := serveInProcess(t)
	sendFrame(t, c, msgHello, 1, helloBody(ProtocolVersion))
	recvReply(t, c)
	var hb [headerSize]byte
	putHeader(hb[:], header{Type: msgOpen, ID: 2, Length: 1 << 30})
	c.Write(hb[:])
	if err := waitServe(t, done); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Serve: %v, want ErrFrameTooLarge", err)
	}
}

func TestServeFirstMessageNotHello(t *testing.T) {
	c, done := serveInProcess(t)
	sendFrame(t, c, msgList, 1, nil)
	if err := waitServe(t, done); !errors.Is(err, ErrProtocol) {
		t.Errorf("Serve: %v, want ErrProtocol", err)
	}
}

// Hostile requests get error replies, and the worker keeps serving.
func TestServeBadRequests(t *testing.T) {
	name, _ := tempImage(t, 4096)
	c, done := serveInProcess(t)
	info := helloOpen(t, c, name)
	reqs := map[string]readReq{
		"unknown disk":  {Disk: 77, Slot: noSlot, Len: 10},
		"negative off":  {Disk: info.ID, Slot: noSlot, Off: -5, Len: 10},
		"huge inline":   {Disk: info.ID, Slot: noSlot, Len: MaxInline + 1},
		"slot, no shm":  {Disk: info.ID, Slot: 0, Len: 10},
		"slot too high": {Disk: info.ID, Slot: 1 << 30, Len: 10},
	}
	id := uint64(10)
	for what, r := range reqs {
		var e encoder
		r.encode(&e)
		sendFrame(t, c, msgRead, id, e.b)
		h, rerr, _ := recvReply(t, c)
		if h.ID != id || rerr == nil {
			t.Errorf("%s: reply %+v err %v", what, h, rerr)
		}
		id++
	}
	sendFrame(t, c, msgRead, id, []byte{1, 2, 3})
	if _, rerr, payload := recvReply(t, c); !errors.Is(rerr, ErrProtocol) || len(payload) != 4 {
		t.Errorf("short read request: %v, %d-byte payload", rerr, len(payload))
	}
	sendFrame(t, c, msgClose, id+1, []byte{9, 0, 0, 0})
	if _, rerr, _ := recvReply(t, c); !errors.Is(rerr, fs.ErrClosed) {
		t.Errorf("close unknown disk: %v", rerr)
	}
	// A good read still works.
	var e encoder
	readReq{Disk: info.ID, Slot: noSlot, Off: 4000, Len: 200}.encode(&e)
	sendFrame(t, c, msgRead, id+2, e.b)
	_, rerr, payload := recvReply(t, c)
	if rerr != io.EOF || len(payload) != 4+96 {
		t.Errorf("read at the end: %v, %d bytes", rerr, len(payload))
	}
	c.CloseWrite()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve after EOF: %v", err)
	}
}

// Concurrent small reads of one chunk cost one request to the worker.
func TestCacheCoalesce(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	c := startClient(t, Config{})
	d := openDisk(t, c, name)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() { checkRead(t, d, data, chunkSize+int64(g*100), 100) })
	}
	wg.Wait()
	// A read across three chunks fetches the two it lacks.
	checkRead(t, d, data, 2*chunkSize-10, chunkSize+20)
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Requests != 3 || st[0].Bytes != 3*chunkSize {
		t.Errorf("worker served %d requests, %d bytes; want 3, %d", st[0].Requests, st[0].Bytes, 3*chunkSize)
	}
}

func TestCacheBound(t *testing.T) {
	name, data := tempImage(t, 4<<20)
	c := startClient(t, Config{CacheSize: 256 << 10})
	d := openDisk(t, c, name)
	for i := range int64(64) {
		checkRead(t, d, data, i*chunkSize+5, 10)
	}
	c.cache.mu.Lock()
	size, n := c.cache.size, len(c.cache.m)
	c.cache.mu.Unlock()
	if size > 256<<10 || n > 4 {
		t.Errorf("cache holds %d bytes in %d chunks, bound 256 KiB", size, n)
	}
	// Evicted chunks are fetched again and still correct.
	checkRead(t, d, data, 5, 10)
	d.Close()
	if c.cache.size != 0 || len(c.cache.m) != 0 {
		t.Errorf("closed disk left %d bytes in the cache", c.cache.size)
	}
}

// The worker dies with the shell, even when the shell is killed outright.
func TestWorkerDiesWithShell(t *testing.T) {
	shell := workerCommand("shell")()
	out, err := shell.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		shell.Process.Kill()
		t.Fatal(err)
	}
	shell.Process.Kill()
	shell.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("worker %d outlived its shell", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for a reaper counts as exited).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// A worker offered a region it cannot use answers without the capability.
func TestServeDeclinesShm(t *testing.T) {
	c, done := serveInProcess(t)
	var e encoder
	helloMsg{Version: ProtocolVersion, Caps: capSHM, Slots: 8, SlotSize: 1 << 20}.encode(&e)
	sendFrame(t, c, msgHello, 1, e.b) // no fd attached
	_, rerr, payload := recvReply(t, c)
	d := decoder{b: payload}
	ans := decodeHello(&d)
	if rerr != nil || d.err != nil || ans.Caps&capSHM != 0 || ans.Version != ProtocolVersion {
		t.Errorf("hello answer %+v, %v %v", ans, rerr, d.err)
	}
	c.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A shell that goes away without reading its replies resets the socket;
// the worker takes that as the end of the session, not as an error.
func TestServeShellGone(t *testing.T) {
	c, done := serveInProcess(t)
	sendFrame(t, c, msgHello, 1, helloBody(ProtocolVersion))
	recvReply(t, c)
	sendFrame(t, c, msgStatus, 2, nil)
	time.Sleep(50 * time.Millisecond) // the reply waits unread
	c.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve: %v", err)
	}
}
