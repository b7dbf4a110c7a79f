package ipc

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// shmRegion is the shell's shared-memory region: a memfd divided into slots.
// A read request owns one slot from the moment it is sent until the shell
// has copied the data out; the worker writes into a slot only while serving
// the request that names it.
type shmRegion struct {
	fd       int
	slots    int
	slotSize int
	free     chan int
	reclaim  func() // if set, called by get when no slot is free

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
	r := &shmRegion{fd: fd, slots: slots, slotSize: slotSize, free: make(chan int, slots), mem: mem}
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

// get takes a free slot, waiting for one if need be.
func (r *shmRegion) get() int {
	select {
	case slot := <-r.free:
		return slot
	default:
	}
	if r.reclaim != nil {
		r.reclaim()
	}
	return <-r.free
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
