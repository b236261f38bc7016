package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// Replication, the follower's side (Kafka's ReplicaFetcherThread): one
// fetcher per leader broker copies the batches of every partition this
// node follows there, appending them unchanged, takes the leader's high
// watermark, and truncates where the leader says its log diverged.

// replicaFetchers owns the fetchers, one per leader. Lock order: b.mu
// (held by reconcile when it calls assign) before replicaFetchers.mu
// before a fetcher's mu.
type replicaFetchers struct {
	b        *Broker
	mu       sync.Mutex
	byLeader map[int32]*replicaFetcher
	closed   bool
}

// replicaFetcher copies from one leader.
type replicaFetcher struct {
	b      *Broker
	leader int32

	mu    sync.Mutex
	parts map[*partition]struct{}
	wake  chan struct{}

	stop chan struct{}
	done chan struct{}

	// authLog is when run last logged a failure to authenticate to the
	// leader (owned by run).
	authLog time.Time
}

// assign makes p follow leader (or nothing, with leader < 0 or this node).
// Callers may hold b.mu.
func (rf *replicaFetchers) assign(p *partition, leader int32) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.closed {
		return
	}
	for id, f := range rf.byLeader {
		if id != leader {
			f.remove(p)
		}
	}
	if leader < 0 || leader == rf.b.cfg.NodeID {
		return
	}
	f := rf.byLeader[leader]
	if f == nil {
		f = &replicaFetcher{b: rf.b, leader: leader, parts: map[*partition]struct{}{}, wake: make(chan struct{}, 1),
			stop: make(chan struct{}), done: make(chan struct{})}
		rf.byLeader[leader] = f
		go f.run()
	}
	f.add(p)
}

// close stops every fetcher and waits for them.
func (rf *replicaFetchers) close() {
	rf.mu.Lock()
	rf.closed = true
	fs := make([]*replicaFetcher, 0, len(rf.byLeader))
	for _, f := range rf.byLeader {
		fs = append(fs, f)
	}
	rf.byLeader = map[int32]*replicaFetcher{}
	rf.mu.Unlock()
	for _, f := range fs {
		close(f.stop)
		<-f.done
	}
}

func (f *replicaFetcher) add(p *partition) {
	f.mu.Lock()
	f.parts[p] = struct{}{}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *replicaFetcher) remove(p *partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
}

func (f *replicaFetcher) snapshot() []*partition {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*partition, 0, len(f.parts))
	for p := range f.parts {
		if !p.deleted.Load() {
			out = append(out, p)
		}
	}
	return out
}

func (f *replicaFetcher) run() {
	defer close(f.done)
	var cl *kgo.Client
	var addr string
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	backoff := func(d time.Duration) bool {
		select {
		case <-f.stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		parts := f.snapshot()
		if len(parts) == 0 {
			select {
			case <-f.stop:
				return
			case <-f.wake:
			}
			continue
		}
		ep, ok := f.b.brokerEndpoint(f.leader, f.b.interBrokerListener())
		if !ok {
			if !backoff(200 * time.Millisecond) {
				return
			}
			continue
		}
		if a := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))); cl == nil || a != addr {
			if cl != nil {
				cl.Close()
			}
			// The peer's listener may need TLS and SASL (inter_broker_security.go).
			opts, err := f.b.interBrokerClientOpts(f.b.interBrokerListener())
			if err == nil {
				cl, err = kgo.NewClient(append(opts, kgo.SeedBrokers(a), kgo.ClientID(fmt.Sprintf("gregor-replica-fetcher-%d-%d", f.b.cfg.NodeID, f.leader)))...)
			}
			if err != nil {
				f.b.logger.Warn("replica fetcher cannot connect to the leader", "leader", f.leader, "err", err)
				cl = nil
				if !backoff(time.Second) {
					return
				}
				continue
			}
			addr = a
		}
		if err := f.fetchOnce(cl, parts); err != nil {
			wait := 200 * time.Millisecond
			if f.b.logInterBrokerError(&f.authLog, f.leader, "replica fetch failed", err) { // inter_broker_security.go
				wait = time.Second // Kafka's replica.fetch.backoff.ms: retrying sooner cannot help
			}
			if !backoff(wait) {
				return
			}
		}
	}
}

