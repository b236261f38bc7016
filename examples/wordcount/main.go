// Command wordcount is Kafka Streams' WordCountDemo on Gregor streams: it reads lines
// from streams-plaintext-input, splits them into lowercase words on \W+, counts each
// word and writes the counts to streams-wordcount-output (string keys, int64 values
// encoded as Kafka's LongSerializer does).
//
//	go run ./examples/wordcount --brokers localhost:9092 --state-dir /tmp/wordcount
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

func main() {
	brokers := flag.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	stateDir := flag.String("state-dir", "/tmp/gregor-streams", "state directory")
	threads := flag.Int("threads", 1, "stream threads")
	commit := flag.Duration("commit-interval", 30*time.Second, "commit interval")
	describe := flag.Bool("describe", false, "print the topology and exit")
	flag.Parse()
	if err := run(*brokers, *stateDir, *threads, *commit, *describe); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(brokers, stateDir string, threads int, commit time.Duration, describe bool) error {
	topo, err := wordcount.Topology(wordcount.InputTopic, wordcount.OutputTopic)
	if err != nil {
		return err
	}
	if describe {
		fmt.Print(topo.Describe())
		return nil
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: wordcount.ApplicationID, Brokers: strings.Split(brokers, ","), StateDir: stateDir,
		NumStreamThreads: threads, CommitInterval: commit, Logger: slog.Default(),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx)
}
