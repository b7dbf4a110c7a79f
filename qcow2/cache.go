package qcow2

import (
	"container/list"
	"sync"
)

const (
	l2CacheBytes      = 32 << 20 // L2 tables kept per chain
	clusterCacheBytes = 8 << 20  // decompressed clusters kept per chain
)

// caches are the bounded caches of one backing chain, shared by its images.
type caches struct {
	l2       lru // L2 tables by host offset
	clusters lru // decompressed clusters by L2 entry
}

func newCaches() *caches {
	return &caches{
		l2:       lru{max: l2CacheBytes},
		clusters: lru{max: clusterCacheBytes},
	}
}

// cacheKey names a cached block: the image of the chain it belongs to and
// a number that identifies it there.
type cacheKey struct {
	img uint32
	n   uint64
}

// lru is a cache of byte slices, bounded by their total length (yet
// always holding the last one added), evicting the least recently used.
// The slices are never modified once added, so a caller may use one after
// the lock is released. It is safe for concurrent use.
type lru struct {
	mu    sync.Mutex
	max   int
	used  int
	items map[cacheKey]*list.Element // of *lruEntry
	order list.List                  // most recently used first
}

type lruEntry struct {
	key cacheKey
	val []byte
}

func (c *lru) get(k cacheKey) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry).val
	}
	return nil
}

func (c *lru) add(k cacheKey, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = make(map[cacheKey]*list.Element)
	}
	if e, ok := c.items[k]; ok {
		// Another reader loaded the same block meanwhile; keep one.
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry{k, v})
	c.used += len(v)
	for c.used > c.max && c.order.Len() > 1 {
		e := c.order.Back()
		ent := e.Value.(*lruEntry)
		c.order.Remove(e)
		delete(c.items, ent.key)
		c.used -= len(ent.val)
	}
}
