package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestQuickstart is the Kafka quickstart: create a topic, produce lines,
// consume them back.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	r := ok(t, addr, "", "topics", "create", "quickstart-events", "--partitions", "3")
	if !strings.Contains(r.stdout, "quickstart-events") || !strings.Contains(r.stdout, "created") {
		t.Errorf("create output:\n%s", r.stdout)
	}
	r = ok(t, addr, "This is my first event\nThis is my second event\n", "produce", "quickstart-events")
	if strings.TrimSpace(r.stdout) != "2 records acknowledged by quickstart-events" {
		t.Errorf("produce output: %q", r.stdout)
	}
	r = ok(t, addr, "", "consume", "quickstart-events", "--from-beginning", "--max-messages", "2")
	got := lines(r.stdout)
	if len(got) != 2 || got[0] != "This is my first event" || got[1] != "This is my second event" {
		t.Errorf("consumed %q", got)
	}
	if !strings.Contains(r.stderr, "Processed a total of 2 messages") {
		t.Errorf("consume stderr: %q", r.stderr)
	}
}

func TestTopics(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	ok(t, addr, "", "topics", "create", "alpha", "beta", "-p", "2", "-c", "retention.ms=60000")

	// list, table and JSON
	r := ok(t, addr, "", "topics", "list")
	want := "NAME   PARTITIONS  REPLICATION-FACTOR\nalpha  2           1\nbeta   2           1\n"
	if r.stdout != want {
		t.Errorf("topics list:\n%s\nwant:\n%s", r.stdout, want)
	}
	var list []topicSummary
	decode(t, ok(t, addr, "", "topics", "list", "-o", "json").stdout, &list)
	if len(list) != 2 || list[0].Name != "alpha" || list[0].Partitions != 2 || list[0].ReplicationFactor != 1 || list[0].ID == "" {
		t.Errorf("topics list json: %+v", list)
	}

	// create again: an error unless --if-not-exists
	fails(t, addr, "", 1, "TOPIC_ALREADY_EXISTS", "topics", "create", "alpha")
	if r := ok(t, addr, "", "topics", "create", "alpha", "--if-not-exists"); !strings.Contains(r.stdout, "already exists") {
		t.Errorf("--if-not-exists output:\n%s", r.stdout)
	}
	var created []topicResult
	decode(t, ok(t, addr, "", "topics", "create", "gamma", "-p", "1", "-o", "json").stdout, &created)
	if len(created) != 1 || created[0].Topic != "gamma" || created[0].Status != "created" || created[0].Partitions != 1 {
		t.Errorf("create json: %+v", created)
	}

	// describe: partitions with offsets
	ok(t, addr, "a\nb\nc\n", "produce", "alpha", "--partition", "1")
	r = ok(t, addr, "", "topics", "describe", "alpha")
	for _, s := range []string{"TOPIC               alpha", "PARTITIONS          2", "CONFIGS", "PARTITION  LEADER", "LOG-START-OFFSET  HIGH-WATERMARK", "LOG DIRS", "BROKER  DIR"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("describe output lacks %q:\n%s", s, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "PARTITION  LEADER  EPOCH  REPLICAS  ISR") || !strings.Contains(r.stdout, "\n1          1       0      1         1    0                 3") {
		t.Errorf("describe output lacks partition 1's leader, replicas and ISR:\n%s", r.stdout)
	}
	var descs []topicDescription
	decode(t, ok(t, addr, "", "topics", "describe", "alpha", "--output", "json").stdout, &descs)
	if len(descs) != 1 || len(descs[0].PartitionStates) != 2 || descs[0].PartitionStates[1].HighWatermark != 3 || descs[0].PartitionStates[0].HighWatermark != 0 {
		t.Fatalf("describe json: %+v", descs)
	}
	if d := descs[0]; len(d.LogDirs) != 1 || d.LogDirs[0].Dir == "" || d.LogDirs[0].Error != "" || d.LogDirsError != "" ||
		d.PartitionStates[0].LogDir != d.LogDirs[0].Dir || d.PartitionStates[0].LogDirError != "" {
		t.Errorf("describe json log dirs: %+v %+v", d.LogDirs, d.PartitionStates)
	}
	if p := descs[0].PartitionStates[1]; p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 || len(p.ISR) != 1 || p.ISR[0] != 1 {
		t.Errorf("describe json partition 1: leader %d, replicas %v, isr %v; want 1, [1], [1]", p.Leader, p.Replicas, p.ISR)
	}
	if descs[0].ConfigsError == "" {
		found := false
		for _, c := range descs[0].Configs {
			found = found || c.Name == "retention.ms" && c.Value == "60000"
		}
		if !found {
			t.Errorf("describe configs lack retention.ms=60000: %+v", descs[0].Configs)
		}
	}
	fails(t, addr, "", 1, "topic nope: UNKNOWN_TOPIC_OR_PARTITION", "topics", "describe", "nope")

	// delete
	r = ok(t, addr, "", "topics", "delete", "beta")
	if !strings.Contains(r.stdout, "deleted") {
		t.Errorf("delete output:\n%s", r.stdout)
	}
	fails(t, addr, "", 1, "UNKNOWN_TOPIC_OR_PARTITION", "topics", "delete", "beta")
	ok(t, addr, "", "topics", "delete", "beta", "--if-exists")
	var deleted []topicResult
	decode(t, ok(t, addr, "", "topics", "delete", "gamma", "-o", "json").stdout, &deleted)
	if len(deleted) != 1 || deleted[0].Status != "deleted" {
		t.Errorf("delete json: %+v", deleted)
	}
	if r := ok(t, addr, "", "topics", "list"); strings.Contains(r.stdout, "beta") || strings.Contains(r.stdout, "gamma") {
		t.Errorf("deleted topics still listed:\n%s", r.stdout)
	}

	// bad usage
	fails(t, addr, "", 2, "needs at least one topic name", "topics", "create")
	fails(t, addr, "", 2, "--partitions 0", "topics", "create", "x", "--partitions", "0")
	fails(t, addr, "", 2, "want key=value", "topics", "create", "x", "--config", "retention.ms")
}

func TestTopicsAlter(t *testing.T) {
	t.Parallel()
	forEach(t, []kmsg.Key{kmsg.CreatePartitions}, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "grow", "--partitions", "2")
		r := ok(t, addr, "", "topics", "alter", "grow", "--partitions", "5")
		if !strings.Contains(r.stdout, "now has 5 partitions") {
			t.Errorf("alter output:\n%s", r.stdout)
		}
		var list []topicSummary
		decode(t, ok(t, addr, "", "topics", "list", "-o", "json").stdout, &list)
		if len(list) != 1 || list[0].Partitions != 5 {
			t.Errorf("after alter: %+v", list)
		}
		var altered []topicResult
		decode(t, ok(t, addr, "", "topics", "alter", "grow", "--partitions", "6", "-o", "json").stdout, &altered)
		if len(altered) != 1 || altered[0].Topic != "grow" || altered[0].Partitions != 6 || altered[0].Error != "" {
			t.Errorf("alter json: %+v", altered)
		}
		fails(t, addr, "", 1, "INVALID_PARTITIONS", "topics", "alter", "grow", "--partitions", "3")
		fails(t, addr, "", 2, "--partitions is required", "topics", "alter", "grow")
	})
}

