package rest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/connect/runtime/rest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// countRecords reads topic from the start until it has at least n records
// (or 30s pass) and returns how many it saw.
func countRecords(t *testing.T, brokers, topic string, n int) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for got < n && ctx.Err() == nil {
		got += len(cl.PollFetches(ctx).Records())
	}
	return got
}

// TestOffsetsAPI reads, alters and resets source and sink offsets over
// REST, and shows that a reset makes a stopped file source re-read its
// file from the start.
func TestOffsetsAPI(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets"), nil)
	defer h.Close()
	srv := rest.New(h, nil)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client{t: t, base: "http://" + srv.Addr()}
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(in, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.expect("POST", "/connectors", map[string]any{"name": "src", "config": map[string]string{
		"connector.class": "FileStreamSource", "file": in, "topic": "letters"}}, 201)
	c.expect("POST", "/connectors", map[string]any{"name": "sink", "config": map[string]string{
		"connector.class": "FileStreamSink", "file": out, "topics": "letters"}}, 201)
	connecttest.Eventually(t, 30*time.Second, "3 lines copied", func() bool { return len(connecttest.Lines(out)) == 3 })

	// Source offsets: readable while running, changeable only when stopped.
	wantSrc := map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": float64(6)}}}}
	connecttest.Eventually(t, 30*time.Second, "source offset committed", func() bool {
		_, v := c.do("GET", "/connectors/src/offsets", nil)
		return equalJSON(v, wantSrc)
	})
	c.expect("DELETE", "/connectors/src/offsets", nil, 400)
	c.expect("PATCH", "/connectors/src/offsets", map[string]any{"offsets": []any{}}, 400)
	c.expect("PUT", "/connectors/src/stop", nil, 204)
	c.expect("PATCH", "/connectors/src/offsets", map[string]any{"offsets": []any{}}, 400)
	msg := c.expect("PATCH", "/connectors/src/offsets", map[string]any{"offsets": []any{
		map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": 4}}}}, 200)
	if m := msg.(map[string]any)["message"].(string); m == "" {
		t.Fatal(msg)
	}
	if _, v := c.do("GET", "/connectors/src/offsets", nil); !equalJSON(v, map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": float64(4)}}}}) {
		t.Fatalf("after PATCH: %v", v)
	}
	c.expect("DELETE", "/connectors/src/offsets", nil, 200)
	if _, v := c.do("GET", "/connectors/src/offsets", nil); !equalJSON(v, map[string]any{"offsets": []any{}}) {
		t.Fatalf("after DELETE: %v", v)
	}
	// Resumed, the source re-reads the file from the start.
	c.expect("PUT", "/connectors/src/resume", nil, 202)
	if n := countRecords(t, b.Addr(), "letters", 6); n != 6 {
		t.Fatalf("letters has %d records after the reset, want 6", n)
	}
	connecttest.Eventually(t, 30*time.Second, "6 lines copied", func() bool { return len(connecttest.Lines(out)) == 6 })
	if got := connecttest.Lines(out); !slices.Equal(got, []string{"a", "b", "c", "a", "b", "c"}) {
		t.Fatalf("out.txt = %v", got)
	}

	// Sink offsets live in the consumer group connect-sink.
	wantSink := func(off float64) map[string]any {
		return map[string]any{"offsets": []any{map[string]any{"partition": map[string]any{"kafka_topic": "letters", "kafka_partition": float64(0)}, "offset": map[string]any{"kafka_offset": off}}}}
	}
	connecttest.Eventually(t, 30*time.Second, "sink offset committed", func() bool {
		_, v := c.do("GET", "/connectors/sink/offsets", nil)
		return equalJSON(v, wantSink(6))
	})
	c.expect("PATCH", "/connectors/sink/offsets", map[string]any{"offsets": []any{
		map[string]any{"partition": map[string]any{"kafka_topic": "letters", "kafka_partition": 0}, "offset": map[string]any{"kafka_offset": 4}}}}, 400)
	c.expect("PUT", "/connectors/sink/stop", nil, 204)
	c.expect("PATCH", "/connectors/sink/offsets", map[string]any{"offsets": []any{
		map[string]any{"partition": map[string]any{"kafka_topic": "letters", "kafka_partition": 0}, "offset": map[string]any{"kafka_offset": 4}}}}, 200)
	if _, v := c.do("GET", "/connectors/sink/offsets", nil); !equalJSON(v, wantSink(4)) {
		t.Fatalf("sink after PATCH: %v", v)
	}
	c.expect("PATCH", "/connectors/sink/offsets", map[string]any{"offsets": []any{
		map[string]any{"partition": map[string]any{"kafka_topic": "letters"}, "offset": map[string]any{"kafka_offset": 4}}}}, 400)
	c.expect("DELETE", "/connectors/sink/offsets", nil, 200)
	if _, v := c.do("GET", "/connectors/sink/offsets", nil); !equalJSON(v, map[string]any{"offsets": []any{}}) {
		t.Fatalf("sink after DELETE: %v", v)
	}
	c.expect("GET", "/connectors/nope/offsets", nil, 404)
	// Topics reset.
	c.expect("PUT", "/connectors/src/topics/reset", nil, 202)
}

// TestAdminLoggers changes log levels at runtime.
func TestAdminLoggers(t *testing.T) {
	loggers := runtime.NewLoggers(0)
	srv := rest.New(nil, nil)
	srv.SetLoggers(loggers)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client{t: t, base: "http://" + srv.Addr()}
	all := c.expect("GET", "/admin/loggers", nil, 200).(map[string]any)
	if all["root"].(map[string]any)["level"] != "INFO" {
		t.Fatal(all)
	}
	got := c.expect("PUT", "/admin/loggers/org.apache.kafka.connect.mysink", map[string]string{"level": "DEBUG"}, 200)
	if !equalJSON(got, []any{"org.apache.kafka.connect.mysink"}) {
		t.Fatal(got)
	}
	if v := c.expect("GET", "/admin/loggers/org.apache.kafka.connect.mysink", nil, 200).(map[string]any); v["level"] != "DEBUG" || v["last_modified"] == nil {
		t.Fatal(v)
	}
	if v := c.expect("GET", "/admin/loggers/org.apache.kafka.connect.other", nil, 200).(map[string]any); v["level"] != "INFO" {
		t.Fatal(v)
	}
	got = c.expect("PUT", "/admin/loggers/root", map[string]string{"level": "warn"}, 200)
	if !equalJSON(got, []any{"org.apache.kafka.connect.mysink", "root"}) {
		t.Fatal(got)
	}
	c.expect("PUT", "/admin/loggers/root", map[string]string{"level": "LOUD"}, 400)
	c.expect("PUT", "/admin/loggers/root", map[string]string{}, 400)
	c.expect("PUT", "/admin/loggers/root?scope=cluster", map[string]string{"level": "INFO"}, 204)
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
