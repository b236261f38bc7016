package log

import (
	"encoding/binary"
	"errors"
	"testing"
)

// recordBody builds one record body (after its length) field by field.
func recordBody(offDelta int64, key []byte, keyNull bool, headers int, extra []byte) []byte {
	b := []byte{0}
	b = binary.AppendVarint(b, 0)
	b = binary.AppendVarint(b, offDelta)
	if keyNull {
		b = binary.AppendVarint(b, -1)
	} else {
		b = binary.AppendVarint(b, int64(len(key)))
		b = append(b, key...)
	}
	b = binary.AppendVarint(b, 1)
	b = append(b, 'v')
	b = binary.AppendVarint(b, int64(headers))
	for i := 0; i < headers; i++ {
		b = binary.AppendVarint(b, 1)
		b = append(b, 'h')
		b = binary.AppendVarint(b, -1)
	}
	return append(b, extra...)
}

func batchOf(t *testing.T, count int32, bodies ...[]byte) []byte {
	var recs []byte
	for _, body := range bodies {
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
	}
	out := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(BatchHeaderSize-BatchOverhead+len(recs)))
	out[offMagic] = 2
	binary.BigEndian.PutUint32(out[offLastOffsetDelta:], uint32(count-1))
	binary.BigEndian.PutUint64(out[offProducerID:], ^uint64(0))
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(count))
	out = append(out, recs...)
	RecomputeCRC(out)
	return out
}

func TestValidateRecords(t *testing.T) {
	good := recordBody(0, []byte("k"), false, 2, nil)
	cases := []struct {
		name    string
		batch   []byte
		nullKey bool
		ok      bool
	}{
		{"one good record", batchOf(t, 1, good), false, true},
		{"two records", batchOf(t, 2, good, recordBody(1, []byte("k2"), false, 0, nil)), false, true},
		{"null key", batchOf(t, 2, good, recordBody(1, nil, true, 0, nil)), true, true},
		{"count says 3, 2 present", batchOf(t, 3, good, recordBody(1, nil, false, 0, nil)), false, false},
		{"offset deltas not consecutive", batchOf(t, 2, good, recordBody(5, nil, false, 0, nil)), false, false},
		{"bytes after the headers", batchOf(t, 1, recordBody(0, nil, false, 0, []byte{1, 2})), false, false},
		{"garbage record", batchOf(t, 1, []byte{0, 0x7f, 0x7f, 0x7f}), false, false},
		{"trailing bytes after the records", append(batchOf(t, 1, good)[:0:0], fixLen(append(batchOf(t, 1, good), 9))...), false, false},
		{"sent gzip, not gzip", func() []byte {
			b := batchOf(t, 1, good)
			b[offAttributes+1] |= CompressionGzip
			RecomputeCRC(b)
			return b
		}(), false, false},
	}
	for _, c := range cases {
		nullKey, err := ValidateRecords(c.batch)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrCorruptRecords) {
			t.Errorf("%s: error does not wrap ErrCorruptRecords: %v", c.name, err)
		}
		if c.ok && nullKey != c.nullKey {
			t.Errorf("%s: nullKey = %v", c.name, nullKey)
		}
	}
	// Real batches of every codec validate.
	for _, codec := range []int{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		if _, err := ValidateRecords(makeBatch(t, testBatch{records: 20, valueSize: 30, codec: codec})); err != nil {
			t.Errorf("codec %d: %v", codec, err)
		}
	}
}

// fixLen updates a batch's length field and CRC after bytes were appended.
func fixLen(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-BatchOverhead))
	RecomputeCRC(b)
	return b
}

func FuzzValidateRecords(f *testing.F) {
	f.Add(batchOf(nil, 1, recordBody(0, []byte("k"), false, 1, nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < BatchHeaderSize {
			return
		}
		ValidateRecords(data) // must not panic
	})
}

func TestRecompress(t *testing.T) {
	for _, from := range []int{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		for _, to := range []int{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
			orig := makeBatch(t, testBatch{records: 30, valueSize: 50, codec: from, pid: 5, epoch: 1, seq: 7, baseTs: 1000, tsStep: 3})
			out, err := Recompress(orig, to)
			if err != nil {
				t.Fatalf("%d -> %d: %v", from, to, err)
			}
			h, err := ValidateBatch(out)
			if err != nil {
				t.Fatalf("%d -> %d: invalid batch: %v", from, to, err)
			}
			oh, _ := ParseBatchHeader(orig)
			if h.Compression() != to || h.RecordCount != 30 || h.ProducerID != 5 || h.BaseSequence != 7 || h.MaxTimestamp != oh.MaxTimestamp {
				t.Fatalf("%d -> %d: header %+v", from, to, h)
			}
			a, _ := batchRecords(orig, &oh)
			b, _ := batchRecords(out, &h)
			if string(a) != string(b) {
				t.Fatalf("%d -> %d: records changed", from, to)
			}
		}
	}
}