// TestTopicsDescribeCluster shows each partition's leader, replicas and
// ISR on a three-broker (fake) cluster, with a replication factor of 3.
func TestTopicsDescribeCluster(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	ok(t, addr, "", "topics", "create", "spread", "--partitions", "3", "--replication-factor", "3")
	var descs []topicDescription
	decode(t, ok(t, addr, "", "topics", "describe", "spread", "-o", "json").stdout, &descs)
	if len(descs) != 1 || len(descs[0].PartitionStates) != 3 || descs[0].ReplicationFactor != 3 {
		t.Fatalf("describe json: %+v", descs)
	}
	r := ok(t, addr, "", "topics", "describe", "spread")
	for _, p := range descs[0].PartitionStates {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 || !slices.Contains(p.Replicas, p.Leader) {
			t.Errorf("partition %d: leader %d, replicas %v, isr %v; want the leader among 3 replicas, all in sync", p.Partition, p.Leader, p.Replicas, p.ISR)
		}
		row := fmt.Sprintf("%d  %d  %d  %s  %s  ", p.Partition, p.Leader, p.LeaderEpoch, joinInt32(p.Replicas), joinInt32(p.ISR))
		if !strings.Contains(squeeze(r.stdout), row) {
			t.Errorf("table lacks %q:\n%s", row, r.stdout)
		}
	}
}

// squeeze collapses runs of spaces to two, so table rows can be matched
// without their column widths.
func squeeze(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, "  ")
}
