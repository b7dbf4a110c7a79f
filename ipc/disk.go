package ipc

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// chunkSize is the unit of the block cache; chunks are aligned to it.
	chunkSize = 64 << 10
	// cacheThreshold: reads shorter than this go through the cache, longer
	// ones straight to the worker.
	cacheThreshold = 256 << 10
	// inlineParallel bounds the requests one big read keeps in flight
	// when there is no shared memory.
	inlineParallel = 4
	// minPiece is the smallest request a big read is split into.
	minPiece = 256 << 10
)

// Disk is a disk opened in the worker, seen from the shell. It implements
// io.ReaderAt (safe for concurrent use); small reads are served from the
// client's block cache. A Disk stays valid when the worker restarts: it is
// reopened by its spec on the new worker. Its reads stop at the client's
// timeout (ErrTimeout), at Client.Interrupt (ErrInterrupted), or, with
// ReadAtContext, when their context is done.
type Disk struct {
	c    *Client
	spec string
	name string
	size int64
	uid  uint64 // cache key, unique within the client

	mu     sync.Mutex
	k      *conn  // the worker that remote belongs to
	remote uint32 // the worker's id for the disk
	err    error  // set when the disk could not be reopened on k
	closed bool

	shut atomic.Bool // closed, checked without locks by ReadAt
}

// Size returns the size of the disk in bytes.
func (d *Disk) Size() int64 { return d.size }

// Name returns the disk's display name, as the worker gave it.
func (d *Disk) Name() string { return d.name }

// Close closes the disk in the worker and drops its cached blocks.
func (d *Disk) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.shut.Store(true)
	k, id, derr := d.k, d.remote, d.err
	d.mu.Unlock()
	c := d.c
	c.mu.Lock()
	delete(c.disks, d)
	live := c.cur == k && k != nil
	c.mu.Unlock()
	if c.cache != nil {
		c.cache.purge(d.uid)
	}
	if c.ra != nil {
		c.ra.forget(d)
	}
	if !live || derr != nil {
		return nil
	}
	if err := k.closeDisk(detached(c.timeout), id); err != nil && !isConnLost(err) {
		return stopContext(err, "close", d.name)
	}
	return nil
}

// handle returns the live worker connection and the disk's id on it,
// reopening the disk there if the worker was restarted since.
func (d *Disk) handle(w *waiter) (*conn, uint32, error) {
	k, err := d.c.conn(w)
	if err != nil {
		return nil, 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, 0, ErrClosed
	}
	if d.k != k {
		if err := d.reopenLocked(w, k); err != nil {
			return nil, 0, err
		}
	}
	return k, d.remote, d.err
}

// reopenLocked opens the disk on worker k. It returns an error if k failed
// or w stopped the wait (the next read tries again); a refusal from the
// worker is kept in d.err.
func (d *Disk) reopenLocked(w *waiter, k *conn) error {
	info, err := k.open(w, d.spec)
	if isConnLost(err) || isStop(err) {
		return err
	}
	d.k, d.remote, d.err = k, info.ID, nil
	switch {
	case err != nil:
		d.err = fmt.Errorf("ipc: reopening %s on the restarted worker: %w", d.name, err)
	case info.Size != d.size:
		d.err = fmt.Errorf("ipc: reopening %s on the restarted worker: size changed from %d to %d bytes", d.name, d.size, info.Size)
	}
	return nil
}

