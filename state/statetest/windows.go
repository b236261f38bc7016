package statetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/state"
)

// WindowEntry is one collected entry of a window or session iterator.
type WindowEntry struct {
	Key   string
	Start int64
	End   int64
	Value string
}

// String renders the entry as key@[start,end]=value, for test failures.
func (e WindowEntry) String() string {
	return fmt.Sprintf("%s@[%d,%d]=%s", e.Key, e.Start, e.End, e.Value)
}

// CollectWindows returns a function that reads a window iterator to the end, closes it and
// returns its entries, failing t on errors: CollectWindows(t)(store.All()).
func CollectWindows(t testing.TB) func(state.WindowIterator, error) []WindowEntry {
	return func(it state.WindowIterator, err error) []WindowEntry {
		t.Helper()
		return collectWindows(t, it, err)
	}
}

func collectWindows(t testing.TB, it state.WindowIterator, err error) []WindowEntry {
	t.Helper()
	if err != nil {
		t.Fatalf("open iterator: %v", err)
	}
	defer it.Close()
	var out []WindowEntry
	for it.Next() {
		k := it.Key()
		out = append(out, WindowEntry{Key: string(k.Key), Start: k.Window.Start, End: k.Window.End, Value: string(bytes.Clone(it.Value()))})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func wantWindows(t testing.TB, what string, got []WindowEntry, want ...WindowEntry) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func wput(t testing.TB, s state.WindowStore, key string, start int64, value string) {
	t.Helper()
	var v []byte
	if value != "" {
		v = b(value)
	}
	if err := s.Put(b(key), v, start); err != nil {
		t.Fatalf("put %s@%d: %v", key, start, err)
	}
}

const size = 10 // window size of the window tests

func we(key string, start int64, value string) WindowEntry {
	return WindowEntry{Key: key, Start: start, End: start + size, Value: value}
}

var windowTests = []struct {
	name string
	cfg  state.WindowConfig
	fn   func(t *testing.T, s state.WindowStore)
}{
	{"put-fetch-overwrite-delete", state.WindowConfig{Retention: 1000, WindowSize: size, SegmentInterval: 100}, func(t *testing.T, s state.WindowStore) {
		wput(t, s, "a", 0, "1")
		wput(t, s, "a", 10, "2")
		wput(t, s, "a", 10, "3")
		if v, err := s.Fetch(b("a"), 10); err != nil || string(v) != "3" {
			t.Fatalf("fetch a@10 = %q, %v", v, err)
		}
		wput(t, s, "a", 0, "")
		if _, err := s.Fetch(b("a"), 0); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("fetch deleted: %v", err)
		}
		if err := s.Put(b("a"), b("x"), -1); !errors.Is(err, state.ErrInvalidTimestamp) {
			t.Fatalf("negative start: %v", err)
		}
	}},
	{"fetch-range-order-and-key-isolation", state.WindowConfig{Retention: 1000, WindowSize: size, SegmentInterval: 100}, func(t *testing.T, s state.WindowStore) {
		// "a" is a prefix of "a\x00" and "ab": their entries must never leak into fetches of "a".
		for _, ts := range []int64{250, 10, 130, 0, 90} {
			wput(t, s, "a", ts, fmt.Sprint(ts))
			wput(t, s, "a\x00", ts, "other")
			wput(t, s, "ab", ts, "other")
		}
		wput(t, s, "", 10, "empty-key")
		wantWindows(t, "fetch a 0..250", CollectWindows(t)(s.FetchRange(b("a"), 0, 250)),
			we("a", 0, "0"), we("a", 10, "10"), we("a", 90, "90"), we("a", 130, "130"), we("a", 250, "250"))
		wantWindows(t, "fetch a 10..130", CollectWindows(t)(s.FetchRange(b("a"), 10, 130)),
			we("a", 10, "10"), we("a", 90, "90"), we("a", 130, "130"))
		wantWindows(t, "backward a 10..130", CollectWindows(t)(s.BackwardFetchRange(b("a"), 10, 130)),
			we("a", 130, "130"), we("a", 90, "90"), we("a", 10, "10"))
		wantWindows(t, "fetch a 11..89", CollectWindows(t)(s.FetchRange(b("a"), 11, 89)))
		wantWindows(t, "fetch a from > to", CollectWindows(t)(s.FetchRange(b("a"), 100, 50)))
		wantWindows(t, "fetch empty key", CollectWindows(t)(s.FetchRange([]byte{}, 0, 100)), we("", 10, "empty-key"))
	}},
	{"fetch-all", state.WindowConfig{Retention: 1000, WindowSize: size, SegmentInterval: 100}, func(t *testing.T, s state.WindowStore) {
		wput(t, s, "b", 5, "b5")
		wput(t, s, "a", 150, "a150")
		wput(t, s, "a", 5, "a5")
		wput(t, s, "c", 99, "c99")
		wantWindows(t, "fetch all 0..100", CollectWindows(t)(s.FetchAll(0, 100)), we("a", 5, "a5"), we("b", 5, "b5"), we("c", 99, "c99"))
		wantWindows(t, "all", CollectWindows(t)(s.All()), we("a", 5, "a5"), we("b", 5, "b5"), we("c", 99, "c99"), we("a", 150, "a150"))
	}},
	{"retention-drops-segments", state.WindowConfig{Retention: 300, WindowSize: size, SegmentInterval: 100}, func(t *testing.T, s state.WindowStore) {
		for ts := int64(0); ts <= 500; ts += 50 {
			wput(t, s, "k", ts, fmt.Sprint(ts))
		}
		// stream time 500, retention 300: starts below 201 are expired.
		got := CollectWindows(t)(s.FetchRange(b("k"), 0, 1000))
		wantWindows(t, "after expiry", got, we("k", 250, "250"), we("k", 300, "300"), we("k", 350, "350"), we("k", 400, "400"), we("k", 450, "450"), we("k", 500, "500"))
		if _, err := s.Fetch(b("k"), 150); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("expired window still served: %v", err)
		}
		wput(t, s, "k", 100, "late") // expired: dropped silently
		if _, err := s.Fetch(b("k"), 100); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("late write to expired window kept: %v", err)
		}
		if n := len(CollectWindows(t)(s.All())); n != 6 {
			t.Fatalf("all after expiry: %d entries", n)
		}
	}},
	{"retain-duplicates", state.WindowConfig{Retention: 1000, WindowSize: size, SegmentInterval: 100, RetainDuplicates: true}, func(t *testing.T, s state.WindowStore) {
		wput(t, s, "a", 10, "x")
		wput(t, s, "a", 10, "y")
		wput(t, s, "a", 10, "") // ignored with duplicates
		wantWindows(t, "duplicates", CollectWindows(t)(s.FetchRange(b("a"), 0, 100)), we("a", 10, "x"), we("a", 10, "y"))
	}},
	{"closed", state.WindowConfig{Retention: 1000, WindowSize: size}, func(t *testing.T, s state.WindowStore) {
		wput(t, s, "a", 10, "x")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(b("a"), b("y"), 10); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("put after close: %v", err)
		}
		if _, err := s.FetchRange(b("a"), 0, 10); !errors.Is(err, state.ErrClosed) {
			t.Fatalf("fetch after close: %v", err)
		}
	}},
}

