package ipc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raModes are the shared-memory shapes the read-ahead tests run over.
var raModes = []struct {
	name string
	cfg  Config
}{
	{"default", Config{}},
	{"nocache", Config{CacheSize: -1}},
	{"16x512K", Config{Slots: 16, SlotSize: 512 << 10}},
	{"2x64K", Config{Slots: 2, SlotSize: 64 << 10, CacheSize: 256 << 10}},
}

func raCounters(c *Client) (hits uint64, issued, fallbacks int) {
	c.ra.mu.Lock()
	defer c.ra.mu.Unlock()
	return c.ra.hits, c.ra.issued, c.ra.fallbacks
}

// checkSlotsBack checks that once d is closed every slot comes back and no
// prefetch holds one.
func checkSlotsBack(t *testing.T, c *Client, d *Disk) {
	t.Helper()
	d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.ra.mu.Lock()
		held := c.ra.held
		c.ra.mu.Unlock()
		if held == 0 && len(c.shm.free) == c.shm.slots {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slots held by prefetches, %d of %d free", held, len(c.shm.free), c.shm.slots)
		}
		time.Sleep(time.Millisecond)
	}
}

// readSeq reads data front to back from start in reads of n bytes, with
// checkRead, up to and past the end of the disk.
func readSeq(t *testing.T, d *Disk, data []byte, start int64, n int) {
	t.Helper()
	for off := start; off < int64(len(data))+int64(n); off += int64(n) {
		checkRead(t, d, data, off, n)
		if t.Failed() {
			t.FailNow()
		}
	}
}

func TestReadaheadSequential(t *testing.T) {
	name, data := tempImage(t, 13<<20+4321)
	sizes := []int{256 << 10, 300<<10 + 7, 1 << 20, 1<<20 + 123, 3<<20 - 5, 8 << 20}
	for _, m := range raModes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d := openDisk(t, c, name)
			for _, n := range sizes {
				for _, start := range []int64{0, 4097, 5<<20 + 3} {
					readSeq(t, d, data, start, n)
				}
			}
			hits, issued, fallbacks := raCounters(c)
			t.Logf("hits %d, prefetches %d, fallbacks %d", hits, issued, fallbacks)
			if hits == 0 || issued == 0 {
				t.Error("no read-ahead")
			}
			if fallbacks != 0 && c.ra.budget > 1 {
				t.Errorf("%d reads fell back to direct reads", fallbacks)
			}
			checkSlotsBack(t, c, d)
		})
	}
}

// Random reads, big and small, in the middle of a stream neither get wrong
// data nor stop the stream.
func TestReadaheadInterleaved(t *testing.T) {
	name, data := tempImage(t, 24<<20+99)
	for _, m := range raModes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d := openDisk(t, c, name)
			r := rand.New(rand.NewPCG(7, 7))
			const n = 1<<20 + 17
			for off := int64(0); off < int64(len(data)); off += n {
				checkRead(t, d, data, off, n)
				switch r.IntN(4) {
				case 0:
					checkRead(t, d, data, r.Int64N(int64(len(data))), r.IntN(3<<20)+1)
				case 1:
					checkRead(t, d, data, r.Int64N(int64(len(data))), r.IntN(4096)+1)
				case 2:
					// A read just behind the stream.
					checkRead(t, d, data, max(0, off-5000), 300<<10)
				}
			}
			hits, _, _ := raCounters(c)
			if hits < 10 {
				t.Errorf("stream hit only %d times", hits)
			}
			checkSlotsBack(t, c, d)
		})
	}
}

// Skipping forward a little (a file's next extent) keeps the stream.
func TestReadaheadSkip(t *testing.T) {
	name, data := tempImage(t, 32<<20)
	c := startClient(t, Config{})
	d := openDisk(t, c, name)
	off := int64(0)
	for i := 0; off < int64(len(data)); i++ {
		checkRead(t, d, data, off, 1<<20)
		off += 1 << 20
		if i%5 == 4 {
			off += int64(i * 40000)
		}
	}
	if _, _, fb := raCounters(c); fb != 0 {
		t.Errorf("%d fallbacks", fb)
	}
	checkSlotsBack(t, c, d)
}

func TestReadaheadConcurrent(t *testing.T) {
	name, data := tempImage(t, 40<<20+555)
	for _, m := range raModes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d1 := openDisk(t, c, name)
			d2 := openDisk(t, c, name)
			var wg sync.WaitGroup
			for g := range 6 {
				d := d1
				if g%3 == 2 {
					d = d2
				}
				wg.Go(func() {
					n := []int{1 << 20, 256 << 10, 2<<20 + 1}[g%3]
					start := int64(g) * 5 << 20
					for off := start; off < int64(len(data)); off += int64(n) {
						checkRead(t, d, data, off, n)
					}
				})
			}
			// Random reads alongside.
			wg.Go(func() {
				r := rand.New(rand.NewPCG(1, 2))
				for range 100 {
					checkRead(t, d1, data, r.Int64N(int64(len(data))), r.IntN(2<<20)+1)
				}
			})
			wg.Wait()
			checkSlotsBack(t, c, d1)
			checkSlotsBack(t, c, d2)
		})
	}
}

