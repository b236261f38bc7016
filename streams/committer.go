package streams

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/internal/latency"
	"github.com/gregorhq/gregor/state"
)

// committer is an App's producer and committer (Kafka Streams' StreamsProducer, with
// the commit and revocation steps of its TaskManager): it produces what the sinks send
// through the App's client, and commits the tasks, under at-least-once by flushing
// them and committing the group's offsets, under exactly-once in the open transaction
// (eos.go).
//
// mu serializes commits, revocations and shutdown, and guards what they use: the
// open transaction's state (offsetsInTxn, txnCommitted), the sealed sink generations
// and lastPurge. produced, produceErr and the sinks' current generation are atomics,
// written by the stream threads too. Lock order: mu, then the task manager's mu; mu is
// held while the stream threads are held, so they never take it.
type committer struct {
	a  *App
	tm *taskManager

	mu        sync.Mutex
	lastPurge time.Time
	sinks     sinkRecords

	// Exactly-once: the transactional id, the records produced in the open transaction,
	// whether it holds offsets, and the offsets committed so far.
	eos          bool
	txnID        string
	produced     atomic.Int64
	offsetsInTxn bool
	txnCommitted map[state.TopicPartition]int64
	failCommits  atomic.Int32 // tests: how many commits to fail with errInjected
	// prod is the producer that replaced the App's client's after it was fenced
	// (renewProducer); nil while the App's client produces. Written while the stream
	// threads are held.
	prod atomic.Pointer[kgo.Client]

	produceErr atomic.Pointer[error]
	// transientSince is when the commits began failing on transient client-side
	// errors (transient); zero after a commit that succeeds. Guarded by mu.
	transientSince time.Time

	// latency times the commit loop's commits (metrics.go).
	latency latency.Histogram
}

func newCommitter(a *App, eos bool) *committer {
	c := &committer{a: a, eos: eos, txnCommitted: map[state.TopicPartition]int64{}}
	c.sinks.init()
	return c
}

// send implements collector for the tasks: records are produced asynchronously; the
// first failure stops the application at the next commit.
func (c *committer) send(topic string, partition int32, key, value []byte, ts int64, headers []Header) error {
	if p := c.produceErr.Load(); p != nil {
		return *p
	}
	g := c.sinks.cur.Load()
	if err := g.add(); err != nil {
		return err
	}
	c.produced.Add(1)
	r := &kgo.Record{Topic: topic, Partition: partition, Key: key, Value: value, Timestamp: time.UnixMilli(ts)}
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	c.producer().Produce(c.a.pctx, r, g.promise)
	return nil
}

// commit commits every task: caches, stores and changelogs are flushed, sinks'
// records acknowledged, then the offsets committed.
func (c *committer) commit() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	defer func() { c.latency.Observe(time.Since(start)) }()
	if c.eos {
		// A transaction, once ending, ends: a commit that runs into Close completes.
		return c.commitEOS(c.a.pctx, nil)
	}
	offsets, err := c.tm.commitTasks()
	if err != nil {
		return err
	}
	return c.commitOffsets(c.a.ctx, offsets)
}

// revoke commits the revoked partitions' tasks (with every other task, under
// exactly-once) and closes them; after a crash (Kill) it closes them dirty.
func (c *committer) revoke(ctx context.Context, revoked map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tasks := c.tm.takeTasks(revoked)
	if len(tasks) == 0 {
		return
	}
	clean := !c.a.crash.Load()
	if c.eos {
		var err error
		if clean {
			err = c.commitEOS(ctx, tasks)
		} else {
			err = c.abortAll(ctx)
		}
		if err != nil {
			c.a.fail(err)
		}
		return
	}
	offsets, err := c.tm.closeTasks(tasks, clean)
	if err != nil {
		c.a.fail(err)
		return
	}
	if clean {
		if err := c.commitOffsets(ctx, offsets); err != nil {
			c.a.fail(err)
		}
	}
}

// lose closes the lost partitions' tasks dirty; under exactly-once it aborts the open
// transaction, which holds their work, and with it the work of every other task.
func (c *committer) lose(lost map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eos {
		if len(c.tm.takeTasks(lost)) > 0 {
			if err := c.abortAll(context.Background()); err != nil {
				c.a.fail(err)
			}
		}
		return
	}
	if _, err := c.tm.closeTasks(c.tm.takeTasks(lost), false); err != nil {
		c.a.cfg.Logger.Warn("streams: closing lost tasks", "err", err)
	}
}

// shutdown takes every task from the task manager and commits and closes them, or,
// after a failure or a crash (Kill), closes them dirty (aborting the open transaction
// under exactly-once).
func (c *committer) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := c.tm.takeAll()
	clean := c.a.Err() == nil && !c.a.crash.Load()
	switch {
	case c.eos && clean:
		if err := c.commitEOS(context.Background(), all); err != nil {
			c.a.fail(err)
		}
	case c.eos:
		if err := c.abortAll(context.Background()); err != nil {
			c.a.cfg.Logger.Warn("streams: abort on close", "err", err)
		}
	default:
		offsets, err := c.tm.closeTasks(all, clean)
		if err != nil && clean {
			c.a.fail(err)
			clean = false
		}
		if clean && len(offsets) > 0 {
			if err := c.commitOffsets(context.Background(), offsets); err != nil {
				c.a.fail(err)
			}
		}
	}
}

// commitOffsets flushes the producer and commits offsets (at-least-once).
func (c *committer) commitOffsets(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	// The records produced for these offsets belong to the current generation and to
	// earlier ones that no commit has seen acknowledged yet; flush waits for them all.
	// A wait cut short by ctx (Close cancels the commit loop's) is no produce failure:
	// it fails this commit only, and the next one (Close's own) waits again.
	if acked, err := c.sinks.flush(ctx); err != nil {
		if acked {
			c.produceErr.CompareAndSwap(nil, &err)
		}
		return err
	}
	if p := c.produceErr.Load(); p != nil {
		return *p
	}
	if len(offsets) == 0 {
		return nil
	}
	req := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range offsets {
		if req[tp.Topic] == nil {
			req[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		req[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	var cerr error
	c.a.cl.CommitOffsetsSync(ctx, req, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("%s-%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		// A rebalance may refuse the commit; the records are processed again later.
		c.a.cfg.Logger.Warn("streams: offset commit failed", "err", cerr)
		return nil
	}
	if time.Since(c.lastPurge) >= c.a.cfg.RepartitionPurgeInterval {
		c.lastPurge = time.Now()
		c.a.purgeRepartition(ctx, offsets)
	}
	return nil
}
