package streams_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

// at is one input record: key, value and timestamp.
type at struct {
	key, value string
	ts         int64
}

func rec(key string, ts int64) at { return at{key: key, value: "v", ts: ts} }

// windowedCase runs inputs through a topology whose windowed table of values V goes to
// "out" and compares what "out" received, as "key@start/end=value tTS" (value <nil> for
// a tombstone), and the number of dropped records.
type windowedCase struct {
	name    string
	inputs  []at
	want    []string
	dropped int64
}

func runWindowed[V any](t *testing.T, topo *streams.Topology, ks streams.Serde[streams.Windowed[string]], vs streams.Serde[V], c windowedCase) {
	t.Helper()
	d := streamstest.New(t, topo)
	in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
	for _, r := range c.inputs {
		in.PipeAt(r.key, r.value, r.ts)
	}
	out := streamstest.NewOutputTopic(d, "out", ks, vs)
	got := showWindowed(out.ReadRecords())
	if !slices.Equal(got, c.want) {
		t.Errorf("output:\n got  %q\n want %q", got, c.want)
	}
	if n := d.DroppedRecords(); n != c.dropped {
		t.Errorf("dropped records = %d, want %d", n, c.dropped)
	}
}

func showWindowed[V any](recs []streams.Record[streams.Windowed[string], V]) []string {
	var out []string
	for _, r := range recs {
		v := fmt.Sprint(r.Value)
		if r.Tombstone {
			v = "<nil>"
		}
		out = append(out, fmt.Sprintf("%s@%d/%d=%s t%d", r.Key.Key, r.Key.Window.Start, r.Key.Window.End, v, r.Timestamp))
	}
	return out
}

func countTopology(t *testing.T, w streams.FixedWindows, emit streams.EmitStrategy, opts ...streams.Option) *streams.Topology {
	b := streams.NewBuilder()
	s := streams.StreamFrom[string, string](b, "in", nil, nil)
	streams.WindowedBy(s.GroupByKey(), w).Emit(emit).Count(opts...).ToStream().To("out")
	return mustBuild(t, b)
}

func TestTimeWindowsCount(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		w streams.TimeWindows
		windowedCase
	}{
		{streams.TimeWindowsOfSizeWithNoGrace(10 * ms), windowedCase{
			name: "tumbling, late record dropped",
			// a@8 arrives when stream time is 12: [0,10) has closed.
			inputs:  []at{rec("a", 1), rec("a", 5), rec("b", 7), rec("a", 12), rec("a", 8), rec("a", 10)},
			want:    []string{"a@0/10=1 t1", "a@0/10=2 t5", "b@0/10=1 t7", "a@10/20=1 t12", "a@10/20=2 t12"},
			dropped: 1,
		}},
		{streams.TimeWindowsOfSizeAndGrace(10*ms, 5*ms), windowedCase{
			name: "tumbling with grace: out-of-order accepted until end+grace",
			// a@3 at stream time 12 (close time 7 < end 10): accepted, keeps the later
			// timestamp 1 → 3; a@4 at stream time 16 (close time 11 >= 10): dropped.
			inputs:  []at{rec("a", 1), rec("a", 12), rec("a", 3), rec("a", 16), rec("a", 4)},
			want:    []string{"a@0/10=1 t1", "a@10/20=1 t12", "a@0/10=2 t3", "a@10/20=2 t16"},
			dropped: 1,
		}},
		{streams.TimeWindowsOfSizeWithNoGrace(10 * ms).AdvanceBy(5 * ms), windowedCase{
			name: "hopping: each record in size/advance windows",
			// a@7 is in [0,10) and [5,15); a@12 in [5,15) and [10,20); a@3 only in
			// [0,10), closed at stream time 12.
			inputs:  []at{rec("a", 7), rec("a", 12), rec("a", 3)},
			want:    []string{"a@0/10=1 t7", "a@5/15=1 t7", "a@5/15=2 t12", "a@10/20=1 t12"},
			dropped: 1,
		}},
		{streams.TimeWindowsOfSizeWithNoGrace(10 * ms).AdvanceBy(3 * ms), windowedCase{
			name: "hopping, advance not dividing the size; no window before the epoch",
			// a@2 is in [0,10) only: the windows holding it would start at -6, -3 and 0.
			// a@11: the windows starting at 3, 6 and 9.
			inputs: []at{rec("a", 2), rec("a", 11)},
			want:   []string{"a@0/10=1 t2", "a@3/13=1 t11", "a@6/16=1 t11", "a@9/19=1 t11"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := streams.TimeWindowedSerde(streams.String(), tc.w.Size().Milliseconds())
			runWindowed(t, countTopology(t, tc.w, streams.OnWindowUpdate), ks, streams.Int64(), tc.windowedCase)
			runWindowed(t, countTopology(t, tc.w, streams.OnWindowUpdate, streams.WithCachingDisabled()), ks, streams.Int64(), tc.windowedCase)
		})
	}
}

