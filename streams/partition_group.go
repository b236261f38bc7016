package streams

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record order across a task's partitions (Kafka Streams' PartitionGroup). A task that
// reads several partitions (a join's or a cogroup's inputs, a table and a stream) does
// not process each fetched batch as it comes: it buffers the batches and always
// processes the buffered record with the smallest timestamp, so that a table's older
// rows are in place before the newer stream records that look them up, and a window
// join's stream time does not jump ahead on one side while the other still has older
// records. When some partitions have nothing buffered, the task waits up to
// Config.MaxTaskIdle (max.task.idle.ms) for them, unless their last fetch showed they
// are caught up, then processes the others.

// fetchBatch is what one poll returned for one partition of a task.
type fetchBatch struct {
	recs []*kgo.Record
	hw   int64 // the partition's high watermark in that fetch
}

// sourceQueue is the buffer of one source partition of a task.
type sourceQueue struct {
	recs      []*kgo.Record
	hw        int64 // high watermark of the last fetch, -1 before any
	idleSince int64 // wall clock since the queue has been empty and lagging, -1 if not
}

// addBatch buffers a fetched batch; a task with a single source processes it at once.
func (t *task) addBatch(b fetchBatch) error {
	src, err := t.source(b.recs[0].Topic)
	if err != nil {
		return err
	}
	if len(t.sources) == 1 {
		for _, r := range b.recs {
			if err := t.processKgo(src, r); err != nil {
				return err
			}
		}
		return nil
	}
	src.q.recs = append(src.q.recs, b.recs...)
	src.q.hw = b.hw
	src.q.idleSince = -1
	return nil
}

// hasBuffered reports whether records wait in the task's queues.
func (t *task) hasBuffered() bool {
	for _, src := range t.sources {
		if len(src.q.recs) > 0 {
			return true
		}
	}
	return false
}

// processBuffered processes buffered records, smallest timestamp first, until a queue
// runs empty whose partition may have older records to come and the idle time allows
// waiting for them. now is the wall clock in milliseconds.
func (t *task) processBuffered(now int64) error {
	if t.order == nil {
		for _, src := range t.sources {
			t.order = append(t.order, src)
		}
		sort.Slice(t.order, func(i, j int) bool { return t.order[i].topic < t.order[j].topic })
	}
	for {
		var best *taskSource
		var bestTs int64
		for _, src := range t.order {
			if len(src.q.recs) == 0 {
				if src.caughtUp() {
					continue
				}
				if src.q.idleSince < 0 {
					src.q.idleSince = now
				}
				if now < src.q.idleSince+t.cfg.maxIdle {
					return nil // wait for this partition's records
				}
				continue
			}
			r := src.q.recs[0]
			ts := src.tsx(ConsumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}, src.partTime)
			if best == nil || ts < bestTs {
				best, bestTs = src, ts
			}
		}
		if best == nil {
			return nil
		}
		r := best.q.recs[0]
		best.q.recs[0] = nil
		best.q.recs = best.q.recs[1:]
		if err := t.processKgo(best, r); err != nil {
			return err
		}
	}
}

// caughtUp reports whether the source's partition is known to have no records beyond
// those processed: its last fetch's high watermark has been reached.
func (s *taskSource) caughtUp() bool { return s.q.hw >= 0 && s.next >= s.q.hw }

// processKgo runs a fetched record through the task.
func (t *task) processKgo(src *taskSource, r *kgo.Record) error {
	cr := ConsumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
	if len(r.Headers) > 0 {
		cr.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			cr.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return t.processFrom(src, &cr)
}
