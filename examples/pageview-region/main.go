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
	"flag"

	"github.com/gregorhq/gregor/examples/internal/runner"
	"github.com/gregorhq/gregor/examples/pageview-region/pageviewregion"
	"github.com/gregorhq/gregor/streams"
)

func main() {
	var f runner.Flags
	f.Register(flag.CommandLine, "/tmp/gregor-streams")
	runner.Main("pageview-region", &f, func() (*streams.Topology, error) {
		return pageviewregion.Topology(pageviewregion.OutputTopic)
	}, pageviewregion.ApplicationID)
}
