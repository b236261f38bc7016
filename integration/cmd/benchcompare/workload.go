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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// phase is the outcome of one throughput phase.
type phase struct {
	Records int
	Bytes   int64
	Secs    float64
}

// RecsPerSec is records per second.
func (p phase) RecsPerSec() float64 { return float64(p.Records) / p.Secs }

// MBPerSec is payload megabytes (10^6) per second.
func (p phase) MBPerSec() float64 { return float64(p.Bytes) / p.Secs / 1e6 }

// latencies are sorted produce-to-consume latencies.
type latencies []time.Duration

// quantile returns the q-quantile (0 < q < 1).
func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

// createTopics creates the topics with the given partition count.
func createTopics(ctx context.Context, addr string, partitions int32, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err == nil {
		err = resps.Error()
	}
	return err
}

// deleteTopics deletes the topics, freeing the broker's memory or disk.
func deleteTopics(ctx context.Context, addr string, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).DeleteTopics(ctx, topics...)
	if err == nil {
		err = resps.Error()
	}
	return err
}

// produce sends n records of size bytes to topic with acks=all as fast as
// the client allows (idempotent, linger 5ms, batches up to 1 MB, no
// compression) and returns the time until the last acknowledgement.
func produce(ctx context.Context, addr, topic string, n, size int) (phase, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(200000))
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	// Warm up: connections, metadata and the producer ID.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, size)}).FirstErr(); err != nil {
		return phase{}, fmt.Errorf("warm-up produce: %w", err)
	}
	value := make([]byte, size)
	rand.Read(value)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	wg.Add(n)
	t0 := time.Now()
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if f := failed.Load(); f > 0 {
		return phase{}, fmt.Errorf("%d of %d records failed, first: %w", f, n, firstErr)
	}
	return phase{Records: n, Bytes: int64(n) * int64(size), Secs: secs}, nil
}

// consume reads want records (the produced ones plus the warm-up record)
// from the start of topic and returns the time it took, client start
// included.
func consume(ctx context.Context, addr, topic string, want, size int) (phase, error) {
	t0 := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return phase{}, err
	}
	defer cl.Close()
	var n int
	var bytes int64
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return phase{}, fmt.Errorf("consume after %d of %d records: %w", n, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value))
		})
	}
	secs := time.Since(t0).Seconds()
	if n != want || bytes != int64(want)*int64(size) {
		return phase{}, fmt.Errorf("consumed %d records / %d bytes, want %d / %d", n, bytes, want, int64(want)*int64(size))
	}
	return phase{Records: n, Bytes: bytes, Secs: secs}, nil
}

// latency produces rate records/s of size bytes for d (acks=all, no
// linger), each carrying its send time, while a consumer reads them; it
// returns the sorted send-to-receive latencies.
func latency(ctx context.Context, addr, topic string, rate int, d time.Duration, size int) (latencies, error) {
	total := int(float64(rate) * d.Seconds())
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0)) // kgo's default linger (10ms) would dominate the figure
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
		return nil, fmt.Errorf("warm-up produce: %w", err)
	}

	cctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	lats := make(latencies, 0, total)
	consumed := make(chan error, 1)
	go func() { // the consumer; ends when it has every record or cctx ends
		for len(lats) < total {
			fs := c.PollFetches(cctx)
			if err := fs.Err(); err != nil {
				consumed <- fmt.Errorf("latency consumer after %d records: %w", len(lats), err)
				return
			}
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) >= 8 && string(r.Value) != "warm-up" {
					lats = append(lats, time.Duration(now-int64(binary.BigEndian.Uint64(r.Value))))
				}
			})
		}
		consumed <- nil
	}()
	time.Sleep(300 * time.Millisecond) // let the consumer reach the log end

	interval := time.Second / time.Duration(rate)
	var failed atomic.Int64
	t0 := time.Now()
	for i := range total {
		if w := time.Until(t0.Add(time.Duration(i) * interval)); w > 0 {
			time.Sleep(w)
		}
		v := make([]byte, max(8, size))
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		p.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		cancel()
		<-consumed
		return nil, err
	}
	if f := failed.Load(); f > 0 {
		cancel()
		<-consumed
		return nil, fmt.Errorf("latency phase: %d records failed to produce", f)
	}
	if err := <-consumed; err != nil {
		return nil, err
	}
	if len(lats) == 0 {
		return nil, errors.New("latency phase: nothing consumed")
	}
	slices.Sort(lats)
	return lats, nil
}
