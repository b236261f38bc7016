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
	rewindRecords = 2000
	rewindAt      = 500 // the task asks to go back when it first sees this offset
	rewindTo      = 100
)

// rewindingSink asks, through its context, to re-read from rewindTo the
// first time a Put holds offset rewindAt, and records every offset it was
// given, Put by Put.
type rewindingSink struct{ stubConnector }

func (rewindingSink) NewTask() connect.SinkTask { return rewinder }

var rewinder = &rewindingTask{}

type rewindingTask struct {
	stubTask
	ctx connect.SinkTaskContext

	mu     sync.Mutex
	puts   [][]int64
	asked  bool
	counts map[int64]int
}

func (t *rewindingTask) Initialize(ctx connect.SinkTaskContext)     { t.ctx = ctx }
func (*rewindingTask) Flush(map[connect.TopicPartition]int64) error { return nil }

func (t *rewindingTask) Put(recs []*connect.SinkRecord) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var offs []int64
	for _, r := range recs {
		offs = append(offs, r.Offset)
		t.counts[r.Offset]++
		if r.Offset == rewindAt && !t.asked {
			t.asked = true
			t.ctx.Offset(connect.TopicPartition{Topic: r.Topic, Partition: r.Partition}, rewindTo)
		}
	}
	if len(offs) > 0 {
		t.puts = append(t.puts, offs)
	}
	return nil
}

func init() {
	connect.RegisterConnector("test.RewindingSinkConnector", func() connect.Connector { return rewindingSink{} })
}

// TestSinkRewind: after the Put in which a task asks to read a partition
// from an earlier offset, the next record it gets from that partition is
// at that offset (records the worker had already converted ahead are not
// delivered), and every record is delivered.
func TestSinkRewind(t *testing.T) {
	br := connecttest.Broker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("rewind"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "rewind"); err != nil {
		t.Fatal(err)
	}
	for i := range rewindRecords {
		cl.Produce(context.Background(), &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rewinder.mu.Lock()
	rewinder.puts, rewinder.asked, rewinder.counts = nil, false, map[int64]int{}
	rewinder.mu.Unlock()
	h := connecttest.Worker(t, br.Addr(), filepath.Join(t.TempDir(), "offsets"), map[string]string{
		"value.converter": "StringConverter", "key.converter": "StringConverter", "consumer.max.poll.records": "50"})
	defer h.Close()
	connecttest.Create(t, h, "rewind", map[string]string{"connector.class": "test.RewindingSinkConnector", "topics": "rewind"})
	connecttest.Eventually(t, 30*time.Second, "every record put", func() bool {
		rewinder.mu.Lock()
		defer rewinder.mu.Unlock()
		return len(rewinder.counts) == rewindRecords && rewinder.counts[rewindRecords-1] > 0
	})
	rewinder.mu.Lock()
	defer rewinder.mu.Unlock()
	for i, put := range rewinder.puts {
		if !contains(put, rewindAt) || i+1 == len(rewinder.puts) {
			continue
		}
		if next := rewinder.puts[i+1][0]; next != rewindTo {
			t.Fatalf("the Put after the rewind starts at offset %d, want %d", next, rewindTo)
		}
		return
	}
	t.Fatalf("no Put after the one holding offset %d", rewindAt)
}

func contains(offs []int64, o int64) bool {
	for _, x := range offs {
		if x == o {
			return true
		}
	}
	return false
}
