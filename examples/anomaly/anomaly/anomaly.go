// Package anomaly holds the topology of examples/anomaly (the anomaly detection demo of
// Kafka Streams' examples): users who click at least Threshold times within one minute.
//
//	topo, err := anomaly.Topology(anomaly.InputTopic, anomaly.OutputTopic, anomaly.Threshold)
//	if err != nil {
//		return err
//	}
//	app, err := streams.New(topo, streams.Config{ApplicationID: anomaly.ApplicationID, Brokers: brokers})
package anomaly

import (
	"time"

	"github.com/gregorhq/gregor/streams"
)

// Default topic and application names, and the default threshold.
const (
	InputTopic    = "UserClicks"
	OutputTopic   = "AnomalousUsers"
	ApplicationID = "anomaly-detection"
	// StoreName names the window store of the counts; its changelog is
	// "<application.id>-click-counts-changelog".
	StoreName = "click-counts"
	// Threshold is the number of clicks in one window that makes a user anomalous.
	Threshold = 3
	// WindowSize is the size of the tumbling windows the clicks are counted in.
	WindowSize = time.Minute
)

// Topology builds the detector from input, whose record values are user names (keys are
// ignored), to output: clicks are re-keyed by user, counted in tumbling one-minute windows
// (no grace period: a click arriving after its minute has ended is dropped) and, from
// the threshold on, every count update goes to output with the windowed user as key,
// printed "[user@start/end]", and the count as value (int64, 8 bytes big-endian).
func Topology(input, output string, threshold int64) (*streams.Topology, error) {
	b := streams.NewBuilder()
	clicks := streams.StreamFrom[string, string](b, input, nil, nil)
	byUser := streams.SelectKey(clicks, func(_, user string) string { return user })
	counts := streams.WindowedBy(byUser.GroupByKey(), streams.TimeWindowsOfSizeWithNoGrace(WindowSize)).
		Count(streams.As(StoreName))
	anomalous := counts.Filter(func(_ streams.Windowed[string], n int64) bool { return n >= threshold })
	out := streams.Map(anomalous.ToStream(), func(w streams.Windowed[string], n int64) (string, int64) {
		return w.String(), n
	})
	// A row leaving the filtered table would arrive as a tombstone (count 0); counts only
	// grow, but keep the output free of them anyway, as Kafka's example does.
	out.Filter(func(_ string, n int64) bool { return n >= threshold }).To(output)
	return b.Build()
}
