package runtime_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/internal/testcluster"
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
	wc, err := runtime.ParseWorkerConfig(map[string]string{"bootstrap.servers": b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*runtime.KafkaConfigStore, *runtime.KafkaStatusStore, *runtime.KafkaOffsetStore) {
		cs, err := runtime.OpenKafkaConfigStore(ctx, wc, "connect-configs", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := runtime.OpenKafkaStatusStore(ctx, wc, "connect-status", 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		os, err := runtime.OpenKafkaOffsetStore(ctx, wc, "connect-offsets", 25, 1)
		if err != nil {
			t.Fatal(err)
		}
		return cs, ss, os
	}
	cs1, ss1, os1 := open()
	defer cs1.Close()
	defer ss1.Close()
	defer os1.Close()
	if err := cs1.PutConnector(ctx, "src", map[string]string{"connector.class": "FileStreamSource"}, runtime.TargetStarted); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutTaskConfigs(ctx, "src", []map[string]string{{"file": "a"}, {"file": "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutTargetState(ctx, "src", runtime.TargetStopped); err != nil {
		t.Fatal(err)
	}
	if err := cs1.PutConnector(ctx, "gone", map[string]string{"connector.class": "X"}, runtime.TargetPaused); err != nil {
		t.Fatal(err)
	}
	if err := cs1.RemoveConnector(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := ss1.PutConnector(ctx, "src", runtime.Status{State: runtime.StateRunning, WorkerID: "w1:8083"}); err != nil {
		t.Fatal(err)
	}
	if err := ss1.PutTask(ctx, runtime.TaskID{Connector: "src", Task: 1}, runtime.Status{State: runtime.StateFailed, Trace: "boom", WorkerID: "w1:8083"}); err != nil {
		t.Fatal(err)
	}
	if err := ss1.AddTopic(ctx, "src", "lines"); err != nil {
		t.Fatal(err)
	}
	k, _ := runtime.OffsetKey("src", map[string]any{"filename": "a"})
	if err := os1.Set(ctx, map[string][]byte{k: []byte(`{"position":42}`)}); err != nil {
		t.Fatal(err)
	}

	cs2, ss2, os2 := open()
	defer cs2.Close()
	defer ss2.Close()
	defer os2.Close()
	st, ok := cs2.Connector(ctx, "src")
	if !ok || st.Target != runtime.TargetStopped || len(st.Tasks) != 2 || st.Tasks[1]["file"] != "b" || st.Config["connector.class"] != "FileStreamSource" {
		t.Fatalf("second worker sees %+v %v", st, ok)
	}
	if got := cs2.Connectors(ctx); !slices.Equal(got, []string{"src"}) {
		t.Fatalf("connectors = %v", got)
	}
	if s, _ := ss2.Connector(ctx, "src"); s.State != runtime.StateRunning || s.WorkerID != "w1:8083" {
		t.Fatalf("status = %+v", s)
	}
	if ts := ss2.Tasks(ctx, "src"); ts[1].State != runtime.StateFailed || ts[1].Trace != "boom" {
		t.Fatalf("tasks = %+v", ts)
	}
	if got := ss2.Topics(ctx, "src"); !slices.Equal(got, []string{"lines"}) {
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
// resumes from its stored offset. It runs on Gregor's broker and on kfake
// (one and three brokers).
func TestStandaloneWithKafkaStores(t *testing.T) { testcluster.Run(t, testStandaloneWithKafkaStores) }

func testStandaloneWithKafkaStores(t *testing.T, addr string) {
	dir := t.TempDir()
	ctx := context.Background()
	wc, err := runtime.ParseWorkerConfig(map[string]string{"bootstrap.servers": addr, "offset.flush.interval.ms": "100"})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *runtime.Standalone {
		cs, err := runtime.OpenKafkaConfigStore(ctx, wc, "cfg", 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := runtime.OpenKafkaStatusStore(ctx, wc, "st", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		os, err := runtime.OpenKafkaOffsetStore(ctx, wc, "off", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close(); ss.Close() })
		h, err := runtime.NewStandalone(wc, runtime.Options{Configs: cs, Statuses: ss, Offsets: os})
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