func TestTimeWindowsReduceAndAggregate(t *testing.T) {
	w := streams.TimeWindowsOfSizeWithNoGrace(10 * time.Millisecond)
	ks := streams.TimeWindowedSerde(streams.String(), 10)
	inputs := []at{{"a", "x", 1}, {"a", "y", 4}, {"a", "z", 11}, {"b", "q", 12}}

	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.WindowedBy(g, w).Reduce(func(agg, v string) string { return agg + "+" + v }, streams.As("reduced")).ToStream().To("out")
	runWindowed(t, mustBuild(t, b), ks, streams.String(), windowedCase{inputs: inputs,
		want: []string{"a@0/10=x t1", "a@0/10=x+y t4", "a@10/20=z t11", "b@10/20=q t12"}})

	b = streams.NewBuilder()
	g = streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.WindowedAggregate(streams.WindowedBy(g, w), func() string { return "<" },
		func(k, v, agg string) string { return agg + k + v }, nil).ToStream().To("out")
	runWindowed(t, mustBuild(t, b), ks, streams.String(), windowedCase{inputs: inputs,
		want: []string{"a@0/10=<ax t1", "a@0/10=<axay t4", "a@10/20=<az t11", "b@10/20=<bq t12"}})
}

func TestSlidingWindowsCount(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		w streams.SlidingWindows
		windowedCase
	}{
		{streams.SlidingWindowsOfTimeDifferenceAndGrace(10*ms, 20*ms), windowedCase{
			name: "windows at record times, out-of-order record, late record",
			// 20: its left window [10,20].
			// 25: the previous record's right window [21,31] (holding 25) and its left
			//     window [15,25] (holding 20 and 25).
			// 40: left window [30,40]; 25's right window [26,36] would be empty.
			// 22 (out of order, within grace): updates [15,25] and [21,31], gets its
			//     left window [12,22] (20, 22) and its right window [23,33] (25).
			// 5: at stream time 40 even its right window [6,16] has closed: dropped.
			inputs: []at{rec("a", 20), rec("a", 25), rec("a", 40), rec("a", 22), rec("a", 5)},
			want: []string{
				"a@10/20=1 t20",
				"a@21/31=1 t25", "a@15/25=2 t25",
				"a@30/40=1 t40",
				"a@15/25=3 t25", "a@21/31=2 t25", "a@12/22=2 t22", "a@23/33=1 t25",
			},
			dropped: 1,
		}},
		{streams.SlidingWindowsOfTimeDifferenceWithNoGrace(10 * ms), windowedCase{
			name: "records before the time difference share the window [0,d]",
			// 3: [0,10]. 8: the right window of 3, [4,14], and [0,10] again.
			// 15: 8's right window [9,19] and its left window [5,15] (8 and 15).
			// b is aggregated apart.
			inputs: []at{rec("a", 3), rec("a", 8), rec("a", 15), rec("b", 15)},
			want: []string{
				"a@0/10=1 t3",
				"a@4/14=1 t8", "a@0/10=2 t8",
				"a@9/19=1 t15", "a@5/15=2 t15",
				"b@5/15=1 t15",
			},
		}},
		{streams.SlidingWindowsOfTimeDifferenceWithNoGrace(10 * ms), windowedCase{
			name: "two records at the same time, then a later one",
			// 30, 30: [20,30] counts both. 35: 30's right window [31,41] and [25,35].
			inputs: []at{rec("a", 30), rec("a", 30), rec("a", 35)},
			want:   []string{"a@20/30=1 t30", "a@20/30=2 t30", "a@31/41=1 t35", "a@25/35=3 t35"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := streams.TimeWindowedSerde(streams.String(), tc.w.TimeDifference().Milliseconds())
			runWindowed(t, countTopology(t, tc.w, streams.OnWindowUpdate), ks, streams.Int64(), tc.windowedCase)
			runWindowed(t, countTopology(t, tc.w, streams.OnWindowUpdate, streams.WithCachingDisabled(), streams.InMemory()), ks, streams.Int64(), tc.windowedCase)
		})
	}
}

