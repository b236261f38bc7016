package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Connect fail-over test runs two `gregor connect distributed` workers
// (incremental cooperative protocol) against a gregor broker, a
// FileStreamSource reading a growing file and a FileStreamSink writing
// what it copies, kills one worker with SIGKILL and checks that the
// survivor takes its connectors and tasks over once the session times out
// and scheduled.rebalance.max.delay.ms has passed, and that every line
// arrives (at least once: only the killed worker's uncommitted tails come
// twice).

const (
	foSession = 6 * time.Second // the broker's group.min.session.timeout.ms
	foDelay   = 3 * time.Second // scheduled.rebalance.max.delay.ms
	foFlush   = 500 * time.Millisecond
)

type connectWorker struct {
	t    *testing.T
	url  string
	proc *Process
}

// startConnectWorker starts `gregor connect distributed` with the
// fail-over tests' worker properties, then the extra ones ("key=value",
// later lines win), and waits for its REST listener.
func startConnectWorker(t *testing.T, dir, name, brokers string, extra ...string) *connectWorker {
	t.Helper()
	return startConnectWorkerFlags(t, dir, name, brokers, nil, extra...)
}

// startConnectWorkerFlags is startConnectWorker with command-line flags
// after the properties file.
func startConnectWorkerFlags(t *testing.T, dir, name, brokers string, flags []string, extra ...string) *connectWorker {
	t.Helper()
	props := strings.Join(append([]string{
		"bootstrap.servers=" + brokers,
		"group.id=fo-cluster",
		"config.storage.topic=fo-configs",
		"offset.storage.topic=fo-offsets",
		"status.storage.topic=fo-status",
		"listeners=http://127.0.0.1:0",
		"connect.protocol=sessioned",
		fmt.Sprintf("scheduled.rebalance.max.delay.ms=%d", foDelay.Milliseconds()),
		fmt.Sprintf("session.timeout.ms=%d", foSession.Milliseconds()),
		"heartbeat.interval.ms=500",
		fmt.Sprintf("offset.flush.interval.ms=%d", foFlush.Milliseconds()),
		// The sink's consumer group notices a dead worker's consumer as
		// soon as the workers' group does (Kafka's consumer default is
		// 45s).
		fmt.Sprintf("consumer.session.timeout.ms=%d", foSession.Milliseconds()),
		"consumer.heartbeat.interval.ms=500",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.storage.StringConverter",
	}, extra...), "\n") + "\n"
	file := filepath.Join(dir, name+".properties")
	if err := os.WriteFile(file, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, gregorBin, append([]string{"connect", "distributed", file}, flags...)...)
	if err != nil {
		t.Fatalf("start worker %s: %v", name, err)
	}
	w := &connectWorker{t: t, url: "http://" + p.Addr(), proc: p}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("worker %s output:\n%s", name, p.Output())
		}
	})
	return w
}

// do sends a request and returns the status code and body (0 on a
// connection error).
func (w *connectWorker) do(method, path string, body any) (int, []byte) {
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, w.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, []byte(b.String())
}

