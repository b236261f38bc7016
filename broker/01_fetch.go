package broker

import (
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
)

// Fetch: v4-17
//
// Returns whole record batches from each partition's fetch offset (the
// batch containing it, so a fetch from the middle of a batch works), up to
// the high watermark (read_uncommitted) or last stable offset
// (read_committed), within PartitionMaxBytes per partition and MaxBytes in
// all, except that the first batch of the first partition with data is
// returned whole even when it is bigger (KIP-74). When less than MinBytes is
// ready the request waits, up to MaxWaitMillis, and is woken by appends.
// Requests on one connection are still answered in order while one waits.
//
// Version notes:
//   - v4: IsolationLevel, LastStableOffset, AbortedTransactions
//   - v5: LogStartOffset
//   - v7: incremental fetch sessions (KIP-227): epoch 0 opens a session,
//     later epochs send only changed partitions and forgotten topics, and
//     the response carries only partitions with news; -1 closes it
//     (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH on misuse)
//   - v9: CurrentLeaderEpoch; v11: PreferredReadReplica (always -1)
//   - v12: flexible; v13: topics named by ID (KIP-516)
//   - v15: ReplicaState; v16-17: NodeEndpoints, ReplicaDirectoryID (unused on one node)
//
// Authorization: a consumer needs READ on each topic (else
// TOPIC_AUTHORIZATION_FAILED for its partitions); a follower's fetch needs
// CLUSTER_ACTION on the cluster (else every partition gets
// TOPIC_AUTHORIZATION_FAILED, as in Kafka).

func init() { register(1, 4, 17, handleFetch) }

// maxFetchWait caps how long one fetch may hold its connection.
const maxFetchWait = 30 * time.Second

func handleFetch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	if replica := fetchReplicaID(req, r.version); replica >= 0 {
		if !r.authorizeCluster(kmsg.ACLOperationClusterAction) {
			return fetchRefused(req), nil
		}
		return b.handleReplicaFetch(r, req, replica) // replica_fetch.go
	}
	r.conn.fetchTally = r.conn.fetchTally[:0]
	resp, err := b.handleClientFetch(r, req)
	// Count what the answer carries, once: a long poll reads its
	// partitions more than once (metrics.go).
	for i, ft := range r.conn.fetchTally {
		ft.t.metrics.totalFetch.Add(1)
		ft.t.metrics.bytesOut.Add(uint64(ft.n))
		r.conn.fetchTally[i] = fetchTally{}
	}
	return resp, err
}

// handleClientFetch answers a consumer's fetch, long-polling until it has
// MinBytes or MaxWaitMillis passes.
func (b *Broker) handleClientFetch(r *request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	if lim := r.conn.maxFetchBytesForQuota(r.clientID); lim > 0 && req.MaxBytes > lim {
		req.MaxBytes = lim // consumer_byte_rate bounds one response too (quotas.go)
	}
	plan := b.planFetch(req, r.version)
	if plan.errCode != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = plan.errCode
		return resp, nil
	}
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if wait > maxFetchWait {
		wait = maxFetchWait
	}
	deadline := time.Now().Add(wait)

	var (
		waiter chan struct{}
		parts  []*partition
		timer  *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		for _, p := range parts {
			p.removeWaiter(waiter)
		}
	}()
	satisfied := func(total int, ready bool) bool {
		return ready || total >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || !time.Now().Before(deadline)
	}
	resp, total, ready := b.fetchOnce(r, req, plan)
	if satisfied(total, ready) {
		return resp, nil
	}
	waiter = make(chan struct{}, 1)
	parts = b.fetchPartitions(r, plan.items)
	timer = time.NewTimer(time.Until(deadline))
	for {
		// Register before reading, so an append between the read and the
		// wait is not missed; a wake-up unregisters, so register again.
		for _, p := range parts {
			p.addWaiter(waiter)
		}
		resp, total, ready = b.fetchOnce(r, req, plan)
		if ready || total >= int(req.MinBytes) {
			return resp, nil
		}
		parkedAt := time.Now()
		select {
		case <-waiter:
			r.parked += time.Since(parkedAt)
		case <-timer.C:
			r.parked += time.Since(parkedAt)
			resp, _, _ = b.fetchOnce(r, req, plan)
			return resp, nil
		case <-r.conn.done:
			return nil, errors.New("connection closed during fetch")
		}
	}
}

