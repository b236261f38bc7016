package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kafka-python and kafkajs over SASL_SSL with SCRAM-SHA-256 and -512 and
// over mutual TLS, driven by a script each that takes a secureSpec as
// JSON and prints a secureResult: each good case produces the records
// name-0, name-1, ... to its topic with acks=all and reads them back, and
// each refused case tries to connect and reports the error it got.

// secureCase is one client configuration in a secureSpec; Cfg is in the
// client's own terms (kafka-python's keyword arguments, kafkajs's
// options).
type secureCase struct {
	Name  string         `json:"name"`
	Addr  string         `json:"addr"`
	Topic string         `json:"topic,omitempty"`
	Cfg   map[string]any `json:"cfg"`
	// Want are pieces of the error a refused case must report.
	Want []string `json:"-"`
}

// secureSpec is what a client script does: Cases must work, Refused
// must not.
type secureSpec struct {
	N       int          `json:"n"`
	Cases   []secureCase `json:"cases"`
	Refused []secureCase `json:"refused"`
}

// secureResult is what a client script saw: the values each case read
// back, and the error each refused case got ("" when it was let in).
type secureResult struct {
	Consumed map[string][]string `json:"consumed"`
	Refused  map[string]string   `json:"refused"`
}

// runSecureScript runs a client script (argv, then the spec as JSON, as
// its last argument) and checks what it printed against the spec.
func runSecureScript(t *testing.T, spec secureSpec, env []string, argv ...string) {
	t.Helper()
	for i := range spec.Cases {
		spec.Cases[i].Topic = uniqueTopic("secure-script")
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], string(js))...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", argv[0], err, stdout.String(), stderr.String())
	}
	var got secureResult
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%s printed %q: %v\nstderr:\n%s", argv[0], stdout.String(), err, stderr.String())
	}
	for _, c := range spec.Cases {
		checkSecureValues(t, c.Name, got.Consumed[c.Name])
	}
	for _, c := range spec.Refused {
		msg := got.Refused[c.Name]
		for _, w := range c.Want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: got %q, want it refused with %q", c.Name, msg, w)
			}
		}
		t.Logf("%s: %s", c.Name, msg)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
}

// kafkaPythonSecureScript is runSecureScript's script for kafka-python:
// a producer per case, then a consumer assigned partition 0; a refused
// case is a producer that cannot bootstrap, its error joined with what
// kafka-python logged (each message once).
const kafkaPythonSecureScript = `
import json, logging, sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

class Log(logging.Handler):
    def __init__(self):
        super().__init__()
        self.msgs = []
    def emit(self, record):
        self.msgs.append(record.getMessage())
log = Log()
logging.getLogger("kafka").addHandler(log)
logging.getLogger("kafka").setLevel(logging.WARNING)

spec = json.loads(sys.argv[-1])
out = {"consumed": {}, "refused": {}}
for c in spec["cases"]:
    cfg = dict(c["cfg"], bootstrap_servers=c["addr"])
    p = KafkaProducer(acks="all", **cfg)
    for i in range(spec["n"]):
        p.send(c["topic"], ("%s-%d" % (c["name"], i)).encode()).get(timeout=30)
    p.close()
    cons = KafkaConsumer(auto_offset_reset="earliest", consumer_timeout_ms=10000, **cfg)
    cons.assign([TopicPartition(c["topic"], 0)])
    got = []
    for m in cons:
        got.append(m.value.decode())
        if len(got) >= spec["n"]:
            break
    cons.close()
    out["consumed"][c["name"]] = got
for c in spec["refused"]:
    del log.msgs[:]
    try:
        KafkaProducer(bootstrap_servers=c["addr"], max_block_ms=5000, **c["cfg"]).close()
        out["refused"][c["name"]] = ""
    except Exception as e:
        msgs = ["%s: %s" % (type(e).__name__, e)]
        msgs += [m for i, m in enumerate(log.msgs) if m not in log.msgs[:i]]
        out["refused"][c["name"]] = "; ".join(msgs)
print(json.dumps(out))
`

