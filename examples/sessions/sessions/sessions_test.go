package sessions

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

func TestSessions(t *testing.T) {
	const gap, grace = 10 * time.Second, 2 * time.Second
	topo, err := Topology(InputTopic, OutputTopic, gap, grace)
	if err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, topo)
	in := streamstest.NewInputTopic[string, string](d, InputTopic, nil, nil)
	out := streamstest.NewOutputTopic(d, OutputTopic, streams.String(), streams.JSON[Session]())
	for _, e := range []struct {
		user string
		ts   int64
	}{
		{"alice", 0}, {"alice", 4_000}, {"bob", 5_000}, // alice: [0,4s]
		{"alice", 14_000}, // within the gap of 4s: alice's session grows to [0,14s]
		{"alice", 9_000},  // out of order, inside the session: 4 events
		{"bob", 40_000},   // stream time 40s: [0,14s] and bob's [5s,5s] are over (end+gap+grace < 40s)
		{"alice", 1_000},  // late: its session closed
		{"carol", 80_000}, // closes bob's [40s,40s]
	} {
		in.PipeAt(e.user, "click", e.ts)
	}
	var got []Session
	for _, kv := range out.ReadKeyValues() {
		if kv.Key != kv.Value.User {
			t.Errorf("key %q for the session of %q", kv.Key, kv.Value.User)
		}
		got = append(got, kv.Value)
	}
	want := []Session{
		{User: "bob", Start: 5_000, End: 5_000, DurationMs: 0, Events: 1},
		{User: "alice", Start: 0, End: 14_000, DurationMs: 14_000, Events: 4},
		{User: "bob", Start: 40_000, End: 40_000, DurationMs: 0, Events: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	w := func(u string, start, end int64) streams.Windowed[string] {
		return streams.Windowed[string]{Key: u, Window: streams.Window{Start: start, End: end}}
	}
	wantStore := map[streams.Windowed[string]]int64{
		w("alice", 0, 14_000): 4, w("bob", 5_000, 5_000): 1, w("bob", 40_000, 40_000): 1, w("carol", 80_000, 80_000): 1,
	}
	if got := streamstest.WindowedContents[string, int64](d, StoreName); !maps.Equal(got, wantStore) {
		t.Errorf("session store = %v, want %v", got, wantStore)
	}
	if n := d.DroppedRecords(); n != 1 {
		t.Errorf("dropped = %d, want 1 (the late event)", n)
	}
}
