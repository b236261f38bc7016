package datagen

import (
	"sync"

	"github.com/gregorhq/gregor/connect"
)

// pollBuffers is the memory of one Poll's batch: the records, the structs
// that are their values and the structs' field values, each one
// allocation.
type pollBuffers struct {
	recs    []*connect.SourceRecord
	structs []connect.Struct
	vals    []any
}

// maxOutstanding bounds how many handed-out batches the pool remembers:
// a worker that never releases them (or a test polling by hand) must not
// make it grow without end.
const maxOutstanding = 64

// pollBufferPool recycles batches the worker has released (see
// connect.SourceTaskReleaser). Poll takes from it on the task's
// goroutine; Release gives back from the worker's.
type pollBufferPool struct {
	mu          sync.Mutex
	free        []*pollBuffers
	outstanding map[*connect.SourceRecord]*pollBuffers // by each batch's first record
}

// get returns buffers for n records of schema s: released ones when they
// are large enough, else new ones.
func (p *pollBufferPool) get(s *connect.Schema, n int) *pollBuffers {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pb *pollBuffers
	if k := len(p.free); k > 0 {
		pb, p.free = p.free[k-1], p.free[:k-1]
		if cap(pb.recs) < n {
			pb = nil
		}
	}
	if pb == nil {
		nf := len(s.Fields)
		arena := make([]connect.SourceRecord, n)
		pb = &pollBuffers{recs: make([]*connect.SourceRecord, n), vals: make([]any, n*nf)}
		pb.structs = connect.StructsOf(s, pb.vals)
		for i := range arena {
			pb.recs[i] = &arena[i]
		}
	}
	pb.recs = pb.recs[:n]
	if len(p.outstanding) < maxOutstanding {
		if p.outstanding == nil {
			p.outstanding = map[*connect.SourceRecord]*pollBuffers{}
		}
		p.outstanding[pb.recs[0]] = pb
	}
	return pb
}

// put takes back the batch a Poll returned, for a later Poll to fill.
func (p *pollBufferPool) put(recs []*connect.SourceRecord) {
	if len(recs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pb, ok := p.outstanding[recs[0]]
	if !ok {
		return
	}
	delete(p.outstanding, recs[0])
	if len(p.free) < maxOutstanding {
		p.free = append(p.free, pb)
	}
}