// ReadAt reads len(p) bytes at off. At the end of the disk it returns
// n < len(p) and io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	return d.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that also stops when ctx is done, with an error
// wrapping ctx.Err(). Once it has returned, the bytes of p it did not
// report as read are never written, even if the worker's answer comes
// later.
func (d *Disk) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ipc: read %s: negative offset %d", d.name, off)
	}
	if d.shut.Load() || d.c.shut.Load() {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want, short := p, false
	if int64(len(p)) > d.size-off {
		want, short = p[:d.size-off], true
	}
	w := d.c.waiter(ctx)
	if err := w.check(); err != nil {
		return 0, readError(d.name, off, len(want), err)
	}
	var n int
	var err error
	if d.c.cache != nil && len(want) < cacheThreshold {
		n, err = d.readCached(w, want, off)
	} else if d.c.ra != nil && len(want) >= raThreshold {
		n, err = d.c.ra.read(w, d, want, off)
	} else {
		n, err = d.readDirect(w, want, off)
	}
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// readDirect reads p at off (within the disk) from the worker, split into
// requests of at most one slot, several in flight. After the first failure
// it sends no more of them.
func (d *Disk) readDirect(w *waiter, p []byte, off int64) (int, error) {
	c := d.c
	piece, par := MaxInline, inlineParallel
	if c.shm != nil {
		piece, par = c.shm.slotSize, c.shm.slots
	}
	// Spread a read over the slots, so that the worker's pread of one
	// piece overlaps the copy out of another, but keep pieces big enough
	// that per-request costs stay small.
	if len(p) < piece*par {
		piece = max(minPiece, (len(p)+par-1)/par)
	}
	if len(p) <= piece {
		n, err := d.readPiece(w, p, off)
		return pieceResult(n, len(p), err)
	}
	npieces := (len(p) + piece - 1) / piece
	type result struct {
		n   int
		err error
	}
	res := make([]result, npieces)
	var next atomic.Int64
	var failed atomic.Bool
	work := func() {
		for !failed.Load() {
			i := int(next.Add(1) - 1)
			if i >= npieces {
				return
			}
			a := i * piece
			b := min(a+piece, len(p))
			n, err := d.readPiece(w, p[a:b], off+int64(a))
			res[i].n, res[i].err = pieceResult(n, b-a, err)
			if res[i].err != nil {
				failed.Store(true)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(par, npieces) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	total := 0
	for _, r := range res {
		total += r.n
		if r.err != nil {
			return total, r.err
		}
	}
	return total, nil
}

// pieceResult normalises one request's result: a full read is a success
// even with io.EOF; a short one always has an error.
func pieceResult(n, want int, err error) (int, error) {
	if n == want {
		return n, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// readPiece reads at most one slot (or MaxInline bytes), retrying once on a
// fresh worker if the connection died under it. The request waits for its
// answer until w stops it; the error then says which read it was.
func (d *Disk) readPiece(w *waiter, p []byte, off int64) (int, error) {
	n, err := d.readOnce(w, p, off)
	if isConnLost(err) {
		n, err = d.readOnce(w, p, off)
	}
	if isStop(err) {
		err = readError(d.name, off, len(p), err)
	}
	return n, err
}

func (d *Disk) readOnce(w *waiter, p []byte, off int64) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	k, id, err := d.handle(w)
	if err != nil {
		return 0, err
	}
	if k.shm {
		return k.readShm(w, w.deadline(), d.c.shm, id, p, off)
	}
	return k.readInlineAll(w, w.deadline(), id, p, off)
}

// readCached serves a small read p at off (within the disk) from cached
// chunks, fetching the missing ones in parallel. A fetch serves every
// reader of its chunk and is bounded by the timeout alone: a reader that
// stops waiting (Interrupt, its context) leaves it running, and the chunk
// is cached when it comes.
func (d *Disk) readCached(w *waiter, p []byte, off int64) (int, error) {
	c := d.c.cache
	first := off / chunkSize
	last := (off + int64(len(p)) - 1) / chunkSize
	chunks := make([]*chunk, 0, last-first+1)
	for i := first; i <= last; i++ {
		ch, fill := c.get(chunkKey{d.uid, i})
		if fill {
			go d.fill(ch)
		}
		chunks = append(chunks, ch)
	}
	n := 0
	for _, ch := range chunks {
		if err := w.await(ch.ready, time.Time{}); err != nil {
			return n, readError(d.name, off, len(p), err)
		}
		if ch.err != nil {
			return n, ch.err
		}
		start := off + int64(n) - ch.key.idx*chunkSize
		if start >= int64(len(ch.data)) {
			return n, io.ErrUnexpectedEOF
		}
		n += copy(p[n:], ch.data[start:])
	}
	if n < len(p) {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

// fill reads one chunk from the worker and publishes it to the cache.
func (d *Disk) fill(ch *chunk) {
	off := ch.key.idx * chunkSize
	buf := make([]byte, min(chunkSize, d.size-off))
	n, err := d.readDirect(detached(d.c.timeout), buf, off)
	d.c.cache.fill(ch, buf[:n], err)
}

type chunkKey struct {
	disk uint64
	idx  int64
}

type chunk struct {
	key   chunkKey
	data  []byte
	err   error
	ready chan struct{} // closed when data/err are set
	elem  *list.Element // in the LRU once filled
}

// cache is an LRU of disk chunks with a byte bound. A miss inserts a chunk
// that is not ready yet; other readers of the same chunk wait for it rather
// than fetching it again.
type cache struct {
	mu   sync.Mutex
	max  int64
	size int64
	m    map[chunkKey]*chunk
	lru  list.List // front: most recently used
}

func newCache(max int64) *cache {
	return &cache{max: max, m: make(map[chunkKey]*chunk)}
}

// get returns the chunk for key; fill is true if the caller must fetch it
// and call c.fill.
func (c *cache) get(key chunkKey) (ch *chunk, fill bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.m[key]; ch != nil {
		if ch.elem != nil {
			c.lru.MoveToFront(ch.elem)
		}
		return ch, false
	}
	ch = &chunk{key: key, ready: make(chan struct{})}
	c.m[key] = ch
	return ch, true
}

// fill publishes a fetched chunk. A failed fetch is not cached: its waiters
// get the error and the next reader tries again.
func (c *cache) fill(ch *chunk, data []byte, err error) {
	if err != nil && errors.Is(err, io.EOF) && len(data) > 0 {
		err = nil // short chunk at a disk that shrank; readers see the end
	}
	ch.data, ch.err = data, err
	c.mu.Lock()
	if err != nil {
		if c.m[ch.key] == ch {
			delete(c.m, ch.key)
		}
	} else if c.m[ch.key] == ch {
		ch.elem = c.lru.PushFront(ch)
		c.size += int64(len(data))
		for c.size > c.max && c.lru.Len() > 1 {
			old := c.lru.Remove(c.lru.Back()).(*chunk)
			delete(c.m, old.key)
			c.size -= int64(len(old.data))
		}
	}
	c.mu.Unlock()
	close(ch.ready)
}

// purge drops every chunk of a disk.
func (c *cache) purge(disk uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, ch := range c.m {
		if key.disk != disk {
			continue
		}
		delete(c.m, key)
		if ch.elem != nil {
			c.lru.Remove(ch.elem)
			c.size -= int64(len(ch.data))
		}
	}
}
