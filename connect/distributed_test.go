package connect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/rest"
)

type distWorker struct {
	d   *connect.Distributed
	srv *rest.Server
	url string
}

func startDistWorker(t *testing.T, brokers, protocol string) *distWorker {
	t.Helper()
	wc, err := connect.ParseWorkerConfig(map[string]string{
		"connect.protocol": protocol, "scheduled.rebalance.max.delay.ms": "2000",
		"bootstrap.servers": brokers, "offset.flush.interval.ms": "100",
		"group.id": "cluster", "config.storage.topic": "cc-configs", "offset.storage.topic": "cc-offsets", "status.storage.topic": "cc-status",
		"heartbeat.interval.ms": "100", "session.timeout.ms": "6000", "rebalance.timeout.ms": "10000",
		// A sink task moving between the workers must not wait out Kafka's 45 s default
		// for its old consumer to leave the sink's group.
		"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "200",
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := connect.NewDistributed(context.Background(), wc, connect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := rest.New(d, nil)
	if err := srv.Listen("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	w := &distWorker{d: d, srv: srv, url: "http://" + srv.Addr()}
	d.Start(w.url)
	return w
}

func (w *distWorker) close(t *testing.T) {
	if err := w.d.Close(); err != nil {
		t.Error(err)
	}
	_ = w.srv.Close()
}

// post creates a connector over REST, retrying while the group
// rebalances (409).
func post(t *testing.T, url, name string, cfg map[string]string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "config": cfg})
	connecttest.Eventually(t, 30*time.Second, "POST "+name, func() bool {
		resp, err := http.Post(url+"/connectors", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 && resp.StatusCode != 409 {
			t.Fatalf("POST %s: %d", name, resp.StatusCode)
		}
		return resp.StatusCode == 201
	})
}

// TestDistributedWorkersShareAndFailOver runs two workers in one group,
// with each protocol: connectors are created through the follower
// (forwarded to the leader), work is spread over both, and when one worker
// leaves its work moves to the other (after the delay, with the
// cooperative protocols) without losing a line.
func TestDistributedWorkersShareAndFailOver(t *testing.T) {
	for _, p := range []string{"eager", "sessioned"} {
		t.Run(p, func(t *testing.T) { testShareAndFailOver(t, p) })
	}
}

func testShareAndFailOver(t *testing.T, protocol string) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	appendLines(t, in, 0, 2000)
	w1 := startDistWorker(t, b.Addr(), protocol)
	defer w1.close(t)
	w2 := startDistWorker(t, b.Addr(), protocol)
	w2closed := false
	defer func() {
		if !w2closed {
			w2.close(t)
		}
	}()
	var follower *distWorker
	connecttest.Eventually(t, 30*time.Second, "a stable group with a leader", func() bool {
		u1, self1, reb1 := w1.d.Leader()
		u2, self2, reb2 := w2.d.Leader()
		if reb1 || reb2 || u1 != u2 || self1 == self2 {
			return false
		}
		follower = w1
		if self1 {
			follower = w2
		}
		return true
	})
	src, sink := pipelineConfigs(dir, "dist-lines")
	post(t, follower.url, "src", src)
	post(t, follower.url, "sink", sink)
	connecttest.Eventually(t, 60*time.Second, "2000 lines copied", func() bool { return len(connecttest.Lines(out)) >= 2000 })
	// Work is spread: each worker runs something.
	owners := map[string]bool{}
	for _, n := range []string{"src", "sink"} {
		st, err := w1.d.ConnectorStatus(n)
		if err != nil {
			t.Fatal(err)
		}
		owners[st.Connector.WorkerID] = true
		for _, ts := range st.Tasks {
			owners[ts.WorkerID] = true
		}
	}
	if len(owners) != 2 {
		t.Fatalf("work ran on %v, want both workers", owners)
	}
	// One worker leaves; the other takes everything over.
	w2.close(t)
	w2closed = true
	appendLines(t, in, 2000, 3000)
	connecttest.Eventually(t, 60*time.Second, "3000 lines copied", func() bool { return len(connecttest.Lines(out)) >= 3000 })
	in1, out1 := connecttest.Lines(in), connecttest.Lines(out)
	seen := map[string]int{}
	for _, l := range out1 {
		seen[l]++
	}
	missing, dups := 0, 0
	for _, l := range in1 {
		if seen[l] == 0 {
			missing++
		}
		if seen[l] > 1 {
			dups += seen[l] - 1
		}
	}
	t.Logf("after fail-over: %d lines in, %d out, %d redelivered", len(in1), len(out1), dups)
	if missing > 0 {
		t.Fatalf("%d lines lost", missing)
	}
	st, _ := w1.d.ConnectorStatus("src")
	w1id := strings.TrimPrefix(w1.url, "http://")
	if st.Connector.WorkerID != w1id || st.Tasks[0].WorkerID != w1id || st.Tasks[0].State != connect.StateRunning {
		t.Fatalf("src status after fail-over: %+v", st)
	}
	// Stopping and deleting go through the config topic too.
	send := func(method, path string, want int) {
		connecttest.Eventually(t, 30*time.Second, method+" "+path, func() bool {
			req, _ := http.NewRequest(method, w1.url+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want && resp.StatusCode != 409 {
				t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
			}
			return resp.StatusCode == want
		})
	}
	send("PUT", "/connectors/sink/stop", 204)
	connecttest.Eventually(t, 30*time.Second, "sink STOPPED without tasks", func() bool {
		st, err := w1.d.ConnectorStatus("sink")
		return err == nil && st.Connector.State == connect.StateStopped && len(st.Tasks) == 0
	})
	send("DELETE", "/connectors/src", 204)
	connecttest.Eventually(t, 30*time.Second, "src deleted", func() bool {
		return len(w1.d.Connectors()) == 1 && w1.d.Connectors()[0] == "sink"
	})
}
