package connect

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchedRecordPool recycles the slices the sink consumers decode fetched
// records into (kgo's PoolRecords): a sink would otherwise allocate, and
// the collector scan, one kgo.Record per consumed record.
var fetchedRecordPool recordSlicePool

// maxPooledSlices bounds the free list; kgo returns a slice once every
// record decoded into it is recycled.
const maxPooledSlices = 64

// recordSlicePool is a free list of record slices, safe for concurrent
// use; it implements kgo.PoolRecords.
type recordSlicePool struct {
	mu   sync.Mutex
	free [][]kgo.Record
}

// GetRecords implements kgo.PoolRecords: a released slice with room for
// n records, or a new one.
func (p *recordSlicePool) GetRecords(n int) []kgo.Record {
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
func (p *recordSlicePool) PutRecords(s []kgo.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxPooledSlices {
		p.free = append(p.free, s)
	}
}
