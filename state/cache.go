package state

import (
	"container/list"
	"context"
	"sync"
)

// entryOverhead approximates the bookkeeping bytes of one cache entry.
const entryOverhead = 64

// recordCache coalesces a task's changelog writes between commits: the last value written
// to each key of each store is kept until the cache exceeds its byte budget (then the least
// recently written entries are sent) or the task commits (then all are sent). Stores are
// written through at once, so reads never consult the cache.
//
// Its mutex is the innermost lock: it is held while calling the ChangelogWriter and no
// other lock of this package is taken under it.
type recordCache struct {
	maxBytes int64

	mu      sync.Mutex
	size    int64
	lru     *list.List // of *cacheEntry, least recently written first
	entries map[cacheKey]*list.Element
}

type cacheKey struct {
	st  *storeState
	key string
}

type cacheEntry struct {
	k     cacheKey
	value []byte
	size  int64
}

func newRecordCache(maxBytes int64) *recordCache {
	return &recordCache{maxBytes: maxBytes, lru: list.New(), entries: map[cacheKey]*list.Element{}}
}

// put records that key of st now holds value, sending entries to the changelog when over
// budget. key and value must not change afterwards.
func (c *recordCache) put(ctx context.Context, st *storeState, key, value []byte) error {
	if c.maxBytes <= 0 {
		return st.send(ctx, key, value)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{st: st, key: string(key)}
	size := int64(len(key)+len(value)) + entryOverhead
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		c.size += size - e.size
		e.value, e.size = value, size
		c.lru.MoveToBack(el)
	} else {
		c.entries[k] = c.lru.PushBack(&cacheEntry{k: k, value: value, size: size})
		c.size += size
	}
	for c.size > c.maxBytes && c.lru.Len() > 0 {
		if err := c.evictLocked(ctx, c.lru.Front()); err != nil {
			return err
		}
	}
	return nil
}

func (c *recordCache) evictLocked(ctx context.Context, el *list.Element) error {
	e := el.Value.(*cacheEntry)
	c.lru.Remove(el)
	delete(c.entries, e.k)
	c.size -= e.size
	return e.k.st.send(ctx, []byte(e.k.key), e.value)
}

// flush sends every cached entry to its changelog, oldest first.
func (c *recordCache) flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		if err := c.evictLocked(ctx, c.lru.Front()); err != nil {
			return err
		}
	}
	return nil
}

// drop forgets the cached entries of st without sending them.
func (c *recordCache) drop(st *storeState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*cacheEntry); e.k.st == st {
			c.lru.Remove(el)
			delete(c.entries, e.k)
			c.size -= e.size
		}
		el = next
	}
}
