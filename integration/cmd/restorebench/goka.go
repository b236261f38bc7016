package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"
)

func gokaSetup() goka.TopicManagerBuilder {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	goka.ReplaceGlobalConfig(cfg)
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	return goka.TopicManagerBuilderWithTopicManagerConfig(tm)
}

var gokaLogger = log.New(io.Discard, "", 0)

// runGokaView recovers goka's table into a view with goka's leveldb storage in dir: the
// restore time runs from Run to the view's running state, the ready time from NewView to
// there. The view is then restarted on the same storage.
func runGokaView(ctx context.Context, addr, dir string) (result, error) {
	tmb := gokaSetup()
	var r result
	instance := func(measure bool) (restore, ready time.Duration, err error) {
		start := time.Now()
		v, err := goka.NewView([]string{addr}, goka.Table(gokaTable), new(codec.Bytes),
			goka.WithViewStorageBuilder(storage.DefaultBuilder(dir)), goka.WithViewTopicManagerBuilder(tmb),
			goka.WithViewLogger(gokaLogger))
		if err != nil {
			return 0, 0, fmt.Errorf("goka view: %w", err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		rs, cpu := time.Now(), startCPU()
		go func() { done <- v.Run(rctx) }()
		defer func() {
			cancel()
			if rerr := <-done; err == nil && rerr != nil {
				err = fmt.Errorf("goka view run: %w", rerr)
			}
		}()
		select {
		case <-v.WaitRunning():
		case err := <-done:
			done <- err
			return 0, 0, fmt.Errorf("goka view stopped before recovering: %w", err)
		}
		restore = time.Since(rs)
		if measure {
			r.cpu, r.brokerCPU = cpu.stop()
		}
		if val, err := v.Get(string(key(*records - 1))); err != nil || val == nil {
			return 0, 0, fmt.Errorf("goka view: last key after recovery: %v, %w", val, err)
		}
		return restore, time.Since(start), nil
	}
	var err error
	if r.restore, r.ready, err = instance(true); err != nil {
		return r, err
	}
	r.records = int64(*records)
	r.bytes = r.records * int64(len(key(0))+*valueLen)
	if _, r.restarted, err = instance(false); err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	return r, nil
}

// runGokaProcessor runs goka's processor group restorebench-goka, whose table holds the
// same records: ready is from NewProcessor to its callback having processed one input
// record (after recovering the table and joining the group); restore is from Run to
// Recovered. It is then restarted on the same storage with a new input record.
func runGokaProcessor(ctx context.Context, addr, dir string) (result, error) {
	tmb := gokaSetup()
	processed := make(chan struct{}, 16)
	g := goka.DefineGroup(gokaGroup,
		goka.Input(gokaInput, new(codec.Bytes), func(gctx goka.Context, msg any) {
			gctx.SetValue(msg)
			processed <- struct{}{}
		}),
		goka.Persist(new(codec.Bytes)))
	var r result
	instance := func(measure bool) (restore, ready time.Duration, err error) {
		if err := produceInput(ctx, addr); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		p, err := goka.NewProcessor([]string{addr}, g, goka.WithTopicManagerBuilder(tmb),
			goka.WithStorageBuilder(storage.DefaultBuilder(dir)), goka.WithLogger(gokaLogger))
		if err != nil {
			return 0, 0, fmt.Errorf("goka processor: %w", err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		rs, cpu := time.Now(), startCPU()
		go func() { done <- p.Run(rctx) }()
		defer func() {
			cancel()
			if rerr := <-done; err == nil && rerr != nil {
				err = fmt.Errorf("goka processor run: %w", rerr)
			}
		}()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for restore == 0 {
			select {
			case <-tick.C:
				if p.Recovered() {
					restore = time.Since(rs)
					if measure {
						r.cpu, r.brokerCPU = cpu.stop()
					}
				}
			case err := <-done:
				done <- err
				return 0, 0, fmt.Errorf("goka processor stopped before recovering: %w", err)
			}
		}
		select {
		case <-processed:
		case err := <-done:
			done <- err
			return 0, 0, fmt.Errorf("goka processor stopped before processing: %w", err)
		}
		return restore, time.Since(start), nil
	}
	var err error
	if r.restore, r.ready, err = instance(true); err != nil {
		return r, err
	}
	r.records = int64(*records)
	r.bytes = r.records * int64(len(key(0))+*valueLen)
	if _, r.restarted, err = instance(false); err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	return r, nil
}

// produceInput writes one record to goka's input topic.
func produceInput(ctx context.Context, addr string) error {
	cl, err := newClient(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: gokaInput, Key: key(0), Value: []byte("input")}).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", gokaInput, err)
	}
	return nil
}
