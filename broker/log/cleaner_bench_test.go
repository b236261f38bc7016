package log

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// BenchmarkClean measures the cleaner on a dirty log on disk: batches of
// 100 records with 100-byte values over 10,000 keys (uncompressed and
// lz4), each key updated many times. GREGOR_CLEAN_BENCH_MB sets the log
// size (default 64 MiB). Throughput is of the dirty bytes read.
func BenchmarkClean(b *testing.B) {
	mb := 64
	if v, err := strconv.Atoi(os.Getenv("GREGOR_CLEAN_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	for _, codec := range []int{CompressionNone, CompressionLZ4} {
		b.Run(fmt.Sprintf("codec=%d/%dMiB", codec, mb), func(b *testing.B) {
			c := newClock()
			var batches [][]byte
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 50; i++ {
				recs := make([]kv, 100)
				for j := range recs {
					// Values compress about 2:1, like typical JSON.
					v := make([]byte, 100)
					for k := range v {
						v[k] = "abcdefghijklmnop"[rnd.IntN(16)]
					}
					recs[j] = kv{k: fmt.Sprintf("key-%05d", (i*100+j)*7%10000), v: string(v)}
				}
				batches = append(batches, kvBatch(b, kvSpec{recs: recs, codec: codec, baseTs: c.now().UnixMilli()}))
			}
			var size int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				cfg := compactCfg(16 << 20)
				cfg.IndexIntervalBytes = 4096
				l := mustOpen(b, dir+"/t-0", cfg, Options{Now: c.now, Logger: quiet})
				for l.Size() < int64(mb)<<20 {
					for _, bt := range batches {
						mustAppend(b, l, append([]byte(nil), bt...))
					}
				}
				l.roll()
				l.SetHighWatermark(l.LogEndOffset())
				size = l.Size()
				b.StartTimer()
				st, err := l.Clean(c.now())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if i == 0 {
					b.ReportMetric(float64(st.BytesWritten)/float64(st.BytesRead), "written/read")
				}
				l.Close()
				b.StartTimer()
			}
			b.SetBytes(size)
		})
	}
}
