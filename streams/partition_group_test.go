package streams

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func kgoRec(topic, key, value string, offset, ts int64) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value), Offset: offset, Timestamp: time.UnixMilli(ts)}
}

// viewsRegions is a stream-table left join in one task: views looked up in users.
func viewsRegions(t *testing.T, maxIdle int64) (*Harness, *task) {
	b := NewBuilder()
	StreamTableLeftJoin(StreamFrom[string, string](b, "views", nil, nil), TableFrom[string, string](b, "users", nil, nil),
		func(_ string, page string, region *string) string { return page + "@" + orNull(region) }).To("out")
	h := newTestHarness(t, b)
	tk := h.tasks[0]
	tk.cfg.maxIdle = maxIdle
	return h, tk
}

func TestTaskProcessesPartitionsInTimestampOrder(t *testing.T) {
	h, tk := viewsRegions(t, 1000)
	add := func(b fetchBatch) {
		t.Helper()
		if err := tk.addBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	process := func(now int64) string {
		t.Helper()
		if err := tk.processBuffered(now); err != nil {
			t.Fatal(err)
		}
		return strings.Join(show(h.Output("out")), "|")
	}
	add(fetchBatch{recs: []*kgo.Record{kgoRec("views", "ann", "/a", 0, 100), kgoRec("views", "ann", "/b", 1, 300)}, hw: 2})
	if got := process(0); got != "" {
		t.Fatalf("processed %q before the users partition was fetched or the idle time passed", got)
	}
	add(fetchBatch{recs: []*kgo.Record{kgoRec("users", "ann", "eu", 0, 50), kgoRec("users", "ann", "us", 1, 200)}, hw: 2})
	if got, want := process(1), "ann=/a@eu@100|ann=/b@us@300"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The users partition is caught up (high watermark reached): no waiting.
	add(fetchBatch{recs: []*kgo.Record{kgoRec("views", "ann", "/c", 2, 400)}, hw: 3})
	if got, want := process(2), "ann=/c@us@400"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The users partition has more records on the broker (high watermark 5): wait for
	// them, up to the idle time.
	add(fetchBatch{recs: []*kgo.Record{kgoRec("users", "ann", "fr", 2, 450)}, hw: 5})
	add(fetchBatch{recs: []*kgo.Record{kgoRec("views", "ann", "/d", 3, 500)}, hw: 4})
	if got, want := process(3), ""; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got, want := process(1003), "ann=/d@fr@500"; got != want {
		t.Fatalf("after the idle time: got %q, want %q", got, want)
	}
}

// With no idle time (the default) nothing waits, but what is buffered still goes in
// timestamp order.
func TestTaskNoIdleTime(t *testing.T) {
	h, tk := viewsRegions(t, 0)
	for _, b := range []fetchBatch{
		{recs: []*kgo.Record{kgoRec("views", "bob", "/a", 0, 100)}, hw: 1},
		{recs: []*kgo.Record{kgoRec("users", "bob", "asia", 0, 10)}, hw: 1},
	} {
		if err := tk.addBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tk.processBuffered(0); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(show(h.Output("out")), "|"), "bob=/a@asia@100"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if tk.hasBuffered() {
		t.Fatal("records left in the queues")
	}
	// A single-source task does not buffer.
	b := NewBuilder()
	StreamFrom[string, string](b, "in", nil, nil).To("out")
	h2 := newTestHarness(t, b)
	if err := h2.tasks[0].addBatch(fetchBatch{recs: []*kgo.Record{kgoRec("in", "k", "v", 0, 1)}, hw: 1}); err != nil {
		t.Fatal(err)
	}
	if got := show(h2.Output("out")); len(got) != 1 {
		t.Fatalf("single-source task output %v", got)
	}
}