// TestKafkaPythonSecure: kafka-python 2.0.2 over SASL_SSL with
// SCRAM-SHA-256 and -512 (ssl_cafile) and over mTLS (ssl_certfile,
// ssl_keyfile); a wrong password and a missing certificate are refused.
func TestKafkaPythonSecure(t *testing.T) {
	python := kafkaPython()
	if python == "" {
		t.Skip("kafka-python is not installed (apt-get install python3-kafka)")
	}
	sb, mb := startSecureBrokers(t)
	scram := func(mech, pass string) map[string]any {
		return map[string]any{"security_protocol": "SASL_SSL", "ssl_cafile": sb.ca.CertFile, "sasl_mechanism": mech,
			"sasl_plain_username": "alice", "sasl_plain_password": pass}
	}
	mtls := map[string]any{"security_protocol": "SSL", "ssl_cafile": mb.ca.CertFile,
		"ssl_certfile": mb.client.CertFile, "ssl_keyfile": mb.client.KeyFile}
	spec := secureSpec{N: secureRecords,
		Cases: []secureCase{
			{Name: "SCRAM-SHA-256", Addr: sb.addr(), Cfg: scram("SCRAM-SHA-256", "alice-secret")},
			{Name: "SCRAM-SHA-512", Addr: sb.addr(), Cfg: scram("SCRAM-SHA-512", "alice-secret")},
			{Name: "mTLS", Addr: mb.addr(), Cfg: mtls},
		},
		Refused: []secureCase{
			// kafka-python sends SCRAM's messages bare, outside
			// SaslAuthenticate requests (as a v0 handshake does), so
			// there is no error to answer with: the broker closes the
			// connection, as Kafka does, and logs why.
			{Name: "wrong password", Addr: sb.addr(), Cfg: scram("SCRAM-SHA-512", "wrong"),
				Want: []string{"NoBrokersAvailable", "<authenticating>", "Error receiving reply from server"}},
			{Name: "no certificate", Addr: mb.addr(), Cfg: map[string]any{"security_protocol": "SSL", "ssl_cafile": mb.ca.CertFile},
				Want: []string{"SSL"}},
		},
	}
	runSecureScript(t, spec, nil, python, "-c", kafkaPythonSecureScript)
	const failed = `msg="failed authentication" listener=SASL_SSL`
	if out := sb.p.Output(); !strings.Contains(out, failed) || !strings.Contains(out, "invalid credentials for SASL mechanism SCRAM-SHA-512") {
		t.Errorf("the broker did not log the wrong password's SCRAM-SHA-512 login as failed:\n%s", out)
	}
}

// kafkajsSecureScript is runSecureScript's script for kafkajs: an admin
// creates each case's topic, a producer sends, a consumer group reads
// from the beginning; a refused case is an admin without retries. Its
// cfg holds kafkajs's ssl (file names, read here) and sasl options.
const kafkajsSecureScript = `
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');
const spec = JSON.parse(process.argv[process.argv.length - 1]);
const out = { consumed: {}, refused: {} };
const client = (c, extra) => {
  const cfg = { clientId: 'gregor-secure', brokers: [c.addr], logLevel: logLevel.NOTHING, ...extra };
  cfg.ssl = Object.fromEntries(Object.entries(c.cfg.ssl).map(([k, f]) => [k, fs.readFileSync(f)]));
  if (c.cfg.sasl) cfg.sasl = c.cfg.sasl;
  return new Kafka(cfg);
};
(async () => {
  for (const c of spec.cases) {
    const kafka = client(c);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: c.topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const messages = [];
    for (let i = 0; i < spec.n; i++) messages.push({ value: c.name + '-' + i });
    await producer.send({ topic: c.topic, acks: -1, messages });
    await producer.disconnect();
    const got = [];
    const consumer = kafka.consumer({ groupId: 'g-' + c.topic });
    await consumer.connect();
    await consumer.subscribe({ topic: c.topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 20000);
      consumer.run({ eachMessage: async ({ message }) => {
        got.push(message.value.toString());
        if (got.length >= spec.n) { clearTimeout(timer); resolve(); }
      } }).catch(reject);
    });
    await consumer.disconnect();
    out.consumed[c.name] = got;
  }
  for (const c of spec.refused) {
    const admin = client(c, { retry: { retries: 0 }, connectionTimeout: 5000 }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
      out.refused[c.name] = '';
      await admin.disconnect();
    } catch (e) {
      out.refused[c.name] = e.name + ': ' + e.message;
    }
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
`

// TestKafkaJSSecure: kafkajs 2.2.4 over SSL with SASL scram-sha-256 and
// scram-sha-512 and over mTLS (ssl cert and key); a wrong password and a
// missing certificate are refused.
func TestKafkaJSSecure(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := kafkajsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Skipf("kafkajs is not installed in %s (npm install --prefix %s kafkajs@2.2.4)", dir, dir)
	}
	sb, mb := startSecureBrokers(t)
	scram := func(mech, pass string) map[string]any {
		return map[string]any{"ssl": map[string]string{"ca": sb.ca.CertFile},
			"sasl": map[string]string{"mechanism": mech, "username": "alice", "password": pass}}
	}
	spec := secureSpec{N: secureRecords,
		Cases: []secureCase{
			{Name: "scram-sha-256", Addr: sb.addr(), Cfg: scram("scram-sha-256", "alice-secret")},
			{Name: "scram-sha-512", Addr: sb.addr(), Cfg: scram("scram-sha-512", "alice-secret")},
			{Name: "mTLS", Addr: mb.addr(), Cfg: map[string]any{"ssl": map[string]string{
				"ca": mb.ca.CertFile, "cert": mb.client.CertFile, "key": mb.client.KeyFile}}},
		},
		Refused: []secureCase{
			{Name: "wrong password", Addr: sb.addr(), Cfg: scram("scram-sha-512", "wrong"), Want: []string{"KafkaJSSASLAuthenticationError", "authentication failed"}},
			{Name: "no certificate", Addr: mb.addr(), Cfg: map[string]any{"ssl": map[string]string{"ca": mb.ca.CertFile}},
				Want: []string{"certificate required"}},
		},
	}
	runSecureScript(t, spec, []string{"NODE_PATH=" + filepath.Join(dir, "node_modules")}, node, "-e", kafkajsSecureScript)
}
