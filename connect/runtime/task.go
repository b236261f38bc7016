package runtime

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/internal/compression"
	"github.com/twmb/franz-go/pkg/kgo"
)

// taskWork is the loop of one source or sink task.
type taskWork interface {
	// run starts the task, runs it until ctx is done, then flushes,
	// commits and stops it. An error fails the task.
	run(ctx context.Context, r *taskRunner) error
}

// taskRunner owns the goroutine of one task: start launches it, stop
// cancels it and waits for it to end.
type taskRunner struct {
	h    *Worker
	id   TaskID
	work taskWork
	// The configurations the task runs with: a distributed worker
	// restarts it when they change.
	connCfg, taskCfg map[string]string
	// metrics are the task's counters (metrics.go), shared with its loop.
	metrics *taskMetrics

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards paused, resume, failed
	paused  bool
	resume  chan struct{} // closed while not paused
	failed  bool
	started bool
}

func (h *Worker) newTaskRunner(rt *connRuntime, id TaskID, connCfg, taskCfg map[string]string) (*taskRunner, error) {
	kc, vc, err := h.converters(connCfg)
	if err != nil {
		return nil, fmt.Errorf("task %s-%d: %w", id.Connector, id.Task, err)
	}
	chain, err := buildTransformChain(h.reg, connCfg)
	if err != nil {
		return nil, fmt.Errorf("task %s-%d: %w", id.Connector, id.Task, err)
	}
	m := &taskMetrics{}
	r := &taskRunner{h: h, id: id, done: make(chan struct{}), connCfg: maps.Clone(connCfg), taskCfg: maps.Clone(taskCfg), metrics: m}
	eh := newErrorHandler(h, id, connCfg)
	eh.m = m
	kClass, vClass := h.converterClass(connCfg, KeyConverterConfig, h.cfg.KeyConverter), h.converterClass(connCfg, ValueConverterConfig, h.cfg.ValueConverter)
	switch c := rt.conn.(type) {
	case connect.SourceConnector:
		r.work = &sourceWork{h: h, id: id, m: m, task: c.NewTask(), taskCfg: maps.Clone(taskCfg), keyConv: kc, valConv: vc, keyClass: kClass, valClass: vClass, eh: eh, chain: chain}
	case connect.SinkConnector:
		r.work = &sinkWork{h: h, id: id, m: m, task: c.NewTask(), connCfg: maps.Clone(connCfg), taskCfg: maps.Clone(taskCfg), keyConv: kc, valConv: vc, keyClass: kClass, valClass: vClass, eh: eh, chain: chain}
	default:
		return nil, fmt.Errorf("task %s-%d: connector is neither source nor sink", id.Connector, id.Task)
	}
	return r, nil
}

// converterClass returns the full class name of the converter a connector
// uses for keys or values.
func (h *Worker) converterClass(connCfg map[string]string, prefix, workerClass string) string {
	class := strings.TrimSpace(connCfg[prefix])
	if class == "" {
		class = workerClass
	}
	if p, err := h.reg.Lookup(class); err == nil {
		return p.Class
	}
	return class
}

// converters builds a task's key and value converters: the connector's
// own (key.converter in its config) or else the worker's, configured with
// the worker's settings overlaid by the connector's.
func (h *Worker) converters(connCfg map[string]string) (connect.Converter, connect.Converter, error) {
	build := func(isKey bool, prefix, workerClass string, workerProps map[string]string) (connect.Converter, error) {
		class := strings.TrimSpace(connCfg[prefix])
		props := map[string]string{}
		if class == "" {
			class = workerClass
			maps.Copy(props, workerProps)
		}
		maps.Copy(props, connect.SubProps(connCfg, prefix+"."))
		c, err := h.reg.NewConverter(class)
		if err != nil {
			return nil, err
		}
		if err := c.Configure(props, isKey); err != nil {
			return nil, fmt.Errorf("configure %s: %w", class, err)
		}
		return c, nil
	}
	kc, err := build(true, KeyConverterConfig, h.cfg.KeyConverter, h.cfg.KeyConverterProps)
	if err != nil {
		return nil, nil, err
	}
	vc, err := build(false, ValueConverterConfig, h.cfg.ValueConverter, h.cfg.ValueConverterProps)
	if err != nil {
		return nil, nil, err
	}
	return kc, vc, nil
}

func (r *taskRunner) start(paused bool) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.paused = paused
	r.resume = make(chan struct{})
	if !paused {
		close(r.resume)
	}
	go func() {
		defer close(r.done)
		err := safeCall(func() error { return r.work.run(ctx, r) })
		if err != nil {
			r.fail(err)
		}
	}()
}

