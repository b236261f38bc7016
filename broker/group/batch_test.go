package group

import (
	"bytes"
	"testing"

	blog "github.com/gregorhq/gregor/broker/log"
)

func TestBatchRoundTrip(t *testing.T) {
	recs := []Record{
		{Key: []byte("k1"), Value: []byte("v1")},
		{Key: []byte("k2"), Value: nil},      // tombstone
		{Key: []byte("k3"), Value: []byte{}}, // empty, not null
	}
	b := EncodeBatch(recs, 1234)
	h, err := blog.ValidateBatch(b)
	if err != nil {
		t.Fatalf("the log refuses the batch: %v", err)
	}
	if h.RecordCount != 3 || h.LastOffsetDelta != 2 || h.MaxTimestamp != 1234 || h.ProducerID != -1 {
		t.Fatalf("header %+v", h)
	}
	got, size, err := DecodeBatch(append(b, 0xde, 0xad))
	if err != nil || size != len(b) || len(got) != 3 {
		t.Fatalf("decode: %v size %d/%d, %d records", err, size, len(b), len(got))
	}
	for i := range recs {
		if !bytes.Equal(got[i].Key, recs[i].Key) || !bytes.Equal(got[i].Value, recs[i].Value) || (got[i].Value == nil) != (recs[i].Value == nil) {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], recs[i])
		}
	}
	b[len(b)-1] ^= 1
	if _, _, err := DecodeBatch(b); err == nil {
		t.Fatal("corrupt batch decoded")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch([]Record{{Key: []byte("k"), Value: []byte("v")}}, 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, size, err := DecodeBatch(b)
		if err == nil && (size > len(b) || size < batchHeaderSize) {
			t.Fatalf("size %d of %d bytes", size, len(b))
		}
		l := newLoader(&Config{Logger: discard()}, 0)
		for _, r := range recs {
			l.apply(r)
		}
	})
}

func FuzzLoadRecord(f *testing.F) {
	h := offsetRecord("g", TopicPartition{"t", 1}, Offset{Offset: 5, ExpireTimestamp: -1})
	f.Add(h.Key, h.Value)
	cfg := DefaultConfig()
	cfg.Logger = discard()
	cfg.Validate()
	g := NewGroup(&cfg, "g", 0)
	m := g.metadataRecord(0)
	f.Add(m.Key, m.Value)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		l := newLoader(&cfg, 0)
		l.apply(Record{Key: k, Value: v})
		l.result()
	})
}
