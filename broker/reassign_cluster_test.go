package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/replicacheck"
)

// ackedProducer produces unique values with an idempotent acks=all
// producer until stopped, remembering the ones acknowledged.
type ackedProducer struct {
	mu    sync.Mutex
	acked map[string]bool
	stop  context.CancelFunc
	done  chan struct{}
}

func startAckedProducer(t *testing.T, seeds []string, topic string) *ackedProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), freshMetadata(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000), kgo.ProduceRequestTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ap := &ackedProducer{acked: map[string]bool{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(ap.done)
		defer cl.Close()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("v%06d", i)
			res := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)})
			if res.FirstErr() == nil {
				ap.mu.Lock()
				ap.acked[v] = true
				ap.mu.Unlock()
			}
		}
	}()
	return ap
}

func (ap *ackedProducer) count() int {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return len(ap.acked)
}

func (ap *ackedProducer) finish() map[string]bool {
	ap.stop()
	<-ap.done
	return ap.acked
}

// settledEndOffsets lists topic's end offsets, waiting out retriable
// partition errors: a leader just elected answers OFFSET_NOT_AVAILABLE
// until its high watermark has caught up.
func settledEndOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) kadm.ListedOffsets {
	t.Helper()
	var ends kadm.ListedOffsets
	waitFor(t, "the end offsets of "+topic, func() error {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err != nil {
			return err
		}
		return ends.Error()
	})
	return ends
}

// readAll reads every record of topic's partitions from the start up to
// their end offsets.
func readAll(t *testing.T, ctx context.Context, seeds []string, adm *kadm.Client, topic string) map[string]int {
	t.Helper()
	ends := settledEndOffsets(t, ctx, adm, topic)
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[string]int{}
	n := int64(0)
	for n < want {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s: %v (%d of %d)", topic, err, n, want)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
	}
	return got
}

// reassigning lists every reassignment in progress (null topics), by topic
// and partition.
func reassigning(ctx context.Context, cl *kgo.Client) (map[string]map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition, error) {
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[string]map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for _, t := range resp.Topics {
		out[t.Topic] = map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
		for _, p := range t.Partitions {
			out[t.Topic][p.Partition] = p
		}
	}
	return out, nil
}

// TestReassignOntoNewBroker grows a three-node cluster by a fourth broker
// and moves a replica of every partition onto it while an idempotent
// acks=all producer writes: every acknowledged record is readable after,
// once each; the new replicas hold the same bytes as the others; the moved
// replicas' directories are gone from their old brokers; the partition
// whose leader was moved away is led by the new broker.
func TestReassignOntoNewBroker(t *testing.T) {
	const topic = "moving"
	c := brokertest.StartCluster(t, 3,
		brokertest.WithProperty("min.insync.replicas", "2"),
		brokertest.WithProperty("replica.lag.time.max.ms", "10000"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], freshMetadata())
	if res, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	ap := startAckedProducer(t, c.Seeds(), topic)
	waitFor(t, "records acknowledged", func() error {
		if n := ap.count(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	c.AddBroker()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	// Each partition gives one replica to broker 4, which comes first (so
	// is the preferred leader); partition 0 gives up its leader.
	targets := map[int32][]int32{}
	moved := map[int32]int32{} // partition -> broker it leaves
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		leave := p.Replicas[(int(p.Partition)+1)%3]
		if p.Partition == 0 {
			leave = p.Leader
		}
		target := []int32{4}
		for _, r := range p.Replicas {
			if r != leave {
				target = append(target, r)
			}
		}
		targets[p.Partition], moved[p.Partition] = target, leave
		req.Assign(topic, p.Partition, target)
	}
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("reassign: %v", err)
	}
	waitFor(t, "reassignments complete", func() error {
		busy, err := reassigning(ctx, cl)
		if err != nil {
			return err
		}
		if len(busy[topic]) > 0 {
			return fmt.Errorf("in progress: %v", busy)
		}
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[topic].Partitions {
			if !slices.Equal(p.Replicas, targets[p.Partition]) {
				return fmt.Errorf("partition %d replicas %v, want %v", p.Partition, p.Replicas, targets[p.Partition])
			}
			if p.Partition == 0 && p.Leader != 4 {
				return fmt.Errorf("partition 0 led by %d, want 4", p.Leader)
			}
		}
		return nil
	})
	// Keep producing through the new placement, then stop.
	before := ap.count()
	waitFor(t, "records acknowledged after the move", func() error {
		if n := ap.count(); n < before+200 {
			return fmt.Errorf("%d acknowledged, %d before", n, before)
		}
		return nil
	})
	acked := ap.finish()
	got := readAll(t, ctx, c.Seeds(), adm, topic)
	for v := range acked {
		if got[v] != 1 {
			t.Errorf("acknowledged %s read %d times", v, got[v])
		}
	}
	t.Logf("%d acknowledged, %d read", len(acked), len(got))
	// Every replica of every partition holds the same bytes, and the
	// brokers a replica left hold no directory of it.
	ends := settledEndOffsets(t, ctx, adm, topic)
	for p, target := range targets {
		end, _ := ends.Lookup(topic, p)
		waitFor(t, "replicas in sync", func() error {
			var dirs []string
			for _, id := range target {
				dirs = append(dirs, c.Node(int(id)).DataDir())
			}
			m, err := replicacheck.Compare(dirs, topic, p, end.Offset)
			if err == nil && m != nil {
				err = errors.New(m.String())
			}
			return err
		})
		dir := filepath.Join(c.Node(int(moved[p])).DataDir(), fmt.Sprintf("%s-%d", topic, p))
		waitFor(t, "old replica deleted", func() error {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s still there: %v", dir, err)
			}
			return nil
		})
	}
}

// TestStrayReplicaDeleted: a partition moved off a broker while that
// broker was down leaves no copy there once it is back.
func TestStrayReplicaDeleted(t *testing.T) {
	const topic = "stray-copy"
	c := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, adm := newAdmin(t, c.Seeds()[0], kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic), freshMetadata())
	if res, err := adm.CreateTopic(ctx, 1, 2, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	p := md.Topics[topic].Partitions[0]
	var gone, stay, third int32 = -1, p.Leader, -1
	for _, r := range p.Replicas {
		if r != p.Leader {
			gone = r
		}
	}
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(p.Replicas, id) {
			third = id
		}
	}
	c.Stop(int(gone))
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, []int32{stay, third})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign: %v %v", err, res.Error())
	}
	waitFor(t, "the move done", func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		if r := md.Topics[topic].Partitions[0].Replicas; !slices.Equal(r, []int32{stay, third}) {
			return fmt.Errorf("replicas %v", r)
		}
		return nil
	})
	dir := filepath.Join(c.Node(int(gone)).DataDir(), topic+"-0")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the stopped broker's copy should still be there: %v", err)
	}
	c.Start(int(gone))
	waitFor(t, "stray copy deleted", func() error {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %v", dir, err)
		}
		return nil
	})
}
