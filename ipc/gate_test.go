package ipc

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate holds the reads of a disk until the test opens it. The worker is
// another process, so the gate is a directory: reads wait while the file
// "open" in it is missing.
type gate struct{ dir string }

func newGate(t *testing.T) *gate { return &gate{t.TempDir()} }

func (g *gate) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// spec returns a spec for the image name whose reads touching [from, to)
// wait for the gate.
func (g *gate) spec(name string, from, to int64) string {
	return fmt.Sprintf("%s#gate=%s,%d-%d", name, g.dir, from, to)
}

// openSpec returns a spec for the image name whose opening waits for the
// gate.
func (g *gate) openSpec(name string) string {
	return fmt.Sprintf("%s#gate=%s,open", name, g.dir)
}

func waitGate(dir string) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "open")); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// gatedBackend is a disk whose reads touching [from, to) wait for a gate.
// Its name is the image's, and its state says how many reads wait and
// how many bytes they ask for: "waiting 3 (1048676 bytes)".
type gatedBackend struct {
	Backend
	name     string
	dir      string
	from, to int64
	waiting  *atomic.Int64
	bytes    *atomic.Int64
}

func (g gatedBackend) ReadAt(p []byte, off int64) (int, error) {
	if off < g.to && off+int64(len(p)) > g.from {
		g.waiting.Add(1)
		g.bytes.Add(int64(len(p)))
		waitGate(g.dir)
		g.bytes.Add(-int64(len(p)))
		g.waiting.Add(-1)
	}
	return g.Backend.ReadAt(p, off)
}

func (g gatedBackend) Name() string { return g.name }
func (g gatedBackend) State() string {
	return fmt.Sprintf("waiting %d (%d bytes)", g.waiting.Load(), g.bytes.Load())
}

// openGated opens the spec options made by gate.spec or gate.openSpec.
func openGated(name, opt string) (Backend, bool, error) {
	dir, rng, _ := strings.Cut(opt, ",")
	if rng == "open" {
		waitGate(dir)
		b, err := fileOpener(name)
		return b, true, err
	}
	a, b, _ := strings.Cut(rng, "-")
	g := gatedBackend{name: path.Base(name), dir: dir, waiting: new(atomic.Int64), bytes: new(atomic.Int64)}
	g.from, _ = strconv.ParseInt(a, 10, 64)
	g.to, _ = strconv.ParseInt(b, 10, 64)
	var err error
	g.Backend, err = fileOpener(name)
	return g, true, err
}

// waitWaiting waits until at least n reads of the i-th open disk wait at
// its gate, as the worker's status says (which also shows that status is
// answered while reads hang), and returns how many do.
func waitWaiting(t *testing.T, c *Client, i, n int) int {
	t.Helper()
	return waitGateState(t, c, i, func(reads, _ int64) bool { return reads >= int64(n) })
}

// waitWaitingBytes waits until the reads waiting at the gate of the i-th
// open disk ask for at least n bytes in all. Unlike a count of reads, this
// tells when a read of a known size has begun: the shell may split one
// read into several requests, and some of them may not have reached the
// worker yet.
func waitWaitingBytes(t *testing.T, c *Client, i int, n int64) {
	t.Helper()
	waitGateState(t, c, i, func(_, bytes int64) bool { return bytes >= n })
}

// waitGateState polls the worker's status until ok accepts the gate's
// counts of the i-th open disk, and returns the count of waiting reads.
func waitGateState(t *testing.T, c *Client, i int, ok func(reads, bytes int64) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status()
		if err != nil {
			t.Fatal(err)
		}
		var reads, bytes int64
		fmt.Sscanf(st[i].State, "waiting %d (%d bytes)", &reads, &bytes)
		if ok(reads, bytes) {
			return int(reads)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate state %q: not what the test waits for", st[i].State)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A read that hangs in the worker holds up neither reads of other offsets
// of its disk nor other disks nor status: the worker serves each request
// in a goroutine of its own, and the shell reads through the socket when
// the hanging reads hold every shared-memory slot.
func TestSlowReadsDoNotBlock(t *testing.T) {
	name, data := tempImage(t, 8<<20)
	for _, m := range []struct {
		name string
		cfg  Config
	}{
		{"shm", Config{CacheSize: -1}},
		{"socket", Config{NoSharedMemory: true, CacheSize: -1}},
	} {
		t.Run(m.name, func(t *testing.T) {
			g := newGate(t)
			c := startClient(t, m.cfg)
			slow := openDisk(t, c, g.spec(name, 0, 4<<20))
			other := openDisk(t, c, name)
			var wg sync.WaitGroup
			hang := func(from, to int) {
				for i := from; i < to; i++ {
					wg.Go(func() { checkRead(t, slow, data, int64(i)*64<<10, 64<<10) })
				}
			}
			within := func(what string, f func()) {
				t.Helper()
				done := make(chan struct{})
				go func() { f(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: blocked behind the hanging reads", what)
				}
			}
			hang(0, 8)
			waitWaiting(t, c, 0, 8)
			within("another offset", func() { checkRead(t, slow, data, 6<<20, 1<<20) })
			hang(8, 40)
			waitWaiting(t, c, 0, maxDiskReads)
			within("another disk", func() { checkRead(t, other, data, 5, 3<<20) })
			within("status", func() {
				if _, err := c.Status(); err != nil {
					t.Error(err)
				}
			})
			g.open(t)
			within("the hanging reads", wg.Wait)
		})
	}
}

// Closing a disk whose reads hang does not hang: the worker closes the
// backend when the last read returns.
func TestCloseWhileReadsHang(t *testing.T) {
	name, _ := tempImage(t, 1<<20)
	g := newGate(t)
	c := startClient(t, Config{})
	d := openDisk(t, c, g.spec(name, 0, 1<<20))
	done := make(chan struct{})
	go func() {
		d.ReadAt(make([]byte, 1<<20), 0)
		close(done)
	}()
	waitWaiting(t, c, 0, 1)
	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	if list, err := c.List(); err != nil || len(list) != 0 {
		t.Errorf("after Close: list %+v, %v", list, err)
	}
	g.open(t)
	<-done
}
