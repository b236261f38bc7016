package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// kafkajsScript drives a broker with kafkajs: it creates a topic, sends
// keyed records (idempotent, acks=all), consumes them in a group that
// commits, and reads them again in a transaction-aware (read_committed)
// consumer after a transactional producer committed one batch and aborted
// another. It prints one JSON object with what it saw.
const kafkajsScript = `
const { Kafka, logLevel } = require('kafkajs');
const [addr, topic, n] = process.argv.slice(-3).map((v, i) => (i === 2 ? Number(v) : v));
const kafka = new Kafka({ clientId: 'gregor-test', brokers: [addr], logLevel: logLevel.NOTHING });
const out = {};
(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  out.topics = (await admin.listTopics()).filter(t => t === topic);

  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const messages = [];
  for (let i = 0; i < n; i++) messages.push({ key: 'k' + i, value: 'value ' + i });
  const res = await producer.send({ topic, acks: -1, messages });
  out.acked = res.length > 0;
  await producer.disconnect();

  const txp = kafka.producer({ transactionalId: 'gregor-kjs', maxInFlightRequests: 1, idempotent: true });
  await txp.connect();
  let tx = await txp.transaction();
  await tx.send({ topic, messages: [{ key: 'committed', value: 'yes' }] });
  await tx.commit();
  tx = await txp.transaction();
  await tx.send({ topic, messages: [{ key: 'aborted', value: 'no' }] });
  await tx.abort();
  await txp.disconnect();

  const seen = {};
  const consumer = kafka.consumer({ groupId: 'kjs-group', readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, 20000);
    consumer.run({ eachMessage: async ({ message }) => {
      seen[message.key.toString()] = message.value.toString();
      if (Object.keys(seen).length >= n + 1) { clearTimeout(timer); setTimeout(resolve, 500); }
    } }).catch(reject);
  });
  await consumer.disconnect();
  out.consumed = Object.keys(seen).length;
  out.values_match = [...Array(n).keys()].every(i => seen['k' + i] === 'value ' + i);
  out.committed_txn = seen['committed'] === 'yes';
  out.aborted_txn_visible = 'aborted' in seen;

  await admin.connect();
  const offs = await admin.fetchOffsets({ groupId: 'kjs-group', topics: [topic] });
  out.group_committed = offs[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
  const ends = await admin.fetchTopicOffsets(topic);
  out.topic_end = ends.reduce((s, p) => s + Number(p.high), 0);
  await admin.disconnect();
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
`

// kafkajsDir is where .ci/run installs kafkajs (npm install --prefix);
// KAFKAJS_DIR overrides it.
func kafkajsDir() string {
	if d := os.Getenv("KAFKAJS_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "gregor-kafkajs")
}

// TestKafkaJS: kafkajs 2.2.4 creates a topic, produces idempotently,
// commits and aborts transactions and consumes read_committed in a group
// that commits its offsets, against gregor.
func TestKafkaJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := kafkajsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Skipf("kafkajs is not installed in %s (npm install --prefix %s kafkajs@2.2.4)", dir, dir)
	}
	b := startBroker(t)
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", kafkajsScript, b.addr(), uniqueTopic("kjs"), "300")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkajs: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		Topics            []string `json:"topics"`
		Acked             bool     `json:"acked"`
		Consumed          int      `json:"consumed"`
		ValuesMatch       bool     `json:"values_match"`
		CommittedTxn      bool     `json:"committed_txn"`
		AbortedTxnVisible bool     `json:"aborted_txn_visible"`
		GroupCommitted    int64    `json:"group_committed"`
		TopicEnd          int64    `json:"topic_end"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("kafkajs printed %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	// The topic ends after the records, the two transactions' records and
	// their two markers. kafkajs commits the offset after the last record
	// it delivered per partition, so the group's offsets cover every
	// delivered record (a marker after it may stay uncovered).
	if len(got.Topics) != 1 || !got.Acked || got.Consumed != n+1 || !got.ValuesMatch || !got.CommittedTxn ||
		got.AbortedTxnVisible || got.TopicEnd != n+4 || got.GroupCommitted < n+1 || got.GroupCommitted > got.TopicEnd {
		t.Fatalf("kafkajs saw %+v; want the topic, %d records and the committed transaction's read back, not the aborted one's, and the group's offsets past them (end %d)\nstderr:\n%s",
			got, n, n+4, stderr.String())
	}
}
