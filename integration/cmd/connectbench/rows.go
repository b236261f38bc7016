package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	_ "github.com/gregorhq/gregor/connect/connectors/datagen" // registers Datagen
	"github.com/gregorhq/gregor/connect/converters"
	"github.com/gregorhq/gregor/integration"
)

// worker is a `gregor connect standalone` process.
type worker struct {
	proc      *integration.Process
	url       string
	debugAddr string // profiling endpoints, with -worker-profile
	profiled  map[string]bool
}

// startWorker starts a standalone worker with String keys and schemaless
// JSON values, the producer lingering 5 ms (as the bare producer does)
// and sinks putting up to 10000 records at a time.
func startWorker(ctx context.Context, bin, dir, brokers string) (*worker, error) {
	props := strings.Join([]string{
		"bootstrap.servers=" + brokers,
		"offset.storage.file.filename=" + filepath.Join(dir, "connect.offsets"),
		"listeners=http://127.0.0.1:0",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable=false",
		"offset.flush.interval.ms=1000",
		"producer.linger.ms=5",
		"consumer.max.poll.records=500",
	}, "\n") + "\n"
	file := filepath.Join(dir, "worker.properties")
	if err := os.WriteFile(file, []byte(props), 0o644); err != nil {
		return nil, err
	}
	args := []string{"connect", "standalone", "--log-level", "warn", file}
	w := &worker{}
	if *profile != "" {
		w.debugAddr = freeAddr()
		args = append(args, "--http", w.debugAddr)
	}
	p, err := integration.Start(ctx, bin, args...)
	if err != nil {
		return nil, err
	}
	w.proc, w.url = p, "http://"+p.Addr()
	return w, nil
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("%v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProfile starts a 2-second CPU profile of the worker, written to
// path; the returned function waits for it.
func (w *worker) startProfile(path string) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get("http://" + w.debugAddr + "/debug/pprof/profile?seconds=2")
		if err != nil {
			die("worker profile: %v", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || os.WriteFile(path, b, 0o644) != nil {
			die("worker profile %s: %v", path, err)
		}
	}()
	time.Sleep(50 * time.Millisecond) // let the profile start before the row
	return func() { <-done }
}

// call sends a REST request and fails the run on an unexpected status.
func (w *worker) call(method, path string, body any, want int) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			die("%v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.url+path, rd)
	if err != nil {
		die("%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		die("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		die("%s %s: %s: %s", method, path, resp.Status, msg)
	}
}

// run creates connector name, waits until done reports completion and
// deletes it; it returns the time done measured and the CPU used.
func (e *env) run(name string, cfg map[string]string, what string, n int64, progress func() int64) (time.Duration, time.Duration, time.Duration) {
	if kind := cfg["connector.class"]; *profile != "" && !e.worker.profiled[kind] {
		if e.worker.profiled == nil {
			e.worker.profiled = map[string]bool{}
		}
		e.worker.profiled[kind] = true
		defer e.worker.startProfile(*profile + "-" + kind + ".pprof")()
	}
	m := e.startMeter(e.worker.proc.Pid())
	w := watch(what, n, progress)
	e.worker.call(http.MethodPost, "/connectors", map[string]any{"name": name, "config": cfg}, http.StatusCreated)
	d := <-w
	c, b := e.stop(m)
	e.worker.call(http.MethodDelete, "/connectors/"+name, nil, http.StatusNoContent)
	return d, c, b
}

// datagen runs the Datagen connector into a new topic.
func (e *env) datagen(topic string) (time.Duration, time.Duration, time.Duration) {
	e.createTopic(topic)
	cfg := map[string]string{"connector.class": "Datagen", "kafka.topic": topic, "quickstart": "pageviews",
		"iterations": fmt.Sprint(*records), "random.seed": "1"}
	return e.run(topic, cfg, "datagen records", int64(*records), func() int64 { return e.endOffset(topic) })
}

// fileSink runs FileStreamSink over topic until its file holds size bytes.
func (e *env) fileSink(name, topic string, size int64) (time.Duration, time.Duration, time.Duration) {
	out := filepath.Join(e.dir, name+".txt")
	cfg := map[string]string{"connector.class": "FileStreamSink", "topics": topic, "file": out,
		// The records are JSON text: copy it as text, as the bare consumer does.
		"value.converter": "org.apache.kafka.connect.storage.StringConverter"}
	return e.run(name, cfg, "sink file", size, func() int64 { return fileSize(out) })
}

// recordSet is a topic's keys and values in one pointer-free blob (held
// through the whole run, it gives the collector nothing to trace).
type recordSet struct {
	blob  []byte
	ends  []int32 // per record: where its key ends, then its value
	lines int64   // bytes of the values, one a line
}

func (s *recordSet) record(i int) (key, value []byte) {
	k0 := int32(0)
	if i > 0 {
		k0 = s.ends[2*i-1]
	}
	k1, v1 := s.ends[2*i], s.ends[2*i+1]
	return s.blob[k0:k1:k1], s.blob[k1:v1:v1]
}

// readBack reads the records Datagen wrote, for the bare producer.
func (e *env) readBack(topic string) *recordSet {
	rd, err := kgo.NewClient(kgo.SeedBrokers(e.broker.Addr()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		die("%v", err)
	}
	defer rd.Close()
	s := &recordSet{}
	for len(s.ends) < 2**records {
		rd.PollFetches(e.ctx).EachRecord(func(r *kgo.Record) {
			s.blob = append(s.blob, r.Key...)
			s.ends = append(s.ends, int32(len(s.blob)))
			s.blob = append(s.blob, r.Value...)
			s.ends = append(s.ends, int32(len(s.blob)))
			s.lines += int64(len(r.Value)) + 1
		})
	}
	return s
}

// bareProduce sends the records to a new topic with a bare producer.
func (e *env) bareProduce(topic string, s *recordSet) (time.Duration, time.Duration, time.Duration) {
	e.createTopic(topic)
	recs := make([]*kgo.Record, *records)
	for i := range recs {
		k, v := s.record(i)
		recs[i] = &kgo.Record{Topic: topic, Key: k, Value: v}
	}
	pr, err := kgo.NewClient(kgo.SeedBrokers(e.broker.Addr()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		die("%v", err)
	}
	defer pr.Close()
	m := e.startMeter(0)
	w := watch("bare records", int64(*records), func() int64 { return e.endOffset(topic) })
	for _, r := range recs {
		pr.Produce(e.ctx, r, nil)
	}
	if err := pr.Flush(e.ctx); err != nil {
		die("%v", err)
	}
	d := <-w
	c, b := e.stop(m)
	return d, c, b
}

// generateAndConvert polls a pageviews Datagen task directly and runs the
// worker's converters (String keys, schemaless JSON values) over n
// records, as the source pipeline does before producing, and returns the
// time it took.
func generateAndConvert(n int) time.Duration {
	conn, err := connect.DefaultRegistry.NewConnector("Datagen")
	if err != nil {
		die("%v", err)
	}
	props := map[string]string{"kafka.topic": "dg", "quickstart": "pageviews", "iterations": fmt.Sprint(n), "random.seed": "1"}
	if err := conn.Start(props); err != nil {
		die("%v", err)
	}
	cfgs, err := conn.TaskConfigs(1)
	if err != nil {
		die("%v", err)
	}
	task := conn.(connect.SourceConnector).NewTask()
	if err := task.Start(cfgs[0]); err != nil {
		die("%v", err)
	}
	releaser, _ := task.(connect.SourceTaskReleaser)
	keyConv, valConv := converters.NewString(), converters.NewJSON()
	if err := valConv.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		die("%v", err)
	}
	buf := make([]byte, 0, 32<<10)
	start := time.Now()
	for done := 0; done < n; {
		recs, err := task.Poll(context.Background())
		if err != nil {
			die("%v", err)
		}
		for _, r := range recs {
			if cap(buf)-len(buf) < 2048 {
				buf = buf[:0] // the bytes are dropped at once: reuse the buffer
			}
			if buf, _, err = keyConv.AppendFromConnectData(buf, r.Topic, r.KeySchema, r.Key); err != nil {
				die("%v", err)
			}
			if buf, _, err = valConv.AppendFromConnectData(buf, r.Topic, r.ValueSchema, r.Value); err != nil {
				die("%v", err)
			}
		}
		if releaser != nil {
			releaser.Release(recs)
		}
		done += len(recs)
	}
	return time.Since(start)
}
