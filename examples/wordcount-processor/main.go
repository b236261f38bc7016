package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gregorhq/gregor/streams"
)

var nonWord = regexp.MustCompile(`\W+`)

// counter counts words in the "Counts" store and forwards all counts on a schedule.
type counter struct {
	ctx    *streams.ProcessorContext[string, string]
	counts *streams.KeyValueStore[string, int64]
}

func (c *counter) Init(ctx *streams.ProcessorContext[string, string]) error {
	c.ctx = ctx
	var err error
	if c.counts, err = streams.GetKeyValueStore[string, int64](ctx, "Counts"); err != nil {
		return err
	}
	_, err = ctx.Schedule(time.Second, streams.WallClockTime, c.punctuate)
	return err
}

func (c *counter) Process(r streams.Record[string, string]) error {
	for _, w := range nonWord.Split(strings.ToLower(r.Value), -1) {
		if w == "" {
			continue
		}
		n, _, err := c.counts.Get(w)
		if err != nil {
			return err
		}
		if err := c.counts.Put(w, n+1); err != nil {
			return err
		}
	}
	return nil
}

func (c *counter) punctuate(ts int64) error {
	it, err := c.counts.All()
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		r := streams.Record[string, string]{Key: it.Key(), Value: strconv.FormatInt(it.Value(), 10), Timestamp: ts}
		if err := c.ctx.Forward(r); err != nil {
			return err
		}
	}
	return it.Err()
}

func (c *counter) Close() error { return nil }

// topology builds Source -> Process (store Counts) -> Sink.
func topology() (*streams.Topology, error) {
	b := streams.NewBuilder()
	b.AddStore(streams.KeyValueStoreBuilder[string, int64]("Counts", nil, nil))
	lines := streams.StreamFrom[string, string](b, "streams-plaintext-input", nil, nil, streams.Named("Source"))
	counted := streams.Process(lines, func() streams.Processor[string, string, string, string] { return &counter{} },
		streams.Named("Process"), streams.WithStores("Counts"))
	counted.To("streams-wordcount-processor-output", streams.Named("Sink"))
	return b.Build()
}

func main() {
	brokers := flag.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	stateDir := flag.String("state-dir", "/tmp/gregor-streams", "state directory")
	flag.Parse()
	topo, err := topology()
	if err == nil {
		var app *streams.App
		app, err = streams.New(topo, streams.Config{ApplicationID: "streams-wordcount-processor", Brokers: strings.Split(*brokers, ","), StateDir: *stateDir})
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = app.Run(ctx)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount-processor:", err)
		os.Exit(1)
	}
}
