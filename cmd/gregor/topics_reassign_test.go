package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestTopicsReassign grows a three-broker cluster by a fourth and moves a
// topic onto it the way README shows: --generate, --execute --throttle,
// --verify until it completes (which clears the throttle), then --list
// and --cancel with nothing left to do.
func TestTopicsReassign(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	addr := strings.Join(c.Seeds(), ",")
	ok(t, addr, "", "topics", "create", "orders", "-p", "4", "-r", "2")
	ok(t, addr, "a\nb\nc\nd\ne\n", "produce", "orders")
	c.AddBroker()
	addr = strings.Join(c.Seeds(), ",")

	fails(t, addr, "", 2, "exactly one of", "topics", "reassign")
	fails(t, addr, "", 2, "--broker-list", "topics", "reassign", "--generate", "--topics", "orders")
	fails(t, addr, "", 2, "not in the cluster", "topics", "reassign", "--generate", "--topics", "orders", "--broker-list", "1,9")

	// AddBroker waits for the controller to unfence the new broker; the node
	// the CLI asks may apply that metadata a little later.
	var r cliResult
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r = cli(t, addr, "", "topics", "reassign", "--generate", "--topics", "orders", "--broker-list", "1,2,3,4")
		if r.code == 0 || !strings.Contains(r.stderr, "broker 4 is not in the cluster") || time.Now().After(deadline) {
			break
		}
	}
	if r.code != 0 {
		t.Fatalf("topics reassign --generate: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := lines(r.stdout)
	if len(out) != 4 || out[0] != "Current partition replica assignment" || out[2] != "Proposed partition reassignment configuration" {
		t.Fatalf("generate output:\n%s", r.stdout)
	}
	proposed, err := parsePlan([]byte(out[3]))
	if err != nil {
		t.Fatalf("proposed plan: %v\n%s", err, out[3])
	}
	var gen map[string]reassignmentPlan
	decode(t, ok(t, addr, "", "topics", "reassign", "--generate", "--topics", "orders", "--broker-list", "1,2,3,4", "-o", "json").stdout, &gen)
	if len(gen["current"].Partitions) != 4 || len(gen["proposed"].Partitions) != 4 {
		t.Fatalf("generate json: %+v", gen)
	}
	onFour := 0
	for _, pp := range proposed.Partitions {
		if slices.Contains(pp.Replicas, 4) {
			onFour++
		}
	}
	if onFour != 2 {
		t.Fatalf("proposed plan puts %d replicas on broker 4, want 2: %s", onFour, out[3])
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(plan, []byte(out[3]), 0o644); err != nil {
		t.Fatal(err)
	}

	r = ok(t, addr, "", "topics", "reassign", "--execute", "--reassignment-json-file", plan, "--throttle", "10000000")
	for _, s := range []string{"Current partition replica assignment", "Save this to use as the --reassignment-json-file option during rollback",
		"The inter-broker throttle limit was set to 10000000 B/s", "Successfully started partition reassignments for orders-"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("execute output lacks %q:\n%s", s, r.stdout)
		}
	}
	throttles := func() map[string]string {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		tcs, err := adm.DescribeTopicConfigs(t.Context(), "orders")
		if err != nil {
			t.Fatal(err)
		}
		bcs, err := adm.DescribeBrokerConfigs(t.Context(), 4)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, rc := range append(tcs, bcs...) {
			for _, cf := range rc.Configs {
				if strings.Contains(cf.Key, "replication.throttled") && cf.Source != kmsg.ConfigSourceDefaultConfig {
					out[cf.Key] = cf.MaybeValue()
				}
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		th := throttles()
		if th["follower.replication.throttled.rate"] == "10000000" && th["leader.replication.throttled.replicas"] != "" && len(th) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throttle after --execute: %v", th)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r = ok(t, addr, "", "topics", "reassign", "--verify", "--reassignment-json-file", plan)
		if strings.Count(r.stdout, "is completed.") == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify never completed:\n%s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range []string{"Status of partition reassignment:", "Clearing broker-level throttles on brokers 1,2,3,4", "Clearing topic-level throttles on topic orders"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("verify output lacks %q:\n%s", s, r.stdout)
		}
	}
	// Every broker applies the config change soon after the one that made it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		th := throttles()
		if len(th) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("throttle left after --verify: %v", th)
		}
	}
	var vs []verifyResult
	decode(t, ok(t, addr, "", "topics", "reassign", "--verify", "--reassignment-json-file", plan, "-o", "json").stdout, &vs)
	for _, v := range vs {
		if v.Status != "completed" || !slices.Equal(v.Replicas, v.Target) {
			t.Errorf("verify json: %+v", v)
		}
	}
	if r := ok(t, addr, "", "topics", "reassign", "--list"); !strings.Contains(r.stdout, "No partition reassignments in progress.") {
		t.Errorf("list output:\n%s", r.stdout)
	}
	if r := ok(t, addr, "", "topics", "reassign", "--cancel", "--reassignment-json-file", plan); !strings.Contains(r.stdout, "None of the partitions had a reassignment in progress.") {
		t.Errorf("cancel output:\n%s", r.stdout)
	}
	// Every record is still there.
	r = ok(t, addr, "", "consume", "orders", "--from-beginning", "--max-messages", "5")
	if got := lines(r.stdout); len(got) != 5 {
		t.Errorf("consumed %q", got)
	}
}
