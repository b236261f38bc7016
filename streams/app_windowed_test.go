package streams_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/streams"
)

// windowedApp counts "clicks" per user in one-minute windows (all updates to
// "minute-counts", final results to "minute-final") and in sessions with a one-minute
// gap ("session-counts").
func windowedApp(t *testing.T, addr, dir string, rl state.RestoreListener) *streams.App {
	t.Helper()
	b := streams.NewBuilder()
	g := streams.StreamFrom[string, string](b, "clicks", nil, nil).GroupByKey()
	counts := streams.WindowedBy(g, streams.TimeWindowsOfSizeWithNoGrace(time.Minute)).Count(streams.As("minute-counts"))
	counts.ToStream().To("minute-counts")
	counts.Suppress(streams.UntilWindowCloses(streams.BufferUnbounded()), streams.Named("final")).ToStream().To("minute-final")
	streams.SessionWindowedBy(g, streams.SessionWindowsOfInactivityGapWithNoGrace(time.Minute)).
		Count(streams.As("sessions")).ToStream().To("session-counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: "windowed", Brokers: []string{addr}, StateDir: dir,
		CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, RestoreListener: rl,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	return app
}

// restoredPerStore counts the changelog records restored per store.
type restoredPerStore struct {
	mu sync.Mutex
	n  map[string]int64
}

func (r *restoredPerStore) OnRestoreStart(string, state.TopicPartition, int64, int64) {}
func (r *restoredPerStore) OnBatchRestored(string, state.TopicPartition, int64, int)  {}
func (r *restoredPerStore) OnRestoreEnd(store string, _ state.TopicPartition, total int64) {
	r.mu.Lock()
	r.n[store] += total
	r.mu.Unlock()
}

// latestByKey follows topics, keeping the latest value of each key (deleting keys on
// tombstones) and counting the records of each key.
type latestByKey struct {
	cl     *kgo.Client
	last   map[string]map[string]int64 // topic -> key -> value
	writes map[string]map[string]int
}

func (l *latestByKey) waitFor(t *testing.T, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !done() {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out; got %v", l.last)
		}
		fs.EachRecord(func(r *kgo.Record) {
			m := l.last[r.Topic]
			if r.Value == nil {
				delete(m, string(r.Key))
				return
			}
			m[string(r.Key)] = int64(binary.BigEndian.Uint64(r.Value))
			l.writes[r.Topic][string(r.Key)]++
		})
	}
}

// TestAppWindowedRestore runs windowed and session counts against a broker, kills the
// application, wipes its state and checks that the restarted one restores the window
// store, the session store and the suppression buffer from their changelogs.
func TestAppWindowedRestore(t *testing.T) {
	b := startBroker(t)
	for _, topic := range []string{"clicks", "minute-counts", "minute-final", "session-counts"} {
		createTopic(t, b.Addr(), topic, 2)
	}
	prod := client(t, b.Addr())
	const t0 = int64(28_333_334) * 60_000 // a minute boundary
	users := []string{"u0", "u1", "u2", "u3"}
	produce := func(offsets ...int64) {
		t.Helper()
		var recs []*kgo.Record
		// In timestamp order: with no grace, a record older than its task's stream time
		// by more than the gap would miss its session.
		for _, off := range offsets {
			for _, u := range users {
				recs = append(recs, &kgo.Record{Topic: "clicks", Key: []byte(u), Value: []byte("click"), Timestamp: time.UnixMilli(t0 + off)})
			}
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tw := streams.TimeWindowedSerde(streams.String(), 60_000)
	sw := streams.SessionWindowedSerde(streams.String())
	windowKey := func(u string, start int64) string {
		kb, _ := tw.Serialize(streams.Windowed[string]{Key: u, Window: streams.Window{Start: start}})
		return string(kb)
	}
	sessionKey := func(u string, start, end int64) string {
		kb, _ := sw.Serialize(streams.Windowed[string]{Key: u, Window: streams.Window{Start: start, End: end}})
		return string(kb)
	}
	out := &latestByKey{
		cl:     client(t, b.Addr(), kgo.ConsumeTopics("minute-counts", "minute-final", "session-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		last:   map[string]map[string]int64{"minute-counts": {}, "minute-final": {}, "session-counts": {}},
		writes: map[string]map[string]int{"minute-counts": {}, "minute-final": {}, "session-counts": {}},
	}
	all := func(topic string, key func(u string) string, want int64) func() bool {
		return func() bool {
			for _, u := range users {
				if out.last[topic][key(u)] != want {
					return false
				}
			}
			return true
		}
	}

	dir := t.TempDir()
	app := windowedApp(t, b.Addr(), dir, nil)
	produce(0, 1000, 2000, 3000, 4000)
	out.waitFor(t, all("minute-counts", func(u string) string { return windowKey(u, t0) }, 5))
	out.waitFor(t, all("session-counts", func(u string) string { return sessionKey(u, t0, t0+4000) }, 5))
	waitCommitted(t, b.Addr(), "windowed", "clicks")
	app.Kill()
	if err := os.RemoveAll(filepath.Join(dir, "windowed")); err != nil {
		t.Fatal(err)
	}

	rl := &restoredPerStore{n: map[string]int64{}}
	windowedApp(t, b.Addr(), dir, rl)
	// Three more clicks in the same minute and session, then one two minutes later that
	// closes the minute and starts a new session.
	produce(10_000, 11_000, 12_000)
	out.waitFor(t, all("minute-counts", func(u string) string { return windowKey(u, t0) }, 8))
	out.waitFor(t, all("session-counts", func(u string) string { return sessionKey(u, t0, t0+12_000) }, 8))
	produce(120_000)
	out.waitFor(t, all("minute-final", func(u string) string { return windowKey(u, t0) }, 8))
	for _, u := range users {
		if n := out.writes["minute-final"][windowKey(u, t0)]; n != 1 {
			t.Errorf("%s: %d final results for the first minute, want 1", u, n)
		}
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for _, store := range []string{"minute-counts", "sessions", "final-store"} {
		if rl.n[store] == 0 {
			t.Errorf("store %s: nothing restored (restored: %v)", store, rl.n)
		}
	}

	// Windowed changelogs are compacted and deleted after the retention (one day by
	// default) plus one day.
	adm := kadm.NewClient(client(t, b.Addr()))
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), "windowed-minute-counts-changelog", "windowed-sessions-changelog", "windowed-final-store-changelog")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"windowed-minute-counts-changelog": {"cleanup.policy": "compact,delete", "retention.ms": strconv.Itoa(2 * state.DayMillis)},
		"windowed-sessions-changelog":      {"cleanup.policy": "compact,delete", "retention.ms": strconv.Itoa(2 * state.DayMillis)},
		"windowed-final-store-changelog":   {"cleanup.policy": "compact"},
	}
	for _, rc := range cfgs {
		if rc.Err != nil {
			t.Fatalf("%s: %v", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if w, ok := want[rc.Name][c.Key]; ok && (c.Value == nil || *c.Value != w) {
				t.Errorf("%s: %s = %v, want %s", rc.Name, c.Key, fmt.Sprint(*c.Value), w)
			}
		}
	}
}
