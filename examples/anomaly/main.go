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

	"github.com/gregorhq/gregor/examples/anomaly/anomaly"
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
	threshold      int64
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "localhost:9092", "comma-separated bootstrap brokers")
	flag.StringVar(&o.stateDir, "state-dir", "/tmp/gregor-anomaly", "state directory")
	flag.IntVar(&o.threads, "threads", 1, "stream threads")
	flag.DurationVar(&o.commit, "commit-interval", 30*time.Second, "commit interval")
	flag.DurationVar(&o.sessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout")
	flag.BoolVar(&o.describe, "describe", false, "print the topology and exit")
	flag.Int64Var(&o.threshold, "threshold", anomaly.Threshold, "clicks per minute that make a user anomalous")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "anomaly:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	topo, err := anomaly.Topology(anomaly.InputTopic, anomaly.OutputTopic, o.threshold)
	if err != nil {
		return err
	}
	if o.describe {
		fmt.Print(topo.Describe())
		return nil
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: anomaly.ApplicationID, Brokers: strings.Split(o.brokers, ","), StateDir: o.stateDir,
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
	fmt.Printf("%s ready on %s (state dir %s)\n", anomaly.ApplicationID, o.brokers, o.stateDir)
	select {
	case <-ctx.Done():
	case <-app.Done():
	}
	if err := app.Close(context.Background()); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
