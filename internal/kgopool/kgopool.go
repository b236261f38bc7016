package kgopool

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxFree bounds the free list: the slices in use are given back only as
// their records are recycled.
const maxFree = 64

// Records is a free list of record slices, safe for concurrent use; it
// implements kgo.PoolRecords. The zero value is ready.
type Records struct {
	mu   sync.Mutex
	free [][]kgo.Record
}

// GetRecords implements kgo.PoolRecords: a released slice with room for n
// records, or a new one.
func (p *Records) GetRecords(n int) []kgo.Record {
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if s := p.free[i]; cap(s) >= n {
			p.free[i] = p.free[len(p.free)-1]
			p.free[len(p.free)-1] = nil
			p.free = p.free[:len(p.free)-1]
			p.mu.Unlock()
			return s[:0]
		}
	}
	p.mu.Unlock()
	return make([]kgo.Record, 0, n)
}

// PutRecords implements kgo.PoolRecords; kgo has zeroed the records.
func (p *Records) PutRecords(s []kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFree {
		p.free = append(p.free, s)
	}
}
