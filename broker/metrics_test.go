package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/observe"
)

// metricsServer serves a broker's metrics the way `gregor broker --http`
// does, on a free port, and returns its base URL.
func metricsServer(t *testing.T, b *brokertest.Broker) string {
	t.Helper()
	reg := observe.NewRegistry()
	if err := reg.Register(b.Broker().Metrics()); err != nil {
		t.Fatal(err)
	}
	srv, err := observe.Listen(observe.Config{Addr: "127.0.0.1:0", Registry: reg, Ready: b.Broker().Ready})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + srv.Addr()
}

// httpGet returns a URL's status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads /metrics and parses it.
func scrape(t *testing.T, base string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, text := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return text, fams
}

// sample returns the value of the series of a family whose labels include
// want (a counter's or gauge's value, a histogram's count), and whether
// there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// waitForSample scrapes until the series satisfies ok, failing at ctx's end.
func waitForSample(t *testing.T, ctx context.Context, base, name string, labels map[string]string, ok func(float64) bool) float64 {
	t.Helper()
	for {
		_, fams := scrape(t, base)
		v, found := sample(fams, name, labels)
		if found && ok(v) {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s%v: last value %v (found %v)", name, labels, v, found)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestMetricsAfterWorkload(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithDurableFlush())
	base := metricsServer(t, b)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	const topic, n = "metrics-in", 250
	mustCreate(t, ctx, adm, topic, 1, nil)

	var batch []*kgo.Record
	for i := range n {
		batch = append(batch, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "record %d", i)})
		if len(batch) == 50 {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}

	// A batch over max.message.bytes is refused: rejected bytes, no records.
	small := "small-max"
	mustCreate(t, ctx, adm, small, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("1024")})
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: small, Value: bytes.Repeat([]byte("x"), 4096)}).FirstErr()
	if err == nil {
		t.Fatal("a 4 KiB record went into a topic with max.message.bytes=1024")
	}

	// Read everything back, so bytes go out.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		got += fs.NumRecords()
	}
	// A group that committed offset 100 lags by n-100.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 100, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "metrics-group", offs); err != nil {
		t.Fatal(err)
	}

	byTopic := map[string]string{"topic": topic}
	waitForSample(t, ctx, base, "kafka_server_brokertopicmetrics_bytesout_total", byTopic, func(v float64) bool { return v > 0 })
	text, fams := scrape(t, base)
	check := func(name string, labels map[string]string, ok func(float64) bool, what string) {
		t.Helper()
		v, found := sample(fams, name, labels)
		if !found || !ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", name, labels, v, found, what)
		}
	}
	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	positive := func(v float64) bool { return v > 0 }
	check("kafka_server_brokertopicmetrics_messagesin_total", byTopic, eq(n), fmt.Sprint(n))
	check("kafka_server_brokertopicmetrics_bytesin_total", byTopic, positive, "> 0")
	check("kafka_server_brokertopicmetrics_totalproducerequests_total", byTopic, eq(n/50), fmt.Sprint(n/50))
	check("kafka_server_brokertopicmetrics_failedproducerequests_total", byTopic, eq(0), "0")
	check("kafka_server_brokertopicmetrics_messagesin_total", map[string]string{"topic": small}, eq(0), "0")
	check("kafka_server_brokertopicmetrics_bytesrejected_total", map[string]string{"topic": small}, positive, "> 0")
	check("kafka_network_requestmetrics_requests_total", map[string]string{"request": "Produce"}, positive, ">= 1")
	check("kafka_network_requestmetrics_totaltime_seconds", map[string]string{"request": "Produce"}, positive, ">= 1 observation")
	check("kafka_network_requestmetrics_totaltime_seconds", map[string]string{"request": "Fetch"}, positive, ">= 1 observation")
	check("kafka_log_logflushstats_logflushrateandtime_seconds", nil, positive, ">= 1 flush (durable flush policy)")
	byPartition := map[string]string{"topic": topic, "partition": "0"}
	check("kafka_log_log_size", byPartition, positive, "> 0")
	check("kafka_log_log_numlogsegments", byPartition, eq(1), "1")
	check("kafka_log_log_logendoffset", byPartition, eq(n), fmt.Sprint(n))
	check("kafka_server_replicamanager_underreplicatedpartitions", nil, eq(0), "0")
	check("kafka_server_replicamanager_underminisrpartitioncount", nil, eq(0), "0")
	check("kafka_controller_kafkacontroller_activecontrollercount", nil, eq(1), "1")
	check("kafka_controller_kafkacontroller_offlinepartitionscount", nil, eq(0), "0")
	check("kafka_server_socket_server_metrics_connections", map[string]string{"listener": "PLAINTEXT"}, func(v float64) bool { return v >= 2 }, ">= 2")
	check("kafka_network_socketserver_networkprocessoravgidlepercent", nil, func(v float64) bool { return v >= 0 && v <= 1 }, "in [0, 1]")
	check("kafka_network_requestchannel_requestqueuesize", nil, func(v float64) bool { return v >= 0 }, ">= 0")
	byGroup := map[string]string{"consumergroup": "metrics-group", "topic": topic, "partition": "0"}
	check("kafka_consumergroup_current_offset", byGroup, eq(100), "100")
	check("kafka_consumergroup_lag", byGroup, eq(n-100), fmt.Sprint(n-100))
	check("go_goroutines", nil, positive, "> 0")
	check("process_open_fds", nil, positive, "> 0")
	promtoolCheck(t, text)

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine: %d", code)
	}
}

// TestMetricsReadyAfterClose: a closing broker is not ready.
func TestMetricsReadyAfterClose(t *testing.T) {
	b := brokertest.Start(t)
	base := metricsServer(t, b)
	if err := b.Broker().Ready(); err != nil {
		t.Fatalf("Ready after start: %v", err)
	}
	b.Close()
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz after Close: %d %q", code, body)
	}
	// Scraping a closed broker still works.
	scrape(t, base)
}

// promtoolCheck runs `promtool check metrics` on a scrape. It skips where
// promtool is missing, except in CI (CI set), whose .ci/run installs it.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs Debian's prometheus package")
		}
		t.Log("promtool is not installed (apt-get install prometheus): skipping promtool check metrics")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
