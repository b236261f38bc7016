package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Cluster III's proof for Connect: two `gregor connect distributed`
// workers run a FileStreamSource (a file that grows line by line) into a
// topic and a FileStreamSink from it into a file, against three brokers
// with every topic replicated three ways and min.insync.replicas 2 (the
// data topic, the workers' config, offset and status topics, and
// __consumer_offsets), while brokers are killed with SIGKILL and
// restarted in a loop: the data topic's leader, the coordinator of the
// workers' group, the coordinator of the sink's consumer group and the
// config topic's leader in turn. At the end every line written is in the
// sink's file (at least once: lines that come again are counted, not
// failed) and the lines come in order: the topic has one partition, so
// the sink never writes a line before an earlier one it has not written.

const (
	ccTopic  = "cc-lines"
	ccGroup  = "fo-cluster" // startConnectWorker's group.id
	ccSource = "cc-src"
	ccSink   = "cc-sink"
)

// ccVictim picks the broker to kill in cycle, in turn among the roles
// above, and says which role it picked; a role that cannot be looked up
// now falls back to the cycle's node.
func ccVictim(ctx context.Context, c *Cluster, adm *kadm.Client, cycle int) (int, string) {
	var id int32 = -1
	var role string
	var err error
	switch cycle % 4 {
	case 0:
		role = "the leader of " + ccTopic + "-0"
		id, err = c.PartitionLeader(ctx, ccTopic, 0)
	case 1:
		role = "the coordinator of the workers' group " + ccGroup
		r := adm.FindGroupCoordinators(ctx, ccGroup)[ccGroup]
		id, err = r.NodeID, r.Err
	case 2:
		g := "connect-" + ccSink
		role = "the coordinator of the sink's group " + g
		r := adm.FindGroupCoordinators(ctx, g)[g]
		id, err = r.NodeID, r.Err
	default:
		role = "the leader of fo-configs-0"
		id, err = c.PartitionLeader(ctx, "fo-configs", 0)
	}
	if err != nil || id < 1 || int(id) > c.N() {
		n := cycle%c.N() + 1
		return n, fmt.Sprintf("node %d (%s unknown: %v)", n, role, err)
	}
	return int(id), role
}

// alive fails the test if the worker's process has exited.
func (w *connectWorker) alive(name string) {
	w.t.Helper()
	select {
	case <-w.proc.Done():
		w.t.Fatalf("worker %s exited while brokers were killed; output:\n%s", name, w.proc.Output())
	default:
	}
}

// waitLinesOut waits until the sink's file holds more than n lines.
func waitLinesOut(t *testing.T, out string, n int, what string) {
	t.Helper()
	waitFor(t, 90*time.Second, fmt.Sprintf("more than %d lines copied %s", n, what), func() bool {
		return len(readLines(out)) > n
	})
}

func TestConnectDistributedBrokerChaos(t *testing.T) {
	t.Parallel()
	c := eosCluster(t)
	// Four cycles in make test, one for each victim ccVictim picks in
	// turn; GREGOR_CHAOS_DURATION goes on for that long.
	chaos := chaosDuration(t, 0)
	ctx := testCtx(t, 4*time.Minute+2*chaos)
	seeds := strings.Join(c.Seeds(), ",")
	createRF3(t, ctx, c, ccTopic, 1, nil)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	lw := startLineWriter(t, in)

	rf3 := []string{"config.storage.replication.factor=3", "offset.storage.replication.factor=3",
		"status.storage.replication.factor=3"}
	a := startConnectWorker(t, dir, "a", seeds, rf3...)
	b := startConnectWorker(t, dir, "b", seeds, rf3...)
	for name, cfg := range map[string]map[string]string{
		ccSource: {"connector.class": "FileStreamSource", "file": in, "topic": ccTopic, "batch.size": "200"},
		ccSink:   {"connector.class": "FileStreamSink", "file": out, "topics": ccTopic},
	} {
		waitFor(t, 60*time.Second, "creating "+name, func() bool {
			code, body := a.do("POST", "/connectors", map[string]any{"name": name, "config": cfg})
			if code != 201 && code != 409 && code != 0 {
				t.Fatalf("POST %s: %d %s", name, code, body)
			}
			return code == 201
		})
	}
	waitFor(t, 90*time.Second, "work spread over both workers", func() bool {
		seen, ok := owners(a, ccSource, ccSink)
		return ok && len(seen) == 2
	})
	waitLinesOut(t, out, 500, "before the faults")
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	waitAllInSync(t, c)
	checkReplicas(t, ctx, adm, 3)

	kills := 0
	end := time.Now().Add(chaos)
	for cycle := 0; cycle < 4 || time.Now().Before(end); cycle++ {
		victim, role := ccVictim(ctx, c, adm, cycle)
		copied := len(readLines(out))
		t.Logf("cycle %d: killing broker %d, %s; %d lines written, %d copied", cycle, victim, role, lw.written(), copied)
		c.Kill(victim)
		kills++
		// The pipeline goes on copying with a broker down.
		waitLinesOut(t, out, copied+500, fmt.Sprintf("with broker %d down", victim))
		time.Sleep(2 * time.Second)
		a.alive("a")
		b.alive("b")
		c.Restart(victim)
		waitAllInSync(t, c)
		waitLinesOut(t, out, len(readLines(out))+500, fmt.Sprintf("after broker %d came back", victim))
		a.alive("a")
		b.alive("b")
	}
	lw.close()
	checkCopied(t, readLines(in), out, kills)
}

// checkCopied waits until every line of want is in the sink's file out,
// then checks the order: with one partition, a line never comes before an
// earlier line has come once (a line that comes again, redelivered from an
// uncommitted offset, is counted, not failed).
func checkCopied(t *testing.T, want []string, out string, kills int) {
	t.Helper()
	waitFor(t, 120*time.Second, "every line copied", func() bool {
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
	next := 0 // the first line number not yet written out
	for i, l := range got {
		count[l]++
		var n int
		if _, err := fmt.Sscanf(l, "line-%d", &n); err != nil {
			t.Fatalf("sink line %d: %q is not a source line", i, l)
		}
		if n > next {
			t.Fatalf("sink line %d is line %d before line %d came: out of order", i, n, next)
		}
		if n == next {
			next++
		}
	}
	if len(count) != len(want) || next != len(want) {
		t.Fatalf("%d distinct lines out (up to line %d in order), %d in", len(count), next, len(want))
	}
	runs := dupRuns(count)
	t.Logf("across %d broker kills: %d lines in, %d out, %d redelivered in %d runs %v",
		kills, len(want), len(got), len(got)-len(count), len(runs), runs)
}