type restStatus struct {
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"tasks"`
}

func (w *connectWorker) status(name string) (restStatus, bool) {
	code, body := w.do("GET", "/connectors/"+name+"/status", nil)
	var st restStatus
	if code != 200 || json.Unmarshal(body, &st) != nil {
		return st, false
	}
	return st, true
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lineWriter appends numbered lines to a file until stopped.
type lineWriter struct {
	path string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex // guards n and marks
	n    int
	// marks[i] is when line 10*i was written.
	marks []time.Time
}

func startLineWriter(t *testing.T, path string) *lineWriter {
	lw := &lineWriter{path: path, stop: make(chan struct{}), done: make(chan struct{})}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(lw.done)
		defer f.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-lw.stop:
				return
			case <-tick.C:
			}
			lw.mu.Lock()
			lw.marks = append(lw.marks, time.Now())
			var b strings.Builder
			for range 10 {
				fmt.Fprintf(&b, "line-%07d\n", lw.n)
				lw.n++
			}
			if _, err := f.WriteString(b.String()); err != nil {
				lw.mu.Unlock()
				return
			}
			lw.mu.Unlock()
		}
	}()
	t.Cleanup(lw.close)
	return lw
}

func (lw *lineWriter) close() {
	select {
	case <-lw.stop:
	default:
		close(lw.stop)
	}
	<-lw.done
}

// writtenBy returns how many lines had been written at t.
func (lw *lineWriter) writtenBy(t time.Time) int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	i, _ := slices.BinarySearchFunc(lw.marks, t, func(m, t time.Time) int { return m.Compare(t) })
	return 10 * i
}

// written returns how many lines have been written.
func (lw *lineWriter) written() int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.n
}

// dupRuns returns the runs of consecutive line numbers that came more
// than once, as [first, last] pairs.
func dupRuns(count map[string]int) [][2]int {
	var ns []int
	for l, c := range count {
		var n int
		if _, err := fmt.Sscanf(l, "line-%d", &n); c > 1 && err == nil {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	var runs [][2]int
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		runs = append(runs, [2]int{ns[i], ns[j]})
		i = j + 1
	}
	return runs
}

// owners reports the workers running name's connectors and tasks, and whether all of
// them are RUNNING, as worker w's REST API says.
func owners(w *connectWorker, names ...string) (map[string]bool, bool) {
	seen := map[string]bool{}
	for _, n := range names {
		st, ok := w.status(n)
		if !ok || st.Connector.State != "RUNNING" || len(st.Tasks) == 0 {
			return nil, false
		}
		seen[st.Connector.WorkerID] = true
		for _, ts := range st.Tasks {
			if ts.State != "RUNNING" {
				return nil, false
			}
			seen[ts.WorkerID] = true
		}
	}
	return seen, true
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestConnectDistributedKillFailover kills the worker running one task
// of a two-worker distributed Connect cluster and checks that the other
// takes its work over after the session timeout and the scheduled
// rebalance delay, with every line copied. The two cases (and the test)
// run in parallel with other tests: each has its own broker, workers and
// files, and most of it is waiting out those timeouts.
func TestConnectDistributedKillFailover(t *testing.T) {
	t.Parallel()
	// The leader (a, which starts alone and runs everything at first)
	// gives b the connector and the task that sort last by name, so the
	// names pick which task dies with b.
	t.Run("source task killed", func(t *testing.T) {
		t.Parallel()
		testKillFailover(t, "fo-2-src", "fo-1-sink", "fo-2-src")
	})
	t.Run("sink task killed", func(t *testing.T) {
		t.Parallel()
		testKillFailover(t, "fo-1-src", "fo-2-sink", "fo-2-sink")
	})
}

func testKillFailover(t *testing.T, srcName, sinkName, wantOnB string) {
	b := startBroker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	lw := startLineWriter(t, in)

	createTopic(t, b.addr(), "fo-lines", 1, nil)
	adm := kadm.NewClient(newClient(t, b.addr()))
	sinkCommitted := func() int64 {
		offs, err := adm.FetchOffsets(context.Background(), "connect-"+sinkName)
		if err != nil {
			return 0
		}
		o, _ := offs.Lookup("fo-lines", 0)
		return o.At
	}

	// a starts first and leads; b joins it.
	a := startConnectWorker(t, dir, "a", b.addr())
	create := func(name string, cfg map[string]string) {
		waitFor(t, 60*time.Second, "creating "+name, func() bool {
			code, body := a.do("POST", "/connectors", map[string]any{"name": name, "config": cfg})
			if code != 201 && code != 409 && code != 0 {
				t.Fatalf("POST %s: %d %s", name, code, body)
			}
			return code == 201
		})
	}
	create(srcName, map[string]string{"connector.class": "FileStreamSource", "file": in, "topic": "fo-lines", "batch.size": "200"})
	create(sinkName, map[string]string{"connector.class": "FileStreamSink", "file": out, "topics": "fo-lines"})
	aID := strings.TrimPrefix(a.url, "http://")
	// a runs everything before b joins, so that the placement after the join is
	// the leader's rebalancing (last names move), not where new work happened to go.
	waitFor(t, 60*time.Second, "a running both connectors and their tasks", func() bool {
		seen, ok := owners(a, srcName, sinkName)
		return ok && len(seen) == 1 && seen[aID]
	})
	bw := startConnectWorker(t, dir, "b", b.addr())
	bID := strings.TrimPrefix(bw.url, "http://")

	// Both workers run something, everything RUNNING, lines flowing.
	running := func() (map[string]bool, bool) { return owners(a, srcName, sinkName) }
	waitFor(t, 90*time.Second, "work spread over both workers", func() bool {
		seen, ok := running()
		return ok && seen[aID] && seen[bID]
	})
	spreadAt := sinkCommitted()
	waitFor(t, 60*time.Second, "lines copied and committed", func() bool {
		return len(readLines(out)) > 500 && sinkCommitted() > spreadAt
	})

	// SIGKILL b: a takes its work over after the session timeout and
	// the scheduled rebalance delay.
	var onB []string // b's tasks
	for _, n := range []string{srcName, sinkName} {
		if st, ok := a.status(n); ok && st.Tasks[0].WorkerID == bID {
			onB = append(onB, n)
		}
	}
	if !slices.Equal(onB, []string{wantOnB}) {
		t.Fatalf("b runs the tasks of %v, want %s", onB, wantOnB)
	}
	killedAt := time.Now()
	bw.proc.Kill()
	writtenAtKill := lw.written()
	t.Logf("killed b (running the tasks of %v) after %d lines were written", onB, writtenAtKill)
	waitFor(t, 90*time.Second, "a running everything", func() bool {
		seen, ok := running()
		return ok && len(seen) == 1 && seen[aID]
	})
	took := time.Since(killedAt)
	t.Logf("work moved to the survivor %v after the kill (session timeout %v + delay %v)", took.Round(100*time.Millisecond), foSession, foDelay)
	if !strings.Contains(a.proc.Output(), fmt.Sprintf("delay_ms=%d", foDelay.Milliseconds())) {
		t.Errorf("the leader never scheduled a delayed rebalance; output:\n%s", a.proc.Output())
	}

	// Lines keep flowing on the survivor; then stop and compare.
	time.Sleep(time.Second)
	lw.close()
	want := readLines(in)
	waitFor(t, 60*time.Second, "every line copied", func() bool {
		seen := map[string]bool{}
		for _, l := range readLines(out) {
			seen[l] = true
		}
		for _, l := range want {
			if !seen[l] {
				return false
			}
		}
		return true
	})
	got := readLines(out)
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	dups := len(got) - len(count)
	runs := dupRuns(count)
	t.Logf("%d lines in, %d out, %d redelivered in runs %v", len(want), len(got), dups, runs)
	if len(count) != len(want) {
		t.Fatalf("%d distinct lines out, %d in", len(count), len(want))
	}
	// At least once, resuming from committed offsets: what comes twice is,
	// for each task that ran on b, the tail it had not committed when it
	// died (one run of lines written before the kill); a's tasks kept
	// running through every rebalance and redeliver nothing.
	if len(runs) > len(onB) {
		t.Fatalf("%d runs of redelivered lines %v, more than b's %d tasks", len(runs), runs, len(onB))
	}
	// A task commits every offset.flush.interval.ms; its uncommitted tail
	// starts after what had been written a few intervals before the kill
	// (10 here, for slow machines).
	oldest := lw.writtenBy(killedAt.Add(-10 * foFlush))
	for _, r := range runs {
		if r[1] >= writtenAtKill {
			t.Fatalf("lines %d-%d redelivered, but b died after line %d", r[0], r[1], writtenAtKill-1)
		}
		if r[0] < oldest {
			t.Fatalf("lines %d-%d redelivered: more than the uncommitted tail (line %d was written %v before the kill)", r[0], r[1], oldest, 10*foFlush)
		}
	}
	for _, n := range []string{srcName, sinkName} {
		code, body := a.do("GET", "/connectors/"+n+"/status", nil)
		t.Logf("GET /connectors/%s/status: %d %s", n, code, body)
	}
}
