package log

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// testBatch describes a batch for makeBatch.
type testBatch struct {
	records   int
	valueSize int
	baseTs    int64
	tsStep    int64 // timestamp delta between records
	pid       int64
	epoch     int16
	seq       int32
	codec     int
	tag       byte // fills the values, to tell batches apart
}

// makeBatch encodes an uncompressed (or compressed) v2 batch.
func makeBatch(t testing.TB, b testBatch) []byte {
	if b.records == 0 {
		b.records = 1
	}
	if b.pid == 0 {
		b.pid = -1
		b.epoch = -1
		b.seq = -1
	}
	var recs []byte
	maxTs := b.baseTs
	for i := 0; i < b.records; i++ {
		var r []byte
		r = append(r, 0)
		ts := int64(i) * b.tsStep
		if b.baseTs+ts > maxTs {
			maxTs = b.baseTs + ts
		}
		r = binary.AppendVarint(r, ts)
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1)
		r = binary.AppendVarint(r, int64(b.valueSize))
		for j := 0; j < b.valueSize; j++ {
			r = append(r, b.tag)
		}
		r = binary.AppendVarint(r, 0)
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	if b.codec != 0 {
		var err error
		recs, err = compressForTest(b.codec, recs)
		if err != nil {
			t.Fatal(err)
		}
	}
	out := make([]byte, BatchHeaderSize, BatchHeaderSize+len(recs))
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(BatchHeaderSize-BatchOverhead+len(recs)))
	out[offMagic] = 2
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(b.codec%100))
	binary.BigEndian.PutUint32(out[offLastOffsetDelta:], uint32(b.records-1))
	binary.BigEndian.PutUint64(out[offBaseTimestamp:], uint64(b.baseTs))
	binary.BigEndian.PutUint64(out[offMaxTimestamp:], uint64(maxTs))
	binary.BigEndian.PutUint64(out[offProducerID:], uint64(b.pid))
	binary.BigEndian.PutUint16(out[offProducerEpoch:], uint16(b.epoch))
	binary.BigEndian.PutUint32(out[offBaseSequence:], uint32(b.seq))
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(b.records))
	out = append(out, recs...)
	RecomputeCRC(out)
	if _, err := ValidateBatch(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// batchesIn splits read bytes into validated headers, failing on garbage.
func batchesIn(t testing.TB, b []byte) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	for len(b) > 0 {
		h, err := ValidateBatch(b)
		if err != nil {
			t.Fatalf("read returned an invalid batch: %v", err)
		}
		out = append(out, h)
		b = b[h.Size():]
	}
	return out
}

func mustOpen(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, AppendOptions{LeaderEpoch: 0})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// readAll reads the whole log from offset from.
func readAll(t testing.TB, l *Log, from int64) []BatchHeader {
	t.Helper()
	var out []BatchHeader
	for from < l.LogEndOffset() {
		b, err := l.Read(from, 1<<20, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read %d: %v", from, err)
		}
		hs := batchesIn(t, b)
		if len(hs) == 0 {
			t.Fatalf("read %d: nothing below end %d", from, l.LogEndOffset())
		}
		out = append(out, hs...)
		from = hs[len(hs)-1].NextOffset()
	}
	return out
}

type fakeClock struct{ ms atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }
func memOpts(fs *MemFS, c *fakeClock) Options {
	return Options{FS: fs, Now: c.now, Logger: quiet}
}

// quiet discards log output unless GREGOR_LOG_TEST is set.
var quiet = func() *slog.Logger {
	if os.Getenv("GREGOR_LOG_TEST") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

func TestMain(m *testing.M) {
	slog.SetDefault(quiet)
	os.Exit(m.Run())
}

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(1_700_000_000_000)
	return c
}

var _ = fmt.Sprintf
