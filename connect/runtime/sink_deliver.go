package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// convertedChunk is up to max.poll.records consumed records, converted
// for one Put.
type convertedChunk struct {
	recs  []*kgo.Record         // the consumed records, in offset order per partition
	batch []*connect.SinkRecord // what they converted to (without the skipped ones)
	err   error                 // a record failed beyond the error tolerance
	arena *sinkArena            // the memory of batch's records, when it is reused
}

// sinkArena is the memory of one Put's records, refilled for later Puts
// when the task does not retain its records (SinkTaskRecordRetention).
type sinkArena struct {
	recs  []connect.SinkRecord
	batch []*connect.SinkRecord
}

// maxSinkArenas is how many arenas a task keeps: one converting, one
// waiting, one in Put.
const maxSinkArenas = 3

// newArena returns an arena for n records: a free one when the task lets
// its records be reused, else new memory.
func (w *sinkWork) newArena(n int) *sinkArena {
	if w.reuseRecords {
		select {
		case a := <-w.freeArenas:
			if cap(a.recs) >= n {
				a.recs, a.batch = a.recs[:n], a.batch[:0]
				return a
			}
		default:
		}
	}
	return &sinkArena{recs: make([]connect.SinkRecord, n), batch: make([]*connect.SinkRecord, 0, n)}
}

// releaseArena takes back a chunk's memory once Put has returned.
func (w *sinkWork) releaseArena(c convertedChunk) {
	if !w.reuseRecords || c.arena == nil {
		return
	}
	select {
	case w.freeArenas <- c.arena:
	default:
	}
}

// without drops the records of the given partitions.
func (c convertedChunk) without(tps map[connect.TopicPartition]bool) convertedChunk {
	keepKafka := func(kr *kgo.Record) bool {
		return !tps[connect.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}]
	}
	keepSink := func(sr *connect.SinkRecord) bool {
		return !tps[connect.TopicPartition{Topic: sr.Topic, Partition: sr.Partition}]
	}
	out := convertedChunk{arena: c.arena}
	for _, kr := range c.recs {
		if keepKafka(kr) {
			out.recs = append(out.recs, kr)
		}
	}
	for _, sr := range c.batch {
		if keepSink(sr) {
			out.batch = append(out.batch, sr)
		}
	}
	return out
}

// process delivers one poll's records in Puts of at most maxRecs
// (max.poll.records) records each. A goroutine converts the next Put's
// records while the task is in Put with the current ones, so converting
// and writing overlap; the converters and the task are each called from
// one goroutine at a time, as before.
func (w *sinkWork) process(ctx context.Context, fetches kgo.Fetches, maxRecs int) error {
	for _, fe := range fetches.Errors() {
		if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, kgo.ErrClientClosed) {
			continue
		}
		w.h.log.Warn("fetch error", "connector", w.id.Connector, "topic", fe.Topic, "partition", fe.Partition, "err", fe.Err)
	}
	n := fetches.NumRecords()
	if n == 0 {
		return nil
	}
	w.m.readTotal.Add(int64(n))
	// Once delivered, the records go back to the client's pool: Put has
	// returned, the converters copied what they keep, and every other use
	// (offsets, the dead letter queue) is over by then.
	defer fetches.EachRecord(func(kr *kgo.Record) { kr.Recycle() })

	cctx, cancel := context.WithCancel(ctx)
	chunks := make(chan convertedChunk, 1)
	var converting sync.WaitGroup
	converting.Add(1)
	go func() {
		defer converting.Done()
		defer close(chunks)
		w.convertChunks(cctx, fetches.Records(), maxRecs, chunks)
	}()
	defer func() {
		cancel()
		for range chunks { // let the converter see the cancel and finish
		}
		converting.Wait()
	}()

	// The task moved these partitions: what was polled after the Put that
	// asked is fetched again from the new offsets, not delivered now.
	var rewound map[connect.TopicPartition]bool
	for c := range chunks {
		if c.err != nil {
			return c.err
		}
		if ctx.Err() != nil {
			return nil
		}
		if len(rewound) > 0 {
			c = c.without(rewound)
		}
		moved, err := w.deliver(ctx, c)
		if err != nil {
			return err
		}
		w.releaseArena(c)
		for tp := range moved {
			if rewound == nil {
				rewound = map[connect.TopicPartition]bool{}
			}
			rewound[tp] = true
		}
	}
	return nil
}

// convertChunks converts recs in chunks of at most maxRecs and sends them
// on out, stopping at the first failure or when ctx ends.
func (w *sinkWork) convertChunks(ctx context.Context, recs []*kgo.Record, maxRecs int, out chan<- convertedChunk) {
	for len(recs) > 0 && ctx.Err() == nil {
		n := min(len(recs), maxRecs)
		// One allocation for the Put's records, not one per record (or
		// none, when they are reused).
		arena := w.newArena(n)
		c := convertedChunk{recs: recs[:n], batch: arena.batch, arena: arena}
		recs = recs[n:]
		for i, kr := range c.recs {
			sr, err := w.convert(ctx, kr, &arena.recs[i])
			if err != nil {
				c = convertedChunk{err: fmt.Errorf("record %s-%d@%d: %w", kr.Topic, kr.Partition, kr.Offset, err)}
				break
			}
			if sr != nil {
				c.batch = append(c.batch, sr)
			}
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
		if c.err != nil {
			return
		}
	}
}

// deliver Puts one converted chunk, advances the consumed offsets past
// its records, and returns the partitions the task asked to rewind.
func (w *sinkWork) deliver(ctx context.Context, c convertedChunk) (map[connect.TopicPartition]bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := safeCall(func() error { return w.task.Put(c.batch) })
		w.m.putTime.Observe(time.Since(start))
		if err == nil {
			w.m.sendTotal.Add(int64(len(c.batch)))
			w.m.batch(len(c.batch))
			break
		}
		if !errors.Is(err, connect.ErrRetriable) {
			return nil, fmt.Errorf("put: %w", err)
		}
		w.mu.Unlock()
		ok := retryBackoff(ctx, attempt)
		w.mu.Lock()
		if !ok {
			return nil, nil // stopping: these records are not committed
		}
	}
	// Records come in offset order per partition: the last one of each
	// run of a partition sets its next offset.
	recs := c.recs
	for i, kr := range recs {
		if i+1 < len(recs) && recs[i+1].Partition == kr.Partition && recs[i+1].Topic == kr.Topic {
			continue
		}
		tp := connect.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}
		if w.assigned[tp] {
			w.current[tp] = kr.Offset + 1
		}
		if !w.topics[kr.Topic] {
			w.topics[kr.Topic] = true
			_ = w.h.statuses.AddTopic(ctx, w.id.Connector, kr.Topic)
		}
	}
	if len(w.rewinds) == 0 {
		return nil, nil
	}
	rewound := make(map[connect.TopicPartition]bool, len(w.rewinds))
	set := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range w.rewinds {
		if set[tp.Topic] == nil {
			set[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		set[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		w.current[tp] = off
		rewound[tp] = true
	}
	clear(w.rewinds)
	w.client.SetOffsets(set)
	return rewound, nil
}
