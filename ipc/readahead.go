package ipc

import (
	"sync"
	"time"
)

// Sequential read-ahead.
//
// Without it a big sequential read (cat of a large file: 1 MiB ReadAt calls
// one after the other) waits a full round trip per call, and the worker's
// pread and the shell's copy out of shared memory never overlap. A stream
// tracker notices a ReadAt of at least raThreshold bytes that starts where
// the previous one of the same disk ended and from then on keeps a window
// of requests in flight ahead of the reader, each into a spare slot. The
// reader's next ReadAt waits for the requests that cover it and copies out
// of their slots; every slot it empties is refilled at once with the next
// piece of the stream, so the worker reads ahead while the shell copies.
//
// Bounds: prefetches hold at most budget slots of the region (the rest stay
// free for other reads), never reach past the end of the disk, and a
// stream's window grows from a few slots to raMaxWindow bytes. A read that
// does not continue a stream starts a new tracker in place of the least
// recently used one, whose prefetches are dropped. A prefetch that failed or
// came back short is never reported by itself: the reader that needs its
// range reads that range again directly and gets the normal result. A
// worker that dies fails the prefetches in flight with the connection; they
// are dropped and the read goes through the restarted worker. A prefetch
// that is not answered within the timeout (counted from when it was sent),
// or whose reader is interrupted, fails the read and ends the stream; its
// slot comes back when the worker's answer does.
//
// Only the shared-memory path prefetches; over the socket reads go straight
// through as before.
const (
	// raThreshold is the shortest ReadAt that starts or continues a stream.
	raThreshold = 256 << 10
	// raStreams is how many sequential streams are tracked per client.
	raStreams = 4
	// raMaxWindow bounds the bytes a stream keeps prefetched.
	raMaxWindow = 8 << 20
	// raMaxSkip is the largest gap between two reads of a stream.
	raMaxSkip = 4 << 20
	// A stream is stale, and another read may take its slots, when it sat
	// unread for raStale or while other streams were read raStaleHits
	// times (a reader that moved on: to the next extent of a file, say).
	raStale     = 100 * time.Millisecond
	raStaleHits = 4
)

type readahead struct {
	sh     *shmRegion
	budget int // slots prefetches may hold at once

	mu      sync.Mutex
	held    int // slots held by prefetches, dropped ones in flight included
	streams [raStreams]stream

	// Counters for tests.
	hits              uint64
	issued, fallbacks int
}

// stream is one tracked sequential reader. A tracker with d == nil is
// unused; one with no prefetches is a candidate that starts prefetching
// when its next read arrives.
type stream struct {
	d    *Disk
	next int64 // where the next sequential read starts
	end  int64 // end of the prefetched range (== next when there is none)
	win  int64 // bytes to keep prefetched past the current read
	pf   []prefetch
	busy bool // a reader owns it, outside ra.mu
	used time.Time
	tick uint64 // ra.hits when last read
}

// prefetch is one read request of a stream into a slot of its own. The
// pieces of a stream are contiguous and in order.
type prefetch struct {
	k    *conn
	slot int
	off  int64
	len  int
	cl   *call
}

func newReadahead(sh *shmRegion) *readahead {
	return &readahead{sh: sh, budget: sh.slots - max(1, sh.slots/4)}
}

