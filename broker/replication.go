package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// Replication, the leader's side (Kafka's Partition): the leader keeps
// each follower's log end offset from its fetches, the high watermark is
// the lowest log end over the in-sync replicas (ISR) and never moves back,
// and the ISR shrinks when a follower falls more than
// replica.lag.time.max.ms behind and grows when one catches up; ISR
// changes go to the controller as partition-change records that carry the
// partition epoch they were computed from (Kafka's AlterPartition), so a
// stale leader's change is refused.

// followerState is what the leader knows of one follower.
type followerState struct {
	leo          int64     // the follower's log end: the offset of its last fetch
	lastFetch    time.Time // when it last fetched
	lastFetchLEO int64     // the leader's log end at that fetch
	lastCaughtUp time.Time // the last time it had everything the leader had
}

// replicaState is a partition's replication state, guarded by mu. Lock
// order: a partition's rep.mu before its log's lock; never b.mu inside.
type replicaState struct {
	mu          sync.Mutex
	self        int32
	leader      int32
	leaderEpoch int32
	partEpoch   int32
	// metaLeader and metaEpoch are the leader and leader epoch of the
	// latest metadata this node has applied. Reconcile sets them for every
	// partition before it does anything slow (fenceStaleFetchesLocked),
	// and updateLocked again with the rest; leader and leaderEpoch follow
	// only once updateLocked runs for this partition. A follower sends
	// fetches for, and appends answers to fetches made for, exactly this
	// leader and epoch (replica_fetcher.go).
	metaLeader int32
	metaEpoch  int32
	replicas   []int32
	isr        []int32
	// adding and removing are the reassignment in progress (meta/reassign.go),
	// carried over into the ISR changes this leader proposes.
	adding    []int32
	removing  []int32
	followers map[int32]*followerState
	// localEnd is the leader's own log end as it counts toward the high
	// watermark: appended (os flush) or synced (durable flush).
	localEnd int64
	// epochStart is the log end when this node became leader: a follower
	// joins the ISR only once it has reached it (it holds the epoch).
	epochStart int64
	// isrChange is set while an ISR change this leader proposed is in
	// flight; joining are the followers it adds.
	isrChange bool
	joining   []int32
}

// updateLocked installs the metadata's view of the partition, with r.mu
// held; the caller advances the high watermark to hw when advance, after
// releasing r.mu. A node that becomes leader (or starts a new leader
// epoch) starts its followers' states afresh, counting the ISR as caught
// up now.
func (r *replicaState) updateLocked(p *partition, ps meta.PartitionState, self int32) (hw int64, advance bool) {
	newTerm := ps.Leader == self && (r.leader != self || r.leaderEpoch != ps.LeaderEpoch)
	r.self, r.leader, r.leaderEpoch, r.partEpoch = self, ps.Leader, ps.LeaderEpoch, ps.PartitionEpoch
	r.metaLeader, r.metaEpoch = ps.Leader, ps.LeaderEpoch
	r.replicas, r.isr = slices.Clone(ps.Replicas), slices.Clone(ps.ISR)
	r.adding, r.removing = slices.Clone(ps.AddingReplicas), slices.Clone(ps.RemovingReplicas)
	if newTerm {
		now := time.Now()
		r.joining = nil // a change of an earlier term cannot apply any more
		r.followers = map[int32]*followerState{}
		for _, id := range ps.Replicas {
			if id != self {
				f := &followerState{leo: -1}
				if slices.Contains(ps.ISR, id) {
					f.lastCaughtUp = now
				}
				r.followers[id] = f
			}
		}
		// Its log end now, not the larger one it may have had when it led
		// before: it may have followed and truncated since.
		leo := p.log.LogEndOffset()
		r.localEnd = leo
		if p.hw.Load() > leo {
			p.hw.Store(leo)
		}
		r.epochStart = leo
	}
	return r.highWatermarkLocked(p)
}

// highWatermarkLocked is the lowest log end over the ISR; advance is false
// when this node does not lead or a member's end is unknown.
func (r *replicaState) highWatermarkLocked(p *partition) (int64, bool) {
	if r.leader != r.self {
		return 0, false
	}
	hw := r.localEnd
	// The ISR as it may be once the change in flight is applied (Kafka's
	// maximal ISR): a follower being added counts at once, or the high
	// watermark could pass records it lacks before it is in the ISR, and
	// it could then be elected without them.
	for _, id := range append(slices.Clone(r.isr), r.joining...) {
		if id == r.self {
			continue
		}
		f := r.followers[id]
		if f == nil || f.leo < 0 {
			return 0, false
		}
		hw = min(hw, f.leo)
	}
	return hw, true
}

