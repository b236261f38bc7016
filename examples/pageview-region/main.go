// Command pageview-region is Kafka Streams' PageViewRegionExample on Gregor streams: it
// joins page views (streams-pageview-input: user → page) with user profiles
// (streams-userprofile-input: user → region), re-keys the views by region and counts
// them in hopping windows of 5 minutes advancing by 1 minute, writing
// "region@windowStart->windowEnd" → count (int64, as Kafka's LongSerializer) to
// streams-pageviewstats-output. The topology lives in package
// examples/pageview-region/pageviewregion. The input topics must exist with the same
// number of partitions (they are joined); the internal topics are created by the
// application.
//
//	gregor topics create streams-pageview-input --partitions 4
//	gregor topics create streams-userprofile-input --partitions 4 --config cleanup.policy=compact
//	gregor topics create streams-pageviewstats-output --partitions 4
//	go run ./examples/pageview-region --brokers localhost:9092 --state-dir /tmp/pageview-region
//
// It prints "streams-pageview-region ready on BROKERS" once started and stops cleanly
// on SIGINT or SIGTERM.
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

	"github.com/gregorhq/gregor/examples/pageview-region/pageviewregion"
	"github.com/gregorhq/gregor/streams"
)

func main() {
	brokers := flag.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	stateDir := flag.String("state-dir", "/tmp/gregor-streams", "state directory")
	commit := flag.Duration("commit-interval", 30*time.Second, "commit interval")
	describe := flag.Bool("describe", false, "print the topology and exit")
	flag.Parse()
	if err := run(*brokers, *stateDir, *commit, *describe); err != nil {
		fmt.Fprintln(os.Stderr, "pageview-region:", err)
		os.Exit(1)
	}
}

func run(brokers, stateDir string, commit time.Duration, describe bool) error {
	topo, err := pageviewregion.Topology(pageviewregion.OutputTopic)
	if err != nil {
		return err
	}
	if describe {
		fmt.Print(topo.Describe())
		return nil
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: pageviewregion.ApplicationID, Brokers: strings.Split(brokers, ","), StateDir: stateDir,
		CommitInterval: commit, Logger: slog.Default(),
	})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Printf("%s ready on %s\n", pageviewregion.ApplicationID, brokers)
	select {
	case <-ctx.Done():
	case <-app.Done():
	}
	if err := app.Close(context.Background()); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return app.Err()
}