func sput(t testing.TB, s state.SessionStore, key string, start, end int64, value string) {
	t.Helper()
	if err := s.Put(b(key), state.Window{Start: start, End: end}, b(value)); err != nil {
		t.Fatalf("put %s@[%d,%d]: %v", key, start, end, err)
	}
}

func se(key string, start, end int64, value string) WindowEntry {
	return WindowEntry{Key: key, Start: start, End: end, Value: value}
}

var sessionTests = []struct {
	name string
	cfg  state.SessionConfig
	fn   func(t *testing.T, s state.SessionStore)
}{
	{"put-fetch-remove", state.SessionConfig{Retention: 10_000, SegmentInterval: 1000}, func(t *testing.T, s state.SessionStore) {
		sput(t, s, "a", 10, 20, "x")
		if v, err := s.FetchSession(b("a"), state.Window{Start: 10, End: 20}); err != nil || string(v) != "x" {
			t.Fatalf("fetch session = %q, %v", v, err)
		}
		if _, err := s.FetchSession(b("a"), state.Window{Start: 10, End: 21}); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("fetch other session: %v", err)
		}
		if err := s.Remove(b("a"), state.Window{Start: 10, End: 20}); err != nil {
			t.Fatal(err)
		}
		wantWindows(t, "after remove", CollectWindows(t)(s.Fetch(b("a"))))
		if err := s.Put(b("a"), state.Window{Start: 30, End: 20}, b("bad")); !errors.Is(err, state.ErrInvalidTimestamp) {
			t.Fatalf("end before start: %v", err)
		}
	}},
	{"find-sessions", state.SessionConfig{Retention: 10_000, SegmentInterval: 1000}, func(t *testing.T, s state.SessionStore) {
		sput(t, s, "a", 0, 100, "s1")
		sput(t, s, "a", 500, 600, "s2")
		sput(t, s, "a", 2000, 2500, "s3")
		sput(t, s, "ab", 550, 560, "other")
		sput(t, s, "a\x00", 550, 560, "other")
		wantWindows(t, "overlapping 90..550", CollectWindows(t)(s.FindSessions(b("a"), 90, 550)), se("a", 0, 100, "s1"), se("a", 500, 600, "s2"))
		wantWindows(t, "overlapping 601..1999", CollectWindows(t)(s.FindSessions(b("a"), 601, 1999)))
		wantWindows(t, "all of a", CollectWindows(t)(s.Fetch(b("a"))), se("a", 0, 100, "s1"), se("a", 500, 600, "s2"), se("a", 2000, 2500, "s3"))
		// All orders by segment, then binary store key: compare the first segment as a set.
		all := CollectWindows(t)(s.All())
		if len(all) == 5 {
			slices.SortFunc(all[:4], func(x, y WindowEntry) int { return strings.Compare(x.String(), y.String()) })
		}
		wantWindows(t, "all", all, se("a\x00", 550, 560, "other"), se("a", 0, 100, "s1"), se("a", 500, 600, "s2"), se("ab", 550, 560, "other"), se("a", 2000, 2500, "s3"))
	}},
	{"find-sessions-by-end", state.SessionConfig{Retention: 10_000, SegmentInterval: 1000}, func(t *testing.T, s state.SessionStore) {
		sput(t, s, "a", 0, 100, "s1")
		sput(t, s, "b", 500, 600, "s2")
		sput(t, s, "a", 900, 1200, "s3")
		sput(t, s, "c", 2000, 2500, "s4")
		// Every key's sessions ending in the range, segment by segment (here: one
		// session per segment in range, or keys in order within one).
		wantWindows(t, "ends 100..1200", CollectWindows(t)(s.FindSessionsByEnd(100, 1200)), se("a", 0, 100, "s1"), se("b", 500, 600, "s2"), se("a", 900, 1200, "s3"))
		wantWindows(t, "ends 101..1199", CollectWindows(t)(s.FindSessionsByEnd(101, 1199)), se("b", 500, 600, "s2"))
		wantWindows(t, "ends 2501..", CollectWindows(t)(s.FindSessionsByEnd(2501, 1<<40)))
		wantWindows(t, "empty range", CollectWindows(t)(s.FindSessionsByEnd(600, 500)))
	}},
	{"merge-by-gap", state.SessionConfig{Retention: 10_000, SegmentInterval: 1000}, func(t *testing.T, s state.SessionStore) {
		// Count events per session with an inactivity gap of 50, merging as a session
		// aggregation does: find the sessions the event touches, remove them, put the union.
		const gap = 50
		for _, ts := range []int64{10, 40, 200, 120, 80} {
			merged, count := state.Window{Start: ts, End: ts}, 1
			for _, e := range CollectWindows(t)(s.FindSessions(b("k"), ts-gap, ts+gap)) {
				merged.Start, merged.End = min(merged.Start, e.Start), max(merged.End, e.End)
				var n int
				fmt.Sscan(e.Value, &n)
				count += n
				if err := s.Remove(b("k"), state.Window{Start: e.Start, End: e.End}); err != nil {
					t.Fatal(err)
				}
			}
			sput(t, s, "k", merged.Start, merged.End, fmt.Sprint(count))
		}
		// 10,40,80,120 chain into one session; 200 is 80 after 120, beyond the gap.
		wantWindows(t, "merged", CollectWindows(t)(s.Fetch(b("k"))), se("k", 10, 120, "4"), se("k", 200, 200, "1"))
	}},
	{"retention", state.SessionConfig{Retention: 1000, SegmentInterval: 200}, func(t *testing.T, s state.SessionStore) {
		sput(t, s, "a", 0, 100, "old")
		sput(t, s, "a", 900, 1000, "mid")
		sput(t, s, "a", 2000, 2100, "new") // stream time 2100: ends below 1101 expire
		wantWindows(t, "after expiry", CollectWindows(t)(s.Fetch(b("a"))), se("a", 2000, 2100, "new"))
		if _, err := s.FetchSession(b("a"), state.Window{Start: 900, End: 1000}); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("expired session served: %v", err)
		}
	}},
}