func TestEmitOnWindowClose(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		w streams.FixedWindows
		windowedCase
	}{
		{streams.TimeWindowsOfSizeWithNoGrace(10 * ms), windowedCase{
			name:    "tumbling: each window once, when stream time reaches its end",
			inputs:  []at{rec("a", 1), rec("a", 5), rec("b", 7), rec("a", 12), rec("a", 15), rec("a", 3), rec("a", 20)},
			want:    []string{"a@0/10=2 t5", "b@0/10=1 t7", "a@10/20=2 t15"},
			dropped: 1,
		}},
		{streams.TimeWindowsOfSizeAndGrace(10*ms, 5*ms), windowedCase{
			name: "tumbling with grace: closes at end + grace",
			// [0,10) closes at stream time 15, after a@4 was still counted.
			inputs: []at{rec("a", 1), rec("a", 12), rec("a", 4), rec("a", 14), rec("a", 15)},
			want:   []string{"a@0/10=2 t4"},
		}},
		{streams.TimeWindowsOfSizeWithNoGrace(10 * ms).AdvanceBy(5 * ms), windowedCase{
			name: "hopping: overlapping windows close one after the other",
			// 12 closes [0,10); 20 closes [5,15) and [10,20).
			inputs: []at{rec("a", 7), rec("a", 12), rec("a", 20)},
			want:   []string{"a@0/10=1 t7", "a@5/15=2 t12", "a@10/20=1 t12"},
		}},
		{streams.SlidingWindowsOfTimeDifferenceWithNoGrace(10 * ms), windowedCase{
			name: "sliding: a window closes once stream time passes its end",
			// [10,20] closes at 21 and is emitted when 25 arrives; 21 (out of order)
			// updates [15,25] and [21,31], but its own left window [11,21] has closed
			// (dropped). b@32 closes [15,25] and [21,31].
			inputs:  []at{rec("a", 20), rec("a", 25), rec("a", 21), rec("b", 32)},
			want:    []string{"a@10/20=1 t20", "a@15/25=3 t25", "a@21/31=2 t25"},
			dropped: 1,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := int64(10)
			runWindowed(t, countTopology(t, tc.w, streams.OnWindowClose), streams.TimeWindowedSerde(streams.String(), size), streams.Int64(), tc.windowedCase)
		})
	}
}

