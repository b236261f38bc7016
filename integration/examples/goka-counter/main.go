package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "goka-counter-input", "input topic")
	group := flag.String("group", "goka-counter", "processor group (its table is GROUP-table)")
	dir := flag.String("storage", "goka-counter-storage", "the processor's local table storage")
	timeout := flag.Duration("timeout", 30*time.Second, "how long emit and get may take")
	flag.Parse()
	c := counter{brokers: strings.Split(*brokers, ","), topic: goka.Stream(*topic), group: goka.Group(*group), dir: *dir}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch flag.Arg(0) {
	case "process":
		err = c.process(ctx)
	case "emit":
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		err = c.emit(ctx, flag.Args()[1:])
	case "get":
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		err = c.get(ctx, flag.Args()[1:])
	default:
		err = errors.New("usage: goka-counter [flags] process | emit KEY [KEY ...] | get KEY [KEY ...]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goka-counter:", err)
		os.Exit(1)
	}
}

// counter holds the application's settings.
type counter struct {
	brokers []string
	topic   goka.Stream
	group   goka.Group
	dir     string
}

// topicManager creates topics with replication factor 1 (goka's default of
// 2 needs two brokers); table topics get cleanup.policy=compact.
func (c counter) topicManager() goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	return goka.TopicManagerBuilderWithTopicManagerConfig(tmc)
}

// ensureInput creates the input topic (one partition) if it is missing.
func (c counter) ensureInput() error {
	tm, err := c.topicManager()(c.brokers)
	if err != nil {
		return fmt.Errorf("topic manager: %w", err)
	}
	defer tm.Close()
	if err := tm.EnsureStreamExists(string(c.topic), 1); err != nil {
		return fmt.Errorf("input topic: %w", err)
	}
	return nil
}

// process runs the processor until ctx ends.
func (c counter) process(ctx context.Context) error {
	if err := c.ensureInput(); err != nil {
		return err
	}
	g := goka.DefineGroup(c.group,
		goka.Input(c.topic, new(codec.String), func(ctx goka.Context, _ any) {
			var n int64
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			ctx.SetValue(n + 1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	p, err := goka.NewProcessor(c.brokers, g,
		goka.WithStorageBuilder(storage.DefaultBuilder(c.dir)),
		goka.WithTopicManagerBuilder(c.topicManager()))
	if err != nil {
		return fmt.Errorf("new processor: %w", err)
	}
	go func() {
		if p.WaitForReadyContext(ctx) == nil {
			fmt.Printf("goka-counter processor ready on %s\n", c.brokers[0])
		}
	}()
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("processor: %w", err)
	}
	return nil
}

// emit sends one message per key to the input topic and waits until all
// are acknowledged.
func (c counter) emit(ctx context.Context, keys []string) error {
	if err := c.ensureInput(); err != nil {
		return err
	}
	e, err := goka.NewEmitter(c.brokers, c.topic, new(codec.String))
	if err != nil {
		return fmt.Errorf("new emitter: %w", err)
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		p, err := e.Emit(k, "+1")
		if err != nil {
			errs = append(errs, fmt.Errorf("emit %s: %w", k, err))
			break
		}
		p.Then(func(err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("emit %s: %w", k, err))
				mu.Unlock()
			}
		})
	}
	// Finish waits for every emitted message to be acknowledged.
	if err := e.Finish(); err != nil {
		errs = append(errs, fmt.Errorf("emitter: %w", err))
	}
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(errs...)
}

// get runs a View (in memory: it reads the whole table topic), waits until
// it has caught up and prints each key's count (0 when absent).
func (c counter) get(ctx context.Context, keys []string) error {
	v, err := goka.NewView(c.brokers, goka.GroupTable(c.group), new(codec.Int64),
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewTopicManagerBuilder(c.topicManager()))
	if err != nil {
		return fmt.Errorf("new view: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for !v.Recovered() {
		select {
		case err := <-done:
			done <- err // for the deferred receive
			return fmt.Errorf("view stopped before it recovered: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("view recovery: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, k := range keys {
		val, err := v.Get(k)
		if err != nil {
			return fmt.Errorf("get %s: %w", k, err)
		}
		n, _ := val.(int64)
		fmt.Printf("%s=%d\n", k, n)
	}
	return nil
}
