package ipc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitIdle waits until no request is in flight on the live connection and
// every slot is back in the free list, or held by a prefetch of a live
// stream whose answer has come.
func waitIdle(t *testing.T, c *Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		k := c.cur
		c.mu.Unlock()
		inflight, free, orphans, held := len(k.tokens), 0, 0, 0
		if c.shm != nil {
			free, orphans = len(c.shm.free), int(c.shm.orphans.Load())
			c.ra.mu.Lock()
			held = c.ra.held
			c.ra.mu.Unlock()
		}
		if inflight == 0 && orphans == 0 && (c.shm == nil || free+held == c.shm.slots) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not idle: %d requests in flight, %d slots free, %d orphaned, %d held by prefetches", inflight, free, orphans, held)
		}
		time.Sleep(time.Millisecond)
	}
}

// sentinel returns a buffer of n bytes of 0xAA.
func sentinel(n int) []byte { return bytes.Repeat([]byte{0xAA}, n) }

func untouched(p []byte) bool { return len(bytes.Trim(p, "\xAA")) == 0 }

// timeoutModes are the data paths the timeout tests run over.
var timeoutModes = modes[:4]

// A read the worker does not answer in time fails with ErrTimeout naming
// the read; its buffer is never written, the late answer is dropped, and
// the next read works.
func TestTimeout(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	for _, m := range timeoutModes {
		t.Run(m.name, func(t *testing.T) {
			g := newGate(t)
			cfg := m.cfg
			cfg.Timeout = 200 * time.Millisecond
			c := startClient(t, cfg)
			d := openRetry(t, c, g.spec(name, 0, 1<<20))
			p := sentinel(64 << 10)
			start := time.Now()
			n, err := d.ReadAt(p, 0x10000)
			took := time.Since(start)
			if n != 0 || !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrInterrupted) {
				t.Fatalf("ReadAt = %d, %v; want ErrTimeout", n, err)
			}
			const want = "ipc: read of disk.img at offset 0x10000 (64 KiB): no answer from the worker in 200ms"
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if took < 200*time.Millisecond || took > 5*time.Second {
				t.Errorf("timed out after %v", took)
			}
			// The worker is up and answers status while the read hangs.
			waitWaiting(t, c, 0, 1)
			g.open(t)
			waitIdle(t, c)
			if !untouched(p) {
				t.Error("the late answer was written into the buffer")
			}
			checkRead(t, d, data, 0x10000, 64<<10)
			checkRead(t, d, data, 12345, 300<<10)
			if c.Restarts() != 0 {
				t.Errorf("%d restarts", c.Restarts())
			}
		})
	}
}

