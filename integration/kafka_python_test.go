package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// kafkaPythonScript drives a broker with kafka-python (2.0.2, as Debian's
// python3-kafka ships it: a client from before Kafka 4.0, which turned its
// request versions away): it creates a topic, produces keyed records with
// acks=all and gzip, consumes them in a group with manual commits, and
// checks that a second consumer of the group starts after them. It prints
// one JSON object with what it saw.
const kafkaPythonScript = `
import json, sys
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
admin = KafkaAdminClient(bootstrap_servers=addr, client_id="py-admin")
admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
out["topics"] = sorted(t for t in admin.list_topics() if t == topic)
admin.close()

producer = KafkaProducer(bootstrap_servers=addr, acks="all", compression_type="gzip", linger_ms=5)
futures = [producer.send(topic, key=b"k%d" % i, value=b"value %d" % i) for i in range(n)]
producer.flush()
out["acked"] = sum(1 for f in futures if f.get(timeout=30).offset >= 0)
producer.close()

def consume(want):
    c = KafkaConsumer(topic, bootstrap_servers=addr, group_id="py-group", auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=4000)
    seen = {}
    for m in c:
        seen[m.key.decode()] = m.value.decode()
        if len(seen) >= want:
            break
    c.commit()
    parts = c.assignment()
    committed = sum(c.committed(tp) or 0 for tp in parts)
    c.close()
    return seen, committed

seen, committed = consume(n)
out["consumed"] = len(seen)
out["values_match"] = all(seen.get("k%d" % i) == "value %d" % i for i in range(n))
out["committed"] = committed
again, _ = consume(1)
out["consumed_after_commit"] = len(again)
print(json.dumps(out))
`

// TestKafkaPython: kafka-python 2.0.2 (Debian's python3-kafka) creates a
// topic, produces and consumes in a group with commits against gregor.
func TestKafkaPython(t *testing.T) {
	python := kafkaPython()
	if python == "" {
		t.Skip("kafka-python is not installed (apt-get install python3-kafka)")
	}
	b := startBroker(t)
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", kafkaPythonScript, b.addr(), uniqueTopic("py"), "500")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-python: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		Topics              []string `json:"topics"`
		Acked               int      `json:"acked"`
		Consumed            int      `json:"consumed"`
		ValuesMatch         bool     `json:"values_match"`
		Committed           int      `json:"committed"`
		ConsumedAfterCommit int      `json:"consumed_after_commit"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("kafka-python printed %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	if len(got.Topics) != 1 || got.Acked != n || got.Consumed != n || !got.ValuesMatch || got.Committed != n || got.ConsumedAfterCommit != 0 {
		t.Fatalf("kafka-python saw %+v; want the topic, %d acked, consumed and committed, and nothing after the commit\nstderr:\n%s", got, n, stderr.String())
	}
}

// kafkaPython returns a python3 that can import kafka: Debian's, where
// python3-kafka installs it, or the first on PATH; "" if none can.
func kafkaPython() string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import kafka").Run() == nil {
			return path
		}
	}
	return ""
}
