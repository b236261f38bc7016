package streams

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// processUnflushed runs records of topic "in" (key, timestamp) through the harness's
// single task without flushing its caches, then flushes them.
func processUnflushed(t *testing.T, h *Harness, recs []struct {
	k  string
	ts int64
}) {
	t.Helper()
	tk := h.tasks[0]
	for i, r := range recs {
		cr := &ConsumedRecord{Topic: "in", Offset: int64(i), Key: []byte(r.k), Value: []byte("v"), Timestamp: r.ts}
		if err := tk.process(cr); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.outputs["out"]); n != 0 {
		t.Errorf("%d records forwarded before the cache flushed", n)
	}
	if err := tk.flushCaches(); err != nil {
		t.Fatal(err)
	}
}

func windowedOutput(t *testing.T, h *Harness, ks Serde[Windowed[string]]) []string {
	t.Helper()
	var out []string
	for _, r := range h.Output("out") {
		k, err := ks.Deserialize(r.Key)
		if err != nil {
			t.Fatal(err)
		}
		v := "<nil>"
		if r.Value != nil {
			n, err := Int64().Deserialize(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			v = fmt.Sprint(n)
		}
		out = append(out, fmt.Sprintf("%s@%d/%d=%s t%d", k.Key, k.Window.Start, k.Window.End, v, r.Timestamp))
	}
	return out
}

func storeContents[S interface {
	All() (*WindowIterator[string, int64], error)
}](t *testing.T, s S) map[string]int64 {
	t.Helper()
	it, err := s.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]int64{}
	for it.Next() {
		out[it.Key().String()] = it.Value()
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type keyTs = struct {
	k  string
	ts int64
}

// The caches of windowed aggregations coalesce the updates of a window between
// flushes, and their range reads (sliding windows, sessions) see what is cached.
func TestWindowCachesCoalesce(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		build  func(g GroupedStream[string, string]) Table[Windowed[string], int64]
		ks     Serde[Windowed[string]]
		recs   []keyTs
		want   []string
		stored map[string]int64
	}{
		{"tumbling", func(g GroupedStream[string, string]) Table[Windowed[string], int64] {
			return WindowedBy(g, TimeWindowsOfSizeWithNoGrace(10*ms)).Count(As("s"))
		}, TimeWindowedSerde(String(), 10),
			[]keyTs{{"a", 1}, {"a", 2}, {"b", 3}, {"a", 4}},
			[]string{"a@0/10=3 t4", "b@0/10=1 t3"},
			map[string]int64{"[a@0/10]": 3, "[b@0/10]": 1}},
		{"sliding: the same windows as without the cache", func(g GroupedStream[string, string]) Table[Windowed[string], int64] {
			return WindowedBy(g, SlidingWindowsOfTimeDifferenceAndGrace(10*ms, 20*ms)).Count(As("s"))
		}, TimeWindowedSerde(String(), 10),
			[]keyTs{{"a", 20}, {"a", 25}, {"a", 40}, {"a", 22}},
			// Flushed in the order the windows were first written.
			[]string{"a@10/20=1 t20", "a@21/31=2 t25", "a@15/25=3 t25", "a@30/40=1 t40", "a@12/22=2 t22", "a@23/33=1 t25"},
			map[string]int64{"[a@10/20]": 1, "[a@21/31]": 2, "[a@15/25]": 3, "[a@30/40]": 1, "[a@12/22]": 2, "[a@23/33]": 1}},
		{"sessions: merged sessions that never reached the store are never forwarded", func(g GroupedStream[string, string]) Table[Windowed[string], int64] {
			return SessionWindowedBy(g, SessionWindowsOfInactivityGapAndGrace(10*ms, 20*ms)).Count(As("s"))
		}, SessionWindowedSerde(String()),
			[]keyTs{{"a", 0}, {"a", 5}, {"a", 30}, {"a", 20}, {"a", 12}, {"b", 12}},
			[]string{"a@0/30=5 t30", "b@12/12=1 t12"},
			map[string]int64{"[a@0/30]": 5, "[b@12/12]": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder()
			g := StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
			tc.build(g).ToStream().To("out")
			h := newTestHarness(t, b)
			processUnflushed(t, h, tc.recs)
			if got := windowedOutput(t, h, tc.ks); !slices.Equal(got, tc.want) {
				t.Errorf("output:\n got  %q\n want %q", got, tc.want)
			}
			st, _ := h.stateStore("s")
			var stored map[string]int64
			switch s := st.(type) {
			case *WindowStore[string, int64]:
				stored = storeContents(t, s)
			case *SessionStore[string, int64]:
				stored = storeContents(t, s)
			}
			if !maps.Equal(stored, tc.stored) {
				t.Errorf("store = %v, want %v", stored, tc.stored)
			}
		})
	}
}

// A session that reached the store and is then merged is deleted downstream at the next
// flush; a record inside a stored session updates it once, with its old value.
func TestSessionCacheAfterFlush(t *testing.T) {
	b := NewBuilder()
	g := StreamFrom[string, string](b, "in", nil, nil).GroupByKey()
	SessionWindowedBy(g, SessionWindowsOfInactivityGapWithNoGrace(10*time.Millisecond)).Count().ToStream().To("out")
	h := newTestHarness(t, b)
	ks := SessionWindowedSerde(String())
	processUnflushed(t, h, []keyTs{{"a", 0}, {"a", 8}})
	if got, want := windowedOutput(t, h, ks), []string{"a@0/8=2 t8"}; !slices.Equal(got, want) {
		t.Errorf("first flush: %q, want %q", got, want)
	}
	processUnflushed(t, h, []keyTs{{"a", 4}, {"a", 15}})
	if got, want := windowedOutput(t, h, ks), []string{"a@0/8=<nil> t8", "a@0/15=4 t15"}; !slices.Equal(got, want) {
		t.Errorf("second flush: %q, want %q", got, want)
	}
}
