package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// partitionSize returns the on-disk size of topic's partition 0 (DescribeLogDirs).
func partitionSize(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) int64 {
	t.Helper()
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		if p, ok := d.Topics[topic][0]; ok {
			size = p.Size
		}
	})
	if size < 0 {
		t.Fatalf("no log dir entry for %s-0", topic)
	}
	return size
}

// consumeAll reads partition 0 of topic from the start up to its end offset.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		if n := len(out); n > 0 && out[n-1].Offset >= end-1 {
			return out
		}
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v after %d records", topic, err, len(out))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
}

// TestCompactionEndToEnd writes 200,000 updates over 1,000 keys plus
// tombstones for 100 of them to a compacted topic with small segments,
// and checks that the cleaner leaves the latest value of each live key,
// drops the deleted keys after delete.retention.ms, and shrinks the log.
func TestCompactionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200k records")
	}
	b := brokertest.Start(t, brokertest.WithProperty("log.cleaner.backoff.ms", "50"))
	// Writing and reading back 200k records under the race detector on a
	// loaded machine takes a good part of a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, adm := newAdmin(t, b.Addr())
	const topic = "compacted"
	// The topic starts with cleanup.policy=delete, so that nothing is
	// cleaned while it fills; compaction is switched on live below.
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("delete"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.1"),
		"delete.retention.ms":       kadm.StringPtr("1500"),
	}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const keys, rounds, deleted = 1000, 200, 100
	produce := func(rs []*kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	for r := 0; r < rounds; r++ {
		rs := make([]*kgo.Record, 0, keys)
		for k := 0; k < keys; k++ {
			key, val := fmt.Sprintf("key-%04d", k), fmt.Sprintf("value-%04d-%03d", k, r)
			rs = append(rs, &kgo.Record{Key: []byte(key), Value: []byte(val)})
			want[key] = val
		}
		produce(rs)
	}
	var tombs []*kgo.Record
	for k := 0; k < deleted; k++ {
		key := fmt.Sprintf("key-%04d", k)
		tombs = append(tombs, &kgo.Record{Key: []byte(key)})
		delete(want, key)
	}
	produce(tombs)
	// More rounds of the live keys (over 64 KiB) push the tombstones out
	// of the active segment, so that they become cleanable.
	const extra = 8
	for r := rounds; r < rounds+extra; r++ {
		rs := make([]*kgo.Record, 0, keys)
		for k := deleted; k < keys; k++ {
			key, val := fmt.Sprintf("key-%04d", k), fmt.Sprintf("value-%04d-%03d", k, r)
			rs = append(rs, &kgo.Record{Key: []byte(key), Value: []byte(val)})
			want[key] = val
		}
		produce(rs)
	}
	sizeBefore := partitionSize(t, ctx, adm, topic)
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, topic)
	if err == nil {
		_, err = res.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A record without a key is refused on a compacted topic.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); err != kerr.InvalidRecord {
		t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end := ends[topic][0].Offset
	if end != rounds*keys+deleted+extra*(keys-deleted) {
		t.Fatalf("end offset %d", end)
	}
	// Before cleaning the log holds every update; wait until it has
	// shrunk tenfold and a full read shows only the latest value of each
	// live key and no deleted key. (Reading the whole log back only once
	// it has shrunk saves reading 200k records again and again.)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		size := partitionSize(t, ctx, adm, topic)
		if size*10 > sizeBefore {
			if time.Now().After(deadline) {
				t.Fatalf("log shrank only from %d to %d bytes", sizeBefore, size)
			}
			time.Sleep(300 * time.Millisecond)
			continue
		}
		recs := consumeAll(t, ctx, b.Addr(), topic, end)
		latest := map[string]string{}
		tombstones := 0
		for _, r := range recs {
			if r.Value == nil {
				tombstones++
				delete(latest, string(r.Key))
				continue
			}
			latest[string(r.Key)] = string(r.Value)
		}
		// What stays besides one record per live key is the active segment.
		ok := tombstones == 0 && len(latest) == len(want) && len(recs) < 10*keys
		for k, v := range want {
			if latest[k] != v {
				t.Fatalf("key %s: read %q, want %q", k, latest[k], v)
			}
		}
		if ok {
			t.Logf("%d records read back (of %d written); %d bytes on disk, was %d", len(recs), end, size, sizeBefore)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted in time: %d records, %d tombstones, %d keys, %d bytes", len(recs), tombstones, len(latest), size)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestRetentionLoweredLive lowers retention.ms of a topic with
// IncrementalAlterConfigs and checks that its old segments go.
func TestRetentionLoweredLive(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("log.retention.check.interval.ms", "100"))
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr())
	const topic = "retained"
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("16384")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for i := 0; i < 2000; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("record-%05d-%080d", i, i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sizeBefore := partitionSize(t, ctx, adm, topic)
	time.Sleep(300 * time.Millisecond) // retention runs, but 7 days keep everything
	if starts, _ := adm.ListStartOffsets(ctx, topic); starts[topic][0].Offset != 0 {
		t.Fatalf("log start %d before lowering retention", starts[topic][0].Offset)
	}
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, topic)
	if err == nil {
		_, err = res.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		size := partitionSize(t, ctx, adm, topic)
		if starts[topic][0].Offset > 0 && size < sizeBefore {
			t.Logf("log start %d, %d -> %d bytes", starts[topic][0].Offset, sizeBefore, size)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention.ms=1 deleted nothing: start %d, %d bytes (was %d)", starts[topic][0].Offset, size, sizeBefore)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
