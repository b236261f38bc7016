package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
	"github.com/gregorhq/gregor/streams"
)

// options are the command's flags.
type options struct {
	brokers        string
	stateDir       string
	threads        int
	commit         time.Duration
	sessionTimeout time.Duration
	describe       bool
	guarantee      string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "localhost:9092", "comma-separated bootstrap brokers")
	flag.StringVar(&o.stateDir, "state-dir", "/tmp/gregor-streams", "state directory")
	flag.IntVar(&o.threads, "threads", 1, "stream threads")
	flag.DurationVar(&o.commit, "commit-interval", 30*time.Second, "commit interval")
	flag.DurationVar(&o.sessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout")
	flag.BoolVar(&o.describe, "describe", false, "print the topology and exit")
	flag.StringVar(&o.guarantee, "processing-guarantee", "at_least_once", "processing.guarantee: at_least_once or exactly_once_v2")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	topo, err := wordcount.Topology(wordcount.InputTopic, wordcount.OutputTopic)
	if err != nil {
		return err
	}
	if o.describe {
		fmt.Print(topo.Describe())
		return nil
	}
	guarantee, err := streams.ParseProcessingGuarantee(o.guarantee)
	if err != nil {
		return err
	}
	app, err := streams.New(topo, streams.Config{
		ProcessingGuarantee: guarantee,
		ApplicationID:       wordcount.ApplicationID, Brokers: strings.Split(o.brokers, ","), StateDir: o.stateDir,
		NumStreamThreads: o.threads, CommitInterval: o.commit, SessionTimeout: o.sessionTimeout,
		Logger: slog.Default(),
	})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Printf("%s ready on %s (state dir %s, %s)\n", wordcount.ApplicationID, o.brokers, o.stateDir, guarantee)
	select {
	case <-ctx.Done():
	case <-app.Done():
	}
	if err := app.Close(context.Background()); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
