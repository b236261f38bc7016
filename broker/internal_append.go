package broker

import (
	"errors"
	"fmt"
	"time"
)

// Replicated internal writes: the coordinators' records (transaction
// state, offsets) and the transaction markers a partition leader writes
// are acknowledged only once the high watermark has passed them, as a
// produce with acks=all is (Kafka appends them with acks=-1).

// errNotReplicated is returned (wrapped) by appendReplicated when the
// write was refused because the ISR is below min.insync.replicas, or was
// appended but not replicated in time, or leadership moved meanwhile. An
// appended batch may still become committed later.
var errNotReplicated = errors.New("internal write not replicated")

// replicatedAppendTimeout bounds how long appendReplicated waits for the
// high watermark (Kafka's request.timeout.ms is twice this; the requests
// that wait on it must answer within theirs).
var replicatedAppendTimeout = 15 * time.Second

// appendReplicated appends a broker-written batch to a partition this node
// leads and returns once the high watermark has passed it while this node
// still leads in the epoch it appended in (appendReplicatedWithin), within
// replicatedAppendTimeout. Failures wrap errNotReplicated.
func (b *Broker) appendReplicated(p *partition, batch []byte) error {
	if err := b.appendReplicatedWithin(p, batch, replicatedAppendTimeout); err != nil {
		return fmt.Errorf("%w: %w", errNotReplicated, err)
	}
	return nil
}

// awaitHighWatermark waits until p's high watermark reaches next while
// this node leads p in leader epoch epoch.
func (b *Broker) awaitHighWatermark(p *partition, next int64, epoch int32, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	recheck := time.NewTicker(100 * time.Millisecond) // leadership changes wake no waiter
	defer recheck.Stop()
	ch := make(chan struct{}, 1)
	for {
		p.addWaiter(ch)
		if p.highWatermark() >= next {
			p.removeWaiter(ch)
			return nil
		}
		if !p.leading.Load() || p.leaderEpoch.Load() != epoch || p.deleted.Load() {
			p.removeWaiter(ch)
			return fmt.Errorf("%w: leadership of %s-%d moved before offset %d was replicated", errNotReplicated, p.topic.name, p.index, next)
		}
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			p.removeWaiter(ch)
			why := "timed out"
			if !p.enoughInSync() {
				why = p.inSyncMessage()
			}
			return fmt.Errorf("%w: %s-%d offset %d after %v: %s", errNotReplicated, p.topic.name, p.index, next, timeout, why)
		case <-b.closing:
			p.removeWaiter(ch)
			return fmt.Errorf("%w: the broker is shutting down", errNotReplicated)
		}
		p.removeWaiter(ch)
	}
}
