package broker

import (
	"fmt"
	"sync"
	"sync/atomic"

	blog "github.com/gregorhq/gregor/broker/log"
)

// partition is a live partition: its log, its high watermark and the
// fetches waiting for new data.
type partition struct {
	topic *topic
	index int32
	log   *blog.Log

	hw      atomic.Int64 // high watermark; only moves forward
	deleted atomic.Bool

	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{} // long-polling fetches
}

func newPartition(t *topic, i int32, l *blog.Log) (*partition, error) {
	p := &partition{topic: t, index: i, log: l, waiters: map[chan struct{}]struct{}{}}
	if l.LeaderEpoch() < 0 {
		// A new partition starts at leader epoch 0: this node leads it.
		if err := l.AssignLeaderEpoch(0, l.LogEndOffset()); err != nil {
			return nil, fmt.Errorf("assign leader epoch: %w", err)
		}
	}
	p.hw.Store(l.LogEndOffset())
	l.SetHighWatermark(l.LogEndOffset())
	return p, nil
}

// highWatermark is the offset below which records are visible to consumers.
func (p *partition) highWatermark() int64 { return p.hw.Load() }

// advanceHighWatermark moves the high watermark up to o (never down) and
// wakes the fetches waiting for data.
func (p *partition) advanceHighWatermark(o int64) {
	for {
		cur := p.hw.Load()
		if o <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, o) {
			break
		}
	}
	p.log.SetHighWatermark(o)
	p.wake()
}

func (p *partition) wake() {
	p.waitMu.Lock()
	for w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
		delete(p.waiters, w)
	}
	p.waitMu.Unlock()
}

// addWaiter registers w to be signalled at the next high watermark change.
func (p *partition) addWaiter(w chan struct{}) {
	p.waitMu.Lock()
	p.waiters[w] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) removeWaiter(w chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, w)
	p.waitMu.Unlock()
}

func (p *partition) markDeleted() {
	p.deleted.Store(true)
	p.wake()
}

// lastStableOffset is the offset below which no transaction is open: the
// high watermark, or the first offset of the oldest open transaction.
func (p *partition) lastStableOffset() int64 {
	hw := p.highWatermark()
	if fu := p.log.FirstUnstableOffset(); fu >= 0 && fu < hw {
		return fu
	}
	return hw
}

// appendInternal appends a broker-written batch, syncs it under the durable
// policy and makes it visible.
func (b *Broker) appendInternal(p *partition, batch []byte) error {
	res, err := p.log.Append(batch, blog.AppendOptions{LeaderEpoch: p.log.LeaderEpoch()})
	if err != nil {
		return fmt.Errorf("append to %s-%d: %w", p.topic.name, p.index, err)
	}
	next := res.LastOffset + 1
	if b.cfg.FlushPolicy == FlushDurable {
		if err := p.log.Sync(next); err != nil {
			return fmt.Errorf("sync %s-%d: %w", p.topic.name, p.index, err)
		}
	}
	p.advanceHighWatermark(next)
	return nil
}

// replayPartition hands fn the partition's batches up to its high watermark.
func replayPartition(p *partition, fn func([]byte) error) error {
	off, hw := p.log.LogStartOffset(), p.highWatermark()
	for off < hw {
		data, err := p.log.Read(off, 1<<20, hw, true)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		next := off
		for pos := 0; pos < len(data); {
			h, err := blog.ParseBatchHeader(data[pos:])
			if err != nil || h.Size() > len(data)-pos {
				return fmt.Errorf("torn batch at %d: %w", off, err)
			}
			next = h.NextOffset()
			pos += h.Size()
		}
		if err := fn(data); err != nil {
			return err
		}
		if next <= off {
			return fmt.Errorf("no progress at offset %d", off)
		}
		off = next
	}
	return nil
}
