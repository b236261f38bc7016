package streams

import (
	"errors"

	"github.com/gregorhq/gregor/state"
)

// cacheOverhead approximates the bookkeeping bytes of one cache entry.
const cacheOverhead = 80

// kvCache is the record cache in front of one task's key-value store, as Kafka
// Streams' caching layer: writes stay in the cache and only the last value of each key
// is written to the store (and so to its changelog) and forwarded downstream when the
// task commits or the cache outgrows its budget. Only the task's goroutine uses it.
type kvCache struct {
	raw      cacheBacking
	m        map[string]*cacheEntry
	dirty    []*cacheEntry // in the order keys were first dirtied
	size     int64
	max      int64
	listener func(key, newV, oldV []byte, ts int64) error
	last     *cacheEntry // the entry get returned last: a read-modify-write puts it back
	onClear  func()      // called when trim empties the cache
}

// cacheBacking is the store under a record cache: a key-value store, or the view of a
// window or session store by binary window keys (window_cache.go).
type cacheBacking interface {
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
}

type cacheEntry struct {
	key   string
	value []byte // nil: deleted
	ts    int64
	dirty bool
}

func newKVCache(raw cacheBacking, max int64) *kvCache {
	return &kvCache{raw: raw, m: map[string]*cacheEntry{}, max: max}
}

// get returns the value of key, nil when absent.
func (c *kvCache) get(key []byte) ([]byte, error) {
	if e, ok := c.m[string(key)]; ok {
		c.last = e
		return e.value, nil
	}
	v, err := c.raw.Get(key)
	if errors.Is(err, state.ErrNotFound) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := &cacheEntry{key: string(key), value: v}
	c.m[e.key] = e
	c.last = e
	c.size += int64(len(key)+len(v)) + cacheOverhead
	return v, c.trim()
}

// put records value (nil deletes) for key.
func (c *kvCache) put(key, value []byte, ts int64) error {
	e, ok := c.last, c.last != nil && c.last.key == string(key)
	if !ok {
		e, ok = c.m[string(key)]
	}
	if !ok {
		e = &cacheEntry{key: string(key)}
		c.m[e.key] = e
		c.size += int64(len(key)) + cacheOverhead
	}
	c.size += int64(len(value) - len(e.value))
	e.value, e.ts = value, ts
	if !e.dirty {
		e.dirty = true
		c.dirty = append(c.dirty, e)
	}
	return c.trim()
}

// trim flushes and empties the cache when it is over budget.
func (c *kvCache) trim() error {
	if c.size <= c.max {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	clear(c.m)
	c.last = nil
	c.size = 0
	if c.onClear != nil {
		c.onClear()
	}
	return nil
}

// flush writes the dirty entries to the store and tells the listener, in the order the
// keys were first written.
func (c *kvCache) flush() error {
	for len(c.dirty) > 0 {
		batch := c.dirty
		c.dirty = nil // the listener may write again
		for i, e := range batch {
			if !e.dirty {
				continue
			}
			e.dirty = false
			key := []byte(e.key)
			var old []byte
			if c.listener != nil {
				v, err := c.raw.Get(key)
				if err != nil && !errors.Is(err, state.ErrNotFound) {
					c.dirty = append(batch[i:], c.dirty...)
					return err
				}
				old = v
			}
			if err := c.raw.Put(key, e.value); err != nil {
				c.dirty = append(batch[i+1:], c.dirty...)
				return err
			}
			if c.listener != nil && (e.value != nil || old != nil) {
				if err := c.listener(key, e.value, old, e.ts); err != nil {
					c.dirty = append(batch[i+1:], c.dirty...)
					return err
				}
			}
		}
	}
	return nil
}
