package log

import (
	"container/list"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// segment is one <base>.log file with its .index and .timeindex.
//
// Locks: Log.mu guards the bookkeeping fields; hmu guards the file handle
// state; segIndex.mu guards the in-memory index. Order: Log.mu, then
// handleCache.mu, then segment.hmu, then segIndex.mu.
type segment struct {
	base int64
	dir  string
	size atomic.Int64 // bytes of complete batches in the .log

	// Guarded by Log.mu.
	next          int64 // offset after the last batch (cold: may be the next segment's base)
	maxTs         int64 // largest batch max timestamp, -1 if none
	maxTsOff      int64 // base offset of the earliest batch with maxTs
	rollAtMs      int64 // when the segment got its first append (ms), 0 if empty
	bytesSinceIdx int64
	idxF, timF    File // the active segment's open index files
	indexDirty    bool // index entries written but not fsynced

	idx segIndex

	// Guarded by hmu.
	hmu     sync.Mutex
	f       File
	refs    int
	pinned  bool // the active segment: never evicted
	inLRU   bool
	elem    *list.Element
	deleted bool
	closing bool // evicted while in use: close at the last release
}

func newSegment(dir string, base int64) *segment {
	return &segment{base: base, dir: dir, next: base, maxTs: -1, maxTsOff: -1}
}

func segFileName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

func (s *segment) logPath() string   { return filepath.Join(s.dir, segFileName(s.base, ".log")) }
func (s *segment) indexPath() string { return filepath.Join(s.dir, segFileName(s.base, ".index")) }
func (s *segment) timePath() string  { return filepath.Join(s.dir, segFileName(s.base, ".timeindex")) }

// noteBatch updates the bookkeeping for a batch appended or recovered at pos,
// adding sparse index entries every interval bytes (caller holds Log.mu).
func (s *segment) noteBatch(pos int64, size int, h *BatchHeader, interval int32) {
	if s.bytesSinceIdx > int64(interval) {
		s.idx.addOffset(int32(h.BaseOffset-s.base), int32(pos))
		if s.maxTs >= 0 {
			s.idx.addTime(s.maxTs, int32(s.maxTsOff-s.base))
		}
		s.bytesSinceIdx = 0
	}
	s.bytesSinceIdx += int64(size)
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
	}
	s.next = h.NextOffset()
}

// handleCache keeps the file handles of cold segments open up to a limit,
// closing the least recently used idle ones. One is shared by all logs of a
// Manager.
type handleCache struct {
	fs  FS
	mu  sync.Mutex
	max int
	lru list.List // of *segment, most recent first
}

func newHandleCache(fs FS, max int) *handleCache { return &handleCache{fs: fs, max: max} }

// acquire returns the segment's .log handle, opening it (and loading its
// index) if needed. Call release when done.
func (c *handleCache) acquire(s *segment, l *Log) (File, error) {
	s.hmu.Lock()
	if s.deleted {
		s.hmu.Unlock()
		return nil, errSegmentGone
	}
	if s.f == nil {
		f, err := c.fs.OpenFile(s.logPath(), os.O_RDONLY, 0)
		if err != nil {
			s.hmu.Unlock()
			return nil, fmt.Errorf("%w: open segment: %w", ErrStorage, err)
		}
		s.f = f
	}
	if !s.idx.loaded {
		l.loadIndex(s, s.f)
	}
	s.refs++
	s.closing = false
	f, pinned := s.f, s.pinned
	s.hmu.Unlock()
	if !pinned {
		c.touch(s)
	}
	return f, nil
}

// release gives back a handle from acquire.
func (c *handleCache) release(s *segment) {
	s.hmu.Lock()
	s.refs--
	if s.refs == 0 && (s.closing || s.deleted) && !s.pinned {
		s.closeLocked()
	}
	s.hmu.Unlock()
}

func (s *segment) closeLocked() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.closing = false
	if !s.pinned {
		s.idx.drop()
	}
}

// touch marks s as recently used and evicts beyond the limit.
func (c *handleCache) touch(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.hmu.Lock()
	if s.pinned || s.deleted {
		s.hmu.Unlock()
		return
	}
	if s.inLRU {
		c.lru.MoveToFront(s.elem)
	} else {
		s.elem = c.lru.PushFront(s)
		s.inLRU = true
	}
	s.hmu.Unlock()
	for c.lru.Len() > c.max {
		v := c.lru.Remove(c.lru.Back()).(*segment)
		v.hmu.Lock()
		v.inLRU, v.elem = false, nil
		if v.refs == 0 {
			v.closeLocked()
		} else {
			v.closing = true
		}
		v.hmu.Unlock()
	}
}

// forget removes s from the cache (it became active again or was deleted).
func (c *handleCache) forget(s *segment) {
	c.mu.Lock()
	s.hmu.Lock()
	if s.inLRU {
		c.lru.Remove(s.elem)
		s.inLRU, s.elem = false, nil
	}
	s.hmu.Unlock()
	c.mu.Unlock()
}

// open returns the number of cold handles open (for tests).
func (c *handleCache) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// unpin turns the formerly active segment into a cold one.
func (c *handleCache) unpin(s *segment) {
	s.hmu.Lock()
	s.pinned = false
	s.hmu.Unlock()
	c.touch(s)
}

// markDeleted closes s once no reader uses it; later acquires fail.
func (c *handleCache) markDeleted(s *segment) {
	c.forget(s)
	s.hmu.Lock()
	s.deleted = true
	s.pinned = false
	if s.refs == 0 {
		s.closeLocked()
	}
	s.hmu.Unlock()
}
