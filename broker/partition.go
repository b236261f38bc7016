package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
)

// partition is a live partition: its log, its high watermark and the
// fetches waiting for new data.
type partition struct {
	topic *topic
	index int32
	log   *blog.Log

	hw      atomic.Int64 // high watermark; only moves forward
	deleted atomic.Bool
	// leading is set while this node leads the partition (the metadata
	// says so); leaderEpoch is the metadata's leader epoch.
	leading     atomic.Bool
	leaderEpoch atomic.Int32

	// rep is the partition's replication state (replication.go).
	rep replicaState

	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{} // long-polling fetches
}

func newPartition(t *topic, i int32, l *blog.Log) (*partition, error) {
	p := &partition{topic: t, index: i, log: l, waiters: map[chan struct{}]struct{}{}}
	p.hw.Store(l.LogEndOffset())
	l.SetHighWatermark(l.LogEndOffset())
	p.rep.followers = map[int32]*followerState{}
	p.rep.leader, p.rep.self = meta.NoLeader-1, meta.NoLeader-1 // nothing known yet
	p.rep.metaLeader, p.rep.metaEpoch = meta.NoLeader-1, -1
	return p, nil
}

// startEpoch starts the leader epoch of a node taking up leadership at the
// log end (a new partition's at 0), unless the log is there already.
func (p *partition) startEpoch(epoch int32) error {
	if epoch > p.log.LeaderEpoch() {
		if err := p.log.StartLeaderEpoch(epoch); err != nil {
			return fmt.Errorf("start leader epoch %d: %w", epoch, err)
		}
	}
	if p.log.LeaderEpoch() < 0 {
		// A new partition starts at leader epoch 0.
		if err := p.log.StartLeaderEpoch(0); err != nil {
			return fmt.Errorf("start leader epoch 0: %w", err)
		}
	}
	return nil
}

// follow takes up or gives away leadership as the metadata's placement of
// the partition says; a node leads only once this incarnation of it is
// registered and unfenced (serving). A leader starts its epoch in the log's leader-epoch
// cache at its log end, as Kafka's does on election.
func (p *partition) follow(ps meta.PartitionState, self int32, serving bool) error {
	lead := ps.Leader == self && serving
	// The replication state changes, the new epoch starts and leadership
	// flips under rep.mu, which a replica fetcher holds from its leader
	// check through its append: an answer from the old leader is in the log
	// before the new epoch starts, or it comes after this node leads and is
	// dropped, never in the new leader's epoch.
	p.rep.mu.Lock()
	hw, advance := p.rep.updateLocked(p, ps, self)
	var err error
	if lead {
		err = p.startEpoch(ps.LeaderEpoch)
	}
	var was bool
	var oldEpoch int32
	if err == nil {
		oldEpoch = p.leaderEpoch.Swap(ps.LeaderEpoch)
		was = p.leading.Swap(lead)
	}
	p.rep.mu.Unlock()
	if advance {
		p.advanceHighWatermark(hw)
	}
	if err != nil {
		return err
	}
	if was != lead || oldEpoch != ps.LeaderEpoch {
		// Produces waiting for replication end as soon as the node they
		// were appended under stops leading (stillLeads).
		p.wake()
	}
	return nil
}

// errNotLeading is an append refused because this node no longer leads
// the partition in the leader epoch the batch was stamped with.
var errNotLeading = errors.New("no longer the leader in the epoch the batch was stamped with")