// localAppended records that the leader's log holds everything below next
// (synced, under the durable policy), moves the high watermark as far as
// the ISR allows, and wakes waiting fetches (followers wait for appends).
func (p *partition) localAppended(next int64) {
	r := &p.rep
	r.mu.Lock()
	if next > r.localEnd {
		r.localEnd = next
	}
	hw, advance := r.highWatermarkLocked(p)
	if r.leader != r.self {
		// Not (yet) the leader in the metadata's eyes: a single node's
		// internal writes before its first election, say.
		hw, advance = r.localEnd, len(r.replicas) <= 1
	}
	r.mu.Unlock()
	if advance {
		p.advanceHighWatermark(hw)
	}
	p.wake()
}

// followerFetched records a follower's fetch from offset. It returns
// whether the follower should join the ISR.
func (p *partition) followerFetched(id int32, offset int64, now time.Time) (join bool) {
	r := &p.rep
	leaderEnd := p.log.LogEndOffset()
	r.mu.Lock()
	f := r.followers[id]
	if f == nil {
		f = &followerState{leo: -1}
		r.followers[id] = f
	}
	switch {
	case offset >= leaderEnd:
		f.lastCaughtUp = now
	case offset >= f.lastFetchLEO && !f.lastFetch.IsZero():
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.lastFetchLEO = offset, now, leaderEnd
	hw, advance := r.highWatermarkLocked(p)
	join = r.leader == r.self && !slices.Contains(r.isr, id) && slices.Contains(r.replicas, id) &&
		!r.isrChange && offset >= p.hw.Load() && offset >= r.epochStart
	r.mu.Unlock()
	if advance {
		p.advanceHighWatermark(hw)
	}
	return join
}

// highWatermarkLagging reports whether this node leads the partition but
// its high watermark has not yet reached the log end it had when it became
// leader: records acknowledged under the previous leader may sit above it.
// Until followers fetch and carry it there, ListOffsets answers "latest"
// with OFFSET_NOT_AVAILABLE (retriable), as Kafka does, so no client sees
// the end offset go backwards across a leader election.
func (p *partition) highWatermarkLagging() bool {
	r := &p.rep
	r.mu.Lock()
	leads, start := r.leader == r.self && r.self >= 0, r.epochStart
	r.mu.Unlock()
	return leads && p.hw.Load() < start
}

// minInSync is the partition's min.insync.replicas.
func (p *partition) minInSync() int {
	n, err := strconv.Atoi(p.topic.settings.Load().values["min.insync.replicas"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// enoughInSync reports whether the ISR meets min.insync.replicas.
func (p *partition) enoughInSync() bool {
	p.rep.mu.Lock()
	n := len(p.rep.isr)
	p.rep.mu.Unlock()
	return n >= p.minInSync() || n == 0 // no ISR known: a partition older than placement
}

func (p *partition) inSyncMessage() string {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return fmt.Sprintf("The size of the current ISR %v is insufficient to satisfy the min.isr requirement of %d for partition %s-%d", p.rep.isr, p.minInSync(), p.topic.name, p.index)
}

// replicationWait is one acks=all partition of a produce waiting for its
// records to reach the high watermark.
type replicationWait struct {
	p       *partition
	next    int64
	epoch   int32 // the leader epoch the records were appended in
	topic   int
	partIdx int
}

// stillLeads reports whether this node leads p in leader epoch epoch,
// as when it appended records in that epoch: then those records are
// still in its log (a leader never truncates its own epoch). Once it has
// stopped leading it may have truncated them and taken other records at
// the same offsets from the new leader, and its high watermark as a
// follower says nothing about what it appended.
func (p *partition) stillLeads(epoch int32) bool {
	return p.leading.Load() && !p.deleted.Load() && p.log.LeaderEpoch() == epoch
}

// awaitReplication waits until every partition's high watermark passes
// its appended records, or the produce's timeout: REQUEST_TIMED_OUT then,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER when leadership
// moved. A high watermark that passes the records while the ISR is below
// min.insync.replicas answers NOT_ENOUGH_REPLICAS_AFTER_APPEND too, as
// Kafka's does: it moved because the ISR shrank (to the leader alone,
// say), not because enough replicas copied them. A high watermark that
// passes them after this node stopped leading the epoch it appended them
// in answers NOT_LEADER_OR_FOLLOWER (stillLeads): as Kafka completes a
// waiting produce when its partition becomes a follower.
//
// The high watermark is read before the ISR: every member of a later ISR
// either was in sync when the high watermark passed the records (so has
// them) or joined at or past it, so an ISR of min.insync.replicas read
// after the high watermark means as many replicas hold the records.
func (b *Broker) awaitReplication(r *request, resp *kmsg.ProduceResponse, waits []replicationWait, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ch := make(chan struct{}, 1)
	for _, w := range waits {
		sp := &resp.Topics[w.topic].Partitions[w.partIdx]
		for sp.ErrorCode == 0 {
			w.p.addWaiter(ch)
			if w.p.highWatermark() >= w.next {
				w.p.removeWaiter(ch)
				switch {
				case !w.p.stillLeads(w.epoch):
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				case !w.p.enoughInSync():
					sp.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
				}
				break
			}
			if !w.p.stillLeads(w.epoch) {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			} else {
				parkedAt := time.Now()
				select {
				case <-ch:
					r.parked += time.Since(parkedAt)
					continue
				case <-deadline.C:
					sp.ErrorCode = kerr.RequestTimedOut.Code
					if !w.p.enoughInSync() {
						sp.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
					}
				case <-r.conn.done:
					sp.ErrorCode = kerr.RequestTimedOut.Code
				}
			}
			w.p.removeWaiter(ch)
		}
	}
}

// proposeISR asks the controller to change the partition's ISR, in the
// background; one change at a time per partition.
func (b *Broker) proposeISR(p *partition, isr []int32, why string) {
	r := &p.rep
	r.mu.Lock()
	if r.isrChange || r.leader != r.self {
		r.mu.Unlock()
		return
	}
	r.isrChange = true
	for _, id := range isr {
		if !slices.Contains(r.isr, id) {
			r.joining = append(r.joining, id)
		}
	}
	change := meta.PartitionChange{Topic: p.topic.id, Partition: p.index, ExpectEpoch: r.partEpoch,
		State: meta.PartitionState{Replicas: slices.Clone(r.replicas), ISR: isr, Leader: r.self,
			AddingReplicas: slices.Clone(r.adding), RemovingReplicas: slices.Clone(r.removing)}}
	old := slices.Clone(r.isr)
	r.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := b.propose(ctx, meta.Record{Type: meta.RecordPartitionChange, Partition: &change})
		r.mu.Lock()
		r.isrChange, r.joining = false, nil
		r.mu.Unlock()
		if err != nil {
			b.logger.Debug("ISR change refused", "topic", p.topic.name, "partition", p.index, "isr", isr, "why", why, "err", err)
			return
		}
		b.metrics.isrChanged(old, isr)
		b.logger.Info("ISR changed", "topic", p.topic.name, "partition", p.index, "from", old, "to", isr, "why", why)
	}()
}

// isrLoop shrinks the ISR of the partitions this node leads when a
// follower has not caught up within replica.lag.time.max.ms.
func (b *Broker) isrLoop() {
	defer b.wg.Done()
	lag := time.Duration(b.brokerIntSetting("replica.lag.time.max.ms", 30000)) * time.Millisecond
	t := time.NewTicker(max(lag/4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			return
		case <-t.C:
		}
		now := time.Now()
		for _, p := range b.ledPartitions() {
			r := &p.rep
			r.mu.Lock()
			var keep []int32
			shrink := false
			for _, id := range r.isr {
				f := r.followers[id]
				if id != r.self && (f == nil || now.Sub(f.lastCaughtUp) > lag) {
					shrink = true
					continue
				}
				keep = append(keep, id)
			}
			r.mu.Unlock()
			if shrink {
				b.proposeISR(p, keep, "follower out of sync for "+lag.String())
			}
		}
	}
}

// ledPartitions lists the partitions this node leads.
func (b *Broker) ledPartitions() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*partition
	for _, t := range b.topics {
		for _, p := range t.allPartitions() {
			if p != nil && p.leading.Load() {
				out = append(out, p)
			}
		}
	}
	return out
}
