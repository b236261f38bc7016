package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

const reuseRecords = 3000

// recordingSink checks each Put's records against their offsets, keeps
// what it is allowed to keep, and counts the distinct records it saw.
type recordingSink struct {
	stubConnector
	retains bool
}

func (s recordingSink) NewTask() connect.SinkTask { return sinks[s.retains] }

var sinks = map[bool]*recordingTask{}

type recordingTask struct {
	stubTask
	retains bool

	mu       sync.Mutex
	seen     map[*connect.SinkRecord]bool
	kept     []*connect.SinkRecord // a retaining task's records
	values   []any                 // every task may keep values
	problems []string
}

func (*recordingTask) Initialize(connect.SinkTaskContext)           {}
func (*recordingTask) Flush(map[connect.TopicPartition]int64) error { return nil }
func (t *recordingTask) RetainsRecords() bool                       { return t.retains }

func (t *recordingTask) Put(recs []*connect.SinkRecord) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		if want := fmt.Sprint(r.Offset); r.Value != want {
			t.problems = append(t.problems, fmt.Sprintf("offset %d holds %v", r.Offset, r.Value))
		}
		t.seen[r] = true
		t.values = append(t.values, r.Value)
		if t.retains {
			t.kept = append(t.kept, r)
		}
	}
	return nil
}

func init() {
	connect.RegisterConnector("test.RecordingSinkConnector", func() connect.Connector { return recordingSink{} })
	connect.RegisterConnector("test.RetainingSinkConnector", func() connect.Connector { return recordingSink{retains: true} })
}

// TestSinkRecordsReusedOnlyWhenNotRetained: a task that says it keeps no
// records gets the same few records refilled Put after Put (and the
// values it kept stay right); a task that keeps them gets new ones, and
// what it kept is never overwritten.
func TestSinkRecordsReusedOnlyWhenNotRetained(t *testing.T) {
	br := connecttest.Broker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("reuse"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range reuseRecords {
		cl.Produce(context.Background(), &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := connecttest.Worker(t, br.Addr(), filepath.Join(t.TempDir(), "offsets"), map[string]string{
		"value.converter": "StringConverter", "key.converter": "StringConverter", "consumer.max.poll.records": "100"})
	defer h.Close()
	for _, retains := range []bool{false, true} {
		task := &recordingTask{retains: retains, seen: map[*connect.SinkRecord]bool{}}
		sinks[retains] = task
		class := map[bool]string{false: "test.RecordingSinkConnector", true: "test.RetainingSinkConnector"}[retains]
		connecttest.Create(t, h, fmt.Sprintf("reuse-%v", retains), map[string]string{"connector.class": class, "topics": "reuse"})
		connecttest.Eventually(t, 30*time.Second, "every record put", func() bool {
			task.mu.Lock()
			defer task.mu.Unlock()
			return len(task.values) >= reuseRecords
		})
		task.mu.Lock()
		for _, p := range task.problems {
			t.Errorf("retains=%v: %s", retains, p)
		}
		for i, v := range task.values[:reuseRecords] {
			if v != fmt.Sprint(i) {
				t.Fatalf("retains=%v: kept value %d became %v", retains, i, v)
			}
		}
		if retains {
			if len(task.seen) < reuseRecords {
				t.Errorf("a retaining task saw %d distinct records for %d: some were reused", len(task.seen), reuseRecords)
			}
			for i, r := range task.kept[:reuseRecords] {
				if r.Value != fmt.Sprint(i) || r.Offset != int64(i) {
					t.Fatalf("retained record %d was overwritten: offset %d, value %v", i, r.Offset, r.Value)
				}
			}
		} else if len(task.seen) > 3*100 {
			t.Errorf("a task keeping nothing saw %d distinct records for %d: they were not reused", len(task.seen), reuseRecords)
		}
		task.mu.Unlock()
	}
}
