package kafkachangelog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/internal/kgopool"
	"github.com/gregorhq/gregor/state"
)

var kerrTopicExists = kerr.TopicAlreadyExists

// ErrFetch reports a fetch that failed with a Kafka error or an undecodable response.
var ErrFetch = errors.New("kafkachangelog: fetch failed")

// Reader is a state.ChangelogReader over a kgo client. It is safe for concurrent use.
type Reader struct {
	cl        *kgo.Client
	adm       *kadm.Client
	committed bool
	maxBytes  int32
	maxWaitMs int32

	mu   sync.Mutex
	meta map[string]kadm.TopicDetail
}

var _ state.ChangelogReader = (*Reader)(nil)

// ReaderOpt configures a Reader.
type ReaderOpt func(*Reader)

// ReadCommitted makes the reader skip aborted transactions and end at the last stable
// offset, as restoration under exactly-once requires.
func ReadCommitted() ReaderOpt { return func(r *Reader) { r.committed = true } }

// MaxFetchBytes sets the most bytes one Fetch (one restore batch) asks for; default 8 MiB.
func MaxFetchBytes(n int32) ReaderOpt { return func(r *Reader) { r.maxBytes = n } }

// NewReader returns a Reader using cl.
func NewReader(cl *kgo.Client, opts ...ReaderOpt) *Reader {
	r := &Reader{cl: cl, adm: kadm.NewClient(cl), maxBytes: 8 << 20, maxWaitMs: 500, meta: map[string]kadm.TopicDetail{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// offsetsRetryFor bounds how long Offsets retries retriable errors: a
// leader election takes seconds, and a new leader answers "latest" with
// OFFSET_NOT_AVAILABLE until its high watermark has caught up.
const offsetsRetryFor = 30 * time.Second

// Offsets returns tp's log start offset and its end offset (high watermark, or last
// stable offset with ReadCommitted). Retriable errors (a partition without a
// leader, or one whose new leader has not caught up) are retried for a while.
func (r *Reader) Offsets(ctx context.Context, tp state.TopicPartition) (int64, int64, error) {
	deadline := time.Now().Add(offsetsRetryFor)
	backoff := 50 * time.Millisecond
	for {
		start, end, err := r.offsetsOnce(ctx, tp)
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return start, end, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%w (last: %w)", context.Cause(ctx), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (r *Reader) offsetsOnce(ctx context.Context, tp state.TopicPartition) (int64, int64, error) {
	starts, err := r.adm.ListStartOffsets(ctx, tp.Topic)
	if err != nil {
		return 0, 0, fmt.Errorf("kafkachangelog: list start offsets of %s: %w", tp, err)
	}
	list := r.adm.ListEndOffsets
	if r.committed {
		list = r.adm.ListCommittedOffsets
	}
	ends, err := list(ctx, tp.Topic)
	if err != nil {
		return 0, 0, fmt.Errorf("kafkachangelog: list end offsets of %s: %w", tp, err)
	}
	s, ok1 := starts.Lookup(tp.Topic, tp.Partition)
	e, ok2 := ends.Lookup(tp.Topic, tp.Partition)
	switch {
	case !ok1 || !ok2:
		return 0, 0, fmt.Errorf("kafkachangelog: no offsets for %s: %w", tp, kerr.UnknownTopicOrPartition)
	case s.Err != nil:
		return 0, 0, fmt.Errorf("kafkachangelog: start offset of %s: %w", tp, s.Err)
	case e.Err != nil:
		return 0, 0, fmt.Errorf("kafkachangelog: end offset of %s: %w", tp, e.Err)
	}
	return s.Offset, e.Offset, nil
}

func (r *Reader) topic(ctx context.Context, topic string, refresh bool) (kadm.TopicDetail, error) {
	r.mu.Lock()
	td, ok := r.meta[topic]
	r.mu.Unlock()
	if ok && !refresh {
		return td, nil
	}
	m, err := r.adm.Metadata(ctx, topic)
	if err != nil {
		return td, fmt.Errorf("kafkachangelog: metadata of %s: %w", topic, err)
	}
	td, ok = m.Topics[topic]
	if !ok {
		return td, fmt.Errorf("kafkachangelog: metadata of %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if td.Err != nil {
		return td, fmt.Errorf("kafkachangelog: metadata of %s: %w", topic, td.Err)
	}
	r.mu.Lock()
	r.meta[topic] = td
	r.mu.Unlock()
	return td, nil
}

// Fetch fetches tp from offset from the partition's leader. The returned position is the
// offset after the last batch the broker returned, markers and aborted data included.
func (r *Reader) Fetch(ctx context.Context, tp state.TopicPartition, offset int64) ([]state.ChangelogRecord, int64, error) {
	recs, next, err := r.fetch(ctx, tp, offset, false)
	if errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition) ||
		errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.FencedLeaderEpoch) {
		recs, next, err = r.fetch(ctx, tp, offset, true)
	}
	return recs, next, err
}

func (r *Reader) fetch(ctx context.Context, tp state.TopicPartition, offset int64, refresh bool) ([]state.ChangelogRecord, int64, error) {
	td, err := r.topic(ctx, tp.Topic, refresh)
	if err != nil {
		return nil, 0, err
	}
	pd, ok := td.Partitions[tp.Partition]
	if !ok || pd.Leader < 0 {
		return nil, 0, fmt.Errorf("kafkachangelog: no leader for %s: %w", tp, kerr.NotLeaderForPartition)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = r.maxWaitMs
	req.MinBytes = 1
	req.MaxBytes = r.maxBytes
	req.SessionEpoch = -1
	if r.committed {
		req.IsolationLevel = 1
	}
	// kgo picks the Fetch version: the topic is named both ways (by name up to v12,
	// by id from v13), and the response's one topic is taken by position, not name.
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tp.Topic, td.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = tp.Partition, offset, r.maxBytes
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := r.cl.Broker(int(pd.Leader)).Request(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("kafkachangelog: fetch %s at %d: %w", tp, offset, err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, 0, fmt.Errorf("%w: %s at %d: %w", ErrFetch, tp, offset, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, 0, fmt.Errorf("%w: %s at %d: response has no partition", ErrFetch, tp, offset)
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return nil, 0, fmt.Errorf("%w: %s at %d (log start %d, end %d): %w", state.ErrOffsetOutOfRange, tp, offset, p.LogStartOffset, p.HighWatermark, err)
		}
		return nil, 0, fmt.Errorf("%w: %s at %d: %w", ErrFetch, tp, offset, err)
	}
	iso := kgo.ReadUncommitted()
	if r.committed {
		iso = kgo.ReadCommitted()
	}
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset: offset, IsolationLevel: iso, Topic: tp.Topic, Partition: tp.Partition,
		Pools: []kgo.Pool{&recordPool},
	}, p, kgo.DefaultDecompressor(), nil)
	out := make([]state.ChangelogRecord, len(fp.Records))
	for i, rec := range fp.Records {
		// Key and Value point into the response (or decompressed) buffer, which is not
		// pooled; the Record itself goes back to the pool.
		out[i] = state.ChangelogRecord{Key: rec.Key, Value: rec.Value, Offset: rec.Offset}
		rec.Recycle()
	}
	if fp.Err != nil {
		return nil, 0, fmt.Errorf("%w: %s at %d: %w", ErrFetch, tp, offset, fp.Err)
	}
	return out, max(next, offset), nil
}

// recordPool lends kgo the Record slices a fetch is decoded into, so a restore of a
// million records does not allocate (and garbage-collect) a million Records.
var recordPool kgopool.Records
