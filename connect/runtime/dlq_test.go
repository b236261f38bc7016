package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSinkDeadLetterQueue feeds a JSON sink good and poison records: with
// errors.tolerance=all the poison ones go to the DLQ with the
// __connect.errors.* headers and the good ones reach the file, in order.
func TestSinkDeadLetterQueue(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var want []string
	poison := map[string]bool{}
	var recs []*kgo.Record
	for i := range 60 {
		v := fmt.Sprintf("%q", fmt.Sprintf("good-%02d", i))
		if i%7 == 3 {
			v = fmt.Sprintf("{not json %d", i)
			poison[v] = true
		} else {
			want = append(want, fmt.Sprintf("good-%02d", i))
		}
		recs = append(recs, &kgo.Record{Topic: "events", Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "orig", Value: []byte("yes")}}})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	out := filepath.Join(dir, "out.txt")
	connecttest.Create(t, h, "sink", map[string]string{
		"connector.class": "FileStreamSink", "file": out, "topics": "events",
		"key.converter": "StringConverter", "value.converter": "JsonConverter", "value.converter.schemas.enable": "false",
		"errors.tolerance": "all", "errors.log.enable": "true", "errors.log.include.messages": "true",
		"errors.deadletterqueue.topic.name": "events-dlq", "errors.deadletterqueue.context.headers.enable": "true",
	})
	connecttest.Eventually(t, 30*time.Second, "good lines in out.txt", func() bool {
		return len(connecttest.Lines(out)) >= len(want)
	})
	if got := connecttest.Lines(out); !slices.Equal(got, want) {
		t.Fatalf("out.txt = %v, want %v", got, want)
	}

	dlq, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("events-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < len(poison) && ctx.Err() == nil {
		fs := dlq.PollFetches(ctx)
		got = append(got, fs.Records()...)
	}
	if len(got) != len(poison) {
		t.Fatalf("DLQ has %d records, want %d", len(got), len(poison))
	}
	for _, r := range got {
		if !poison[string(r.Value)] {
			t.Fatalf("DLQ record %q is not a poison record", r.Value)
		}
		hs := map[string]string{}
		for _, hd := range r.Headers {
			hs[hd.Key] = string(hd.Value)
		}
		if hs["orig"] != "yes" || hs["__connect.errors.topic"] != "events" || hs["__connect.errors.partition"] != "0" ||
			hs["__connect.errors.connector.name"] != "sink" || hs["__connect.errors.task.id"] != "0" ||
			hs["__connect.errors.stage"] != "VALUE_CONVERTER" ||
			hs["__connect.errors.class.name"] != "org.apache.kafka.connect.json.JsonConverter" ||
			hs["__connect.errors.exception.message"] == "" || hs["__connect.errors.exception.class.name"] == "" ||
			hs["__connect.errors.exception.stacktrace"] == "" || hs["__connect.errors.offset"] == "" {
			t.Fatalf("DLQ headers = %v", hs)
		}
	}
	st, _ := h.ConnectorStatus("sink")
	if st.Tasks[0].State != "RUNNING" {
		t.Fatalf("task state %s", st.Tasks[0].State)
	}
}

// TestSinkToleranceNoneFails checks that a poison record fails the task
// when errors.tolerance=none.
func TestSinkToleranceNoneFails(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "bad", Value: []byte("{oops")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	connecttest.Create(t, h, "sink", map[string]string{"connector.class": "FileStreamSink", "file": filepath.Join(dir, "out.txt"), "topics": "bad",
		"value.converter": "JsonConverter", "value.converter.schemas.enable": "false"})
	connecttest.Eventually(t, 30*time.Second, "task FAILED", func() bool {
		st, _ := h.ConnectorStatus("sink")
		return len(st.Tasks) == 1 && st.Tasks[0].State == "FAILED" && strings.Contains(st.Tasks[0].Trace, "Tolerance exceeded")
	})
}
