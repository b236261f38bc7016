package integration

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offsets of fields in a magic-v2 record batch.
const (
	batchCRCAt        = 17
	batchAttributesAt = 21
	batchMagicAt      = 16
	batchLastDeltaAt  = 23
	batchNumRecsAt    = 57
	batchRecordsAt    = 61
)

// reCRC recomputes a batch's CRC-32C after an edit.
func reCRC(raw []byte) []byte {
	binary.BigEndian.PutUint32(raw[batchCRCAt:], crc32.Checksum(raw[batchAttributesAt:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func TestProduceValidation(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("validate")
	small := "1000"
	createTopic(t, b.addr(), topic, 1, map[string]*string{"max.message.bytes": &small})
	c := dialRaw(t, b.addr())

	big := make([]byte, 2000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	cases := []rejectCase{
		{"corrupt CRC", func() []byte {
			raw := buildBatch(-1, -1, -1, "a", "b")
			raw[len(raw)-1] ^= 0xff
			return raw
		}, -1, []*kerr.Error{kerr.CorruptMessage}},
		{"control batch from a client", func() []byte {
			raw := buildBatch(-1, -1, -1, "a")
			binary.BigEndian.PutUint16(raw[batchAttributesAt:], 0x20)
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.InvalidRecord}},
		{"record count larger than the records", func() []byte {
			raw := buildBatch(-1, -1, -1, "a", "b")
			binary.BigEndian.PutUint32(raw[batchNumRecsAt:], 3)
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"record count smaller than the records", func() []byte {
			raw := buildBatch(-1, -1, -1, "a", "b", "c")
			binary.BigEndian.PutUint32(raw[batchNumRecsAt:], 2)
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"magic 1", func() []byte {
			raw := buildBatch(-1, -1, -1, "a")
			raw[batchMagicAt] = 1
			return raw
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord, kerr.UnsupportedForMessageFormat, kerr.UnsupportedVersion}},
		{"two batches", func() []byte {
			return append(buildBatch(-1, -1, -1, "a"), buildBatch(-1, -1, -1, "b")...)
		}, -1, []*kerr.Error{kerr.InvalidRecord, kerr.CorruptMessage}},
		{"truncated batch", func() []byte {
			raw := buildBatch(-1, -1, -1, "a", "b")
			return raw[:len(raw)-3]
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"empty records", func() []byte { return []byte{} }, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"over the topic's max.message.bytes", func() []byte { return buildBatch(-1, -1, -1, string(big)) }, -1, []*kerr.Error{kerr.MessageTooLarge, kerr.RecordListTooLarge}},
		{"acks=2", func() []byte { return buildBatch(-1, -1, -1, "a") }, 2, []*kerr.Error{kerr.InvalidRequiredAcks}},
	}
	for _, tc := range cases {
		c = checkRejected(t, b.addr(), c, topic, tc.name, tc.batch(), tc.acks, tc.want)
	}
	// None of them appended anything; a valid batch still goes in at 0.
	r := produceRaw(t, c, topic, buildBatch(-1, -1, -1, "valid"))
	if r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("valid batch after the rejects: code %d base offset %d, want 0", r.ErrorCode, r.BaseOffset)
	}
	got := consumeAll(t, testCtx(t, 30*time.Second), b.addr(), topic, 0, 1)
	if string(got[0].Value) != "valid" {
		t.Fatalf("log holds %q", got[0].Value)
	}
}

// rejectCase is a produce the broker must refuse.
type rejectCase struct {
	name  string
	batch func() []byte
	acks  int16
	want  []*kerr.Error // any of these
}

// checkRejected sends batch to topic/0 and checks the partition's error
// code is one of want. It returns a usable connection (a new one if the
// broker closed c).
func checkRejected(t *testing.T, addr string, c *rawConn, topic, name string, batch []byte, acks int16, want []*kerr.Error) *rawConn {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	if err := c.tryRoundTrip(req, resp); err != nil {
		t.Errorf("%s: no answer (%v)", name, err)
		return dialRaw(t, addr)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Errorf("%s: malformed response", name)
		return c
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, w := range want {
		if code == w.Code {
			return c
		}
	}
	var names []string
	for _, w := range want {
		names = append(names, w.Message)
	}
	got := "none"
	if err := kerr.ErrorForCode(code); err != nil {
		got = err.(*kerr.Error).Message
	}
	t.Errorf("%s: code %d (%s), want one of %s", name, code, got, strings.Join(names, ", "))
	return c
}

// TestProduceRejectsUndecodableRecords sends batches whose header and CRC
// are valid but whose records are not: Kafka's validator walks the records
// (decompressing them) and refuses such a batch, so a consumer is never
// served records it cannot decode.
func TestProduceRejectsUndecodableRecords(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("undecodable")
	createTopic(t, b.addr(), topic, 1, nil)
	c := dialRaw(t, b.addr())
	for _, tc := range []rejectCase{
		{"record count and offset span agree, fewer records present", func() []byte {
			raw := buildBatch(-1, -1, -1, "a", "b")
			binary.BigEndian.PutUint32(raw[batchNumRecsAt:], 3)
			binary.BigEndian.PutUint32(raw[batchLastDeltaAt:], 2)
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"garbage records under a valid CRC", func() []byte {
			raw := buildBatch(-1, -1, -1, "aaaa", "bbbb")
			for i := batchRecordsAt; i < len(raw); i++ {
				raw[i] = 0xee
			}
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
		{"gzip batch that does not decompress", func() []byte {
			raw := buildBatch(-1, -1, -1, "aaaa", "bbbb")
			binary.BigEndian.PutUint16(raw[batchAttributesAt:], 1) // gzip
			return reCRC(raw)
		}, -1, []*kerr.Error{kerr.CorruptMessage, kerr.InvalidRecord}},
	} {
		c = checkRejected(t, b.addr(), c, topic, tc.name, tc.batch(), tc.acks, tc.want)
	}
	ends, err := newKadm(t, b.addr()).ListEndOffsets(testCtx(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 0 {
		t.Errorf("undecodable batches were appended: end offset %d, want 0", o.Offset)
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("outofrange")
	createTopic(t, b.addr(), topic, 1, nil)
	c := dialRaw(t, b.addr())
	produceRaw(t, c, topic, buildBatch(-1, -1, -1, "a", "b"))
	for _, off := range []int64{3, 1000, -5} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(11)
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = off, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrFetchResponse()
		c.roundTrip(t, req, resp)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Errorf("fetch at %d: code %d, want OFFSET_OUT_OF_RANGE", off, p.ErrorCode)
		}
	}
	// At the log end: no error, no data.
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 2, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrFetchResponse()
	c.roundTrip(t, req, resp)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 2 {
		t.Errorf("fetch at the end: code %d, %d bytes, high watermark %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

func TestProducePerPartitionErrors(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("perpartition")
	createTopic(t, b.addr(), topic, 2, nil)
	c := dialRaw(t, b.addr())
	bad := buildBatch(-1, -1, -1, "bad")
	bad[len(bad)-1] ^= 0xff
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, records := range [][]byte{buildBatch(-1, -1, -1, "good"), bad, buildBatch(-1, -1, -1, "nowhere")} {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(p), records
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	c.roundTrip(t, req, resp)
	codes := map[int32]int16{}
	for _, p := range resp.Topics[0].Partitions {
		codes[p.Partition] = p.ErrorCode
	}
	if codes[0] != 0 || codes[1] != kerr.CorruptMessage.Code || codes[2] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("codes by partition %v, want 0: none, 1: CORRUPT_MESSAGE, 2: UNKNOWN_TOPIC_OR_PARTITION", codes)
	}
	ctx := testCtx(t, 30*time.Second)
	ends, err := newKadm(t, b.addr()).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int64{1, 0} {
		if o, _ := ends.Lookup(topic, int32(p)); o.Offset != want {
			t.Errorf("partition %d: end offset %d, want %d", p, o.Offset, want)
		}
	}
	// ListOffsets for a partition that does not exist.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(7)
	lo.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = 5, -1, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	loResp := kmsg.NewPtrListOffsetsResponse()
	c.roundTrip(t, lo, loResp)
	if code := loResp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("ListOffsets of partition 5: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
}