// A worker killed in the middle of a stream: the next reads get the right
// bytes through the fresh worker, and the stream goes on there.
func TestReadaheadRestart(t *testing.T) {
	name, data := tempImage(t, 32<<20)
	c := startClient(t, Config{})
	// Slow reads, so that prefetches are still in flight at the kill.
	d := openDisk(t, c, slowSpec(name, 20*time.Millisecond))
	const n = 1 << 20
	off := int64(0)
	for range 6 {
		checkRead(t, d, data, off, n)
		off += n
	}
	c.ra.mu.Lock()
	inflight := c.ra.held
	c.ra.mu.Unlock()
	if inflight == 0 {
		t.Fatal("no prefetches in flight")
	}
	if err := syscall.Kill(c.workerPid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _, fb0 := raCounters(c)
	for ; off < int64(len(data))+n; off += n {
		checkRead(t, d, data, off, n)
	}
	if c.Restarts() != 1 {
		t.Errorf("%d restarts", c.Restarts())
	}
	hits, _, fb := raCounters(c)
	t.Logf("hits %d, fallbacks %d (%d before the kill)", hits, fb, fb0)
	if fb-fb0 != 1 {
		t.Errorf("%d fallbacks after the kill, want 1 (the read whose prefetch was lost)", fb-fb0)
	}
	checkSlotsBack(t, c, d)
}

// badSpec returns a spec for name whose reads fail with EIO where they touch
// [from, to).
func badSpec(name string, from, to int64) string {
	return fmt.Sprintf("%s#bad=%d-%d", name, from, to)
}

// slowSpec returns a spec for name whose reads take at least delay.
func slowSpec(name string, delay time.Duration) string {
	return fmt.Sprintf("%s#slow=%d", name, delay)
}

// faultyBackend fails the reads that touch [from, to) with EIO and makes
// every read take at least delay.
type faultyBackend struct {
	Backend
	from, to int64
	delay    time.Duration
}

func (f faultyBackend) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(f.delay)
	if off < f.to && off+int64(len(p)) > f.from {
		n := 0
		if off < f.from {
			n, _ = f.Backend.ReadAt(p[:f.from-off], off)
		}
		return n, syscall.EIO
	}
	return f.Backend.ReadAt(p, off)
}

// openFaulty opens a spec made by badSpec, slowSpec, gate.spec or
// statusSpec; ok is false for any other spec.
func openFaulty(spec string) (b Backend, ok bool, err error) {
	name, opt, ok := strings.Cut(spec, "#")
	if !ok {
		return nil, false, nil
	}
	var f faultyBackend
	if bad, ok := strings.CutPrefix(opt, "bad="); ok {
		a, b, _ := strings.Cut(bad, "-")
		f.from, _ = strconv.ParseInt(a, 10, 64)
		f.to, _ = strconv.ParseInt(b, 10, 64)
	} else if slow, ok := strings.CutPrefix(opt, "slow="); ok {
		d, _ := strconv.ParseInt(slow, 10, 64)
		f.delay = time.Duration(d)
	} else if g, ok := strings.CutPrefix(opt, "gate="); ok {
		return openGated(name, g)
	} else if at, ok := strings.CutPrefix(opt, "status="); ok {
		return openStatus(name, at)
	}
	f.Backend, err = fileOpener(name)
	return f, true, err
}

// A prefetch that fails is not reported until a read needs its range; then
// the read gets the disk's error, and reads after the range work.
func TestReadaheadErrors(t *testing.T) {
	name, data := tempImage(t, 16<<20)
	const from, to = 6<<20 + 100, 6<<20 + 200
	for _, m := range raModes {
		t.Run(m.name, func(t *testing.T) {
			c := startClient(t, m.cfg)
			d := openDisk(t, c, badSpec(name, from, to))
			const n = 512 << 10
			off := int64(0)
			for ; off+2*n <= from; off += n {
				checkRead(t, d, data, off, n)
			}
			// Let the prefetches reach the bad range (with room for more
			// than a piece or two of them).
			deadline := time.Now().Add(5 * time.Second)
			for c.ra.budget > 2 {
				st, err := c.Status()
				if err != nil {
					t.Fatal(err)
				}
				if st[0].Errors > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no prefetch reached the bad range")
				}
				time.Sleep(time.Millisecond)
			}
			checkRead(t, d, data, off, int(from-10-off)) // up to near the bad byte: fine
			p := make([]byte, n)
			got, err := d.ReadAt(p, from-10)
			if !errors.Is(err, syscall.EIO) || got >= n {
				t.Errorf("read over the bad range: %d, %v; want EIO", got, err)
			}
			if got > 10 || string(p[:got]) != string(data[from-10:from-10+int64(got)]) {
				t.Errorf("read over the bad range returned %d bytes", got)
			}
			for off = to; off < int64(len(data)); off += n {
				checkRead(t, d, data, off, n)
			}
			checkSlotsBack(t, c, d)
		})
	}
}

// A stream left in the middle gives its slots up to other reads.
func TestReadaheadAbandoned(t *testing.T) {
	name, data := tempImage(t, 64<<20)
	c := startClient(t, Config{CacheSize: -1})
	d := openDisk(t, c, name)
	for off := int64(0); off < 20<<20; off += 1 << 20 {
		checkRead(t, d, data, off, 1<<20)
	}
	// New streams elsewhere still get prefetches.
	for s := range 3 {
		for off := int64(30+10*s) << 20; off < int64(38+10*s)<<20; off += 1 << 20 {
			checkRead(t, d, data, off, 1<<20)
		}
	}
	_, _, fb := raCounters(c)
	if fb != 0 {
		t.Errorf("%d fallbacks", fb)
	}
	// Big random reads get all the slots they can use.
	for range 20 {
		checkRead(t, d, data, rand.Int64N(56<<20), 8<<20)
	}
	checkSlotsBack(t, c, d)
}
