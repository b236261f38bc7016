package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestConfigs(t *testing.T) {
	t.Parallel()
	forEach(t, []kmsg.Key{kmsg.DescribeConfigs, kmsg.IncrementalAlterConfigs}, func(t *testing.T, addr string) {
		ok(t, addr, "", "topics", "create", "cfg", "--partitions", "1", "--config", "retention.ms=60000")

		r := ok(t, addr, "", "configs", "describe", "--topic", "cfg")
		if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "retention.ms  60000  DYNAMIC_TOPIC_CONFIG") {
			t.Errorf("describe:\n%s", r.stdout)
		}
		if strings.Contains(r.stdout, "DEFAULT_CONFIG") {
			t.Errorf("describe without --all lists defaults:\n%s", r.stdout)
		}
		var all describedConfigs
		decode(t, ok(t, addr, "", "configs", "describe", "--topic", "cfg", "--all", "-o", "json").stdout, &all)
		names := map[string]configEntry{}
		for _, c := range all.Configs {
			names[c.Name] = c
		}
		if all.ResourceType != "topic" || all.Name != "cfg" || names["cleanup.policy"].Value != "delete" || names["retention.ms"].Value != "60000" {
			t.Errorf("describe --all json: %+v", all)
		}

		r = ok(t, addr, "", "configs", "alter", "--topic", "cfg", "--set", "cleanup.policy=compact", "--delete", "retention.ms")
		if !strings.Contains(r.stdout, "cleanup.policy  set to compact") || !strings.Contains(r.stdout, "retention.ms    deleted") {
			t.Errorf("alter:\n%s", r.stdout)
		}
		var after describedConfigs
		decode(t, ok(t, addr, "", "configs", "describe", "--topic", "cfg", "-o", "json").stdout, &after)
		if len(after.Configs) != 1 || after.Configs[0].Name != "cleanup.policy" || after.Configs[0].Value != "compact" {
			t.Errorf("after alter: %+v", after.Configs)
		}
		var altered alteredConfigs
		decode(t, ok(t, addr, "", "configs", "alter", "--topic", "cfg", "--set", "retention.ms=5000", "-o", "json").stdout, &altered)
		if altered.Set["retention.ms"] != "5000" || altered.Name != "cfg" {
			t.Errorf("alter json: %+v", altered)
		}

		// the broker's configs
		id := brokerID(t, addr)
		r = ok(t, addr, "", "configs", "describe", "--broker", id, "--all")
		if !strings.Contains(r.stdout, "NAME") {
			t.Errorf("broker configs:\n%s", r.stdout)
		}
		fails(t, addr, "", 1, "no broker with ID 999 in the cluster (broker IDs: "+id+")", "configs", "describe", "--broker", "999")

		fails(t, addr, "", 1, "UNKNOWN_TOPIC_OR_PARTITION", "configs", "describe", "--topic", "nope")
		if strings.HasPrefix(t.Name(), "TestConfigs/gregor") { // kfake accepts any value
			fails(t, addr, "", 1, "INVALID", "configs", "alter", "--topic", "cfg", "--set", "cleanup.policy=sometimes")
		}
		fails(t, addr, "", 2, "not both", "configs", "describe", "--topic", "cfg", "--broker", "1")
		fails(t, addr, "", 2, "give --topic NAME or --broker ID", "configs", "describe")
		fails(t, addr, "", 2, "nothing to change", "configs", "alter", "--topic", "cfg")
		fails(t, addr, "", 2, "want a broker ID", "configs", "describe", "--broker", "x")
	})
}

// brokerID returns the ID of the (single) broker at addr.
func brokerID(t *testing.T, addr string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bs, err := kadm.NewClient(cl).ListBrokers(t.Context())
	if err != nil || len(bs) == 0 {
		t.Fatalf("list brokers: %v", err)
	}
	return fmt.Sprint(bs[0].NodeID)
}
