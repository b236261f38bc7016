package log

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// kv is a record for kvBatch: a key (noKey: null) and a value (tomb: null).
type kv struct {
	k, v        string
	noKey, tomb bool
	tsDelta     int64
}

// kvSpec describes a keyed batch.
type kvSpec struct {
	recs      []kv
	baseTs    int64
	pid       int64 // 0 = none
	epoch     int16
	seq       int32
	codec     int
	txn       bool
	control   bool
	ctlType   int16
	logAppend bool
}

// kvBatch encodes a v2 batch with keyed records, as a producer would.
func kvBatch(t testing.TB, s kvSpec) []byte {
	t.Helper()
	var recs []byte
	maxTs := s.baseTs
	n := len(s.recs)
	if s.control {
		n = 1
	}
	for i := 0; i < n; i++ {
		var r []byte
		var key, val []byte
		keyNull, valNull := false, false
		var tsd int64
		if s.control {
			key = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(s.ctlType))
			val = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), 7)
		} else {
			x := s.recs[i]
			key, val, keyNull, valNull, tsd = []byte(x.k), []byte(x.v), x.noKey, x.tomb, x.tsDelta
		}
		maxTs = max(maxTs, s.baseTs+tsd)
		r = append(r, 0)
		r = binary.AppendVarint(r, tsd)
		r = binary.AppendVarint(r, int64(i))
		if keyNull {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(key)))
			r = append(r, key...)
		}
		if valNull {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(val)))
			r = append(r, val...)
		}
		r = binary.AppendVarint(r, 0)
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	codec := s.codec
	if codec != 0 {
		var err error
		if recs, err = compressForTest(codec, recs); err != nil {
			t.Fatal(err)
		}
	}
	attrs := uint16(codec % 100)
	if s.txn {
		attrs |= AttrTransactional
	}
	if s.control {
		attrs |= AttrControl | AttrTransactional
	}
	if s.logAppend {
		attrs |= AttrLogAppendTime
	}
	pid, epoch, seq := s.pid, s.epoch, s.seq
	if pid == 0 {
		pid, epoch, seq = -1, -1, -1
	}
	if s.control {
		seq = -1
	}
	out := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(BatchHeaderSize-BatchOverhead+len(recs)))
	out[offMagic] = 2
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offLastOffsetDelta:], uint32(n-1))
	binary.BigEndian.PutUint64(out[offBaseTimestamp:], uint64(s.baseTs))
	binary.BigEndian.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(out[offProducerID:], uint64(pid))
	binary.BigEndian.PutUint16(out[offProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(out[offBaseSequence:], uint32(seq))
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(n))
	out = append(out, recs...)
	RecomputeCRC(out)
	if _, err := ValidateBatch(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// gotRec is a record read back from a log.
type gotRec struct {
	off       int64
	key, val  string
	tomb      bool
	ts        int64
	batchBase int64
}

// readRecords reads the whole log and decodes every record, checking that
// offsets strictly increase. It returns the records and the batch headers.
func readRecords(t testing.TB, l *Log) ([]gotRec, []BatchHeader) {
	t.Helper()
	var out []gotRec
	var hs []BatchHeader
	from := l.LogStartOffset()
	last := int64(-1)
	for from < l.LogEndOffset() {
		b, err := l.Read(from, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read %d: %v", from, err)
		}
		if len(b) == 0 {
			break // the rest of the log was compacted away
		}
		for len(b) > 0 {
			h, err := ValidateBatch(b)
			if err != nil {
				t.Fatalf("read %d: invalid batch: %v", from, err)
			}
			if h.BaseOffset <= last {
				t.Fatalf("batch %d after offset %d", h.BaseOffset, last)
			}
			hs = append(hs, h)
			recs, err := batchRecords(b, &h)
			if err != nil {
				t.Fatal(err)
			}
			err = forEachRecord(recs, h.RecordCount, func(r *record) error {
				o := h.BaseOffset + r.offDelta
				if o <= last || o > h.LastOffset() {
					return fmt.Errorf("record offset %d after %d (batch %d-%d)", o, last, h.BaseOffset, h.LastOffset())
				}
				last = o
				out = append(out, gotRec{off: o, key: string(r.key), val: string(r.value), tomb: r.valueNull,
					ts: h.BaseTimestamp + r.tsDelta, batchBase: h.BaseOffset})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			last = max(last, h.LastOffset())
			from = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out, hs
}

// latest returns the last record of each key among recs.
func latest(recs []gotRec) map[string]gotRec {
	m := map[string]gotRec{}
	for _, r := range recs {
		m[r.key] = r
	}
	return m
}

// compactCfg is a compacted config with small segments.
func compactCfg(segBytes int64) Config {
	c := DefaultConfig()
	c.CleanupPolicy = "compact"
	c.SegmentBytes = segBytes
	c.IndexIntervalBytes = 256
	c.DeleteRetentionMs = int64(time.Hour / time.Millisecond)
	return c
}

// fillKeys appends rounds of one-record batches over nkeys keys with values
// "k<i>=r<round>" and returns what the latest values must be.
func fillKeys(t testing.TB, l *Log, c *fakeClock, rounds, nkeys int) map[string]string {
	want := map[string]string{}
	for r := 0; r < rounds; r++ {
		for k := 0; k < nkeys; k++ {
			key, val := fmt.Sprintf("k%03d", k), fmt.Sprintf("k%03d=r%d", k, r)
			mustAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: key, v: val}}, baseTs: c.now().UnixMilli()}))
			want[key] = val
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	return want
}