// read serves p at off (within the disk, len(p) >= raThreshold) for d,
// from and with prefetches when off continues a stream.
func (ra *readahead) read(w *waiter, d *Disk, p []byte, off int64) (int, error) {
	now := time.Now()
	ra.mu.Lock()
	// A read continues a stream if it starts where the last one ended, or
	// a little after that (a file's data skipping a few blocks of metadata
	// between extents).
	var s *stream
	for i := range ra.streams {
		t := &ra.streams[i]
		if t.d == d && !t.busy && off >= t.next && off-t.next <= raMaxSkip && (s == nil || t.next > s.next) {
			s = t
		}
	}
	if s == nil {
		// Not a continuation: track it as a candidate in place of the
		// least recently used idle tracker.
		var lru *stream
		for i := range ra.streams {
			t := &ra.streams[i]
			if !t.busy && (lru == nil || t.d == nil && lru.d != nil || (t.d == nil) == (lru.d == nil) && t.used.Before(lru.used)) {
				lru = t
			}
		}
		if lru != nil {
			ra.dropLocked(lru)
			*lru = stream{d: d, next: off + int64(len(p)), end: off + int64(len(p)), used: now}
		}
		ra.mu.Unlock()
		return d.readDirect(w, p, off)
	}
	ra.hits++
	s.busy, s.used, s.tick = true, now, ra.hits
	if off != s.next {
		ra.skipLocked(s, off)
	}
	if s.win == 0 {
		s.win = int64(2 * ra.sh.slotSize)
	} else {
		s.win = min(2*s.win, raMaxWindow)
	}
	ra.mu.Unlock()

	n, err := ra.stream(w, s, d, p, off)

	ra.mu.Lock()
	s.busy = false
	s.next = off + int64(n)
	if err != nil || d.shut.Load() {
		ra.dropLocked(s)
		*s = stream{}
	}
	ra.mu.Unlock()
	return n, err
}

// stream reads p at off == s.next out of s's prefetches, keeping the
// window full. The caller owns s (s.busy).
func (ra *readahead) stream(w *waiter, s *stream, d *Disk, p []byte, off int64) (int, error) {
	readEnd := off + int64(len(p))
	ra.topUp(w, s, d, readEnd)
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if len(s.pf) == 0 {
			// No slot was free for the rest of this read.
			return ra.direct(w, s, d, p, off, n)
		}
		f := &s.pf[0]
		if err := w.await(f.cl.done, f.cl.deadline); err != nil {
			// The caller drops the stream, and with it this piece.
			return n, readError(d.name, f.off, f.len, err)
		}
		got := f.off + int64(f.cl.n)
		if isConnLost(f.cl.err) || isStop(f.cl.err) || pos < f.off || pos >= got {
			// The worker died, the piece came back short, or it was
			// never sent: read the rest directly; it reports the error,
			// if it is still there.
			return ra.direct(w, s, d, p, off, n)
		}
		m, ok := ra.sh.copyOut(p[n:], f.slot, int(pos-f.off), int(got-f.off))
		if !ok {
			return n, ErrClosed
		}
		n += m
		if pos+int64(m) == f.off+int64(f.len) {
			ra.release(f.slot)
			s.pf = s.pf[1:]
			ra.topUp(w, s, d, readEnd)
		}
	}
	return n, nil
}

// direct drops s's prefetches and reads p[n:] at off+n straight from the
// worker; the stream goes on from where that read ends.
func (ra *readahead) direct(w *waiter, s *stream, d *Disk, p []byte, off int64, n int) (int, error) {
	pos := off + int64(n)
	ra.mu.Lock()
	ra.fallbacks++
	ra.dropLocked(s)
	ra.mu.Unlock()
	m, err := d.readDirect(w, p[n:], pos)
	s.end = pos + int64(m)
	return n + m, err
}

// topUp issues pieces after s.end until the prefetched range reaches the
// window past readEnd (or the end of the disk), as far as free slots and
// the budget allow. It never waits for a slot. Each piece times out on its
// own, counted from when it is sent; Interrupt and the reader's context
// stop the reader, not the pieces.
func (ra *readahead) topUp(w *waiter, s *stream, d *Disk, readEnd int64) {
	target := min(readEnd+s.win, d.size)
	if s.end >= target || w.check() != nil {
		return
	}
	k, id, err := d.handle(w)
	if err != nil || !k.shm {
		return
	}
	pw := detached(d.c.timeout)
	if len(s.pf) > 0 && s.pf[len(s.pf)-1].k != k {
		return // a restart is under way; the old pieces fail first
	}
	var e encoder
	for s.end < target {
		slot, ok := ra.acquire(s)
		if !ok {
			return
		}
		n := int(min(int64(ra.sh.slotSize), d.size-s.end))
		e.b = e.b[:0]
		readReq{Disk: id, Slot: uint32(slot), Off: s.end, Len: uint32(n)}.encode(&e)
		cl := k.do(pw, pw.deadline(), msgRead, e.b, nil, nil, n)
		s.pf = append(s.pf, prefetch{k: k, slot: slot, off: s.end, len: n, cl: cl})
		s.end += int64(n)
	}
}

