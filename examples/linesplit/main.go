package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/gregorhq/gregor/streams"
)

var nonWord = regexp.MustCompile(`\W+`)

func main() {
	brokers := flag.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	stateDir := flag.String("state-dir", "/tmp/gregor-streams", "state directory")
	flag.Parse()
	b := streams.NewBuilder()
	lines := streams.StreamFrom[string, string](b, "streams-plaintext-input", nil, nil)
	streams.FlatMapValues(lines, func(_ string, line string) []string {
		return nonWord.Split(line, -1)
	}).Filter(func(_ string, w string) bool { return w != "" }).To("streams-linesplit-output")
	topo, err := b.Build()
	if err == nil {
		var app *streams.App
		app, err = streams.New(topo, streams.Config{ApplicationID: "streams-linesplit", Brokers: strings.Split(*brokers, ","), StateDir: *stateDir})
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = app.Run(ctx)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "linesplit:", err)
		os.Exit(1)
	}
}
