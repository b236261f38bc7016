package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The client families of TestClientsLeaderKill that run as processes:
// librdkafka through kcat, kafka-python and kafkajs. The test writes each
// producer one value a line on its stdin and closes it to stop; the
// producer flushes and exits. kcat reports deliveries in order on stderr;
// the scripts print "ACK offset value" or "ERR value error" a line. The
// consumers print "offset value" a line until they are killed.

// clientProc is a running client process.
type clientProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error // the process's exit, once its output is read
}

// startClientProc starts name with args (killed when ctx ends), passing
// every line of its stdout to onOut and of its stderr to onErr (to r.log
// when nil).
func startClientProc(ctx context.Context, r *failoverRun, role string, env []string, onOut, onErr func(string), name string, args ...string) (*clientProc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if onErr == nil {
		onErr = func(line string) { r.log(role + ": " + line) }
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &clientProc{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	var wg sync.WaitGroup
	for _, s := range []struct {
		rd io.Reader
		fn func(string)
	}{{stdout, onOut}, {stderr, onErr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(s.rd)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				s.fn(sc.Text())
			}
		}()
	}
	go func() {
		wg.Wait()
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%s %s: %w", role, name, err)
		}
		p.done <- err
	}()
	return p, nil
}

// feed writes r's values to the producer process's stdin at failoverPace
// until stop is closed (before each write, sent is told the value), then
// closes its stdin and waits for it to flush and exit.
func (p *clientProc) feed(ctx context.Context, r *failoverRun, stop <-chan struct{}, sent func(string)) error {
	var werr error
	paced(ctx, stop, func() {
		if werr != nil {
			return
		}
		v := r.next()
		if sent != nil {
			sent(v)
		}
		if _, err := io.WriteString(p.stdin, v+"\n"); err != nil {
			werr = fmt.Errorf("the producer stopped reading: %w", err)
			r.failed(v, err)
		}
	})
	p.stdin.Close()
	select {
	case err := <-p.done:
		return errors.Join(werr, err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// consumed parses a consumer's "offset value" line.
func consumed(r *failoverRun, role string) func(string) {
	return func(line string) {
		o, v, ok := strings.Cut(line, " ")
		off, err := strconv.ParseInt(o, 10, 64)
		if !ok || err != nil {
			r.log(role + ": " + line)
			return
		}
		r.read(off, v)
	}
}

// ackLines parses a script producer's "ACK offset value" and "ERR value
// error" lines.
func ackLines(r *failoverRun, role string) func(string) {
	return func(line string) {
		f := strings.SplitN(line, " ", 3)
		switch {
		case len(f) == 3 && f[0] == "ACK":
			if off, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				r.acked(f[2], off)
				return
			}
		case len(f) >= 2 && f[0] == "ERR":
			msg := "error"
			if len(f) == 3 {
				msg = f[2]
			}
			r.failed(f[1], errors.New(msg))
			return
		}
		r.log(role + ": " + line)
	}
}

// waitConsumer waits until ctx ends (the process is killed then) or the
// consumer exits on its own, which is an error.
func (p *clientProc) waitConsumer(ctx context.Context) error {
	select {
	case err := <-p.done:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("consumer exited before it was stopped: %w", err)
	case <-ctx.Done():
		<-p.done
		return ctx.Err()
	}
}

func kcatMissing() string {
	if _, err := exec.LookPath("kcat"); err != nil {
		return "kcat is not installed (apt-get install kcat)"
	}
	return ""
}

// kcatProduce produces with kcat (librdkafka): idempotent, acks=all,
// each message retried for up to 60 s. With -vv kcat reports every
// delivery on stderr, in the order of its input for one partition, so the
// reports are matched to the values written in turn.
func kcatProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	var mu sync.Mutex
	var pending []string
	var lost []string
	pop := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(pending) == 0 {
			return "", false
		}
		v := pending[0]
		pending = pending[1:]
		return v, true
	}
	onErr := func(line string) {
		switch {
		case strings.HasPrefix(line, "% Message delivered to partition "):
			var p int32
			var off int64
			v, ok := pop()
			if _, err := fmt.Sscanf(line, "%% Message delivered to partition %d (offset %d)", &p, &off); err != nil || !ok {
				r.log("kcat producer (unmatched): " + line)
				return
			}
			r.acked(v, off)
		case strings.Contains(line, "Delivery failed"):
			if v, ok := pop(); ok {
				r.failed(v, errors.New(strings.TrimPrefix(line, "% ")))
			}
		case strings.Contains(line, "Failed to produce"):
			// Never queued: the reports after it would be matched to the
			// wrong values.
			mu.Lock()
			lost = append(lost, line)
			mu.Unlock()
			r.log("kcat producer: " + line)
		default:
			r.log("kcat producer: " + line)
		}
	}
	p, err := startClientProc(ctx, r, "kcat producer", nil, func(line string) { r.log("kcat producer: " + line) }, onErr,
		"kcat", "-b", strings.Join(r.seeds, ","), "-t", r.topic, "-P", "-p", "0", "-vv",
		"-X", "enable.idempotence=true", "-X", "acks=all", "-X", "message.timeout.ms=60000",
		"-X", "topic.metadata.refresh.interval.ms=5000")
	if err != nil {
		return err
	}
	err = p.feed(ctx, r, stop, func(v string) {
		mu.Lock()
		pending = append(pending, v)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if len(lost) > 0 {
		err = errors.Join(err, fmt.Errorf("kcat could not queue %d messages (%s): its delivery reports cannot be matched", len(lost), lost[0]))
	}
	if len(pending) > 0 {
		err = errors.Join(err, fmt.Errorf("kcat exited with %d messages not reported delivered or failed", len(pending)))
	}
	return err
}

// kcatConsume reads the partition with kcat from its start.
func kcatConsume(ctx context.Context, r *failoverRun) error {
	p, err := startClientProc(ctx, r, "kcat consumer", nil, consumed(r, "kcat consumer"), nil,
		"kcat", "-b", strings.Join(r.seeds, ","), "-t", r.topic, "-C", "-p", "0", "-o", "beginning", "-u", "-q",
		"-f", "%o %s\n", "-X", "auto.offset.reset=earliest", "-X", "topic.metadata.refresh.interval.ms=5000")
	if err != nil {
		return err
	}
	return p.waitConsumer(ctx)
}

// kafkaPythonProducer produces the values on its stdin with kafka-python
// (2.0.2 has no idempotent producer): acks=all, one request in flight,
// retried up to 1000 times.
const kafkaPythonProducer = `
import sys, threading
from kafka import KafkaProducer
seeds, topic = sys.argv[1].split(","), sys.argv[2]
lock = threading.Lock()
def out(s):
    with lock:
        sys.stdout.write(s + "\n")
        sys.stdout.flush()
p = KafkaProducer(bootstrap_servers=seeds, acks="all", retries=1000, retry_backoff_ms=200,
                  max_in_flight_requests_per_connection=1, request_timeout_ms=15000, linger_ms=5,
                  max_block_ms=60000, metadata_max_age_ms=5000)
def ok(v):
    return lambda md: out("ACK %d %s" % (md.offset, v))
def bad(v):
    return lambda e: out("ERR %s %s" % (v, repr(e).replace("\n", " ")))
while True:
    line = sys.stdin.readline()
    if not line:
        break
    v = line.strip()
    if v:
        f = p.send(topic, value=v.encode(), partition=0)
        f.add_callback(ok(v))
        f.add_errback(bad(v))
p.flush(timeout=120)
p.close(timeout=30)
`

// kafkaPythonConsumer prints every record of the partition from its start.
const kafkaPythonConsumer = `
import sys
from kafka import KafkaConsumer, TopicPartition
seeds, topic = sys.argv[1].split(","), sys.argv[2]
c = KafkaConsumer(bootstrap_servers=seeds, group_id=None, enable_auto_commit=False,
                  auto_offset_reset="earliest", metadata_max_age_ms=5000)
tp = TopicPartition(topic, 0)
c.assign([tp])
c.seek_to_beginning(tp)
while True:
    for msgs in c.poll(timeout_ms=500).values():
        for m in msgs:
            sys.stdout.write("%d %s\n" % (m.offset, m.value.decode()))
    sys.stdout.flush()
`

func kafkaPythonMissing() string {
	if kafkaPython() == "" {
		return "kafka-python is not installed (apt-get install python3-kafka)"
	}
	return ""
}

func kafkaPythonProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	p, err := startClientProc(ctx, r, "kafka-python producer", nil, ackLines(r, "kafka-python producer"), nil,
		kafkaPython(), "-u", "-c", kafkaPythonProducer, strings.Join(r.seeds, ","), r.topic)
	if err != nil {
		return err
	}
	return p.feed(ctx, r, stop, nil)
}

func kafkaPythonConsume(ctx context.Context, r *failoverRun) error {
	p, err := startClientProc(ctx, r, "kafka-python consumer", nil, consumed(r, "kafka-python consumer"), nil,
		kafkaPython(), "-u", "-c", kafkaPythonConsumer, strings.Join(r.seeds, ","), r.topic)
	if err != nil {
		return err
	}
	return p.waitConsumer(ctx)
}

// kafkajsProducer produces the values on its stdin with kafkajs'
// idempotent producer (acks=all), in batches of what has accumulated,
// one send at a time.
const kafkajsProducer = `
const { Kafka, logLevel } = require('kafkajs');
const readline = require('readline');
const [seeds, topic] = process.argv.slice(-2);
const retry = { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 };
const kafka = new Kafka({ clientId: 'gregor-failover', brokers: seeds.split(','), logLevel: logLevel.NOTHING,
  connectionTimeout: 3000, requestTimeout: 15000, retry });
const out = s => process.stdout.write(s + '\n');
(async () => {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry });
  await producer.connect();
  const buf = [];
  let ended = false;
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', l => { if (l) buf.push(l); });
  rl.on('close', () => { ended = true; });
  while (!ended || buf.length > 0) {
    if (buf.length === 0) { await new Promise(r => setTimeout(r, 20)); continue; }
    const batch = buf.splice(0, 100);
    try {
      const res = await producer.send({ topic, acks: -1, messages: batch.map(value => ({ value, partition: 0 })) });
      const base = Number(res[0].baseOffset);
      batch.forEach((v, i) => out('ACK ' + (base + i) + ' ' + v));
    } catch (e) {
      const msg = String((e && e.message) || e).replace(/\n/g, ' ');
      batch.forEach(v => out('ERR ' + v + ' ' + msg));
    }
  }
  await producer.disconnect();
})().catch(e => { console.error(e); process.exit(1); });
`

// kafkajsConsumer prints every record of the topic from its start, in a
// group of its own (kafkajs consumes only in groups).
const kafkajsConsumer = `
const { Kafka, logLevel } = require('kafkajs');
const [seeds, topic] = process.argv.slice(-2);
const retry = { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 };
const kafka = new Kafka({ clientId: 'gregor-failover', brokers: seeds.split(','), logLevel: logLevel.NOTHING,
  connectionTimeout: 3000, requestTimeout: 15000, retry });
(async () => {
  const consumer = kafka.consumer({ groupId: 'failover-' + topic, sessionTimeout: 10000, heartbeatInterval: 1000, retry });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => {
    process.stdout.write(message.offset + ' ' + message.value.toString() + '\n');
  } });
})().catch(e => { console.error(e); process.exit(1); });
`

func kafkajsMissing() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	dir := kafkajsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		return fmt.Sprintf("kafkajs is not installed in %s (npm install --prefix %s kafkajs@2.2.4)", dir, dir)
	}
	return ""
}

func kafkajsEnv() []string {
	return []string{"NODE_PATH=" + filepath.Join(kafkajsDir(), "node_modules")}
}

func kafkajsProduce(ctx context.Context, r *failoverRun, stop <-chan struct{}) error {
	p, err := startClientProc(ctx, r, "kafkajs producer", kafkajsEnv(), ackLines(r, "kafkajs producer"), nil,
		"node", "-e", kafkajsProducer, strings.Join(r.seeds, ","), r.topic)
	if err != nil {
		return err
	}
	return p.feed(ctx, r, stop, nil)
}

func kafkajsConsume(ctx context.Context, r *failoverRun) error {
	p, err := startClientProc(ctx, r, "kafkajs consumer", kafkajsEnv(), consumed(r, "kafkajs consumer"), nil,
		"node", "-e", kafkajsConsumer, strings.Join(r.seeds, ","), r.topic)
	if err != nil {
		return err
	}
	return p.waitConsumer(ctx)
}
