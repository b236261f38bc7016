package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// configValue is a config's value in a DescribeConfigs answer ("" when
// absent or null).
func configValue(cs []kadm.Config, key string) string {
	for _, c := range cs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// gokaCounter runs integration/examples/goka-counter (built once per test) against a
// broker.
type gokaCounter struct {
	t       *testing.T
	bin     string
	storage string // the processor's local table storage
	proc    *Process
}

func newGokaCounter(t *testing.T) *gokaCounter {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "goka-counter")
	build := exec.Command("go", "build", "-o", bin, "github.com/gregorhq/gregor/integration/examples/goka-counter")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build goka-counter: %v\n%s", err, out)
	}
	g := &gokaCounter{t: t, bin: bin, storage: filepath.Join(dir, "storage")}
	t.Cleanup(func() {
		if g.proc != nil {
			g.proc.Kill()
			if t.Failed() {
				t.Logf("processor output:\n%s", g.proc.Output())
			}
		}
	})
	return g
}

func (g *gokaCounter) args(addr string, rest ...string) []string {
	return append([]string{"--brokers", addr, "--topic", "counter-input", "--group", "counter",
		"--storage", g.storage, "--timeout", "20s"}, rest...)
}

// start runs the processor and waits until goka says it is ready (its
// table recovered).
func (g *gokaCounter) start(addr string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	p, err := Start(ctx, g.bin, g.args(addr, "process")...)
	if err != nil {
		g.t.Fatalf("start processor: %v", err)
	}
	g.proc = p
}

// stop stops the processor with SIGTERM.
func (g *gokaCounter) stop() {
	g.t.Helper()
	if err := g.proc.Stop(30 * time.Second); err != nil {
		g.t.Fatalf("stop processor: %v\noutput:\n%s", err, g.proc.Output())
	}
	g.proc = nil
}

// emit sends one message per key occurrence: counts[k] messages with key k.
func (g *gokaCounter) emit(addr string, counts map[string]int) {
	g.t.Helper()
	var keys []string
	for k, n := range counts {
		for range n {
			keys = append(keys, k)
		}
	}
	cmd := exec.Command(g.bin, g.args(addr, append([]string{"emit"}, keys...)...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("emit: %v\n%s", err, out)
	}
}

// waitCounts reads the counts through a goka View until they equal want
// (the processor updates the table asynchronously).
func (g *gokaCounter) waitCounts(addr string, want map[string]int) {
	g.t.Helper()
	var keys []string
	wantOut := ""
	for _, k := range []string{"a", "b", "c"} {
		keys = append(keys, k)
		wantOut += fmt.Sprintf("%s=%d\n", k, want[k])
	}
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		cmd := exec.Command(g.bin, g.args(addr, append([]string{"get"}, keys...)...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.Output()
		if err != nil {
			got = fmt.Sprintf("error %v: %s", err, out)
		} else if got = string(out); got == wantOut {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.t.Fatalf("counts through the View: got\n%s\nwant\n%s", got, wantOut)
}

// tableRecords reads the group table topic from the start to its end and
// returns how many records it holds now.
func tableRecords(t *testing.T, addr string) int {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	ends, err := newKadm(t, addr).ListEndOffsets(ctx, "counter-table")
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	end, ok := ends.Lookup("counter-table", 0)
	if !ok || end.Err != nil {
		t.Fatalf("end offset of counter-table: %+v", end)
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"counter-table": {0: kgo.NewOffset().AtStart()},
	}))
	defer cl.Close()
	n := 0
	for last := int64(-1); last < end.Offset-1; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read counter-table: %d records up to %d of end %d: %v", n, last, end.Offset, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { n, last = n+1, r.Offset })
	}
	return n
}

// TestGokaCounter runs integration/examples/goka-counter (a goka processor with a
// group table and a goka View) against gregor: correct counts through the
// View, after the table topic was compacted, across a broker restart, and
// across a processor restart with its local storage deleted (goka restores
// the table from the compacted topic, and counting continues from there).
func TestGokaCounter(t *testing.T) {
	b := startBroker(t,
		"--set", "group.initial.rebalance.delay.ms=0",
		"--set", "log.segment.bytes=1024", // many segments, so the cleaner has work
		"--set", "log.cleaner.backoff.ms=100",
	)
	g := newGokaCounter(t)
	g.start(b.addr())

	// goka's TopicManager created the table topic compacted.
	ctx := testCtx(t, 50*time.Second)
	rc, err := newKadm(t, b.addr()).DescribeTopicConfigs(ctx, "counter-table")
	if err != nil {
		t.Fatalf("describe counter-table configs: %v", err)
	}
	if v, err := rc.On("counter-table", nil); err != nil || v.Err != nil {
		t.Fatalf("describe counter-table configs: %v %v", err, v.Err)
	} else if policy := configValue(v.Configs, "cleanup.policy"); policy != "compact" {
		t.Fatalf("counter-table cleanup.policy = %q, want compact", policy)
	}

	// Five steps, so the table's updates land in several batches and
	// segments (the active segment is never cleaned).
	round1 := map[string]int{}
	for range 5 {
		step := map[string]int{"a": 60, "b": 40, "c": 20}
		g.emit(b.addr(), step)
		for k, n := range step {
			round1[k] += n
		}
		g.waitCounts(b.addr(), round1)
	}

	// The cleaner compacts the table: far fewer records than updates.
	updates := 600
	deadline := time.Now().Add(20 * time.Second)
	for n := tableRecords(t, b.addr()); n >= updates/2; n = tableRecords(t, b.addr()) {
		if time.Now().After(deadline) {
			t.Fatalf("counter-table still holds %d records of %d updates; not compacted", n, updates)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Broker restart: the counts are still there, and counting goes on.
	g.stop()
	b.stop()
	b.restart()
	g.waitCounts(b.addr(), round1)
	g.start(b.addr())
	round2 := map[string]int{"a": 10, "b": 20, "d": 5}
	g.emit(b.addr(), round2)
	total := map[string]int{"a": 310, "b": 220, "c": 100}
	g.waitCounts(b.addr(), total)

	// Processor restart with its local storage deleted: goka restores the
	// table from the compacted topic and counts on from the restored values.
	g.stop()
	if err := os.RemoveAll(g.storage); err != nil {
		t.Fatal(err)
	}
	g.start(b.addr())
	g.emit(b.addr(), map[string]int{"a": 1, "b": 1, "c": 1})
	g.waitCounts(b.addr(), map[string]int{"a": 311, "b": 221, "c": 101})
	g.stop()
}
