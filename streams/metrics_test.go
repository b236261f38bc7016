package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/internal/promtest"
	"github.com/gregorhq/gregor/streams"
)

const (
	processTotal     = "kafka_streams_stream_task_metrics_process_total"
	processLatency   = "kafka_streams_stream_task_metrics_process_latency_seconds"
	droppedTotal     = "kafka_streams_stream_task_metrics_dropped_records_total"
	restoreTotal     = "kafka_streams_stream_state_metrics_restore_total"
	restoreRemaining = "kafka_streams_stream_state_metrics_restore_remaining_records_total"
	recordsLag       = "kafka_consumer_consumer_fetch_manager_metrics_records_lag"
	appState         = "kafka_streams_stream_metrics_state"
	commitTotal      = "kafka_streams_stream_metrics_commit_total"
)

// httpGet returns the status and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func registry(t *testing.T, app *streams.App) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(app.Collector()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// sumTasks sums metric over the tasks of sub-topology sub.
func sumTasks(t *testing.T, reg *prometheus.Registry, metric string, sub int) float64 {
	var n float64
	for _, s := range promtest.Samples(t, reg, metric, nil) {
		if strings.HasPrefix(s.Labels["task_id"], fmt.Sprintf("%d_", sub)) {
			n += s.Value
		}
	}
	return n
}

// The word count processes N lines: the source sub-topology's process totals add up to
// N, the lag of every source partition falls to 0, the application is RUNNING, and
// promtool accepts the output.
func TestAppMetricsProcessAndLag(t *testing.T) {
	b, prod := wordCountBroker(t, 2)
	rng := rand.New(rand.NewPCG(21, 2))
	want := map[string]int64{}
	const lines = 400
	produceLines(t, prod, rng, lines, want)
	words := 0
	for _, n := range want {
		words += int(n)
	}
	app, err := streams.New(wordCount(t), streams.Config{
		ApplicationID: "streams-wordcount", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		NumStreamThreads: 2, CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
		HTTPAddr:      "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry(t, app)
	if got := promtest.Sum(t, reg, appState, map[string]string{"state": "CREATED"}); got != 1 {
		t.Fatalf("state CREATED = %v before Start", got)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	newOutputReader(t, b.Addr()).waitFor(t, want, time.Minute)

	dump := func() string { return promtest.Dump(t, app.Collector(), "kafka_") }
	promtest.Poll(t, time.Minute, func() bool {
		return sumTasks(t, reg, processTotal, 0) == lines && sumTasks(t, reg, processTotal, 1) == float64(words)
	}, dump)
	if got := sumTasks(t, reg, processLatency, 0); got != lines {
		t.Fatalf("process latency count %v, want %d", got, lines)
	}
	promtest.Poll(t, time.Minute, func() bool {
		// Every partition that had records (input and repartition) is caught up.
		lag := promtest.Samples(t, reg, recordsLag, nil)
		if len(promtest.Samples(t, reg, recordsLag, map[string]string{"topic": inTopic})) == 0 {
			return false
		}
		for _, s := range lag {
			if s.Value != 0 {
				return false
			}
		}
		return true
	}, dump)
	promtest.Poll(t, time.Minute, func() bool {
		return promtest.Sum(t, reg, appState, map[string]string{"state": "RUNNING"}) == 1 &&
			promtest.Sum(t, reg, commitTotal, nil) > 0
	}, dump)
	if got := promtest.Sum(t, reg, appState, nil); got != 1 {
		t.Fatalf("states sum to %v, want exactly one current state", got)
	}
	if got := promtest.Sum(t, reg, droppedTotal, nil); got != 0 {
		t.Fatalf("dropped %v records", got)
	}
	promtest.CheckMetrics(t, app.Collector())

	// Config.HTTPAddr serves the same metrics, and health, over HTTP.
	base := "http://" + app.HTTPAddr()
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": processTotal + "{"} {
		code, body := httpGet(t, base+path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %q in:\n%.400s", path, code, want, body)
		}
	}
	// /topology and /info, which Gregor's web console reads.
	if code, body := httpGet(t, base+"/topology"); code != http.StatusOK || body != wordCount(t).Describe().String() {
		t.Errorf("GET /topology: %d\n%s", code, body)
	}
	code, body := httpGet(t, base+"/topology?format=json")
	var topo streams.TopologyJSON
	if err := json.Unmarshal([]byte(body), &topo); code != http.StatusOK || err != nil || len(topo.Subtopologies) != 2 || len(topo.Edges) == 0 {
		t.Errorf("GET /topology?format=json: %d %v\n%s", code, err, body)
	}
	code, body = httpGet(t, base+"/info")
	var info streams.AppInfo
	if err := json.Unmarshal([]byte(body), &info); code != http.StatusOK || err != nil || info.ApplicationID != "streams-wordcount" || info.State != "RUNNING" || len(info.Tasks) == 0 {
		t.Errorf("GET /info: %d %v\n%s", code, err, body)
	}

	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("%s still serves after Close", base)
	}
	if got := promtest.Sum(t, reg, appState, map[string]string{"state": "NOT_RUNNING"}); got != 1 {
		t.Fatalf("state after Close: %s", dump())
	}
}

// A restarted instance without local state restores the changelog: its stores' restore
// totals add up to the changelog's records and nothing remains.
func TestAppMetricsRestore(t *testing.T) {
	b, prod := wordCountBroker(t, 2)
	rng := rand.New(rand.NewPCG(22, 2))
	want := map[string]int64{}
	produceLines(t, prod, rng, 500, want)
	dir := t.TempDir()
	app := startApp(t, b.Addr(), dir, 1, nil)
	newOutputReader(t, b.Addr()).waitFor(t, want, time.Minute)
	waitCommitted(t, b.Addr(), "streams-wordcount", inTopic)
	app.Kill()
	if err := os.RemoveAll(filepath.Join(dir, "streams-wordcount")); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(client(t, b.Addr()))
	changelog := "streams-wordcount-counts-changelog"
	starts, err := adm.ListStartOffsets(context.Background(), changelog)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(context.Background(), changelog)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		size += o.Offset - s.Offset
	})
	if size == 0 {
		t.Fatal("empty changelog")
	}

	app2 := startApp(t, b.Addr(), dir, 1, nil)
	reg := registry(t, app2)
	promtest.Poll(t, time.Minute, func() bool {
		return promtest.Sum(t, reg, restoreTotal, map[string]string{"store": "counts"}) == float64(size) &&
			len(promtest.Samples(t, reg, restoreRemaining, nil)) > 0 &&
			promtest.Sum(t, reg, restoreRemaining, nil) == 0 &&
			promtest.Sum(t, reg, appState, map[string]string{"state": "RUNNING"}) == 1
	}, func() string {
		return fmt.Sprintf("changelog has %d records\n%s", size, promtest.Dump(t, app2.Collector(), "kafka_streams_stream_"))
	})
	promtest.CheckMetrics(t, app2.Collector())
}

