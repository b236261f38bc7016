package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRetentionBySizeSurvivesRestart(t *testing.T) {
	b := startBroker(t, "--set", "log.retention.check.interval.ms=200")
	topic := uniqueTopic("retention")
	segment, retention := "16384", "65536"
	createTopic(t, b.addr(), topic, 1, map[string]*string{"segment.bytes": &segment, "retention.bytes": &retention})
	cl := newClient(t, b.addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testCtx(t, 90*time.Second)
	value := make([]byte, 1000)
	const n = 600 // about 600 KB: many segments, most past retention.bytes
	for i := 0; i < n; i += 10 {
		var recs []*kgo.Record
		for j := range 10 {
			v := append([]byte(nil), value...)
			v[0], v[1] = byte((i+j)>>8), byte(i+j)
			recs = append(recs, &kgo.Record{Topic: topic, Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded by ctx) for the retention check to delete old segments.
	adm := newKadm(t, b.addr())
	var start int64
	for start == 0 {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("log start offset never advanced: %v", err)
		}
		o, _ := starts.Lookup(topic, 0)
		start = o.Offset
		if start == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if start >= n {
		t.Fatalf("retention removed everything: log start offset %d", start)
	}
	checkFrom := func(from int64) {
		t.Helper()
		c := newClient(t, b.addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		defer c.Close()
		var got []*kgo.Record
		for len(got) < n-int(from) {
			fs := c.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("consume from the start (%d): %v", from, err)
			}
			got = append(got, fs.Records()...)
		}
		if got[0].Offset < from {
			t.Fatalf("consumed offset %d below the log start offset %d", got[0].Offset, from)
		}
		for i, r := range got {
			off := got[0].Offset + int64(i)
			if r.Offset != off || int(r.Value[0])<<8|int(r.Value[1]) != int(off) {
				t.Fatalf("record at position %d: offset %d, payload of record %d", i, r.Offset, int(r.Value[0])<<8|int(r.Value[1]))
			}
		}
	}
	checkFrom(start)

	// A restart never brings deleted segments back.
	b.stop()
	b.restart()
	starts, err := newKadm(t, b.addr()).ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := starts.Lookup(topic, 0)
	if after.Offset < start {
		t.Fatalf("log start offset went back from %d to %d after a restart", start, after.Offset)
	}
	checkFrom(after.Offset)
}