// An open the worker does not answer in time fails with ErrTimeout; the
// disk the worker opens later is closed again.
func TestOpenTimeout(t *testing.T) {
	name, _ := tempImage(t, 1<<20)
	g := newGate(t)
	c := startClient(t, Config{Timeout: 100 * time.Millisecond})
	_, err := c.Open(g.openSpec(name))
	if !errors.Is(err, ErrTimeout) || !strings.HasPrefix(err.Error(), "ipc: open ") ||
		!strings.HasSuffix(err.Error(), ": no answer from the worker in 100ms") {
		t.Fatalf("Open: %v, want ErrTimeout", err)
	}
	c.mu.Lock()
	k := c.cur
	c.mu.Unlock()
	k.mu.Lock()
	seq := k.seq
	k.mu.Unlock()
	g.open(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.mu.Lock()
		closed := k.seq > seq // the late open was answered and closed
		k.mu.Unlock()
		if closed {
			waitIdle(t, c)
			if list, err := c.List(); err != nil || len(list) != 0 {
				t.Fatalf("after the late open: list %+v, %v", list, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the late open was not closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// Interrupt stops every read waiting at that moment, small or big, without
// touching the connection; a read begun after it is not affected.
func TestInterrupt(t *testing.T) {
	name, data := tempImage(t, 4<<20)
	for _, m := range timeoutModes {
		t.Run(m.name, func(t *testing.T) {
			g := newGate(t)
			c := startClient(t, m.cfg)
			d := openRetry(t, c, g.spec(name, 0, 4<<20))
			reads := []struct {
				off int64
				n   int
			}{{5000, 100}, {1 << 20, 300 << 10}, {0, 3 << 20}}
			bufs := make([][]byte, len(reads))
			errs := make([]error, len(reads))
			var wg sync.WaitGroup
			// One read at a time, each seen waiting before the next
			// starts: a read may be several requests, so only the bytes
			// waiting tell that a read has begun. A read asks for at
			// most its span rounded out to cache chunks (the cache
			// fetches whole chunks), so the reads before one ask for at
			// most the sum of theirs.
			var before int64
			for i, r := range reads {
				bufs[i] = sentinel(r.n)
				wg.Go(func() {
					var n int
					n, errs[i] = d.ReadAt(bufs[i], r.off)
					if n != 0 {
						errs[i] = fmt.Errorf("read %d bytes (%w)", n, errs[i])
					}
				})
				waitWaitingBytes(t, c, 0, before+1)
				first, end := r.off/chunkSize*chunkSize, (r.off+int64(r.n)+chunkSize-1)/chunkSize*chunkSize
				before += end - first
			}
			c.Interrupt()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				buf := make([]byte, 1<<20)
				t.Fatalf("interrupted reads did not return; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			}
			for i, err := range errs {
				if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
					t.Errorf("read %d: %v, want ErrInterrupted", i, err)
				}
			}
			t.Logf("error: %v", errs[0])
			// A read begun after Interrupt waits for its answer.
			late := make(chan error, 1)
			go func() {
				p := make([]byte, 1000)
				_, err := d.ReadAt(p, 2<<20)
				if err == nil && !bytes.Equal(p, data[2<<20:2<<20+1000]) {
					err = errors.New("wrong data")
				}
				late <- err
			}()
			select {
			case err := <-late:
				t.Fatalf("read after Interrupt returned early: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			g.open(t)
			if err := <-late; err != nil {
				t.Errorf("read after Interrupt: %v", err)
			}
			waitIdle(t, c)
			for i, p := range bufs {
				if !untouched(p) {
					t.Errorf("read %d: buffer written after Interrupt", i)
				}
			}
			checkRead(t, d, data, 0, 4<<20)
			checkRead(t, d, data, 5000, 100)
		})
	}
}

func TestReadAtContext(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	g := newGate(t)
	c := startClient(t, Config{})
	d := openRetry(t, c, g.spec(name, 0, 1<<19))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitWaiting(t, c, 0, 1)
		cancel()
	}()
	p := sentinel(4096)
	if _, err := d.ReadAtContext(ctx, p, 0); !errors.Is(err, context.Canceled) || errors.Is(err, ErrInterrupted) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	// Done before the read begins: nothing is sent.
	if _, err := d.ReadAtContext(ctx, p, 1<<19); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.ReadAtContext(ctx, make([]byte, 2<<20), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v, want context.DeadlineExceeded", err)
	}
	// Other reads go on.
	checkRead(t, d, data, 1<<19, 1000)
	g.open(t)
	waitIdle(t, c)
	if !untouched(p) {
		t.Error("buffer written after the context ended")
	}
	checkRead(t, d, data, 0, 1<<20)
}

// Interrupt during a big sequential read stops the read that waits for a
// prefetch; the stream's slots come back once the worker answers, and
// reading on works.
func TestInterruptReadahead(t *testing.T) {
	name, data := tempImage(t, 32<<20)
	const gateAt = 12 << 20
	g := newGate(t)
	c := startClient(t, Config{})
	d := openRetry(t, c, g.spec(name, gateAt, gateAt+1<<20))
	const n = 1 << 20
	var at atomic.Int64
	res := make(chan error, 1)
	go func() {
		for off := int64(0); off < int64(len(data)); off += n {
			at.Store(off)
			p := make([]byte, n)
			if _, err := d.ReadAt(p, off); err != nil {
				res <- fmt.Errorf("at %#x: %w", off, err)
				return
			}
			if !bytes.Equal(p, data[off:off+n]) {
				res <- fmt.Errorf("at %#x: wrong data", off)
				return
			}
		}
		res <- errors.New("read through the gate")
	}()
	waitWaiting(t, c, 0, 1)
	for at.Load() < gateAt {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if hits, _, _ := raCounters(c); hits == 0 {
		t.Error("no read-ahead before the gate")
	}
	c.Interrupt()
	select {
	case err := <-res:
		if !errors.Is(err, ErrInterrupted) || !strings.HasPrefix(err.Error(), fmt.Sprintf("at %#x: ", gateAt)) {
			t.Errorf("reader: %v, want ErrInterrupted at %#x", err, gateAt)
		}
		t.Logf("reader: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("interrupted reader did not return")
	}
	g.open(t)
	waitIdle(t, c)
	hits0, _, _ := raCounters(c)
	readSeq(t, d, data, gateAt, n)
	if hits, _, _ := raCounters(c); hits <= hits0 {
		t.Error("no read-ahead after the interrupt")
	}
	checkSlotsBack(t, c, d)
}

// Reads that time out while holding shared-memory slots give them back
// when the worker answers; meanwhile other disks are read through the
// socket.
func TestAbandonedSlots(t *testing.T) {
	name, data := tempImage(t, 8<<20)
	g := newGate(t)
	c := startClient(t, Config{Timeout: 500 * time.Millisecond, CacheSize: -1})
	stuck := openRetry(t, c, g.spec(name, 0, 8<<20))
	other := openRetry(t, c, name)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			// Below the read-ahead threshold, so no prefetch holds a slot.
			p := sentinel(200 << 10)
			_, err := stuck.ReadAt(p, int64(i)*256<<10)
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("read %d: %v, want ErrTimeout", i, err)
			}
		})
	}
	wg.Wait()
	if o := c.shm.orphans.Load(); o == 0 || len(c.shm.free)+int(o) != c.shm.slots {
		t.Errorf("%d slots orphaned, %d free", o, len(c.shm.free))
	}
	// The other disk is read through the socket while the slots are out.
	checkRead(t, other, data, 3<<20+5, 2<<20)
	if _, err := c.Status(); err != nil {
		t.Error(err)
	}
	g.open(t)
	waitIdle(t, c)
	if free := len(c.shm.free); free != c.shm.slots {
		t.Errorf("%d of %d slots free", free, c.shm.slots)
	}
	checkRead(t, stuck, data, 0, 8<<20)
	checkRead(t, other, data, 7, 100)
}

// A reply that arrives just as its read times out is either taken whole or
// dropped whole: the read succeeds with the right bytes, or fails with
// ErrTimeout and its buffer does not change after it returned.
func TestReplyAtTimeout(t *testing.T) {
	name, data := tempImage(t, 4<<20)
	const delay = 2 * time.Millisecond
	for _, m := range timeoutModes {
		t.Run(m.name, func(t *testing.T) {
			cfg := m.cfg
			cfg.Timeout = delay
			c := startClient(t, cfg)
			d := openRetry(t, c, slowSpec(name, delay))
			type failure struct{ p, then []byte }
			var mu sync.Mutex
			var failed []failure
			var ok, timedOut atomic.Int32
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 9))
					for range 40 {
						n := []int{100, 64 << 10, 300 << 10}[r.IntN(3)]
						off := r.Int64N(int64(len(data) - n))
						p := sentinel(n)
						got, err := d.ReadAt(p, off)
						switch {
						case err == nil && got == n && bytes.Equal(p, data[off:off+int64(n)]):
							ok.Add(1)
						case errors.Is(err, ErrTimeout):
							timedOut.Add(1)
							mu.Lock()
							failed = append(failed, failure{p, bytes.Clone(p)})
							mu.Unlock()
						default:
							t.Errorf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
						}
					}
				})
			}
			wg.Wait()
			waitIdle(t, c)
			for _, f := range failed {
				if !bytes.Equal(f.p, f.then) {
					t.Fatal("a timed-out read's buffer was written after it returned")
				}
			}
			t.Logf("%d reads in time, %d timed out", ok.Load(), timedOut.Load())
		})
	}
}

