package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gregorhq/gregor/streams"
)

func main() {
	brokers := flag.String("brokers", "localhost:9092", "comma-separated bootstrap brokers")
	stateDir := flag.String("state-dir", "/tmp/gregor-streams", "state directory")
	flag.Parse()
	b := streams.NewBuilder()
	streams.StreamFrom[[]byte, []byte](b, "streams-plaintext-input", nil, nil).To("streams-pipe-output")
	topo, err := b.Build()
	if err == nil {
		var app *streams.App
		app, err = streams.New(topo, streams.Config{ApplicationID: "streams-pipe", Brokers: strings.Split(*brokers, ","), StateDir: *stateDir})
		if err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = app.Run(ctx)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
}