// fetchPartitions resolves the live partitions a fetch reads.
func (b *Broker) fetchPartitions(r *request, items []fetchItem) []*partition {
	var out []*partition
	for i := range items {
		if p := b.fetchTopic(r, &items[i]).partition(items[i].partition); p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (b *Broker) fetchTopic(r *request, it *fetchItem) *topic {
	if r.version >= 13 {
		return b.topicByID(uuid.UUID(it.topicID))
	}
	return b.topicByName(it.topic)
}

// fetchOnce reads every planned partition once. ready reports a partition
// error, which answers the fetch at once, as Kafka does. For incremental
// session fetches only partitions with something new are answered.
func (b *Broker) fetchOnce(r *request, req *kmsg.FetchRequest, plan fetchPlan) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if plan.session != nil {
		resp.SessionID = plan.session.id
	}
	budget := int64(req.MaxBytes)
	if budget <= 0 {
		budget = math.MaxInt32
	}
	total := 0
	ready := false
	readCommitted := req.IsolationLevel == 1
	r.conn.fetchTally = r.conn.fetchTally[:0] // this read's answer replaces the previous one's
	var st *kmsg.FetchResponseTopic
	readable := r.topicAuthorizer(kmsg.ACLOperationRead) // authorize.go
	denied := 0
	hints := map[int32]clientBroker{} // KIP-951 leader endpoints (v16+)
	defer func() {
		for id, ep := range hints {
			resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: id, Host: ep.host, Port: ep.port})
		}
	}()
	arena := r.conn.fetchArena[:0]
	defer func() {
		if cap(arena) <= maxKeptFetchArena {
			r.conn.fetchArena = arena
		}
	}()
	for i := range plan.items {
		it := &plan.items[i]
		t := b.fetchTopic(r, it)
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = it.partition
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		p := t.partition(it.partition)
		switch {
		case t == nil && r.version >= 13:
			sp.ErrorCode = kerr.UnknownTopicID.Code
			ready = true
		case !readable.allowed(topicName(t, it.topic)):
			// As in Kafka, the fetch still waits for the partitions it may
			// read; one with none to read is answered at once.
			sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			denied++
			ready = ready || denied == len(plan.items)
		case p == nil:
			sp.ErrorCode = t.partitionError(it.partition).Code
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code && r.version >= 12 {
				h := b.hintFor(t, it.partition, r.conn.listener)
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = h.leader, h.epoch
				if h.endpoint != nil && r.version >= 16 {
					hints[h.leader] = *h.endpoint
				}
			}
			ready = true
		case it.leaderEpoch >= 0 && it.leaderEpoch != p.log.LeaderEpoch():
			sp.ErrorCode = kerr.FencedLeaderEpoch.Code
			if it.leaderEpoch > p.log.LeaderEpoch() {
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			}
			ready = true
		default:
			n, failed := b.fetchPartitionData(p, it, &sp, &arena, budget, total == 0, readCommitted)
			if failed {
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					t.metrics.failedFetch.Add(1)
				}
				ready = true
				break
			}
			r.conn.fetchTally = append(r.conn.fetchTally, fetchTally{t: t, n: n})
			total += n
			budget -= int64(n)
		}
		if plan.incremental && sp.ErrorCode == 0 && len(sp.RecordBatches) == 0 &&
			sp.HighWatermark == it.lastHW && sp.LastStableOffset == it.lastLSO && sp.LogStartOffset == it.lastLogStart {
			continue // nothing new for this partition
		}
		if plan.session != nil {
			plan.session.remember(*it, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset)
		}
		if sp.RecordBatches == nil {
			sp.RecordBatches = []byte{}
		}
		if st == nil || st.Topic != it.topic || st.TopicID != it.topicID {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			st = &resp.Topics[len(resp.Topics)-1]
			st.Topic, st.TopicID = it.topic, it.topicID
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return resp, total, ready
}

