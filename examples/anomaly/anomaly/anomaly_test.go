package anomaly

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

func TestAnomalousUsers(t *testing.T) {
	topo, err := Topology(InputTopic, OutputTopic, Threshold)
	if err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, topo)
	in := streamstest.NewInputTopic[string, string](d, InputTopic, nil, nil)
	out := streamstest.NewOutputTopic[string, int64](d, OutputTopic, nil, nil)
	minute := time.Minute.Milliseconds()
	for _, c := range []struct {
		user string
		ts   int64
	}{
		{"alice", 1_000}, {"bob", 2_000}, {"alice", 20_000}, {"alice", 59_999}, // alice: 3 in [0,60s)
		{"alice", 61_000},                                                  // next minute
		{"bob", 62_000}, {"bob", 63_000}, {"bob", 64_000}, {"bob", 65_000}, // bob: 4 in [60s,120s)
		{"charlie", 70_000}, {"charlie", 71_000}, // 2: not anomalous
		{"alice", 30_000}, // late: its minute closed at stream time 60s
	} {
		in.PipeAt("", c.user, c.ts)
	}
	var got []string
	for _, kv := range out.ReadKeyValues() {
		got = append(got, kv.Key+"="+strconv.FormatInt(kv.Value, 10))
	}
	want := []string{
		"[alice@0/60000]=3",
		"[bob@60000/120000]=3", "[bob@60000/120000]=4",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if n := d.DroppedRecords(); n != 1 {
		t.Errorf("dropped = %d, want 1 (the late click)", n)
	}
	st, err := streams.GetWindowStore[string, int64](d.Harness(), StoreName)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok, err := st.Fetch("charlie", minute); err != nil || !ok || n != 2 {
		t.Errorf("charlie's count = %d %v %v, want 2", n, ok, err)
	}
}
