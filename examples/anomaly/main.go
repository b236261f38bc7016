package main

import (
	"flag"

	"github.com/gregorhq/gregor/examples/anomaly/anomaly"
	"github.com/gregorhq/gregor/examples/internal/runner"
	"github.com/gregorhq/gregor/streams"
)

func main() {
	var f runner.Flags
	f.Register(flag.CommandLine, "/tmp/gregor-anomaly")
	threshold := flag.Int64("threshold", anomaly.Threshold, "clicks per minute that make a user anomalous")
	runner.Main("anomaly", &f, func() (*streams.Topology, error) {
		return anomaly.Topology(anomaly.InputTopic, anomaly.OutputTopic, *threshold)
	}, anomaly.ApplicationID)
}