// fetchPartitionData reads one partition's records for a fetch into arena
// (at most budget bytes, though the first batch of the response whole), up
// to the high watermark or, read_committed, the last stable offset, and
// fills sp. It returns the bytes read, or failed when sp carries an error.
func (b *Broker) fetchPartitionData(p *partition, it *fetchItem, sp *kmsg.FetchResponseTopicPartition, arena *[]byte, budget int64, first, readCommitted bool) (n int, failed bool) {
	hw := p.highWatermark()
	lso := p.lastStableOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, p.log.LogStartOffset()
	limit := hw
	if readCommitted {
		limit = lso
	}
	maxBytes := max(min(int64(it.maxBytes), budget), 0)
	start := len(*arena)
	var err error
	*arena, err = b.readPartition(*arena, p, it.offset, int32(maxBytes), limit, first)
	data := (*arena)[start:]
	if err != nil {
		sp.ErrorCode = clientFetchErrorCode(err, b.leadershipInDoubt())
		if sp.ErrorCode == kerr.UnknownServerError.Code {
			b.logger.Error("fetch read failed", "topic", p.topic.name, "partition", p.index, "offset", it.offset, "err", err)
		}
		return 0, true
	}
	sp.RecordBatches = data
	if readCommitted && len(data) > 0 {
		for _, a := range p.log.AbortedTransactions(it.offset, limit) {
			sp.AbortedTransactions = append(sp.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{
				ProducerID: a.ProducerID, FirstOffset: a.FirstOffset,
			})
		}
	}
	return len(data), false
}

// fetchRefused answers every partition of a fetch with
// TOPIC_AUTHORIZATION_FAILED.
func fetchRefused(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// maxKeptFetchArena bounds the record buffer a connection keeps between
// fetches.
const maxKeptFetchArena = 8 << 20

// readPartition appends committed data from offset to dst, or reports why
// not.
func (b *Broker) readPartition(dst []byte, p *partition, offset int64, maxBytes int32, limit int64, minOne bool) ([]byte, error) {
	if offset > p.log.LogEndOffset() || offset < p.log.LogStartOffset() {
		return dst, blog.ErrOffsetOutOfRange
	}
	if offset >= limit {
		return dst, nil
	}
	return p.log.ReadAppend(dst, offset, maxBytes, limit, minOne)
}

// clientFetchErrorCode is fetchErrorCode for a client's fetch from a
// leader: one whose leadership is in doubt (leadershipInDoubt) answers an
// offset past its log end with NOT_LEADER_OR_FOLLOWER, not
// OFFSET_OUT_OF_RANGE. Cut off from the quorum it may have been replaced,
// and the offset may well exist on the new leader: a consumer resuming
// from a committed offset that this stale leader never had would take
// OFFSET_OUT_OF_RANGE as leave to reset (to the log start, under
// auto.offset.reset=earliest) and read again what its group had
// committed, while NOT_LEADER_OR_FOLLOWER sends it to the metadata for
// the current leader.
func clientFetchErrorCode(err error, inDoubt bool) int16 {
	if inDoubt && errors.Is(err, blog.ErrOffsetOutOfRange) {
		return kerr.NotLeaderForPartition.Code
	}
	return fetchErrorCode(err)
}

func fetchErrorCode(err error) int16 {
	switch {
	case errors.Is(err, blog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, blog.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, blog.ErrStorage):
		return kerr.KafkaStorageError.Code
	}
	return kerr.UnknownServerError.Code
}
