package connect_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawTopic returns the last value per key of a topic.
func rawTopic(t *testing.T, brokers, topic string) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n := int64(0); n < want && ctx.Err() == nil; {
		for _, r := range cl.PollFetches(ctx).Records() {
			out[string(r.Key)] = string(r.Value)
			if r.Value == nil {
				out[string(r.Key)] = "<tombstone>"
			}
			n++
		}
	}
	return out
}

// TestKafkaStores writes through one set of Kafka-backed stores and reads
// through a second (another worker), and checks Kafka Connect's key and
// value formats on the topics.
func TestKafkaStores(t *testing.T) {
	b := connecttest.Broker(t)
	ctx := context.Background()
	wc, err := connect.ParseWorkerConfig(map[string]string{"bootstrap.servers": b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*connect.KafkaConfigStore, *connect.KafkaStatusStore, *connect.KafkaOffsetStore) {
		cs, err := connect.OpenKafkaConfigStore(ctx, wc, "connect-configs", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := connect.OpenKafkaStatusStore(ctx, wc, "connect-status", 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		os, err := connect.OpenKafkaOffsetStore(ctx, wc, "connect-offsets", 25, 1)
		if err != nil {
			t.Fatal(err)
		}
		return cs, ss, os
	}
	cs1, ss1, os1 := open()
	defer cs1.Close()
	defer ss1.Close()
	defer os1.Close()
	if err := cs1.PutConnector("src", map[string]string{"connector.class": "FileStreamSource"}, connect.TargetStarted); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutTaskConfigs("src", []map[string]string{{"file": "a"}, {"file": "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutTargetState("src", connect.TargetStopped); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutConnector("gone", map[string]string{"connector.class": "X"}, connect.TargetPaused); err != nil {
		t.Fatal(err)
	}
	if err := cs1.RemoveConnector("gone"); err != nil {
		t.Fatal(err)
	}
	if err := ss1.PutConnector("src", connect.Status{State: connect.StateRunning, WorkerID: "w1:8083"}); err != nil {
		t.Fatal(err)
	}
	if err := ss1.PutTask(connect.TaskID{Connector: "src", Task: 1}, connect.Status{State: connect.StateFailed, Trace: "boom", WorkerID: "w1:8083"}); err != nil {
		t.Fatal(err)
	}
	if err := ss1.AddTopic("src", "lines"); err != nil {
		t.Fatal(err)
	}
	k, _ := connect.OffsetKey("src", map[string]any{"filename": "a"})
	if err := os1.Set(ctx, map[string][]byte{k: []byte(`{"position":42}`)}); err != nil {
		t.Fatal(err)
	}

	cs2, ss2, os2 := open()
	defer cs2.Close()
	defer ss2.Close()
	defer os2.Close()
	st, ok := cs2.Connector("src")
	if !ok || st.Target != connect.TargetStopped || len(st.Tasks) != 2 || st.Tasks[1]["file"] != "b" || st.Config["connector.class"] != "FileStreamSource" {
		t.Fatalf("second worker sees %+v %v", st, ok)
	}
	if got := cs2.Connectors(); !slices.Equal(got, []string{"src"}) {
		t.Fatalf("connectors = %v", got)
	}
	if s, _ := ss2.Connector("src"); s.State != connect.StateRunning || s.WorkerID != "w1:8083" {
		t.Fatalf("status = %+v", s)
	}
	if ts := ss2.Tasks("src"); ts[1].State != connect.StateFailed || ts[1].Trace != "boom" {
		t.Fatalf("tasks = %+v", ts)
	}
	if got := ss2.Topics("src"); !slices.Equal(got, []string{"lines"}) {
		t.Fatalf("topics = %v", got)
	}
	vals, err := os2.Get(ctx, []string{k})
	if err != nil || string(vals[k]) != `{"position":42}` {
		t.Fatalf("offset = %q, %v", vals[k], err)
	}

	raw := rawTopic(t, b.Addr(), "connect-configs")
	for key, want := range map[string]string{
		"connector-src":    `{"properties":{"connector.class":"FileStreamSource"}}`,
		"task-src-0":       `{"properties":{"file":"a"}}`,
		"commit-src":       `{"tasks":2}`,
		"target-state-src": `{"state":"PAUSED","state.v2":"STOPPED"}`,
		"connector-gone":   "<tombstone>",
	} {
		if raw[key] != want {
			t.Errorf("config topic %s = %s, want %s", key, raw[key], want)
		}
	}
	raw = rawTopic(t, b.Addr(), "connect-status")
	if raw["status-connector-src"] != `{"state":"RUNNING","trace":null,"worker_id":"w1:8083","generation":0}` {
		t.Errorf("status topic: %v", raw)
	}
	if _, ok := raw["status-topic-lines:connector-src"]; !ok {
		t.Errorf("status topic: %v", raw)
	}
	if raw := rawTopic(t, b.Addr(), "connect-offsets"); raw[`["src",{"filename":"a"}]`] != `{"position":42}` {
		t.Errorf("offsets topic: %v", raw)
	}
	cfgs, err := kadm.NewClient(kgoClient(t, b.Addr())).DescribeTopicConfigs(ctx, "connect-configs", "connect-offsets", "connect-status")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && (c.Value == nil || *c.Value != "compact") {
				t.Errorf("%s cleanup.policy = %v", rc.Name, c.Value)
			}
		}
	}
}

func kgoClient(t *testing.T, brokers string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestStandaloneWithKafkaStores runs a file pipeline on a worker whose
// offsets, configs and statuses live in Kafka, restarts the worker, and
// checks the connectors come back from the config topic and the source
// resumes from its stored offset.
func TestStandaloneWithKafkaStores(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	ctx := context.Background()
	wc, err := connect.ParseWorkerConfig(map[string]string{"bootstrap.servers": b.Addr(), "offset.flush.interval.ms": "100"})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *connect.Standalone {
		cs, err := connect.OpenKafkaConfigStore(ctx, wc, "cfg", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := connect.OpenKafkaStatusStore(ctx, wc, "st", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		os, err := connect.OpenKafkaOffsetStore(ctx, wc, "off", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close(); ss.Close() })
		h, err := connect.NewStandalone(wc, connect.Options{Configs: cs, Statuses: ss, Offsets: os})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	appendLines(t, filepath.Join(dir, "in.txt"), 0, 500)
	h := start()
	src, sink := pipelineConfigs(dir, "lines")
	connecttest.Create(t, h, "src", src)
	connecttest.Create(t, h, "sink", sink)
	connecttest.Eventually(t, 30*time.Second, "500 lines", func() bool { return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= 500 })
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	appendLines(t, filepath.Join(dir, "in.txt"), 500, 800)
	h = start()
	defer h.Close()
	if err := h.StartStored(); err != nil {
		t.Fatal(err)
	}
	connecttest.Eventually(t, 30*time.Second, "800 lines", func() bool { return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= 800 })
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameLines(t, dir)
}