// A record too late for its window is dropped and counted.
func TestAppMetricsDroppedLate(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b.Addr(), "late-in", 1)
	createTopic(t, b.Addr(), "late-out", 1)
	bld := streams.NewBuilder()
	streams.WindowedBy(streams.StreamFrom[string, string](bld, "late-in", nil, nil).GroupByKey(),
		streams.TimeWindowsOfSizeWithNoGrace(time.Minute)).Count(streams.As("late-counts")).ToStream().To("late-out")
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: "late", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	reg := registry(t, app)
	base := time.UnixMilli(1_700_000_000_000).Truncate(time.Minute)
	var recs []*kgo.Record
	for _, at := range []time.Duration{0, 3 * time.Minute, 10 * time.Second} { // the last is late
		recs = append(recs, &kgo.Record{Topic: "late-in", Key: []byte("u"), Value: []byte("click"), Timestamp: base.Add(at)})
	}
	if err := client(t, b.Addr()).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	task := map[string]string{"task_id": "0_0"}
	promtest.Poll(t, time.Minute, func() bool {
		return promtest.Sum(t, reg, processTotal, task) == 3
	}, func() string { return promtest.Dump(t, app.Collector(), "kafka_streams_stream_task") })
	if got := promtest.Sum(t, reg, droppedTotal, task); got != 1 {
		t.Fatalf("dropped %v records, want 1", got)
	}
}