// Concurrent readers of one chunk share one fetch. If it times out they
// all get the error, nothing is cached and the next read fetches again; if
// they are interrupted the fetch goes on and its chunk is cached.
func TestCacheFetchStopped(t *testing.T) {
	name, data := tempImage(t, 1<<20)
	for _, interrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("interrupt=%v", interrupt), func(t *testing.T) {
			g := newGate(t)
			cfg := Config{Timeout: 300 * time.Millisecond}
			if interrupt {
				cfg.Timeout = 0
			}
			c := startClient(t, cfg)
			d := openRetry(t, c, g.spec(name, 0, 1<<20))
			errs := make([]error, 10)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = d.ReadAt(make([]byte, 100), chunkSize+int64(i)*100)
				})
			}
			waitWaiting(t, c, 0, 1)
			if interrupt {
				time.Sleep(20 * time.Millisecond) // let every reader find the chunk
				c.Interrupt()
			}
			wg.Wait()
			for i, err := range errs {
				if interrupt && !errors.Is(err, ErrInterrupted) || !interrupt && !errors.Is(err, ErrTimeout) {
					t.Errorf("reader %d: %v", i, err)
				}
			}
			if !interrupt && errs[0].Error() != "ipc: read of disk.img at offset 0x10000 (64 KiB): no answer from the worker in 300ms" {
				t.Errorf("error: %v", errs[0])
			}
			g.open(t)
			waitIdle(t, c)
			st, err := c.Status()
			if err != nil || st[0].Requests != 1 {
				t.Fatalf("worker served %d requests (%v), want the one fetch", st[0].Requests, err)
			}
			checkRead(t, d, data, chunkSize+5, 1000)
			st, _ = c.Status()
			want := uint64(2) // fetched again
			if interrupt {
				want = 1 // cached
			}
			if st[0].Requests != want {
				t.Errorf("worker served %d requests, want %d", st[0].Requests, want)
			}
		})
	}
}

// openRetry opens spec, trying again when the open itself times out: the
// tests' short timeouts bound opens too, and a loaded machine can miss them.
func openRetry(t *testing.T, c *Client, spec string) *Disk {
	t.Helper()
	var err error
	for range 100 {
		var d *Disk
		if d, err = c.Open(spec); err == nil {
			return d
		}
		if !errors.Is(err, ErrTimeout) {
			break
		}
	}
	t.Fatal(err)
	return nil
}
