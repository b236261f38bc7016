package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPrometheusScrapesBroker runs Debian's Prometheus server against
// `gregor broker --http`: it scrapes the broker every second, and a query
// for the topic's messages-in counter returns the number of records
// produced.
func TestPrometheusScrapesBroker(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed; .ci/run installs Debian's prometheus package")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	b := startBroker(t, "--http", "127.0.0.1:0")
	metricsAddr := httpAddrOf(t, b.p)
	prom := startPrometheus(t, promBin, metricsAddr)

	topic := uniqueTopic("prom")
	createTopic(t, b.addr(), topic, 3, nil)
	const n = 300
	cl := newClient(t, b.addr())
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	produceAll(t, cl, recs, 50)

	ctx := testCtx(t, 60*time.Second)
	query := fmt.Sprintf(`sum(kafka_server_brokertopicmetrics_messagesin_total{topic=%q})`, topic)
	var last string
	for {
		v, err := prom.query(ctx, query)
		if err == nil && v == strconv.Itoa(n) {
			break
		}
		last = fmt.Sprintf("value %q, err %v", v, err)
		select {
		case <-ctx.Done():
			t.Fatalf("Prometheus never returned %d for %s: last %s\nprometheus output:\n%s", n, query, last, prom.out.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
	// The scrape itself is healthy: Prometheus's own up metric is 1.
	if v, err := prom.query(ctx, `up{job="gregor"}`); err != nil || v != "1" {
		t.Errorf("up{job=\"gregor\"} = %q, %v", v, err)
	}
	prom.stop(t)
}

// TestConnectWorkerServesMetrics: `gregor connect distributed --http`
// serves the worker's metrics: a file source task that wrote N lines shows
// RUNNING and N records written, and the text passes promtool.
func TestConnectWorkerServesMetrics(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	w := startConnectWorkerFlags(t, dir, "metrics", b.addr(), []string{"--http", "127.0.0.1:0"})
	metricsAddr := httpAddrOf(t, w.proc)
	const n = 250
	in := filepath.Join(dir, "in.txt")
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(in, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	topic := uniqueTopic("connect-metrics")
	waitFor(t, 60*time.Second, "the connector is created", func() bool {
		code, _ := w.do("PUT", "/connectors/metrics-src/config", map[string]string{
			"connector.class": "FileStreamSource", "file": in, "topic": topic})
		return code == http.StatusCreated || code == http.StatusOK
	})
	written := `kafka_connect_source_task_metrics_source_record_write_total{connector="metrics-src",task="0"} ` + strconv.Itoa(n)
	running := `kafka_connect_connector_task_metrics_status{connector="metrics-src",state="RUNNING",task="0"} 1`
	var text string
	waitFor(t, 60*time.Second, "the source task's metrics", func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		text = string(body)
		return err == nil && strings.Contains(text, written) && strings.Contains(text, running)
	})
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs Debian's prometheus package")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// httpAddrOf finds the --http listener's address in a gregor process's
// ready line ("..., metrics http://ADDR/metrics)").
func httpAddrOf(t *testing.T, p *Process) string {
	t.Helper()
	m := regexp.MustCompile(`metrics http://(\S+)/metrics`).FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("no metrics address in the ready line:\n%s", p.Output())
	}
	return m[1]
}

// promServer is a Prometheus server a test started.
type promServer struct {
	cmd  *exec.Cmd
	base string
	out  *syncBuffer
	done chan struct{}
}

// startPrometheus runs Prometheus scraping target every second, its storage
// in a temporary directory and its web API on a port the kernel picks
// (found through /proc, since Prometheus logs only the address it was
// given). The test's cleanup stops it.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gregor
    static_configs:
      - targets: [%q]
`, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0", "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	ctx := testCtx(t, 60*time.Second)
	for {
		if port, ok := listeningPort(p.cmd.Process.Pid); ok {
			p.base = "http://127.0.0.1:" + strconv.Itoa(port)
			if resp, err := http.Get(p.base + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		select {
		case <-p.done:
			t.Fatalf("prometheus exited: %s", p.out.String())
		case <-ctx.Done():
			t.Fatalf("prometheus not ready: %s", p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and requires Prometheus to exit within 30 s.
func (p *promServer) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("prometheus did not stop within 30s of SIGTERM:\n%s", p.out.String())
	}
}

// query runs an instant query and returns the value of its one sample
// ("" when the result is empty).
func (p *promServer) query(ctx context.Context, q string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var res struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return "", fmt.Errorf("query %s: %w: %s", q, err, body)
	}
	if res.Status != "success" {
		return "", fmt.Errorf("query %s: %s", q, res.Error)
	}
	if len(res.Data.Result) == 0 {
		return "", nil
	}
	v, _ := res.Data.Result[0].Value[1].(string)
	return v, nil
}

// listeningPort returns the port of a TCP socket that process pid listens
// on (IPv4), reading its file descriptors and /proc/net/tcp.
func listeningPort(pid int) (int, bool) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, false
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
			continue
		}
		_, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if port, err := strconv.ParseInt(portHex, 16, 32); err == nil {
			return int(port), true
		}
	}
	return 0, false
}
