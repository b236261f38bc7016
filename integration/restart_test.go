package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRestartKeepsData(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("restart")
	createTopic(t, b.addr(), topic, 3, nil)
	cl := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var all [][]*kgo.Record
	for p := int32(0); p < 3; p++ {
		recs := variedRecords(topic, p, 300)
		produceAll(t, cl, recs, 50)
		all = append(all, recs)
	}
	cl.Close()
	b.stop() // SIGTERM: a clean shutdown

	b.restart()
	ctx := testCtx(t, 60*time.Second)
	for p, want := range all {
		checkRecords(t, consumeAll(t, ctx, b.addr(), topic, int32(p), len(want)), want)
	}
	// Offsets continue where they stopped.
	cl2 := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 3; p++ {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("after restart")}
		if err := cl2.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Offset != int64(len(all[p])) {
			t.Errorf("partition %d: first offset after restart %d, want %d", p, r.Offset, len(all[p]))
		}
	}
	// And a second restart, this time unclean, keeps all of it too.
	b.kill()
	b.restart()
	for p, want := range all {
		got := consumeAll(t, ctx, b.addr(), topic, int32(p), len(want)+1)
		checkRecords(t, got[:len(want)], want)
		if string(got[len(want)].Value) != "after restart" {
			t.Errorf("partition %d: last record %q", p, got[len(want)].Value)
		}
	}
}

// acked is a record the broker acknowledged.
type acked struct {
	partition int32
	offset    int64
	value     string
}

func TestCrashKeepsAcknowledged(t *testing.T) {
	for _, policy := range []string{"durable", "os"} {
		t.Run("flush="+policy, func(t *testing.T) {
			b := startBroker(t, "--flush", policy)
			topic := uniqueTopic("crash")
			// Small segments, so crashes also land around segment rolls.
			segment := "262144"
			createTopic(t, b.addr(), topic, 3, map[string]*string{"segment.bytes": &segment})
			var acks []acked
			for round := range 3 { // three crashes, each checked after recovery
				got := produceUntilKilled(t, b, topic, round, 20000)
				t.Logf("round %d: %d records acknowledged before kill -9", round, len(got))
				acks = append(acks, got...)
				b.restart()
				checkAcked(t, b, topic, 3, acks)
			}
		})
	}
}

// checkAcked reads every partition of topic from the start to its end
// offset and checks that each acknowledged record is there at its offset,
// that every record is one the producer sent, and none is stored twice.
func checkAcked(t *testing.T, b *testBroker, topic string, partitions int32, acks []acked) {
	t.Helper()
	ctx := testCtx(t, 90*time.Second)
	ends, err := newKadm(t, b.addr()).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]map[int64]string{}
	for _, a := range acks {
		if want[a.partition] == nil {
			want[a.partition] = map[int64]string{}
		}
		want[a.partition][a.offset] = a.value
	}
	seen := map[string]bool{}
	for p := range partitions {
		end, _ := ends.Lookup(topic, p)
		if end.Err != nil {
			t.Fatalf("partition %d end offset: %v", p, end.Err)
		}
		for off := range want[p] {
			if off >= end.Offset {
				t.Fatalf("partition %d: acknowledged offset %d is at or past the end offset %d after restart", p, off, end.Offset)
			}
		}
		// Read the whole log: franz-go checks every batch's CRC and fails
		// the fetch on a corrupt one.
		got := consumeAll(t, ctx, b.addr(), topic, p, int(end.Offset))
		found := 0
		for i, r := range got {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: offset %d at position %d", p, r.Offset, i)
			}
			v := string(r.Value)
			if !strings.HasPrefix(v, "crash-record-") {
				t.Fatalf("partition %d offset %d: garbage value %q", p, r.Offset, v)
			}
			if seen[v] {
				t.Fatalf("partition %d offset %d: %q stored twice", p, r.Offset, v)
			}
			seen[v] = true
			if w, ok := want[p][r.Offset]; ok {
				if w != v {
					t.Fatalf("partition %d offset %d: %q, but %q was acknowledged there", p, r.Offset, v, w)
				}
				found++
			}
		}
		if found != len(want[p]) {
			t.Fatalf("partition %d: %d of %d acknowledged records found", p, found, len(want[p]))
		}
	}
}

// produceUntilKilled produces to topic with acks=all until at least target
// records are acknowledged, kills the broker with SIGKILL while the producer
// is still sending, and returns every acknowledged record.
func produceUntilKilled(t *testing.T, b *testBroker, topic string, round, target int) []acked {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(5000))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		acks    []acked
		reached = make(chan struct{})
		once    sync.Once
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the producing loop; stopped by cancel
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("crash-record-%d-%09d-%s", round, i, strings.Repeat("x", i%200))
			cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				acks = append(acks, acked{r.Partition, r.Offset, string(r.Value)})
				if len(acks) >= target {
					once.Do(func() { close(reached) })
				}
				mu.Unlock()
			})
		}
	}()
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		cancel()
		wg.Wait()
		cl.Close()
		t.Fatalf("only %d records acknowledged within a minute", len(acks))
	}
	b.kill() // while the producer keeps sending
	mu.Lock()
	n := len(acks)
	mu.Unlock()
	cancel()
	wg.Wait()
	cl.Close() // fails everything still buffered; no more acks can arrive
	mu.Lock()
	defer mu.Unlock()
	if len(acks) < n {
		t.Fatalf("acks shrank")
	}
	return acks
}

func TestRestartKeepsDeletionsAndLock(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t, 60*time.Second)
	gone, kept := uniqueTopic("gone"), uniqueTopic("kept")
	big := "2097152"
	createTopic(t, b.addr(), gone, 2, nil)
	createTopic(t, b.addr(), kept, 1, map[string]*string{"max.message.bytes": &big})
	cl := newClient(t, b.addr(), kgo.ProducerBatchMaxBytes(2<<20))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: gone, Value: []byte("old")}, &kgo.Record{Topic: kept, Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r, err := newKadm(t, b.addr()).DeleteTopic(ctx, gone); err != nil || r.Err != nil {
		t.Fatalf("delete: %v %v", err, r.Err)
	}

	// A second broker on the same data directory refuses to start.
	second, err := StartGregor(ctx, gregorBin, b.dataDir)
	if err == nil {
		second.Kill()
		t.Fatal("a second broker started on a locked data directory")
	}
	if !strings.Contains(err.Error(), "lock") && !strings.Contains(err.Error(), "in use") {
		t.Errorf("second broker on the same data directory failed without naming the lock: %v", err)
	}

	b.stop()
	b.restart()
	d, err := newKadm(t, b.addr()).ListTopics(ctx, gone, kept)
	if err != nil {
		t.Fatal(err)
	}
	if d[gone].Err == nil {
		t.Fatalf("deleted topic %s is back after a restart", gone)
	}
	if d[kept].Err != nil {
		t.Fatalf("topic %s lost: %v", kept, d[kept].Err)
	}
	// The topic's config survived: a record over the broker default but
	// under the topic's max.message.bytes is accepted.
	cl2 := newClient(t, b.addr(), kgo.ProducerBatchMaxBytes(2<<20))
	large := make([]byte, 1500*1024)
	if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: kept, Value: large}).FirstErr(); err != nil {
		t.Fatalf("large record after restart (topic max.message.bytes lost?): %v", err)
	}
	createTopic(t, b.addr(), gone, 2, nil)
	ends, err := newKadm(t, b.addr()).ListEndOffsets(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("recreated %s/%d after restart: end offset %d, want 0", gone, o.Partition, o.Offset)
		}
	})
}
