package broker

import (
	"fmt"
	"sync"

	"github.com/gregorhq/gregor/broker/meta"
)

// producerIDBlockSize is how many producer IDs one metadata record reserves.
const producerIDBlockSize = 1000

// producerIDs hands out producer IDs in blocks reserved in the metadata
// journal, so an ID is never reused across restarts.
type producerIDs struct {
	mu       sync.Mutex
	next     int64
	blockEnd int64 // exclusive
}

func (p *producerIDs) init(reservedUpTo int64) {
	p.next, p.blockEnd = reservedUpTo, reservedUpTo
}

// allocate returns a fresh producer ID, reserving a new block when needed.
func (b *Broker) allocateProducerID() (int64, error) {
	p := &b.pids
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.blockEnd {
		end := p.blockEnd + producerIDBlockSize
		rec := meta.Record{Type: meta.RecordProducerIDBlock, NextProducerID: end}
		if err := b.journal.Append(rec); err != nil {
			return -1, fmt.Errorf("reserve producer IDs: %w", err)
		}
		b.mu.Lock()
		b.meta.Apply(rec)
		b.mu.Unlock()
		p.blockEnd = end
	}
	id := p.next
	p.next++
	return id, nil
}
