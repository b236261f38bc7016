package main

import (
	"flag"

	"github.com/gregorhq/gregor/examples/internal/runner"
	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
	"github.com/gregorhq/gregor/streams"
)

func main() {
	var f runner.Flags
	f.Register(flag.CommandLine, "/tmp/gregor-streams")
	runner.Main("wordcount", &f, func() (*streams.Topology, error) {
		return wordcount.Topology(wordcount.InputTopic, wordcount.OutputTopic)
	}, wordcount.ApplicationID)
}
