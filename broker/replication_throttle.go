package broker

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregorhq/gregor/broker/meta"
)

// Replication throttling, as Kafka's replication quotas: the broker configs
// leader.replication.throttled.rate and follower.replication.throttled.rate
// (bytes/s, dynamic) cap the replication traffic of the replicas a topic
// names in leader.replication.throttled.replicas (on the leader, replicas
// "partition:broker" naming this broker) and
// follower.replication.throttled.replicas (on a follower), "*" meaning
// every replica. Only those replicas, and only while the follower is out of
// the ISR, are limited: once the quota is used up, the leader leaves their
// data out of its fetch answers and the follower leaves them out of its
// fetches until the bucket refills. Replicas in sync are never held back,
// so a throttled reassignment cannot slow acks=all produces.

// replicationQuota is a token bucket of bytes per second that may go into
// debt: a fetch is never cut short, the next one waits for the debt to be
// repaid.
type replicationQuota struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time

	bytes    atomic.Int64 // throttled replicas' bytes counted against the quota
	heldBack atomic.Int64 // times a throttled replica was left out of a fetch
}

// exceeded reports whether the quota at rate bytes/s is used up (rate
// Long.MAX_VALUE or below 1: no limit), refilling the bucket, which holds
// at most one second of traffic.
func (q *replicationQuota) exceeded(rate int64, now time.Time) bool {
	if rate <= 0 || rate == math.MaxInt64 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(float64(rate), now)
	return q.tokens <= 0
}

// available is how many bytes a throttled replica may take in one fetch:
// what is left in the bucket, at least 1 (a fetch still returns one whole
// batch), or everything when rate sets no limit.
func (q *replicationQuota) available(rate int64, now time.Time) int64 {
	if rate <= 0 || rate == math.MaxInt64 {
		return math.MaxInt64
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refillLocked(float64(rate), now)
	return max(int64(q.tokens), 1)
}

// record counts n bytes of throttled replicas against the quota.
func (q *replicationQuota) record(rate int64, n int, now time.Time) {
	if n <= 0 {
		return
	}
	q.bytes.Add(int64(n))
	if rate <= 0 || rate == math.MaxInt64 {
		return
	}
	q.mu.Lock()
	q.refillLocked(float64(rate), now)
	q.tokens -= float64(n)
	q.mu.Unlock()
}

func (q *replicationQuota) refillLocked(rate float64, now time.Time) {
	if q.last.IsZero() {
		q.tokens, q.last = rate, now
		return
	}
	if now.After(q.last) {
		q.tokens = min(rate, q.tokens+rate*now.Sub(q.last).Seconds())
		q.last = now
	}
}

// replicationQuotas are the leader's and the follower's quota of a broker.
type replicationQuotas struct {
	leader, follower replicationQuota
}

// Names of the throttle configs.
const (
	leaderThrottledRate       = "leader.replication.throttled.rate"
	followerThrottledRate     = "follower.replication.throttled.rate"
	leaderThrottledReplicas   = "leader.replication.throttled.replicas"
	followerThrottledReplicas = "follower.replication.throttled.replicas"
)

// throttledRate is a throttle rate config's value (Long.MAX_VALUE: none).
func (b *Broker) throttledRate(name string) int64 {
	return b.brokerIntSetting(name, math.MaxInt64)
}

// leaderThrottles reports whether this leader limits what it sends
// replica of p: p is throttled on this broker and the replica is not in sync.
func (b *Broker) leaderThrottles(p *partition, replica int32) bool {
	s := p.topic.settings.Load()
	if !s.leaderThrottled.Has(p.index, b.cfg.NodeID) {
		return false
	}
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return !slices.Contains(p.rep.isr, replica)
}

// followerThrottles reports whether this follower limits what it fetches
// for p: p is throttled on this broker and this replica is not in sync.
func (b *Broker) followerThrottles(p *partition) bool {
	s := p.topic.settings.Load()
	if !s.followerThrottled.Has(p.index, b.cfg.NodeID) {
		return false
	}
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return !slices.Contains(p.rep.isr, b.cfg.NodeID)
}

// parseThrottled reads a throttled replicas config of a topic's effective
// values (a bad value, which validation refuses, throttles nothing).
func parseThrottled(values map[string]string, name string) meta.ThrottledReplicas {
	t, err := meta.ParseThrottledReplicas(values[name])
	if err != nil {
		return meta.ThrottledReplicas{}
	}
	return t
}

// ReplicationThrottleStats are the counters of a broker's replication
// quotas (Kafka's LeaderReplication and FollowerReplication byte rates).
type ReplicationThrottleStats struct {
	// LeaderBytes and FollowerBytes are the bytes of throttled replicas
	// sent as a leader and fetched as a follower.
	LeaderBytes, FollowerBytes int64
	// LeaderHeldBack and FollowerHeldBack count the times a throttled
	// replica was left out of a fetch because its quota was used up.
	LeaderHeldBack, FollowerHeldBack int64
}

// ReplicationThrottleStats returns the counters of the replication quotas.
func (b *Broker) ReplicationThrottleStats() ReplicationThrottleStats {
	return ReplicationThrottleStats{
		LeaderBytes: b.replQuotas.leader.bytes.Load(), FollowerBytes: b.replQuotas.follower.bytes.Load(),
		LeaderHeldBack: b.replQuotas.leader.heldBack.Load(), FollowerHeldBack: b.replQuotas.follower.heldBack.Load(),
	}
}
