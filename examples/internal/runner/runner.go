// Package runner holds what the streams examples' commands share: their common
// flags, and running a topology as an application until SIGINT or SIGTERM.
package runner

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

	"github.com/gregorhq/gregor/streams"
)

// Flags are the flags every example takes.
type Flags struct {
	Brokers        string
	StateDir       string
	Threads        int
	Commit         time.Duration
	SessionTimeout time.Duration
	Describe       bool
	Guarantee      string
	HTTP           string
}

// Register adds the common flags to fs; stateDir is the example's default state
// directory.
func (f *Flags) Register(fs *flag.FlagSet, stateDir string) {
	fs.StringVar(&f.Brokers, "brokers", "localhost:9092", "comma-separated bootstrap brokers")
	fs.StringVar(&f.StateDir, "state-dir", stateDir, "state directory")
	fs.IntVar(&f.Threads, "threads", 1, "stream threads")
	fs.DurationVar(&f.Commit, "commit-interval", 0, "commit interval (default 30s, 100ms under exactly_once_v2)")
	fs.DurationVar(&f.SessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout")
	fs.BoolVar(&f.Describe, "describe", false, "print the topology and exit")
	fs.StringVar(&f.Guarantee, "processing-guarantee", "at_least_once", "processing.guarantee: at_least_once or exactly_once_v2")
	fs.StringVar(&f.HTTP, "http", "", "serve /metrics, /healthz, /readyz, /topology, /info and pprof on this address, e.g. 127.0.0.1:9645 (off when empty)")
}

// Run prints topo's description (with --describe), or runs it as application appID
// until SIGINT or SIGTERM, then closes it cleanly. It prints "APPID ready on BROKERS
// (state dir DIR, GUARANTEE)" once the application has started, with
// ", metrics http://ADDR/metrics" before the parenthesis closes under --http.
func (f *Flags) Run(topo *streams.Topology, appID string) error {
	if f.Describe {
		fmt.Print(topo.Describe())
		return nil
	}
	guarantee, err := streams.ParseProcessingGuarantee(f.Guarantee)
	if err != nil {
		return err
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: appID, Brokers: strings.Split(f.Brokers, ","), StateDir: f.StateDir,
		NumStreamThreads: f.Threads, CommitInterval: f.Commit, SessionTimeout: f.SessionTimeout,
		ProcessingGuarantee: guarantee, Logger: slog.Default(), HTTPAddr: f.HTTP,
	})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	metrics := ""
	if a := app.HTTPAddr(); a != "" {
		metrics = ", metrics http://" + a + "/metrics"
	}
	fmt.Printf("%s ready on %s (state dir %s, %s%s)\n", appID, f.Brokers, f.StateDir, guarantee, metrics)
	select {
	case <-ctx.Done():
	case <-app.Done():
	}
	if err := app.Close(context.Background()); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Main parses the command line, builds the topology and runs it, exiting with a
// message on failure; name prefixes the message.
func Main(name string, f *Flags, build func() (*streams.Topology, error), appID string) {
	flag.Parse()
	topo, err := build()
	if err == nil {
		err = f.Run(topo, appID)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
