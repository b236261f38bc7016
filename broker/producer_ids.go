package broker

import (
	"context"
	"errors"
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

// allocateProducerID returns a fresh producer ID, reserving a new block
// through the metadata quorum when needed; a block another broker took
// first is retried from the new position.
func (b *Broker) allocateProducerID() (int64, error) {
	p := &b.pids
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.next >= p.blockEnd {
		b.mu.RLock()
		start := b.meta.NextProducerID()
		b.mu.RUnlock()
		end := start + producerIDBlockSize
		rec := meta.Record{Type: meta.RecordProducerIDBlock, NextProducerID: end, ExpectNextProducerID: &start}
		err := b.propose(context.Background(), rec)
		if errors.Is(err, meta.ErrConflict) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("reserve producer IDs: %w", err)
		}
		p.next, p.blockEnd = start, end
	}
	id := p.next
	p.next++
	return id, nil
}
