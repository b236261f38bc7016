package runtime_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
)

// countingSource counts how often its connector and each task start, so a
// test can tell which work a rebalance stopped.
type countingSource struct{}

var starts = struct {
	sync.Mutex
	n map[string]int // "connector" or "task-<i>"
}{n: map[string]int{}}

func startCount(what string) int {
	starts.Lock()
	defer starts.Unlock()
	return starts.n[what]
}

func countStart(what string) {
	starts.Lock()
	defer starts.Unlock()
	starts.n[what]++
}

func (countingSource) Version() string            { return "1" }
func (countingSource) Config() *connect.ConfigDef { return connect.NewConfigDef() }
func (countingSource) Start(map[string]string) error {
	countStart("connector")
	return nil
}
func (countingSource) Stop() error { return nil }
func (countingSource) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	var out []map[string]string
	for i := range maxTasks {
		out = append(out, map[string]string{"i": strconv.Itoa(i)})
	}
	return out, nil
}
func (countingSource) NewTask() connect.SourceTask { return &countingTask{} }

type countingTask struct{}

func (*countingTask) Version() string                      { return "1" }
func (*countingTask) Initialize(connect.SourceTaskContext) {}
func (*countingTask) Start(p map[string]string) error {
	countStart("task-" + p["i"])
	return nil
}
func (*countingTask) Stop() error { return nil }
func (*countingTask) Poll(ctx context.Context) ([]*connect.SourceRecord, error) {
	<-ctx.Done()
	return nil, nil
}

func init() {
	connect.RegisterConnector("test.CountingSourceConnector", func() connect.Connector { return countingSource{} })
}

// TestDistributedCooperativeRebalance: when a second worker joins, the
// first gives up half of the tasks and keeps running the rest without a
// restart; pause, resume and a task restart (forwarded by the leader to
// the worker that runs the task) apply to the running work.
func TestDistributedCooperativeRebalance(t *testing.T) {
	starts.Lock()
	clear(starts.n)
	starts.Unlock()
	b := connecttest.Broker(t)
	w1 := startDistWorker(t, b.Addr(), "sessioned")
	defer w1.close(t)
	post(t, w1.url, "count", map[string]string{"connector.class": "test.CountingSourceConnector", "tasks.max": "4", "topic": "unused"})
	owners := func() map[int]string {
		st, err := w1.d.ConnectorStatus("count")
		if err != nil || st.Connector.State != runtime.StateRunning || len(st.Tasks) != 4 {
			return nil
		}
		out := map[int]string{}
		for _, ts := range st.Tasks {
			if ts.State != runtime.StateRunning {
				return nil
			}
			out[ts.ID] = ts.WorkerID
		}
		return out
	}
	w1id := strings.TrimPrefix(w1.url, "http://")
	connecttest.Eventually(t, 30*time.Second, "four tasks running on w1", func() bool {
		o := owners()
		return len(o) == 4 && o[0] == w1id && o[3] == w1id
	})

	w2 := startDistWorker(t, b.Addr(), "sessioned")
	defer w2.close(t)
	w2id := strings.TrimPrefix(w2.url, "http://")
	var moved, kept []int
	connecttest.Eventually(t, 30*time.Second, "two tasks on each worker", func() bool {
		moved, kept = nil, nil
		for i, w := range owners() {
			switch w {
			case w2id:
				moved = append(moved, i)
			case w1id:
				kept = append(kept, i)
			}
		}
		return len(moved) == 2 && len(kept) == 2
	})
	for _, i := range kept {
		if n := startCount(fmt.Sprint("task-", i)); n != 1 {
			t.Errorf("task %d stayed on w1 but started %d times", i, n)
		}
	}
	for _, i := range moved {
		if n := startCount(fmt.Sprint("task-", i)); n != 2 {
			t.Errorf("task %d moved to w2 and started %d times, want 2", i, n)
		}
	}
	if n := startCount("connector"); n != 1 {
		t.Errorf("the connector started %d times, want once", n)
	}

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
	state := func(want runtime.State) func() bool {
		return func() bool {
			st, err := w2.d.ConnectorStatus("count")
			if err != nil || st.Connector.State != want {
				return false
			}
			for _, ts := range st.Tasks {
				if ts.State != want {
					return false
				}
			}
			return true
		}
	}
	send("PUT", "/connectors/count/pause", 202)
	connecttest.Eventually(t, 30*time.Second, "everything PAUSED", state(runtime.StatePaused))
	send("PUT", "/connectors/count/resume", 202)
	connecttest.Eventually(t, 30*time.Second, "everything RUNNING", state(runtime.StateRunning))
	for i := range 4 {
		if n, want := startCount(fmt.Sprint("task-", i)), map[bool]int{true: 2, false: 1}[slices.Contains(moved, i)]; n != want {
			t.Errorf("pause and resume restarted task %d (%d starts, want %d)", i, n, want)
		}
	}

	// A task of w2, restarted through w1.
	send("POST", fmt.Sprintf("/connectors/count/tasks/%d/restart", moved[0]), 204)
	connecttest.Eventually(t, 30*time.Second, "the task restarted on w2", func() bool {
		return startCount(fmt.Sprint("task-", moved[0])) == 3
	})
	// The connector, through the config topic, on w1.
	send("POST", "/connectors/count/restart", 204)
	connecttest.Eventually(t, 30*time.Second, "the connector restarted", func() bool { return startCount("connector") == 2 })
	connecttest.Eventually(t, 30*time.Second, "everything RUNNING again", state(runtime.StateRunning))
}
