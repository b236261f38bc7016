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
//   - v5: LogStartOffset; v7: fetch sessions (KIP-227: this broker answers
//     sessionless, SessionID 0, so clients send full requests)
//   - v9: CurrentLeaderEpoch; v11: PreferredReadReplica (always -1)
//   - v12: flexible; v13: topics named by ID (KIP-516)
//   - v15: ReplicaState; v16-17: NodeEndpoints, ReplicaDirectoryID (unused on one node)

func init() { register(1, 4, 17, handleFetch) }

// maxFetchWait caps how long one fetch may hold its connection.
const maxFetchWait = 30 * time.Second

func handleFetch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
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
	for {
		resp, total, ready := b.fetchOnce(r, req)
		if ready || total >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || !time.Now().Before(deadline) {
			return resp, nil
		}
		if waiter == nil {
			waiter = make(chan struct{}, 1)
			parts = b.fetchPartitions(r, req)
			timer = time.NewTimer(time.Until(deadline))
		}
		for _, p := range parts {
			p.addWaiter(waiter)
		}
		// Re-check after registering, so an append between the read and
		// the registration is not missed.
		resp, total, ready = b.fetchOnce(r, req)
		if ready || total >= int(req.MinBytes) {
			return resp, nil
		}
		select {
		case <-waiter:
		case <-timer.C:
			resp, _, _ = b.fetchOnce(r, req)
			return resp, nil
		case <-r.conn.done:
			return nil, errors.New("connection closed during fetch")
		}
	}
}

// fetchPartitions resolves the live partitions a fetch names.
func (b *Broker) fetchPartitions(r *request, req *kmsg.FetchRequest) []*partition {
	var out []*partition
	for _, rt := range req.Topics {
		t := b.fetchTopic(r, rt)
		for _, rp := range rt.Partitions {
			if p := t.partition(rp.Partition); p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func (b *Broker) fetchTopic(r *request, rt kmsg.FetchRequestTopic) *topic {
	if r.version >= 13 {
		return b.topicByID(uuid.UUID(rt.TopicID))
	}
	return b.topicByName(rt.Topic)
}

// fetchOnce reads every requested partition once. ready reports a partition
// error, which answers the fetch at once, as Kafka does.
func (b *Broker) fetchOnce(r *request, req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	budget := int64(req.MaxBytes)
	if budget <= 0 {
		budget = math.MaxInt32
	}
	total := 0
	ready := false
	readCommitted := req.IsolationLevel == 1
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := b.fetchTopic(r, rt)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			p := t.partition(rp.Partition)
			switch {
			case t == nil && r.version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
				ready = true
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ready = true
			case rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch != p.log.LeaderEpoch():
				sp.ErrorCode = kerr.FencedLeaderEpoch.Code
				if rp.CurrentLeaderEpoch > p.log.LeaderEpoch() {
					sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
				}
				ready = true
			default:
				hw := p.highWatermark()
				lso := p.lastStableOffset()
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, p.log.LogStartOffset()
				limit := hw
				if readCommitted {
					limit = lso
				}
				maxBytes := min(int64(rp.PartitionMaxBytes), budget)
				if maxBytes < 0 {
					maxBytes = 0
				}
				data, err := b.readPartition(p, rp.FetchOffset, int32(maxBytes), limit, total == 0)
				if err != nil {
					sp.ErrorCode = fetchErrorCode(err)
					ready = true
					if sp.ErrorCode == kerr.UnknownServerError.Code {
						b.logger.Error("fetch read failed", "topic", t.name, "partition", p.index, "offset", rp.FetchOffset, "err", err)
					}
					break
				}
				sp.RecordBatches = data
				total += len(data)
				budget -= int64(len(data))
			}
			if sp.RecordBatches == nil {
				sp.RecordBatches = []byte{}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, ready
}

// readPartition reads committed data from offset, or reports why not.
func (b *Broker) readPartition(p *partition, offset int64, maxBytes int32, limit int64, minOne bool) ([]byte, error) {
	if offset > p.log.LogEndOffset() || offset < p.log.LogStartOffset() {
		return nil, blog.ErrOffsetOutOfRange
	}
	if offset >= limit {
		return nil, nil
	}
	return p.log.Read(offset, maxBytes, limit, minOne)
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
