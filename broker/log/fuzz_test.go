package log

import (
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