// appendAsLeader appends a client's batch stamped with opts.LeaderEpoch if
// this node still leads p in that epoch, checked and appended under
// rep.mu, which follow holds while leadership changes hands (as Kafka
// appends to a leader under its leader-ISR lock): a produce handler that
// found this node leading and then lost the race to a metadata change
// would otherwise append to a follower's log, where its batch, stamped
// with whatever epoch was latest, could sit among records the fetcher had
// copied from the new leader. It returns errNotLeading instead.
func (p *partition) appendAsLeader(records []byte, opts blog.AppendOptions) (blog.AppendResult, error) {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	if !p.leading.Load() || p.log.LeaderEpoch() != opts.LeaderEpoch {
		return blog.AppendResult{}, fmt.Errorf("%s-%d: %w", p.topic.name, p.index, errNotLeading)
	}
	return p.log.Append(records, opts) // its errors go to the client as they are (appendError)
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
// policy and makes it visible as far as the ISR allows.
func (b *Broker) appendInternal(p *partition, batch []byte) error {
	_, _, err := b.appendLocal(p, batch)
	return err
}

// appendLocal is appendInternal; it returns the offset after the batch
// and the leader epoch it was appended in. The leadership check and the
// append happen under rep.mu, as appendAsLeader's do: a coordinator or a
// transaction-marker writer that found this node leading may lose the
// race to a metadata change, and its batch would otherwise land in a
// follower's log, stamped with whatever epoch the log had, among records
// copied from the new leader. A partition with at most one replica takes
// the write whoever the metadata names (a single node's internal writes
// before its first election): no other replica can diverge from it.
func (b *Broker) appendLocal(p *partition, batch []byte) (int64, int32, error) {
	p.rep.mu.Lock()
	if !p.leading.Load() && len(p.rep.replicas) > 1 {
		p.rep.mu.Unlock()
		return 0, 0, fmt.Errorf("append to %s-%d: %w", p.topic.name, p.index, errNotLeading)
	}
	epoch := p.log.LeaderEpoch()
	res, err := p.log.Append(batch, blog.AppendOptions{LeaderEpoch: epoch})
	p.rep.mu.Unlock()
	if err != nil {
		if errors.Is(err, blog.ErrStorage) {
			b.dirHealth.refused(p.topic.name, p.index, len(batch), err)
		}
		return 0, 0, fmt.Errorf("append to %s-%d: %w", p.topic.name, p.index, err)
	}
	b.dirHealth.accepted()
	next := res.LastOffset + 1
	if b.cfg.FlushPolicy == FlushDurable {
		if err := p.log.Sync(next); err != nil {
			return 0, 0, fmt.Errorf("sync %s-%d: %w", p.topic.name, p.index, err)
		}
	}
	p.localAppended(next)
	return next, epoch, nil
}

// Errors of appendReplicated.
var (
	errLeadershipMoved = errors.New("leadership moved before the records reached the high watermark")
	errReplicationSlow = errors.New("records not copied by the in-sync replicas in time")
	errBrokerClosing   = errors.New("broker closing")
)

// appendReplicatedWithin is appendInternal for records a coordinator
// acknowledges once written (offset commits, group state): it returns
// only once the high watermark has passed the batch, that is once every
// in-sync replica holds it, as Kafka's coordinators write with acks=-1;
// then the records survive the leader's loss. It fails after timeout
// (offsets.commit.timeout.ms for offset commits), or as soon as this node
// no longer leads the partition in the epoch it appended them in (its
// high watermark then says nothing about them: see stillLeads); the
// records may still be kept then.
func (b *Broker) appendReplicatedWithin(p *partition, batch []byte, timeout time.Duration) error {
	if !p.leading.Load() {
		return fmt.Errorf("%s-%d: %w", p.topic.name, p.index, errLeadershipMoved)
	}
	if !p.enoughInSync() {
		return errors.New(p.inSyncMessage())
	}
	next, epoch, err := b.appendLocal(p, batch)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ch := make(chan struct{}, 1) // woken by the high watermark and by leadership changes
	defer p.removeWaiter(ch)
	for {
		p.addWaiter(ch)
		if !p.stillLeads(epoch) {
			return fmt.Errorf("%s-%d: %w", p.topic.name, p.index, errLeadershipMoved)
		}
		if p.highWatermark() >= next {
			// Leading in epoch before the high watermark was read, and
			// still after: it passed the batch while this node led.
			if !p.stillLeads(epoch) {
				return fmt.Errorf("%s-%d: %w", p.topic.name, p.index, errLeadershipMoved)
			}
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("%s-%d: %w (%v)", p.topic.name, p.index, errReplicationSlow, timeout)
		case <-b.closing:
			return errBrokerClosing
		}
	}
}

// replayPartitionTo hands fn the partition's batches below offset hw. A
// coordinator loads its partition on becoming its leader up to the log end:
// its log is the partition's (followers truncate to it) but its high
// watermark may still trail records an earlier leader had committed.
func replayPartitionTo(p *partition, hw int64, fn func([]byte) error) error {
	off := p.log.LogStartOffset()
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
