package runtime

import (
	"context"
	"testing"

	"github.com/gregorhq/gregor/internal/testcluster"
)

// A leader whose assignment was computed before a connector's task configs
// reached the config topic asks for another round once it has read them:
// every worker's configuredAt includes the new tasks by then, so no later
// change of the config topic would show them, and they would stay
// unassigned (CI saw a sink task never start in the two-worker eager test).
func TestDistributedLeaderRejoinsForWorkConfiguredDuringItsAssignment(t *testing.T) {
	addr := testcluster.Gregor().Start(t)
	wc, err := ParseWorkerConfig(map[string]string{
		"bootstrap.servers": addr, "group.id": "late-tasks",
		"config.storage.topic": "lt-configs", "offset.storage.topic": "lt-offsets", "status.storage.topic": "lt-status",
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDistributed(context.Background(), wc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	if err := d.cs.PutConnector(ctx, "sink", map[string]string{"connector.class": "FileStreamSink"}, TargetStarted); err != nil {
		t.Fatal(err)
	}
	if err := d.cs.PutTaskConfigs(ctx, "sink", []map[string]string{{"task": "0"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.cs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	rejoinAsked := func() bool {
		select {
		case <-d.rejoin:
			return true
		default:
			return false
		}
	}
	for _, tc := range []struct {
		what         string
		assignedFrom map[string]int
		want         bool
	}{
		{"led a round computed before the task configs", map[string]int{"sink": 0}, true},
		{"led a round computed before the connector", map[string]int{}, true},
		{"led a round computed from the configs it has read", map[string]int{"sink": 1}, false},
		{"followed", nil, false},
	} {
		d.assignedFrom = tc.assignedFrom
		d.apply(workerAssignment{}, 0)
		if got := rejoinAsked(); got != tc.want {
			t.Errorf("%s: rejoin asked %v, want %v", tc.what, got, tc.want)
		}
	}
}
