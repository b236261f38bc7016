package log

import (
	"fmt"
	"os"
	"testing"
)

func FuzzValidateBatch(f *testing.F) {
	f.Add(makeBatch(f, testBatch{records: 3, valueSize: 10}))
	f.Add(makeBatch(f, testBatch{records: 1, codec: CompressionGzip}))
	f.Add([]byte{})
	f.Add(make([]byte, BatchHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateBatch(b)
		if err != nil {
			return
		}
		if h.Size() > len(b) || h.Size() < BatchHeaderSize {
			t.Fatalf("accepted size %d of %d bytes", h.Size(), len(b))
		}
		// Decoding the records of a valid batch must not panic either.
		recordTimes(b, &h, func(int32, int64) bool { return true })
	})
}

// FuzzRecovery treats arbitrary bytes as a segment file after an unclean
// shutdown: Open must not panic, and the log must serve only valid batches.
func FuzzRecovery(f *testing.F) {
	var seg []byte
	for i := 0; i < 3; i++ {
		b := makeBatch(f, testBatch{records: 2, valueSize: 5})
		SetBaseOffset(b, int64(2*i))
		seg = append(seg, b...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte("not a segment"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := NewMemFS()
		fs.MkdirAll("/d/t-0", 0o755)
		w, _ := fs.OpenFile("/d/t-0/"+segFileName(0, ".log"), os.O_CREATE|os.O_RDWR, 0o644)
		w.Write(data)
		w.Close()
		l, err := Open("/d/t-0", DefaultConfig(), Options{FS: fs, Logger: quiet})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		from := l.LogStartOffset()
		for from < l.LogEndOffset() {
			b, err := l.Read(from, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				t.Fatalf("read %d: %v", from, err)
			}
			if len(b) == 0 {
				t.Fatalf("nothing at %d below end %d", from, l.LogEndOffset())
			}
			for len(b) > 0 {
				h, err := ValidateBatch(b)
				if err != nil {
					t.Fatalf("served invalid batch: %v", err)
				}
				from = h.NextOffset()
				b = b[h.Size():]
			}
		}
		l.OffsetForTimestamp(0)
		l.MaxTimestamp()
		// The recovered log accepts appends.
		if _, err := l.Append(makeBatch(t, testBatch{}), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRecords decodes arbitrary bytes as a batch's records, as the cleaner
// and CheckKeys do: no panic, and a key or value never reaches past its record.
func FuzzRecords(f *testing.F) {
	b := kvBatch(f, kvSpec{recs: []kv{{k: "a", v: "1"}, {k: "b", tomb: true}, {noKey: true, v: "x"}}})
	f.Add(b[BatchHeaderSize:], int32(3))
	f.Add([]byte{2, 0}, int32(1))
	f.Fuzz(func(t *testing.T, recs []byte, n int32) {
		if n > 1000 {
			n = 1000
		}
		forEachRecord(recs, n, func(r *record) error {
			if len(r.key) > len(r.body) || len(r.value) > len(r.body) || r.afterTs > len(r.body) {
				t.Fatalf("record fields past the record: %+v", r)
			}
			appendRecord(nil, r, r.tsDelta+1)
			return nil
		})
		batch := kvBatch(t, kvSpec{recs: []kv{{k: "k", v: "v"}}})
		batch = append(batch[:BatchHeaderSize], recs...)
		binSetLen(batch)
		CheckKeys(batch)
	})
}

func binSetLen(b []byte) {
	n := len(b) - BatchOverhead
	b[offBatchLength], b[offBatchLength+1], b[offBatchLength+2], b[offBatchLength+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// FuzzCheckpoint parses arbitrary checkpoint files (log start, recovery
// point and cleaner-offset-checkpoint share the format) and swap markers.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\nt 0 5\nt 1 7\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("12345\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseCheckpoint(b); err == nil {
			m2, err := parseCheckpoint(formatCheckpoint(m))
			if err != nil || len(m2) != len(m) {
				t.Fatalf("round trip: %v %v vs %v", err, m2, m)
			}
		}
		if o, err := parseSwapEnd(b); err == nil {
			if o < 0 {
				t.Fatalf("negative end %d", o)
			}
			if o2, err := parseSwapEnd([]byte(fmt.Sprintf("%d\n", o))); err != nil || o2 != o {
				t.Fatalf("round trip %d: %d %v", o, o2, err)
			}
		}
	})
}
