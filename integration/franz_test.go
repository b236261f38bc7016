package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sameRecord reports how got differs from want: key, value (nil distinct
// from empty), headers in order, timestamp (milliseconds), partition.
func sameRecord(got, want *kgo.Record) string {
	var diffs []string
	if !bytes.Equal(got.Key, want.Key) || (got.Key == nil) != (want.Key == nil) {
		diffs = append(diffs, fmt.Sprintf("key %q (nil %v), want %q (nil %v)", got.Key, got.Key == nil, want.Key, want.Key == nil))
	}
	if !bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) {
		diffs = append(diffs, fmt.Sprintf("value of %d bytes (nil %v), want %d bytes (nil %v)", len(got.Value), got.Value == nil, len(want.Value), want.Value == nil))
	}
	if len(got.Headers) != len(want.Headers) {
		diffs = append(diffs, fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers)))
	} else {
		for i := range got.Headers {
			g, w := got.Headers[i], want.Headers[i]
			if g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) {
				diffs = append(diffs, fmt.Sprintf("header %d = %q:%q (nil %v), want %q:%q (nil %v)", i, g.Key, g.Value, g.Value == nil, w.Key, w.Value, w.Value == nil))
			}
		}
	}
	if !want.Timestamp.IsZero() && got.Timestamp.UnixMilli() != want.Timestamp.UnixMilli() {
		diffs = append(diffs, fmt.Sprintf("timestamp %d, want %d", got.Timestamp.UnixMilli(), want.Timestamp.UnixMilli()))
	}
	if got.Partition != want.Partition {
		diffs = append(diffs, fmt.Sprintf("partition %d, want %d", got.Partition, want.Partition))
	}
	return strings.Join(diffs, "; ")
}

// checkRecords compares consumed records with the produced ones, in order,
// and checks offsets are contiguous from 0.
func checkRecords(t *testing.T, got, want []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if d := sameRecord(got[i], want[i]); d != "" {
			t.Errorf("record %d: %s", i, d)
		}
		if got[i].Offset != int64(i) {
			t.Errorf("record %d: offset %d, want %d", i, got[i].Offset, i)
		}
		if want[i].Offset != got[i].Offset {
			t.Errorf("record %d: consumed at offset %d, produce acknowledged offset %d", i, got[i].Offset, want[i].Offset)
		}
	}
}

// variedRecords returns n records for partition p covering null and empty
// keys and values, headers (repeated keys, null and empty values) and
// explicit timestamps.
func variedRecords(topic string, p int32, n int) []*kgo.Record {
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	out := make([]*kgo.Record, n)
	for i := range out {
		r := &kgo.Record{Topic: topic, Partition: p, Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		switch i % 6 {
		case 0: // null key, null value
		case 1:
			r.Key, r.Value = []byte{}, []byte{}
		case 2:
			r.Key, r.Value = []byte(fmt.Sprintf("key-%d", i)), []byte(fmt.Sprintf("value-%d", i))
			r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}, {Key: "a", Value: []byte{}}, {Key: "n", Value: nil}}
		case 3:
			r.Key = nil
			r.Value = bytes.Repeat([]byte{byte(i)}, 1+i%300)
		case 4:
			r.Key = []byte{0, 1, 2, 0xff}
			r.Value = nil
			r.Headers = []kgo.RecordHeader{{Key: "", Value: []byte("empty key")}}
		case 5:
			r.Key = []byte("k")
			r.Value = make([]byte, 64)
			rand.Read(r.Value)
		}
		out[i] = r
	}
	return out
}

