package streams

import (
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchPool is the kgo.PoolRecords of the application's client: fetched batches are
// decoded into pooled record slices, which come back once the workers have processed
// (and recycled) every record of a batch. Slices are kept in power-of-two size classes.
type fetchPool struct {
	classes [24]sync.Pool // class c holds slices with capacity 1<<c
}

var _ kgo.PoolRecords = (*fetchPool)(nil)

// GetRecords returns a slice with capacity at least n.
func (p *fetchPool) GetRecords(n int) []kgo.Record {
	c := bits.Len(uint(max(n, 1) - 1)) // smallest c with 1<<c >= n
	if c >= len(p.classes) {
		return make([]kgo.Record, 0, n)
	}
	if s, ok := p.classes[c].Get().(*[]kgo.Record); ok {
		return (*s)[:0]
	}
	return make([]kgo.Record, 0, 1<<c)
}

// PutRecords takes back a slice kgo has zeroed.
func (p *fetchPool) PutRecords(s []kgo.Record) {
	c := bits.Len(uint(cap(s))) - 1 // largest c with 1<<c <= cap(s)
	if c < 0 || c >= len(p.classes) || cap(s) != 1<<c {
		return // not one of ours: let the collector have it
	}
	s = s[:0]
	p.classes[c].Put(&s)
}
