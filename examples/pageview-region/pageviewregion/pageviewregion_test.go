package pageviewregion

import (
	"maps"
	"strconv"
	"testing"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

func TestPageViewRegion(t *testing.T) {
	topo, err := Topology(OutputTopic)
	if err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, topo)
	views := streamstest.NewInputTopic[string, string](d, PageViewTopic, nil, nil)
	profiles := streamstest.NewInputTopic[string, string](d, UserProfileTopic, nil, nil)
	out := streamstest.NewOutputTopic[string, int64](d, OutputTopic, nil, nil)

	const min = 60_000
	profiles.PipeAt("alice", "europe", 0)
	profiles.PipeAt("bob", "asia", 0)
	views.PipeAt("alice", "/home", 10*min+30_000) // windows starting at 6..10 min
	views.PipeAt("bob", "/a", 10*min+40_000)
	views.PipeAt("carol", "/x", 10*min+50_000)     // no profile
	views.PipeAt("alice", "/about", 11*min+40_000) // windows starting at 7..11 min
	profiles.PipeAt("alice", "america", 11*min+45_000)
	views.PipeAt("alice", "/cart", 11*min+50_000)
	profiles.PipeRecord(streams.Record[string, string]{Key: "bob", Tombstone: true, Timestamp: 11*min + 55_000})
	views.PipeAt("bob", "/b", 11*min+58_000)

	want := map[string]int64{}
	window := func(region string, startMin int) string {
		return region + "@" + strconv.Itoa(startMin*min) + "->" + strconv.Itoa(startMin*min+5*min)
	}
	for s := 6; s <= 10; s++ {
		want[window("europe", s)] = 1
		want[window("asia", s)] = 1
		want[window(UnknownRegion, s)] = 1
	}
	for s := 7; s <= 11; s++ {
		want[window("europe", s)]++
		want[window("america", s)] = 1
		want[window(UnknownRegion, s)]++
	}
	if got := streamstest.ReadKeyValuesToMap(out); !maps.Equal(got, want) {
		t.Errorf("counts:\n got  %v\n want %v", got, want)
	}
}
