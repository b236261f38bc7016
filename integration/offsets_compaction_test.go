package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsPartitionSize is the size on disk of __consumer_offsets partition
// p, through DescribeLogDirs.
func offsetsPartitionSize(t *testing.T, ctx context.Context, adm *kadm.Client, p int32) int64 {
	t.Helper()
	all, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"__consumer_offsets": {p: {}}})
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	for _, ds := range all {
		if d, ok := ds.LookupPartition("__consumer_offsets", p); ok {
			return d.Size
		}
	}
	t.Fatalf("describe log dirs: no __consumer_offsets-%d in %v", p, all)
	return 0
}

// commitOffset commits one partition's offset with generation -1 (a group
// used only to store offsets, as kadm, kcat and kafka-go do).
// The topic goes by name and ID (the version kgo picks decides which is sent).
func commitOffset(ctx context.Context, cl *kgo.Client, group, topic string, id [16]byte, part int32, off int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = part, off, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("commit %s/%d at %d: %w", topic, part, off, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s/%d at %d: %w", topic, p.Partition, off, err)
			}
		}
	}
	return nil
}

// TestConsumerOffsetsStaySmall commits the same few partitions 20,000 times
// and checks that the log cleaner keeps __consumer_offsets small: with
// 16 KiB segments (offsets.topic.segment.bytes) the partition holding the
// group shrinks to a few segments once cleaned, and the latest offsets
// survive the cleaning and a restart.
func TestConsumerOffsetsStaySmall(t *testing.T) {
	const (
		segment    = 16 << 10
		commits    = 20000
		committers = 4
		parts      = committers // each committer owns one partition, so its last commit is that partition's
	)
	b := startBroker(t,
		"--set", "offsets.topic.num.partitions=1", // one partition holds every group
		"--set", fmt.Sprintf("offsets.topic.segment.bytes=%d", segment),
		"--set", "log.cleaner.backoff.ms=100",
	)
	topic, group := uniqueTopic("offsets-small"), "offsets-small"
	createTopic(t, b.addr(), topic, parts, nil)
	ctx := testCtx(t, 50*time.Second)
	adm := newKadm(t, b.addr())
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	id := td[topic].ID

	// committers goroutines, each committing its own partitions with rising
	// offsets.
	var wg sync.WaitGroup
	errs := make(chan error, committers)
	for i := range committers {
		cl := newClient(t, b.addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range commits / committers {
				if err := commitOffset(ctx, cl, group, topic, id, int32(i%parts), int64(n*committers+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// What each partition's last commit was.
	want := map[int32]int64{}
	for i := range committers {
		last := int64((commits/committers-1)*committers + i)
		want[int32(i%parts)] = max(want[int32(i%parts)], last)
	}

	rc, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatalf("describe __consumer_offsets configs: %v", err)
	}
	if v, err := rc.On("__consumer_offsets", nil); err != nil || v.Err != nil {
		t.Fatalf("describe __consumer_offsets configs: %v %v", err, v.Err)
	} else if got := configValue(v.Configs, "segment.bytes"); got != fmt.Sprint(segment) {
		t.Fatalf("__consumer_offsets segment.bytes = %q, want %d (offsets.topic.segment.bytes)", got, segment)
	}
	// Each commit is a batch of about 100 bytes: without cleaning the
	// partition would hold about 2 MB. Cleaned, the last value per key
	// remains plus the active segment.
	bound := int64(4 * segment)
	var size int64
	for size = offsetsPartitionSize(t, ctx, adm, 0); size > bound; size = offsetsPartitionSize(t, ctx, adm, 0) {
		select {
		case <-ctx.Done():
			t.Fatalf("__consumer_offsets-0 is %d bytes after %d commits, want at most %d", size, commits, bound)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("__consumer_offsets-0: %d bytes after %d commits (bound %d)", size, commits, bound)

	check := func(when string, adm *kadm.Client) {
		t.Helper()
		got, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("%s: fetch offsets: %v", when, err)
		}
		for p, off := range want {
			o, ok := got.Lookup(topic, p)
			if !ok || o.Err != nil || o.At != off {
				t.Fatalf("%s: committed offset of %s/%d = %+v, want %d", when, topic, p, o, off)
			}
		}
	}
	check("after cleaning", adm)
	b.stop()
	b.restart()
	check("after a restart", newKadm(t, b.addr()))
}
