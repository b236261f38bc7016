package integration

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildBatch encodes a magic-v2 record batch with one record per value,
// stamped with the producer ID, epoch and first sequence (-1 for none).
func buildBatch(producerID int64, epoch int16, firstSeq int32, values ...string) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(v)}
		body := r.AppendTo(nil) // Length 0 takes one byte
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        firstSeq,
		NumRecords:           int32(len(values)),
		Records:              recs,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

// produceRaw sends one batch to topic/0 with acks=all and returns the
// partition's answer.
func produceRaw(t *testing.T, c *rawConn, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	c.roundTrip(t, req, resp)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatal("produce: malformed response")
	}
	return resp.Topics[0].Partitions[0]
}

func TestIdempotentRetries(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("idempotent")
	createTopic(t, b.addr(), topic, 1, nil)
	c := dialRaw(t, b.addr())

	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.SetVersion(4)
	initReq.TransactionTimeoutMillis = -1
	initReq.ProducerID, initReq.ProducerEpoch = -1, -1
	initResp := kmsg.NewPtrInitProducerIDResponse()
	c.roundTrip(t, initReq, initResp)
	if initResp.ErrorCode != 0 || initResp.ProducerID < 0 {
		t.Fatalf("InitProducerId: code %d, producer id %d", initResp.ErrorCode, initResp.ProducerID)
	}
	pid, epoch := initResp.ProducerID, initResp.ProducerEpoch

	first := buildBatch(pid, epoch, 0, "a", "b", "c")
	r1 := produceRaw(t, c, topic, first)
	if r1.ErrorCode != 0 || r1.BaseOffset != 0 {
		t.Fatalf("first send: code %d base offset %d", r1.ErrorCode, r1.BaseOffset)
	}
	second := buildBatch(pid, epoch, 3, "d", "e")
	r2 := produceRaw(t, c, topic, second)
	if r2.ErrorCode != 0 || r2.BaseOffset != 3 {
		t.Fatalf("second batch: code %d base offset %d", r2.ErrorCode, r2.BaseOffset)
	}
	// Retries of both batches (same producer, epoch, sequences) answer with
	// their original offsets and append nothing.
	for _, retry := range []struct {
		batch []byte
		want  int64
	}{{first, 0}, {second, 3}, {second, 3}} {
		r := produceRaw(t, c, topic, retry.batch)
		if r.ErrorCode != 0 && r.ErrorCode != kerr.DuplicateSequenceNumber.Code {
			t.Fatalf("retry: code %d", r.ErrorCode)
		}
		if r.BaseOffset != retry.want {
			t.Fatalf("retry: base offset %d, want the original %d", r.BaseOffset, retry.want)
		}
	}
	// A gap in the sequence is refused.
	gap := produceRaw(t, c, topic, buildBatch(pid, epoch, 9, "gap"))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	// A stale epoch is refused.
	if epoch > 0 {
		stale := produceRaw(t, c, topic, buildBatch(pid, epoch-1, 5, "stale"))
		if stale.ErrorCode == 0 {
			t.Fatal("a stale epoch was accepted")
		}
	}
	// The next in-order batch still goes in after the refusals.
	r3 := produceRaw(t, c, topic, buildBatch(pid, epoch, 5, "f"))
	if r3.ErrorCode != 0 || r3.BaseOffset != 5 {
		t.Fatalf("next batch: code %d base offset %d, want 5", r3.ErrorCode, r3.BaseOffset)
	}
	ctx := testCtx(t, 30*time.Second)
	got := consumeAll(t, ctx, b.addr(), topic, 0, 6)
	for i, want := range []string{"a", "b", "c", "d", "e", "f"} {
		if string(got[i].Value) != want || got[i].Offset != int64(i) {
			t.Errorf("offset %d: %q at %d, want %q", i, got[i].Value, got[i].Offset, want)
		}
	}
	ends, err := newKadm(t, b.addr()).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 6 {
		t.Fatalf("end offset %d, want 6: a retry was appended twice", o.Offset)
	}
}

func TestIdempotentRetryAfterRestart(t *testing.T) {
	for _, how := range []string{"sigterm", "kill-9"} {
		t.Run(how, func(t *testing.T) {
			b := startBroker(t)
			topic := uniqueTopic("idem-restart")
			createTopic(t, b.addr(), topic, 1, nil)
			c := dialRaw(t, b.addr())
			initReq := kmsg.NewPtrInitProducerIDRequest()
			initReq.SetVersion(4)
			initReq.TransactionTimeoutMillis = -1
			initReq.ProducerID, initReq.ProducerEpoch = -1, -1
			initResp := kmsg.NewPtrInitProducerIDResponse()
			c.roundTrip(t, initReq, initResp)
			if initResp.ErrorCode != 0 {
				t.Fatalf("InitProducerId: code %d", initResp.ErrorCode)
			}
			pid, epoch := initResp.ProducerID, initResp.ProducerEpoch
			batches := [][]byte{
				buildBatch(pid, epoch, 0, "a", "b"),
				buildBatch(pid, epoch, 2, "c"),
			}
			for i, batch := range batches {
				if r := produceRaw(t, c, topic, batch); r.ErrorCode != 0 {
					t.Fatalf("batch %d: code %d", i, r.ErrorCode)
				}
			}
			if how == "sigterm" {
				b.stop()
			} else {
				b.kill()
			}
			b.restart()
			// The producer's retry after the restart is still recognised.
			c = dialRaw(t, b.addr())
			r := produceRaw(t, c, topic, batches[1])
			if (r.ErrorCode != 0 && r.ErrorCode != kerr.DuplicateSequenceNumber.Code) || r.BaseOffset != 2 {
				t.Fatalf("retry after restart: code %d base offset %d, want the original offset 2", r.ErrorCode, r.BaseOffset)
			}
			next := produceRaw(t, c, topic, buildBatch(pid, epoch, 3, "d"))
			if next.ErrorCode != 0 || next.BaseOffset != 3 {
				t.Fatalf("next batch after restart: code %d base offset %d, want 3", next.ErrorCode, next.BaseOffset)
			}
			got := consumeAll(t, testCtx(t, 30*time.Second), b.addr(), topic, 0, 4)
			for i, want := range []string{"a", "b", "c", "d"} {
				if string(got[i].Value) != want {
					t.Fatalf("offset %d: %q, want %q", i, got[i].Value, want)
				}
			}
		})
	}
}
