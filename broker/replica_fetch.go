package broker

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// A Fetch from a follower (ReplicaID, or ReplicaState from v15, names a
// broker) is served here rather than by the consumer path: it reads up to
// the leader's log end (not the high watermark), records how far the
// follower has got (which moves the high watermark and the ISR), and
// answers a follower whose last fetched epoch has diverged from the
// leader's log with DivergingEpoch (KIP-320), so it truncates first.

// fetchReplicaID is the broker a Fetch comes from, or -1 for a consumer.
func fetchReplicaID(req *kmsg.FetchRequest, version int16) int32 {
	if version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

func (b *Broker) handleReplicaFetch(r *request, req *kmsg.FetchRequest, replica int32) (kmsg.Response, error) {
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)
	first := true
	ch := make(chan struct{}, 1)
	var parts []*partition
	defer func() {
		for _, p := range parts {
			p.removeWaiter(ch)
		}
	}()
	for {
		// Register before reading so an append in between is not missed
		// (a wake-up unregisters: register again every pass).
		for _, p := range parts {
			p.addWaiter(ch)
		}
		resp, total, ps := b.replicaFetchOnce(r, req, replica, first)
		if total > 0 || total < 0 || !time.Now().Before(deadline) {
			return resp, nil
		}
		parts = ps
		if first {
			// The first read told which partitions to wait on: read again
			// once registered, or an append between that read and the
			// registration would wake no one, and the leader, waiting for
			// this follower before it acknowledges that append, would
			// wait out the fetch's MaxWait.
			first = false
			continue
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			resp, _, _ = b.replicaFetchOnce(r, req, replica, false)
			return resp, nil
		case <-r.conn.done:
			return nil, errors.New("connection closed during fetch")
		}
	}
}

// replicaFetchOnce answers a follower's fetch once. total is the bytes
// returned, or -1 when a partition's answer is an error or a divergence
// (the follower must hear it at once). record says whether this pass
// records the follower's progress (the first pass of a request).
func (b *Broker) replicaFetchOnce(r *request, req *kmsg.FetchRequest, replica int32, record bool) (*kmsg.FetchResponse, int, []*partition) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0
	budget := int64(req.MaxBytes)
	if budget <= 0 {
		budget = 64 << 20
	}
	total := 0
	urgent := false
	now := time.Now()
	var parts []*partition
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		if r.version >= 13 {
			t = b.topicByID(uuid.UUID(rt.TopicID))
		} else {
			t = b.topicByName(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{}
			p := t.partition(rp.Partition)
			switch {
			case t == nil && r.version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case p == nil:
				sp.ErrorCode = t.partitionError(rp.Partition).Code
			case rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < p.leaderEpoch.Load():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case rp.CurrentLeaderEpoch > p.leaderEpoch.Load():
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case !p.placement().Hosts(replica):
				// Only the partition's own replicas read past the high watermark.
				sp.ErrorCode = kerr.ReplicaNotAvailable.Code
			default:
				parts = append(parts, p)
				if r.version >= 12 && rp.LastFetchedEpoch >= 0 {
					d := p.log.DivergingEpoch(rp.FetchOffset, rp.LastFetchedEpoch)
					if d.Unknown {
						sp.ErrorCode = kerr.OffsetOutOfRange.Code
						sp.HighWatermark, sp.LogStartOffset = p.highWatermark(), p.log.LogStartOffset()
						break
					}
					if d.Diverged {
						sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
						sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.highWatermark(), p.lastStableOffset(), p.log.LogStartOffset()
						urgent = true
						break
					}
				}
				if rp.FetchOffset > p.log.LogEndOffset() || rp.FetchOffset < p.log.LogStartOffset() {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					sp.HighWatermark, sp.LogStartOffset = p.highWatermark(), p.log.LogStartOffset()
					break
				}
				if record && p.followerFetched(replica, rp.FetchOffset, now) {
					b.proposeISR(p, append(p.isrSnapshot(), replica), "follower caught up")
				}
				data, err := b.readForReplica(p, replica, rp.FetchOffset, max(min(int64(rp.PartitionMaxBytes), budget), 0), total == 0, now)
				if err != nil {
					sp.ErrorCode = fetchErrorCode(err)
					break
				}
				sp.RecordBatches = data
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.highWatermark(), p.lastStableOffset(), p.log.LogStartOffset()
				total += len(data)
				budget -= int64(len(data))
			}
			if sp.ErrorCode != 0 {
				urgent = true
				if h := b.hintFor(t, rp.Partition, r.conn.listener); h.leader >= 0 && r.version >= 12 {
					sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = h.leader, h.epoch
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if urgent && total == 0 {
		total = -1
	}
	return resp, total, parts
}

// readForReplica reads a follower's share of p from offset, at most
// maxBytes (but one whole batch when first), within the leader's
// replication quota when the replica is throttled (replication_throttle.go):
// nothing while the quota is used up.
func (b *Broker) readForReplica(p *partition, replica int32, offset, maxBytes int64, first bool, now time.Time) ([]byte, error) {
	throttled := b.leaderThrottles(p, replica)
	rate := b.throttledRate(leaderThrottledRate)
	if throttled {
		if b.replQuotas.leader.exceeded(rate, now) {
			b.replQuotas.leader.heldBack.Add(1)
			return []byte{}, nil
		}
		maxBytes = min(maxBytes, b.replQuotas.leader.available(rate, now))
	}
	data, err := p.log.Read(offset, int32(maxBytes), p.log.LogEndOffset(), first)
	if err != nil {
		return nil, err
	}
	if throttled {
		b.replQuotas.leader.record(rate, len(data), now)
	}
	return data, nil
}

// isrSnapshot is the partition's ISR as this node knows it.
func (p *partition) isrSnapshot() []int32 {
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return append([]int32(nil), p.rep.isr...)
}

// placementFor is a partition's placement, for the fetcher.
func (p *partition) placement() meta.PartitionState { return p.topic.placementOf(p.index) }
