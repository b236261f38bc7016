package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

func newClient(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// key returns record i's key: "key-%012d" of i (modulo -keys), or with -random a 16-digit
// hex hash of that number, so that keys come in no order.
func key(i int) []byte {
	if *keys > 0 {
		i %= *keys
	}
	if *random {
		return fmt.Appendf(nil, "key-%016x", mix(uint64(i)))
	}
	return fmt.Appendf(nil, keyPattern, i)
}

// mix is splitmix64's finaliser, a bijection: distinct numbers give distinct keys.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// fill creates the compacted topics and writes the same records to our changelog and to
// goka's group table (and goka's input topic).
func fill(ctx context.Context, addr string, ours, goka bool) error {
	cl, err := newClient(addr, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	var topics []string
	if ours {
		topics = append(topics, state.ChangelogTopic(appID, storeName))
	}
	if goka {
		topics = append(topics, gokaTable)
		if err := createTopic(ctx, adm, gokaInput, nil); err != nil {
			return err
		}
	}
	val := make([]byte, *valueLen)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	for _, topic := range topics {
		if err := createTopic(ctx, adm, topic, map[string]*string{"cleanup.policy": &compact}); err != nil {
			return err
		}
		var perr firstErr
		for i := range *records {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key(i), Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					perr.set(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush %s: %w", topic, err)
		}
		if err := perr.get(); err != nil {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	return nil
}

func createTopic(ctx context.Context, adm *kadm.Client, topic string, cfg map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, 1, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// firstErr keeps the first error reported by produce callbacks.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// counter is a RestoreListener that counts the records restored.
type counter struct{ total int64 }

func (c *counter) OnRestoreStart(string, state.TopicPartition, int64, int64)  {}
func (c *counter) OnBatchRestored(string, state.TopicPartition, int64, int)   {}
func (c *counter) OnRestoreEnd(_ string, _ state.TopicPartition, total int64) { c.total += total }

// runGregor restores our store from a fresh state directory: persistent picks leveldb
// over memory. A leveldb store is then closed cleanly and restarted from its checkpoint.
func runGregor(ctx context.Context, addr, dir string, persistent bool) (result, error) {
	factory := memory.KeyValueFactory()
	if persistent {
		factory = leveldb.KeyValueFactory(nil)
	}
	var r result
	// instance starts a task on dir and restores it; measure records the restore's CPU
	// time in r.
	instance := func(measure bool) (restore, ready time.Duration, n int64, err error) {
		start := time.Now()
		cl, err := newClient(addr)
		if err != nil {
			return 0, 0, 0, err
		}
		defer cl.Close()
		c := &counter{}
		task, err := state.OpenTask(state.TaskConfig{ApplicationID: appID, TaskID: "0_0", StateDir: dir,
			Writer: kafkachangelog.NewWriter(cl), Reader: kafkachangelog.NewReader(cl), RestoreListener: c})
		if err != nil {
			return 0, 0, 0, err
		}
		kv, err := task.KeyValueStore(storeName, factory)
		if err != nil {
			_ = task.Close(ctx, false)
			return 0, 0, 0, err
		}
		rs, cpu := time.Now(), startCPU()
		if err := task.Restore(ctx); err != nil {
			_ = task.Close(ctx, false)
			return 0, 0, 0, err
		}
		restore = time.Since(rs)
		if measure {
			r.cpu, r.brokerCPU = cpu.stop()
		}
		// Process one record: read-modify-write through the store, then commit.
		k := key(*records - 1)
		v, err := kv.Get(k)
		if err == nil {
			err = kv.Put(k, v)
		}
		if err == nil {
			err = task.Commit(ctx)
		}
		ready = time.Since(start)
		if cerr := task.Close(ctx, err == nil); err == nil {
			err = cerr
		}
		return restore, ready, c.total, err
	}
	var err error
	if r.restore, r.ready, r.records, err = instance(true); err != nil {
		return r, err
	}
	r.bytes = r.records * int64(len(key(0))+*valueLen)
	if persistent {
		if _, r.restarted, _, err = instance(false); err != nil {
			return r, fmt.Errorf("restart: %w", err)
		}
	}
	return r, nil
}