// fetchOnce sends one Fetch for parts and applies the answer.
func (f *replicaFetcher) fetchOnce(cl *kgo.Client, parts []*partition) error {
	b := f.b
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = b.cfg.NodeID
	req.ReplicaState.ID = b.cfg.NodeID
	req.ReplicaState.Epoch = b.brokerEpoch.Load()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 16<<20
	req.SessionID, req.SessionEpoch = 0, -1
	byKey := map[string]*partition{}
	epochs := map[*partition]int32{} // the leader epoch each partition is fetched in
	rate := b.throttledRate(followerThrottledRate)
	throttled := map[*partition]bool{}
	for _, p := range parts {
		if b.followerThrottles(p) {
			if b.replQuotas.follower.exceeded(rate, time.Now()) {
				// Over the follower's replication quota: leave it out
				// until the bucket refills.
				b.replQuotas.follower.heldBack.Add(1)
				continue
			}
			throttled[p] = true
		}
		rp, ok := f.position(p)
		if !ok {
			continue // the metadata has moved p off this leader
		}
		epochs[p] = rp.CurrentLeaderEpoch
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = p.topic.name, p.topic.id
		if throttled[p] {
			rp.PartitionMaxBytes = int32(min(int64(rp.PartitionMaxBytes), b.replQuotas.follower.available(rate, time.Now())))
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		byKey[partKey(p.topic.name, p.index)] = p
		byKey[partKeyID(p.topic.id, p.index)] = p
	}
	if len(req.Topics) == 0 {
		// Every partition is held back by the quota (or has just moved
		// to another leader).
		select {
		case <-f.stop:
		case <-time.After(100 * time.Millisecond):
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	kresp, err := cl.Broker(int(f.leader)).Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	var errs []error
	retry := false
	for _, rt := range resp.Topics {
		for _, sp := range rt.Partitions {
			p := byKey[partKey(rt.Topic, sp.Partition)]
			if p == nil {
				p = byKey[partKeyID(rt.TopicID, sp.Partition)]
			}
			if p == nil {
				continue
			}
			if throttled[p] {
				b.replQuotas.follower.record(rate, len(sp.RecordBatches), time.Now())
			}
			if err := f.apply(p, epochs[p], sp); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", p.topic.name, p.index, err))
			}
			if sp.ErrorCode != 0 {
				retry = true
			}
		}
	}
	if retry && len(errs) == 0 {
		// Wait for the metadata to catch up with the leader's answer.
		time.Sleep(50 * time.Millisecond)
	}
	return errors.Join(errs...)
}

func partKey(topic string, p int32) string  { return topic + "/" + strconv.Itoa(int(p)) }
func partKeyID(id [16]byte, p int32) string { return string(id[:]) + "#" + strconv.Itoa(int(p)) }
func (p *partition) isFollowing(self int32) bool {
	ps := p.placement()
	return ps.Leader != self && ps.Hosts(self)
}

// position is where p's next fetch from this fetcher's leader starts, read
// under p's rep.mu, with the leader epoch it is made for; ok is false when
// the leader no longer leads p in the latest metadata (current).
func (f *replicaFetcher) position(p *partition) (rp kmsg.FetchRequestTopicPartition, ok bool) {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	if !f.currentLocked(p, p.rep.metaEpoch) {
		return rp, false
	}
	rp = kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p.index
	rp.CurrentLeaderEpoch = p.rep.metaEpoch
	rp.FetchOffset = p.log.LogEndOffset()
	rp.LastFetchedEpoch = p.log.LeaderEpoch()
	rp.LogStartOffset = p.log.LogStartOffset()
	rp.PartitionMaxBytes = 4 << 20
	return rp, true
}

// currentLocked reports whether this node follows this fetcher's leader
// for p in leader epoch epoch, in the latest metadata it has applied as
// well as in p's replication state; the caller holds p.rep.mu. As Kafka's
// fetcher compares the epoch a fetch was made for with the partition's
// current one, an answer passes only if this still holds: the old leader
// of a superseded epoch may have appended records (woken from a pause, say)
// that its successor never had, and this node may even be that successor.
func (f *replicaFetcher) currentLocked(p *partition, epoch int32) bool {
	r := &p.rep
	return !p.deleted.Load() && !p.leading.Load() &&
		r.metaLeader == f.leader && r.metaEpoch == epoch &&
		r.leader == f.leader && r.leaderEpoch == epoch &&
		p.isFollowing(f.b.cfg.NodeID)
}

// apply takes one partition's answer to a fetch made in leader epoch
// epoch: append, truncate, or note the error.
func (f *replicaFetcher) apply(p *partition, epoch int32, sp kmsg.FetchResponseTopicPartition) error {
	b := f.b
	// Hold the replication state so leadership cannot change under the
	// append (updateLocked and fenceStaleFetchesLocked take the same lock).
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	if !f.currentLocked(p, epoch) {
		// The metadata moved on while the fetch was out: this node leads,
		// or follows another leader or a later epoch, whose log is the one
		// to copy, not the old leader's (which may hold records the new
		// one never had). The next fetch truncates against the new leader
		// (DivergingEpoch) before it copies anything.
		return nil
	}
	switch sp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		return f.outOfRange(p, sp)
	default:
		return nil // NOT_LEADER, FENCED/UNKNOWN_LEADER_EPOCH...: the metadata will tell
	}
	if sp.DivergingEpoch.Epoch >= 0 || sp.DivergingEpoch.EndOffset >= 0 {
		return f.truncate(p, sp.DivergingEpoch)
	}
	if len(sp.RecordBatches) > 0 {
		if _, err := p.log.AppendAsFollower(sp.RecordBatches); err != nil {
			return fmt.Errorf("append as follower: %w", err)
		}
		if b.cfg.FlushPolicy == FlushDurable {
			if err := p.log.Sync(p.log.LogEndOffset()); err != nil {
				return fmt.Errorf("sync: %w", err)
			}
		}
	}
	if hw := min(sp.HighWatermark, p.log.LogEndOffset()); hw > p.highWatermark() {
		defer p.advanceHighWatermark(hw) // after rep.mu is released
	}
	return nil
}

// truncate cuts this replica's log where it diverges from the leader's:
// at the end of the diverging epoch on the leader, or earlier if this
// replica's own copy of that epoch ends earlier.
func (f *replicaFetcher) truncate(p *partition, div kmsg.FetchResponseTopicPartitionDivergingEpoch) error {
	// When this replica's copy of the epoch ends elsewhere the answer is
	// partial: truncate that far, and the next fetch, with the new latest
	// epoch, finds the rest (complete is then false).
	//
	// A target at the log end cuts no records but must still go to
	// TruncateTo, which drops the leader epochs starting there: a replica
	// that was elected (and so started an epoch at its log end) but
	// appended nothing in it before it lost leadership sends that epoch as
	// its LastFetchedEpoch, the new leader, which never saw it, answers
	// with the epoch before it ending right there, and unless the empty
	// epoch goes the same answer comes back for ever.
	target, _ := p.log.TruncationOffset(div.Epoch, div.EndOffset)
	leo := p.log.LogEndOffset()
	target = min(target, leo)
	if target < p.log.LogStartOffset() {
		return p.log.TruncateFullyAndStartAt(p.log.LogStartOffset())
	}
	if target < leo {
		f.b.logger.Info("truncating diverged replica", "topic", p.topic.name, "partition", p.index,
			"from", leo, "to", target, "leader", f.leader, "diverging_epoch", div.Epoch, "leader_end_offset", div.EndOffset)
	}
	if err := p.log.TruncateTo(target); err != nil {
		return fmt.Errorf("truncate to %d: %w", target, err)
	}
	return nil
}

// outOfRange handles a fetch offset the leader does not have: behind its
// log start (start over there), or past its end (truncate back).
func (f *replicaFetcher) outOfRange(p *partition, sp kmsg.FetchResponseTopicPartition) error {
	leo := p.log.LogEndOffset()
	switch {
	case sp.LogStartOffset > leo:
		f.b.logger.Info("replica behind the leader's log start; starting over", "topic", p.topic.name, "partition", p.index, "at", sp.LogStartOffset)
		return p.log.TruncateFullyAndStartAt(sp.LogStartOffset)
	case sp.HighWatermark >= 0 && sp.HighWatermark < leo:
		return p.log.TruncateTo(max(sp.HighWatermark, p.log.LogStartOffset()))
	}
	return nil
}

// fenceStaleFetchesLocked records the latest metadata's leader and leader
// epoch in every local partition, before reconcile takes up leadership and
// moves fetchers partition by partition (which writes leader-epoch files
// and can take a while): from here on no answer to a fetch made for an
// older leader or epoch is appended, as Kafka's broker removes the fetchers
// of every partition whose leader changed before it makes any partition a
// leader or a follower. Without it a node elected leader copied, while
// reconcile was still busy with other partitions, what a deposed leader
// woken from a pause had just appended, and then started its own epoch
// after those records. Callers hold b.mu.
func (b *Broker) fenceStaleFetchesLocked(mts []meta.Topic) {
	byName := make(map[string]*meta.Topic, len(mts))
	for i := range mts {
		byName[mts[i].Name] = &mts[i]
	}
	for name, t := range b.topics {
		mt := byName[name]
		if mt != nil && mt.ID != t.id {
			mt = nil // recreated: the old partitions follow no one
		}
		for i, p := range t.allPartitions() {
			if p == nil {
				continue
			}
			ps := meta.PartitionState{Leader: meta.NoLeader, LeaderEpoch: -1}
			if mt != nil && i < len(mt.Assignments) {
				ps = mt.Assignments[i]
			}
			p.rep.mu.Lock()
			p.rep.metaLeader, p.rep.metaEpoch = ps.Leader, ps.LeaderEpoch
			p.rep.mu.Unlock()
		}
	}
}

// followLeaders points every local partition at its leader's fetcher.
// Callers hold b.mu.
func (b *Broker) followLeaderLocked(p *partition, ps meta.PartitionState) {
	if b.fetchers == nil {
		return
	}
	if ps.Leader == b.cfg.NodeID || !ps.Hosts(b.cfg.NodeID) || ps.Offline() {
		b.fetchers.assign(p, -1)
		return
	}
	b.fetchers.assign(p, ps.Leader)
}
