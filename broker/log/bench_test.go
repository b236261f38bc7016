package log

import (
	"path/filepath"
	"testing"
)

// BenchmarkAppend appends batches of 100 records of 100 bytes to a log on
// the real filesystem (default flush policy: no fsync).
func BenchmarkAppend(b *testing.B) {
	l := mustOpen(b, filepath.Join(b.TempDir(), "t-0"), DefaultConfig(), Options{Logger: quiet})
	defer l.Close()
	tmpl := makeBatch(b, testBatch{records: 100, valueSize: 100, pid: 1, epoch: 0, seq: 0})
	batch := make([]byte, len(tmpl))
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(batch, tmpl)
		// Advance the sequence so idempotence accepts every batch.
		batch[offBaseSequence] = byte(uint32(i*100) >> 24)
		batch[offBaseSequence+1] = byte(uint32(i*100) >> 16)
		batch[offBaseSequence+2] = byte(uint32(i*100) >> 8)
		batch[offBaseSequence+3] = byte(uint32(i * 100))
		RecomputeCRC(batch)
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendSync is BenchmarkAppend under the durable setting with
// group commit: 8 concurrent appenders, each syncing before the next append.
func BenchmarkAppendSync(b *testing.B) {
	l := mustOpen(b, filepath.Join(b.TempDir(), "t-0"), DefaultConfig(), Options{Logger: quiet})
	defer l.Close()
	tmpl := makeBatch(b, testBatch{records: 100, valueSize: 100})
	b.SetBytes(int64(len(tmpl)))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := make([]byte, len(tmpl))
		for pb.Next() {
			copy(batch, tmpl)
			res, err := l.Append(batch, AppendOptions{})
			if err == nil {
				err = l.Sync(res.LastOffset + 1)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRead reads a 100 MB log sequentially in 1 MB fetches.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 32 << 20
	l := mustOpen(b, filepath.Join(b.TempDir(), "t-0"), cfg, Options{Logger: quiet})
	defer l.Close()
	tmpl := makeBatch(b, testBatch{records: 100, valueSize: 100})
	batch := make([]byte, len(tmpl))
	for l.Size() < 100<<20 {
		copy(batch, tmpl)
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.ReportAllocs()
	b.ResetTimer()
	var bytes, records int64
	off := int64(0)
	for i := 0; i < b.N; i++ {
		if off >= leo {
			off = 0
		}
		data, err := l.Read(off, 1<<20, leo, true)
		if err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(data))
		n := int64(len(data) / len(tmpl) * 100)
		records += n
		off += n
	}
	b.StopTimer()
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