// produceAll produces records synchronously in chunks (so several batches
// land in each partition) and fills in their acknowledged offsets.
func produceAll(t *testing.T, cl *kgo.Client, recs []*kgo.Record, chunk int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for i := 0; i < len(recs); i += chunk {
		if err := cl.ProduceSync(ctx, recs[i:min(i+chunk, len(recs))]...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func TestFranzRoundTrip(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("roundtrip")
	createTopic(t, b.addr(), topic, 3, nil)
	cl := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var all [][]*kgo.Record
	for p := int32(0); p < 3; p++ {
		recs := variedRecords(topic, p, 120+int(p)*50)
		produceAll(t, cl, recs, 17)
		all = append(all, recs)
	}
	ctx := testCtx(t, 60*time.Second)
	for p, want := range all {
		got := consumeAll(t, ctx, b.addr(), topic, int32(p), len(want))
		checkRecords(t, got, want)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range all {
		if o, _ := ends.Lookup(topic, int32(p)); o.Err != nil || o.Offset != int64(len(want)) {
			t.Errorf("partition %d: end offset %d (err %v), want %d", p, o.Offset, o.Err, len(want))
		}
	}
}

func TestFranzCompression(t *testing.T) {
	b := startBroker(t)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		attr  int16 // the codec bits of a batch's attributes
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := uniqueTopic("codec-" + c.name)
			createTopic(t, b.addr(), topic, 1, nil)
			cl := newClient(t, b.addr(), kgo.ProducerBatchCompression(c.codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			recs := variedRecords(topic, 0, 600)
			for i, r := range recs { // compressible values too
				if i%6 == 3 {
					r.Value = []byte(strings.Repeat("compress me ", 1+i%40))
				}
			}
			produceAll(t, cl, recs, 100)
			ctx := testCtx(t, 30*time.Second)
			checkRecords(t, consumeAll(t, ctx, b.addr(), topic, 0, len(recs)), recs)

			// The broker stores batches as sent: a raw fetch shows the codec.
			req := kmsg.NewPtrFetchRequest()
			req.MaxWaitMillis, req.MaxBytes = 0, 1<<20
			req.SetVersion(12)
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			raw := dialRaw(t, b.addr())
			resp := kmsg.NewPtrFetchResponse()
			raw.roundTrip(t, req, resp)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("fetch response has %d topics", len(resp.Topics))
			}
			data := resp.Topics[0].Partitions[0].RecordBatches
			batches := 0
			for len(data) >= 61 {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(data); err != nil {
					break // a partial batch at the end
				}
				if got := rb.Attributes & 7; got != c.attr {
					t.Fatalf("batch at offset %d has codec %d, want %d (stored as sent)", rb.FirstOffset, got, c.attr)
				}
				batches++
				data = data[12+int(rb.Length):]
			}
			if batches == 0 {
				t.Fatal("raw fetch returned no whole batch")
			}
		})
	}
}

func TestFranzLargeRecord(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("large")
	maxBytes := "2097152"
	createTopic(t, b.addr(), topic, 1, map[string]*string{"max.message.bytes": &maxBytes})
	cl := newClient(t, b.addr(), kgo.ProducerBatchMaxBytes(2<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	big := make([]byte, 900*1024)
	rand.Read(big)
	recs := []*kgo.Record{
		{Topic: topic, Key: []byte("small-before"), Value: []byte("x")},
		{Topic: topic, Key: []byte("big"), Value: big},
		{Topic: topic, Key: []byte("small-after"), Value: []byte("y")},
	}
	produceAll(t, cl, recs, 1)
	ctx := testCtx(t, 30*time.Second)
	checkRecords(t, consumeAll(t, ctx, b.addr(), topic, 0, len(recs)), recs)
	// A consumer whose partition limit is below the record size still gets it (KIP-74).
	got := consumeAll(t, ctx, b.addr(), topic, 0, len(recs), kgo.FetchMaxPartitionBytes(64<<10), kgo.FetchMaxBytes(64<<10))
	checkRecords(t, got, recs)
}

func TestFranzFetchLongPoll(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("longpoll")
	createTopic(t, b.addr(), topic, 1, nil)
	// The consumer asks the broker to wait up to a minute: only a broker
	// that wakes the waiting fetch on append delivers within the test's
	// deadline.
	consumer := newClient(t, b.addr(), kgo.FetchMaxWait(time.Minute), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(0)},
	}))
	got := make(chan *kgo.Record, 1)
	errc := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	exited := make(chan struct{})
	defer func() { cancel(); <-exited }()
	go func() {
		defer close(exited)
		for {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				errc <- ctx.Err()
				return
			}
			if err := fs.Err(); err != nil {
				errc <- err
				return
			}
			if recs := fs.Records(); len(recs) > 0 {
				got <- recs[0]
				return
			}
		}
	}()
	time.Sleep(time.Second) // let the consumer's fetch reach the broker and park
	producer := newClient(t, b.addr())
	want := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("woken")}
	if err := producer.ProduceSync(ctx, want).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if d := sameRecord(r, want); d != "" {
			t.Fatal(d)
		}
	case err := <-errc:
		t.Fatalf("waiting consumer never got the record: %v", err)
	}
}

func TestFranzFetchFromMiddleOfBatch(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("middle")
	createTopic(t, b.addr(), topic, 1, nil)
	cl := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := variedRecords(topic, 0, 40)
	produceAll(t, cl, recs, 20) // two batches: offsets 0-19 and 20-39
	ctx := testCtx(t, 30*time.Second)
	for _, from := range []int64{7, 20, 33, 39} {
		c := newClient(t, b.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
		var got []*kgo.Record
		for len(got) < len(recs)-int(from) {
			fs := c.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("from %d: %v", from, err)
			}
			got = append(got, fs.Records()...)
		}
		c.Close()
		if got[0].Offset != from {
			t.Fatalf("from %d: first record at offset %d", from, got[0].Offset)
		}
		for i, r := range got {
			if d := sameRecord(r, recs[int(from)+i]); d != "" || r.Offset != from+int64(i) {
				t.Fatalf("from %d: record %d at offset %d: %s", from, i, r.Offset, d)
			}
		}
	}
}

func TestFranzLogAppendTime(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("logappendtime")
	lat := "LogAppendTime"
	createTopic(t, b.addr(), topic, 1, map[string]*string{"message.timestamp.type": &lat})
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl := newClient(t, b.addr(), kgo.ProducerBatchCompression(codec))
		ctx := testCtx(t, 30*time.Second)
		old := time.Now().Add(-24 * time.Hour)
		before := time.Now().Truncate(time.Millisecond)
		var recs []*kgo.Record
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i), Timestamp: old})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		base := recs[0].Offset
		// franz-go checks the batch CRC, so a timestamp rewritten without a
		// recomputed CRC fails here.
		got := consumeAll(t, ctx, b.addr(), topic, 0, int(base)+len(recs))[base:]
		for i, r := range got {
			if r.Timestamp.Before(before) || r.Timestamp.After(after) {
				t.Errorf("record %d: timestamp %v, want the broker's append time in [%v, %v]", i, r.Timestamp, before, after)
			}
			if r.Attrs.TimestampType() != 1 {
				t.Errorf("record %d: timestamp type %d, want 1 (LogAppendTime)", i, r.Attrs.TimestampType())
			}
			if string(r.Value) != string(recs[i].Value) {
				t.Errorf("record %d: %q, want %q", i, r.Value, recs[i].Value)
			}
		}
	}
}
