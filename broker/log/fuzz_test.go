package log

import (
	"bytes"
	"encoding/binary"
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

// FuzzAppendAsFollower feeds arbitrary bytes to AppendAsFollower on a log
// holding 4 records: no panic; a refused input changes nothing; an
// accepted one leaves a log of valid batches that starts with the old
// records, survives a restart and takes appends.
func FuzzAppendAsFollower(f *testing.F) {
	at := func(b []byte, o int64, epoch int32) []byte {
		SetBaseOffset(b, o)
		SetPartitionLeaderEpoch(b, epoch)
		return b
	}
	two := at(makeBatch(f, testBatch{records: 2, valueSize: 30}), 4, 1)
	for _, fix := range []bool{false, true} {
		f.Add(two, fix)
		f.Add(append(append([]byte(nil), two...), at(makeBatch(f, testBatch{records: 3, pid: 9, epoch: 2, seq: 0}), 6, 3)...), fix)
		f.Add(at(txnBatchF(f), 4, 0), fix)
		f.Add(at(EncodeControlBatch(5, 0, ControlAbort, 1, 99), 4, 2), fix)
		f.Add(at(makeBatch(f, testBatch{records: 2, codec: CompressionZstd}), 1<<40, 7), fix)
		f.Add(two[:len(two)-5], fix)
		f.Add([]byte("definitely not a record batch, but long enough to parse a header from it......"), fix)
	}
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			// Give every batch-shaped piece a valid CRC, so that mutations
			// of the checksummed fields (attributes, producer fields,
			// counts) get past validation.
			for pos := 0; pos+BatchHeaderSize <= len(data); {
				n := int(int32(binary.BigEndian.Uint32(data[pos+offBatchLength:]))) + BatchOverhead
				if n < BatchHeaderSize || pos+n > len(data) {
					break
				}
				RecomputeCRC(data[pos : pos+n])
				pos += n
			}
		}
		fs := NewMemFS()
		cfg := DefaultConfig()
		cfg.SegmentBytes = 300
		cfg.IndexIntervalBytes = 64
		l, err := Open("/d/t-0", cfg, Options{FS: fs, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(makeBatch(t, testBatch{records: 4}), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		before := rawRange(t, l, 0, 4)
		res, err := l.AppendAsFollower(data)
		if err != nil {
			if l.LogEndOffset() != 4 || res.Batches != 0 {
				t.Fatalf("refused input changed the log: end %d, %+v", l.LogEndOffset(), res)
			}
		} else if res.LogEndOffset != l.LogEndOffset() || (res.Batches > 0) != (l.LogEndOffset() > 4) {
			t.Fatalf("result %+v, end %d", res, l.LogEndOffset())
		}
		check := func(l *Log) {
			t.Helper()
			got := readAll(t, l, 0)
			if !bytes.Equal(rawRange(t, l, 0, 4), before) {
				t.Fatal("the old records changed")
			}
			var n int
			for _, h := range got {
				if h.BaseOffset >= 4 {
					n++
				}
			}
			if n != res.Batches {
				t.Fatalf("%d batches past 4, appended %d", n, res.Batches)
			}
			l.OffsetForTimestamp(0)
			l.EndOffsetForEpoch(res.LastEpoch)
		}
		check(l)
		end := l.LogEndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open("/d/t-0", cfg, Options{FS: fs, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.LogEndOffset() != end {
			t.Fatalf("end %d after reopen, was %d", l.LogEndOffset(), end)
		}
		check(l)
		if end < 1<<50 {
			if _, err := l.Append(makeBatch(t, testBatch{}), AppendOptions{LeaderEpoch: 1 << 30}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.TruncateTo(4); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 4 || !bytes.Equal(rawRange(t, l, 0, 4), before) {
			t.Fatalf("truncate back to 4: end %d", l.LogEndOffset())
		}
	})
}

func txnBatchF(t testing.TB) []byte {
	b := makeBatch(t, testBatch{records: 2, valueSize: 3, pid: 5, epoch: 0, seq: 0})
	b[offAttributes+1] |= AttrTransactional
	RecomputeCRC(b)
	return b
}
