package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// phase is the outcome of one throughput phase.
type phase struct {
	records int
	secs    float64
}

func (p phase) recsPerSec() float64 {
	if p.secs == 0 {
		return 0
	}
	return float64(p.records) / p.secs
}

// latencies are sorted produce-to-consume latencies.
type latencies []time.Duration

// quantile is the q-quantile (q = 1: the largest).
func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

// produce sends n records of 100 B to topic's partitions with acks=all,
// idempotent, linger 5ms, as fast as the client allows, and returns the
// time from the first send to the last acknowledgement.
func produce(ctx context.Context, seeds []string, topic string, n int) (phase, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(200000), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 100)}).FirstErr(); err != nil {
		return phase{}, fmt.Errorf("warm-up produce: %w", err)
	}
	value := make([]byte, 100)
	rand.Read(value)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var first atomic.Value
	wg.Add(n)
	t0 := time.Now()
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err.Error())
			}
			wg.Done()
		})
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if f := failed.Load(); f > 0 {
		return phase{}, fmt.Errorf("%d of %d records failed, first: %v", f, n, first.Load())
	}
	return phase{records: n, secs: secs}, nil
}

// latency creates topic, produces rate records/s to it for d (acks=all,
// no linger), each stamped with its send time, while a consumer reads
// them, and returns the sorted send-to-receipt latencies and, apart, the
// sorted send-to-acknowledgement ones.
func latency(ctx context.Context, seeds []string, topic string, partitions int32, rf int16, rate int, d time.Duration) (e2e, acks latencies, err error) {
	if err := createTopic(ctx, seeds, topic, partitions, rf); err != nil {
		return nil, nil, err
	}
	total := int(float64(rate) * d.Seconds())
	c, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
		return nil, nil, fmt.Errorf("warm-up produce: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	lats := make(latencies, 0, total)
	consumed := make(chan error, 1)
	go func() {
		for len(lats) < total {
			fs := c.PollFetches(cctx)
			if err := fs.Err(); err != nil {
				consumed <- fmt.Errorf("consumer after %d of %d records: %w", len(lats), total, err)
				return
			}
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) == 100 {
					lats = append(lats, time.Duration(now-int64(binary.BigEndian.Uint64(r.Value))))
				}
			})
		}
		consumed <- nil
	}()
	time.Sleep(300 * time.Millisecond) // the consumer reaches the log end

	interval := time.Second / time.Duration(rate)
	var failed atomic.Int64
	var ackMu sync.Mutex
	acks = make(latencies, 0, total)
	t0 := time.Now()
	for i := range total {
		if w := time.Until(t0.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		v := make([]byte, 100)
		sent := time.Now()
		binary.BigEndian.PutUint64(v, uint64(sent.UnixNano()))
		p.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				return
			}
			ackMu.Lock()
			acks = append(acks, time.Since(sent))
			ackMu.Unlock()
		})
	}
	if err := p.Flush(ctx); err != nil {
		cancel()
		<-consumed
		return nil, nil, err
	}
	if f := failed.Load(); f > 0 {
		cancel()
		<-consumed
		return nil, nil, fmt.Errorf("%d records failed to produce", f)
	}
	if err := <-consumed; err != nil {
		return nil, nil, err
	}
	if len(lats) == 0 {
		return nil, nil, errors.New("nothing consumed")
	}
	slices.Sort(lats)
	slices.Sort(acks)
	return lats, acks, nil
}
