package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker"
	blog "github.com/gregorhq/gregor/broker/log"
)

// logCapture is a slog.Handler that keeps every record, for tests that
// check what the broker logged.
type logCapture struct {
	mu   sync.Mutex
	recs []capturedLog
}

// capturedLog is one logged line: its level, message and attributes
// (values as text).
type capturedLog struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	l := capturedLog{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, l)
	c.mu.Unlock()
	return nil
}

// matching returns the records at level whose attributes include attrs.
func (c *logCapture) matching(level slog.Level, attrs map[string]string) []capturedLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []capturedLog
next:
	for _, l := range c.recs {
		if l.level != level {
			continue
		}
		for k, v := range attrs {
			if l.attrs[k] != v {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// startMemFSBroker starts a broker whose partition logs live in fs and
// whose log lines go to logs.
func startMemFSBroker(t *testing.T, fs blog.FS, logs *logCapture) *broker.Broker {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.Listeners = []broker.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = t.TempDir()
	b, err := broker.New(cfg, broker.WithLogger(slog.New(logs)), broker.WithLogFS(fs))
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(func() { b.Close() })
	return b
}

// logDirErr is the error DescribeLogDirs reports for the broker's only dir.
func logDirErr(t *testing.T, ctx context.Context, adm *kadm.Client) (kadm.DescribedLogDir, error) {
	t.Helper()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []kadm.DescribedLogDir
	all.Each(func(d kadm.DescribedLogDir) { dirs = append(dirs, d) })
	if len(dirs) != 1 {
		t.Fatalf("describe log dirs: %d dirs, want 1: %+v", len(dirs), dirs)
	}
	return dirs[0], dirs[0].Err
}

// TestFullDiskIsReported fills the strict in-memory FS to the end: produce
// fails with KAFKA_STORAGE_ERROR and the refusal is logged at ERROR once
// (its retries are not), fetch keeps working, DescribeLogDirs reports the
// dir's error; once space is freed produce works again, that is logged,
// the error clears and every acknowledged record is there in order.
func TestFullDiskIsReported(t *testing.T) {
	fs := blog.NewMemFS()
	logs := &logCapture{}
	b := startMemFSBroker(t, fs, logs)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "full", 1, nil)
	cl, _ := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("full"),
		kgo.RecordRetries(3), kgo.MetadataMinAge(50*time.Millisecond)) // retries, quickly

	var want []string
	produce := func(n int) {
		t.Helper()
		for range n {
			v := fmt.Sprintf("r%d", len(want))
			if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			want = append(want, v)
		}
	}
	produce(10)
	if _, err := logDirErr(t, ctx, adm); err != nil {
		t.Fatalf("log dir error before the disk filled: %v", err)
	}

	fs.SetSpaceLimit(fs.Used()) // not one more byte
	for i := range 3 {
		err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("refused%d", i))).FirstErr()
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
	}
	refusals := logs.matching(slog.LevelError, map[string]string{"topic": "full", "partition": "0"})
	if len(refusals) != 1 {
		t.Fatalf("%d ERROR lines for full-0, want 1: %+v", len(refusals), refusals)
	}
	l := refusals[0]
	if l.attrs["dir"] == "" || l.attrs["free_bytes"] != "0" || l.attrs["bytes"] == "" || !strings.Contains(l.attrs["err"], "no space left") {
		t.Errorf("ERROR line lacks the dir, free bytes, size or cause: %+v", l)
	}
	d, err := logDirErr(t, ctx, adm)
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Errorf("log dir error on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if d.Dir != l.attrs["dir"] {
		t.Errorf("log line names dir %q, DescribeLogDirs %q", l.attrs["dir"], d.Dir)
	}
	if d.UsableBytes != 0 {
		t.Errorf("usable bytes on a full disk: %d", d.UsableBytes)
	}
	checkValues(t, consumeAll(t, ctx, b.Addr(), "full", int64(len(want))), want)

	fs.SetSpaceLimit(-1)
	produce(10)
	if _, err := logDirErr(t, ctx, adm); err != nil {
		t.Errorf("log dir error after space was freed: %v", err)
	}
	if ok := logs.matching(slog.LevelInfo, map[string]string{"dir": l.attrs["dir"]}); len(ok) != 1 || ok[0].attrs["refused_appends"] == "" {
		t.Errorf("want one INFO line saying the dir accepts appends again, got %+v", ok)
	}
	checkValues(t, consumeAll(t, ctx, b.Addr(), "full", int64(len(want))), want)
}

// checkValues fails unless recs hold exactly the values want, in order,
// at offsets 0, 1, ...
func checkValues(t *testing.T, recs []*kgo.Record, want []string) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if string(r.Value) != want[i] || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d, want %q", i, r.Value, r.Offset, want[i])
		}
	}
}
