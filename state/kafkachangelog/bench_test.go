package kafkachangelog_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/kafkachangelog"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// BenchmarkRestoreFromBroker restores a changelog of GREGOR_BENCH_RESTORE_RECORDS records
// (default 200,000; `make bench` uses 1,000,000) of 16-byte keys and 100-byte values from
// an in-process Gregor broker (broker/brokertest) into fresh stores. The broker shares the
// process, so its CPU time counts too; integration/cmd/restorebench runs the broker as its
// own process and puts goka's table recovery next to these figures.
func BenchmarkRestoreFromBroker(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("GREGOR_BENCH_RESTORE_RECORDS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	br := brokertest.Start(b)
	cl := gregorClient(b, br.Addr(), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	topic := state.ChangelogTopic("bench", "s")
	if err := kafkachangelog.CreateTopic(ctx, kadm.NewClient(cl), topic, 1, false, 0); err != nil {
		b.Fatal(err)
	}
	w := kafkachangelog.NewWriter(cl)
	tp := state.TopicPartition{Topic: topic}
	val := make([]byte, 100)
	for i := range n {
		if err := w.Append(ctx, tp, state.ChangelogRecord{Key: []byte(fmt.Sprintf("key-%012d", i)), Value: val}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for _, be := range []struct {
		name string
		kv   state.KeyValueFactory
	}{{"memory", memory.KeyValueFactory()}, {"leveldb", leveldb.KeyValueFactory(nil)}} {
		b.Run(be.name, func(b *testing.B) {
			b.SetBytes(int64(n) * (16 + 100))
			for i := 0; i < b.N; i++ {
				task, err := state.OpenTask(state.TaskConfig{ApplicationID: "bench", TaskID: "0_0", StateDir: b.TempDir(),
					Writer: kafkachangelog.NewWriter(cl), Reader: kafkachangelog.NewReader(cl)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := task.KeyValueStore("s", be.kv); err != nil {
					b.Fatal(err)
				}
				if err := task.Restore(ctx); err != nil {
					b.Fatal(err)
				}
				_ = task.Close(ctx, false)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