// TestEmitOnWindowCloseRestart checks that a restarted task remembers which windows it
// has emitted: none twice, none skipped.
func TestEmitOnWindowCloseRestart(t *testing.T) {
	dir := t.TempDir()
	topo := func() *streams.Topology {
		return countTopology(t, streams.TimeWindowsOfSizeWithNoGrace(10*time.Millisecond), streams.OnWindowClose, streams.As("counts"))
	}
	ks := streams.TimeWindowedSerde(streams.String(), 10)
	h, err := streams.NewHarness(topo(), streams.HarnessConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{1, 11, 12} {
		if err := h.Pipe("in", []byte("a"), []byte("v"), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(h.Output("out")); got != 1 {
		t.Fatalf("before restart: %d records, want 1", got)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	runWindowedIn(t, topo(), dir, ks, windowedCase{inputs: []at{rec("a", 13), rec("a", 25)},
		want: []string{"a@10/20=3 t13"}})
}

func runWindowedIn(t *testing.T, topo *streams.Topology, dir string, ks streams.Serde[streams.Windowed[string]], c windowedCase) {
	t.Helper()
	d := streamstest.New(t, topo, streamstest.WithStateDir(dir))
	in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
	for _, r := range c.inputs {
		in.PipeAt(r.key, r.value, r.ts)
	}
	got := showWindowed(streamstest.NewOutputTopic(d, "out", ks, streams.Int64()).ReadRecords())
	if !slices.Equal(got, c.want) {
		t.Errorf("output:\n got  %q\n want %q", got, c.want)
	}
}

func TestWindowedStoreQueries(t *testing.T) {
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	counts := streams.WindowedBy(g, streams.TimeWindowsOfSizeWithNoGrace(10*time.Millisecond)).Count(streams.As("counts"))
	if counts.StoreName() != "counts" {
		t.Errorf("StoreName = %q", counts.StoreName())
	}
	d := streamstest.New(t, mustBuild(t, b))
	in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
	for _, ts := range []int64{1, 2, 15} {
		in.PipeAt("a", "v", ts)
	}
	st, err := streams.GetWindowStore[string, int64](d.Harness(), "counts")
	if err != nil {
		t.Fatal(err)
	}
	it, err := st.FetchRange("a", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for it.Next() {
		got = append(got, fmt.Sprintf("%v=%d t%d", it.Key(), it.Value(), it.Timestamp()))
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"[a@0/10]=2 t2", "[a@10/20]=1 t15"}; !slices.Equal(got, want) {
		t.Errorf("store: got %q, want %q", got, want)
	}
}

func TestWindowedSerdes(t *testing.T) {
	tw := streams.TimeWindowedSerde(streams.String(), 100)
	b, err := tw.Serialize(streams.Windowed[string]{Key: "k", Window: streams.Window{Start: 258, End: 358}})
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's TimeWindowedSerializer: key bytes, then the start as 8 bytes big-endian.
	if want := []byte{'k', 0, 0, 0, 0, 0, 0, 1, 2}; !slices.Equal(b, want) {
		t.Errorf("time-windowed bytes = %v, want %v", b, want)
	}
	if w, err := tw.Deserialize(b); err != nil || w.Window != (streams.Window{Start: 258, End: 358}) || w.Key != "k" {
		t.Errorf("time-windowed round trip = %v, %v", w, err)
	}
	sw := streams.SessionWindowedSerde(streams.String())
	b, err = sw.Serialize(streams.Windowed[string]{Key: "k", Window: streams.Window{Start: 1, End: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's SessionWindowedSerializer: key bytes, the end, then the start.
	if want := []byte{'k', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1}; !slices.Equal(b, want) {
		t.Errorf("session-windowed bytes = %v, want %v", b, want)
	}
	if w, err := sw.Deserialize(b); err != nil || w.Window != (streams.Window{Start: 1, End: 2}) {
		t.Errorf("session-windowed round trip = %v, %v", w, err)
	}
	for _, short := range [][]byte{nil, {1, 2, 3}} {
		if _, err := tw.Deserialize(short); !errors.Is(err, streams.ErrSerde) {
			t.Errorf("short time-windowed key: err = %v", err)
		}
		if _, err := sw.Deserialize(short); !errors.Is(err, streams.ErrSerde) {
			t.Errorf("short session-windowed key: err = %v", err)
		}
	}
}

func TestWindowBuildErrors(t *testing.T) {
	ms := time.Millisecond
	for i, w := range []streams.FixedWindows{
		streams.TimeWindowsOfSizeWithNoGrace(0),
		streams.TimeWindowsOfSizeAndGrace(10*ms, -ms),
		streams.TimeWindowsOfSizeWithNoGrace(10 * ms).AdvanceBy(11 * ms),
		streams.TimeWindowsOfSizeWithNoGrace(10 * ms).AdvanceBy(0),
		streams.SlidingWindowsOfTimeDifferenceWithNoGrace(0),
	} {
		b := streams.NewBuilder()
		g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
		streams.WindowedBy(g, w).Count()
		if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
			t.Errorf("windows %d: Build err = %v, want ErrTopology", i, err)
		}
	}
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	streams.WindowedBy(g, streams.TimeWindowsOfSizeAndGrace(time.Minute, time.Minute)).Count(streams.WithRetention(time.Minute))
	if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
		t.Errorf("retention below size+grace: Build err = %v, want ErrTopology", err)
	}
}

// Records with a null key or value are skipped and counted, as Kafka Streams does.
func TestWindowedAggregationsSkipNulls(t *testing.T) {
	for name, topo := range map[string]*streams.Topology{
		"time windows": countTopology(t, streams.TimeWindowsOfSizeWithNoGrace(time.Second), streams.OnWindowUpdate),
		"sliding":      countTopology(t, streams.SlidingWindowsOfTimeDifferenceWithNoGrace(time.Second), streams.OnWindowUpdate),
		"sessions":     sessionCount(t, streams.SessionWindowsOfInactivityGapWithNoGrace(time.Second), streams.OnWindowUpdate),
	} {
		d := streamstest.New(t, topo)
		in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
		in.PipeValue("no key")
		in.PipeTombstone("a")
		if out := streamstest.NewOutputTopic[string, string](d, "out", nil, nil); !out.IsEmpty() {
			t.Errorf("%s: output %v", name, out.ReadRecords())
		}
		if n := d.DroppedRecords(); n != 2 {
			t.Errorf("%s: dropped %d, want 2", name, n)
		}
	}
}