// acquire takes a free slot for a prefetch of s without waiting, within
// the budget; it may take the slots of a stale stream for it.
func (ra *readahead) acquire(s *stream) (int, bool) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for try := 0; try < 2; try++ {
		if ra.held < ra.budget {
			select {
			case slot := <-ra.sh.free:
				ra.held++
				ra.issued++
				return slot, true
			default:
			}
		}
		if try == 0 && !ra.reclaimLocked(s) {
			break
		}
	}
	return 0, false
}

// reclaim drops the prefetches of streams nobody has read for a while; it
// is called by a read that found no free slot.
func (ra *readahead) reclaim() {
	ra.mu.Lock()
	ra.reclaimLocked(nil)
	ra.mu.Unlock()
}

// reclaimLocked drops the prefetches of stale streams and, for a stream
// that has fewer pieces than its fair share of the budget (the budget split
// evenly between the streams that prefetch), trims the others down to that
// share, farthest pieces first. It reports whether it dropped anything.
func (ra *readahead) reclaimLocked(s *stream) bool {
	now := time.Now()
	any := false
	active := 0
	for i := range ra.streams {
		t := &ra.streams[i]
		if t != s && !t.busy && len(t.pf) > 0 && (now.Sub(t.used) > raStale || ra.hits-t.tick >= raStaleHits) {
			ra.dropLocked(t)
			any = true
		}
		if t.busy || len(t.pf) > 0 {
			active++
		}
	}
	if s == nil {
		return any
	}
	fair := ra.budget / max(1, active)
	if len(s.pf) >= max(1, fair) {
		return any
	}
	for i := range ra.streams {
		t := &ra.streams[i]
		if t == s || t.busy || len(t.pf) <= fair {
			continue
		}
		for _, f := range t.pf[fair:] {
			ra.dropPieceLocked(f)
		}
		t.pf = t.pf[:fair]
		t.end = t.next
		if fair > 0 {
			last := t.pf[fair-1]
			t.end = last.off + int64(last.len)
		}
		any = true
	}
	return any
}

// release returns a prefetch's slot.
func (ra *readahead) release(slot int) {
	ra.mu.Lock()
	ra.held--
	ra.mu.Unlock()
	ra.sh.free <- slot
}

// dropLocked gives up s's prefetches: the slots of finished ones are free
// at once, the others when their reply comes (or, if the worker died, when
// it has been reaped and can no longer write into them).
func (ra *readahead) dropLocked(s *stream) {
	for _, f := range s.pf {
		ra.dropPieceLocked(f)
	}
	s.pf = nil
	s.end = s.next
}

// skipLocked moves s forward to off, dropping the pieces before it.
func (ra *readahead) skipLocked(s *stream, off int64) {
	i := 0
	for i < len(s.pf) && s.pf[i].off+int64(s.pf[i].len) <= off {
		ra.dropPieceLocked(s.pf[i])
		i++
	}
	s.pf = s.pf[i:]
	s.next = off
	if len(s.pf) == 0 {
		s.end = off
	}
}

func (ra *readahead) dropPieceLocked(f prefetch) {
	select {
	case <-f.cl.done:
		if !isConnLost(f.cl.err) {
			ra.held--
			ra.sh.free <- f.slot
			return
		}
	default:
	}
	go func() {
		<-f.cl.done
		if isConnLost(f.cl.err) {
			<-f.k.exited
		}
		ra.release(f.slot)
	}()
}

// forget drops every stream of a closed disk that no reader owns; a busy
// one is dropped when its read returns.
func (ra *readahead) forget(d *Disk) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for i := range ra.streams {
		t := &ra.streams[i]
		if t.d == d && !t.busy {
			ra.dropLocked(t)
			*t = stream{}
		}
	}
}