// stop cancels the task and waits for it to flush, commit and stop. A task
// that overruns task.shutdown.graceful.timeout.ms is logged and still
// waited for: every goroutine has an owner.
func (r *taskRunner) stop() {
	r.cancel()
	t := time.NewTimer(r.h.cfg.TaskShutdownTimeout)
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-t.C:
		r.h.log.Warn("task is slow to stop", "connector", r.id.Connector, "task", r.id.Task)
	}
	<-r.done
}

// running records that the task started.
func (r *taskRunner) running() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = true
	state := StateRunning
	if r.paused {
		state = StatePaused
	}
	r.h.putTaskStatus(r.id, Status{State: state})
}

func (r *taskRunner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.h.log.Error("task failed", "connector", r.id.Connector, "task", r.id.Task, "err", err)
	r.h.putTaskStatus(r.id, Status{State: StateFailed, Trace: err.Error()})
}

func (r *taskRunner) setPaused(p bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused == p {
		return
	}
	r.paused = p
	if p {
		r.resume = make(chan struct{})
	} else {
		close(r.resume)
	}
	if r.failed || !r.started {
		return
	}
	state := StateRunning
	if p {
		state = StatePaused
	}
	r.h.putTaskStatus(r.id, Status{State: state})
}

// pausedCh returns nil when running, or a channel closed on resume.
func (r *taskRunner) pausedCh() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.paused {
		return nil
	}
	return r.resume
}

// waitResumed blocks while paused; it returns false if ctx ends first.
func (r *taskRunner) waitResumed(ctx context.Context, ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryBackoff waits before retrying a retriable error; false if ctx ends.
func retryBackoff(ctx context.Context, attempt int) bool {
	d := time.Duration(min(1<<min(attempt, 10), 1000)) * 10 * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// clientOpts maps the worker's producer.* or consumer.* properties that
// Gregor understands onto kgo options. The client retries with the
// backoff of Kafka's clients (retry.backoff.ms, default 100, doubling up
// to retry.backoff.max.ms, default 1000), not kgo's longer default: a
// sink's consumer must reach a new group coordinator within its session.
func clientOpts(cfg WorkerConfig, clientID string, props map[string]string) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ClientID(clientID)}
	backoff, backoffMax := 100*time.Millisecond, time.Second
	for k, v := range props {
		v = strings.TrimSpace(v)
		n, nerr := strconv.ParseInt(v, 10, 64)
		bad := func() error { return fmt.Errorf("%w: %s=%q", connect.ErrInvalidConfig, k, v) }
		switch k {
		case "linger.ms":
			if nerr != nil {
				return nil, bad()
			}
			opts = append(opts, kgo.ProducerLinger(time.Duration(n)*time.Millisecond))
		case "batch.size":
			if nerr != nil || n <= 0 {
				return nil, bad()
			}
			opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
		case "compression.type":
			c, err := compression.Codec(v)
			if err != nil {
				return nil, bad()
			}
			opts = append(opts, kgo.ProducerBatchCompression(c))
		case "acks":
			switch v {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return nil, bad()
			}
		case "fetch.max.wait.ms":
			if nerr != nil {
				return nil, bad()
			}
			opts = append(opts, kgo.FetchMaxWait(time.Duration(n)*time.Millisecond))
		case "session.timeout.ms":
			if nerr != nil || n <= 0 {
				return nil, bad()
			}
			opts = append(opts, kgo.SessionTimeout(time.Duration(n)*time.Millisecond))
		case "max.poll.interval.ms":
			// Kafka's consumer sends it as the group's rebalance timeout:
			// how long a rebalance waits for a member to rejoin.
			if nerr != nil || n <= 0 {
				return nil, bad()
			}
			opts = append(opts, kgo.RebalanceTimeout(time.Duration(n)*time.Millisecond))
		case "heartbeat.interval.ms":
			if nerr != nil || n <= 0 {
				return nil, bad()
			}
			opts = append(opts, kgo.HeartbeatInterval(time.Duration(n)*time.Millisecond))
		case "fetch.max.bytes":
			if nerr != nil {
				return nil, bad()
			}
			opts = append(opts, kgo.FetchMaxBytes(int32(n)))
		case "retry.backoff.ms", "retry.backoff.max.ms":
			if nerr != nil || n < 0 {
				return nil, bad()
			}
			if k == "retry.backoff.ms" {
				backoff = time.Duration(n) * time.Millisecond
			} else {
				backoffMax = time.Duration(n) * time.Millisecond
			}
		}
	}
	return append(opts, kgo.RetryBackoffFn(kafkaBackoff(backoff, backoffMax))), nil
}
