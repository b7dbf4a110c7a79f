package vmdk

import (
	"container/list"
	"sync"
	"sync/atomic"
)

const (
	tableCacheBytes = 16 << 20 // grain tables kept per image chain
	grainCacheBytes = 8 << 20  // inflated compressed grains kept per image chain
)

// caches are shared by an image, its extents and its parents.
type caches struct {
	tables lru // grain tables, raw, by extent and table index
	grains lru // inflated grains, by extent and grain index
	nextID atomic.Uint64
	// gdEntries counts the grain directory entries all extents hold;
	// written only while the image is opened.
	gdEntries int64
}

func newCaches() *caches {
	c := &caches{}
	c.tables.init(tableCacheBytes)
	c.grains.init(grainCacheBytes)
	return c
}

type cacheKey struct {
	ext uint64 // sparse.id
	idx int64
}

type cacheEntry struct {
	key cacheKey
	b   []byte
}

// lru is a byte-bounded least-recently-used cache of immutable byte
// slices, safe for concurrent use. It always keeps the newest entry, even
// one larger than its bound.
type lru struct {
	mu   sync.Mutex
	max  int64
	used int64
	m    map[cacheKey]*list.Element
	l    list.List // of *cacheEntry, most recently used at the front
}

func (c *lru) init(max int64) {
	c.max = max
	c.m = make(map[cacheKey]*list.Element)
}

func (c *lru) get(k cacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	c.l.MoveToFront(e)
	return e.Value.(*cacheEntry).b, true
}

func (c *lru) put(k cacheKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		// Another reader loaded it meanwhile; the contents are the same.
		c.l.MoveToFront(e)
		return
	}
	c.m[k] = c.l.PushFront(&cacheEntry{key: k, b: b})
	c.used += int64(len(b))
	for c.used > c.max && c.l.Len() > 1 {
		old := c.l.Back()
		ent := old.Value.(*cacheEntry)
		c.l.Remove(old)
		delete(c.m, ent.key)
		c.used -= int64(len(ent.b))
	}
}
