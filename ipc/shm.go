package ipc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// shmRegion is the shell's shared-memory region: a memfd divided into slots.
// A read request owns one slot from the moment it is sent until the shell
// has copied the data out, or, if its caller stopped waiting, until the
// worker's reply has come (or the worker has been reaped): the worker writes
// into a slot only while serving the request that names it.
type shmRegion struct {
	fd       int
	slots    int
	slotSize int
	free     chan int
	reclaim  func() // if set, called by get when no slot is free

	// orphans counts slots held by requests whose callers stopped
	// waiting; orphaned is closed (and replaced) each time one more is.
	orphans  atomic.Int32
	omu      sync.Mutex
	orphaned chan struct{}

	mu  sync.RWMutex // read-held while a slot is in use; held to unmap
	mem []byte       // nil once unmapped
}

// newShm creates a sealed memfd of slots*slotSize bytes and maps it. The
// seals stop the worker from shrinking the file under the shell's mapping
// (which would turn the shell's next copy into SIGBUS).
func newShm(slots, slotSize int) (*shmRegion, error) {
	size := slots * slotSize
	fd, err := unix.MemfdCreate("vmsh-ipc", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("ipc: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipc: memfd size: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipc: memfd seals: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ipc: mmap: %w", err)
	}
	r := &shmRegion{fd: fd, slots: slots, slotSize: slotSize, free: make(chan int, slots), mem: mem,
		orphaned: make(chan struct{})}
	for i := range slots {
		r.free <- i
	}
	return r, nil
}

// slot returns the memory of slot i. Call with mu read-held.
func (r *shmRegion) slot(i int) []byte {
	off := i * r.slotSize
	return r.mem[off : off+r.slotSize : off+r.slotSize]
}

// errNoSlot is returned by get when no slot is free and the slots are not
// coming back soon: the read should go through the socket instead.
var errNoSlot = errors.New("ipc: every shared-memory slot is in use")

// slotPatience is how long get waits for a slot before it gives up on the
// region: requests to a stalled disk may hold every slot, and reads of
// other disks should not wait for them.
const slotPatience = 100 * time.Millisecond

// get takes a free slot, waiting for one if need be, until w stops it at
// dl. It returns errNoSlot rather than wait while any slot is orphaned, or
// when none came back within slotPatience.
func (r *shmRegion) get(w *waiter, dl time.Time) (int, error) {
	select {
	case slot := <-r.free:
		return slot, nil
	default:
	}
	if r.reclaim != nil {
		r.reclaim()
	}
	var s stopper
	var patience *time.Timer
	defer func() {
		s.stop()
		if patience != nil {
			patience.Stop()
		}
	}()
	for {
		r.omu.Lock()
		orphaned := r.orphaned
		r.omu.Unlock()
		if r.orphans.Load() > 0 {
			select {
			case slot := <-r.free:
				return slot, nil
			default:
				return 0, errNoSlot
			}
		}
		if s.w == nil {
			s = w.stopper(dl)
			patience = time.NewTimer(slotPatience)
		}
		select {
		case slot := <-r.free:
			return slot, nil
		case <-patience.C:
			return 0, errNoSlot
		case <-orphaned:
		case <-s.timer:
			return 0, s.timedOut("no free shared-memory slot")
		case <-w.intr:
			return 0, interruptedError{}
		case <-w.ctx.Done():
			return 0, w.ctx.Err()
		}
	}
}

// orphan hands slot, held by call cl on k whose caller stopped waiting, to
// a goroutine that frees it once the worker can no longer write into it:
// when the reply has come, or the worker has been reaped.
func (r *shmRegion) orphan(k *conn, cl *call, slot int) {
	r.orphans.Add(1)
	r.omu.Lock()
	close(r.orphaned)
	r.orphaned = make(chan struct{})
	r.omu.Unlock()
	go func() {
		<-cl.done
		if isConnLost(cl.err) {
			<-k.exited
		}
		r.free <- slot
		r.orphans.Add(-1)
	}()
}

// copyOut copies slot i's bytes [from, to) into p. It reports false if the
// region is unmapped.
func (r *shmRegion) copyOut(p []byte, i, from, to int) (int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.mem == nil {
		return 0, false
	}
	return copy(p, r.slot(i)[from:to]), true
}

// close unmaps the region once no slot is in use.
func (r *shmRegion) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
		unix.Close(r.fd)
	}
}
