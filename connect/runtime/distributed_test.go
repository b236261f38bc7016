package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/connect/runtime/rest"
	"github.com/gregorhq/gregor/internal/testcluster"
)

type distWorker struct {
	d   *runtime.Distributed
	srv *rest.Server
	url string
}

func startDistWorker(t *testing.T, brokers, protocol string) *distWorker {
	t.Helper()
	wc, err := runtime.ParseWorkerConfig(map[string]string{
		"connect.protocol": protocol, "scheduled.rebalance.max.delay.ms": "2000",
		"bootstrap.servers": brokers, "offset.flush.interval.ms": "100",
		"group.id": "cluster", "config.storage.topic": "cc-configs", "offset.storage.topic": "cc-offsets", "status.storage.topic": "cc-status",
		"heartbeat.interval.ms": "100", "session.timeout.ms": "6000", "rebalance.timeout.ms": "10000",
		// A sink task moving between the workers must not wait out Kafka's 45 s default
		// for its old consumer to leave the sink's group.
		// Likewise a rebalance of that group must not wait out kgo's 60 s
		// for a member that does not rejoin.
		"consumer.session.timeout.ms": "6000", "consumer.heartbeat.interval.ms": "200",
		"consumer.max.poll.interval.ms": "10000",
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := runtime.NewDistributed(context.Background(), wc, runtime.Options{Logger: failureLog(t)})
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

// failureLog returns a debug-level logger for one worker whose lines are
// kept in memory and written to the test's log only if the test fails:
// the rebalances behind a rare timeout can then be read afterwards.
func failureLog(t *testing.T) *slog.Logger {
	buf := &lockedBuffer{}
	n := workerSeq.Add(1)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("debug log of worker %d:\n%s", n, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("worker", n)
}

var workerSeq atomic.Int64

// lockedBuffer is a bytes.Buffer safe for the worker's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
// cooperative protocols) without losing a line. It runs on Gregor's broker
// and on kfake (one and three brokers).
func TestDistributedWorkersShareAndFailOver(t *testing.T) {
	for _, p := range []string{"eager", "sessioned"} {
		t.Run(p, func(t *testing.T) {
			testcluster.Run(t, func(t *testing.T, addr string) { testShareAndFailOver(t, addr, p) })
		})
	}
}

func testShareAndFailOver(t *testing.T, addr, protocol string) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	appendLines(t, in, 0, 2000)
	w1 := startDistWorker(t, addr, protocol)
	defer w1.close(t)
	w2 := startDistWorker(t, addr, protocol)
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
	if st.Connector.WorkerID != w1id || st.Tasks[0].WorkerID != w1id || st.Tasks[0].State != runtime.StateRunning {
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
		return err == nil && st.Connector.State == runtime.StateStopped && len(st.Tasks) == 0
	})
	send("DELETE", "/connectors/src", 204)
	connecttest.Eventually(t, 30*time.Second, "src deleted", func() bool {
		return len(w1.d.Connectors()) == 1 && w1.d.Connectors()[0] == "sink"
	})
}
