package converters

import (
	"sync"
	"unsafe"
)

// stringChunk is the size of the chunks stringArena copies strings into;
// longer strings get their own allocation.
const (
	stringChunk     = 64 << 10
	maxArenaStringN = stringChunk / 16
)

// stringArena makes strings out of bytes by copying them into shared
// chunks: a sink reading a million short strings then allocates a few
// hundred chunks rather than a million strings. The bytes of a string are
// written once, before the string exists, and never again (a full chunk
// is replaced, not reused), so the strings are as immutable as any other.
// A string kept after the rest of its chunk is garbage keeps the whole
// chunk alive. Safe for concurrent use.
type stringArena struct {
	mu  sync.Mutex
	buf []byte // the current chunk; only its unused capacity is written
}

// clone returns data as a string.
func (a *stringArena) clone(data []byte) string {
	n := len(data)
	if n == 0 {
		return ""
	}
	if n > maxArenaStringN {
		return string(data)
	}
	a.mu.Lock()
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, stringChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, data...)
	s := unsafe.String(&a.buf[start], n)
	a.mu.Unlock()
	return s
}
