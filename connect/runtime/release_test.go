package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

const (
	releaseBatches   = 20
	releaseBatchSize = 100
)

// releasingSource polls releaseBatches batches and checks that the worker
// releases each one exactly once, and only after Kafka acknowledged every
// record in it (CommitRecord runs at the acknowledgement).
type releasingSource struct{ stubConnector }

func (releasingSource) NewTask() connect.SourceTask { return releases.task }

var releases struct{ task *releasingTask }

type releasingTask struct {
	stubTask
	topic  string
	polled int

	mu       sync.Mutex
	acked    map[*connect.SourceRecord]bool
	released map[*connect.SourceRecord]bool // by first record
	problems []string
}

func (*releasingTask) Initialize(connect.SourceTaskContext) {}
func (*releasingTask) Commit() error                        { return nil }

func (r *releasingTask) Poll(ctx context.Context) ([]*connect.SourceRecord, error) {
	if r.polled == releaseBatches {
		<-ctx.Done()
		return nil, nil
	}
	batch := make([]*connect.SourceRecord, releaseBatchSize)
	for i := range batch {
		n := r.polled*releaseBatchSize + i
		batch[i] = &connect.SourceRecord{Topic: r.topic, ValueSchema: connect.StringSchema, Value: fmt.Sprint(n),
			SourcePartition: map[string]any{"p": 0}, SourceOffset: map[string]any{"n": int64(n)}}
	}
	r.polled++
	return batch, nil
}

func (r *releasingTask) CommitRecord(rec *connect.SourceRecord, _ *connect.RecordMetadata) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[rec] = true
	return nil
}

func (r *releasingTask) Release(recs []*connect.SourceRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released[recs[0]] {
		r.problems = append(r.problems, fmt.Sprintf("batch of %v released twice", recs[0].Value))
	}
	r.released[recs[0]] = true
	for _, rec := range recs {
		if !r.acked[rec] {
			r.problems = append(r.problems, fmt.Sprintf("record %v released before Kafka acknowledged it", rec.Value))
		}
	}
}

func init() {
	connect.RegisterConnector("test.ReleasingSourceConnector", func() connect.Connector { return releasingSource{} })
}

// TestSourceBatchesReleasedAfterAck: a task implementing
// SourceTaskReleaser gets every polled batch back exactly once, after all
// of its records are in Kafka.
func TestSourceBatchesReleasedAfterAck(t *testing.T) {
	br := connecttest.Broker(t)
	task := &releasingTask{topic: "released", acked: map[*connect.SourceRecord]bool{}, released: map[*connect.SourceRecord]bool{}}
	releases.task = task
	h := connecttest.Worker(t, br.Addr(), filepath.Join(t.TempDir(), "offsets"), nil)
	defer h.Close()
	connecttest.Create(t, h, "rel", map[string]string{"connector.class": "test.ReleasingSourceConnector"})

	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	connecttest.Eventually(t, 30*time.Second, "every batch released", func() bool {
		task.mu.Lock()
		defer task.mu.Unlock()
		return len(task.released) == releaseBatches
	})
	if n := endOffset(t, adm, "released"); n != releaseBatches*releaseBatchSize {
		t.Fatalf("topic holds %d records, want %d", n, releaseBatches*releaseBatchSize)
	}
	task.mu.Lock()
	defer task.mu.Unlock()
	for _, p := range task.problems {
		t.Error(p)
	}
}

// endOffset is the sum of a topic's partitions' end offsets.
func endOffset(tb testing.TB, adm *kadm.Client, topic string) int64 {
	tb.Helper()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}
