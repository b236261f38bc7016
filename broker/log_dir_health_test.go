package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
)

// TestLogDirHealthReports walks logDirHealth through refusals, recoveries
// and the per-partition rate limit on a fake clock, checking each step's
// log lines and DescribeLogDirs error code.
func TestLogDirHealthReports(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	free := int64(0)
	h := newLogDirHealth("/data", logger, func() (blog.DiskSpace, error) { return blog.DiskSpace{Total: 100, Free: free}, nil })
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	full := errors.New("write: no space left on device")

	const errMsg = `level=ERROR msg="log dir refused an append: producers get KAFKA_STORAGE_ERROR until it accepts writes again" dir=/data free_bytes=0 total_bytes=100 `
	steps := []struct {
		name    string
		advance time.Duration
		do      func()
		want    string // the lines logged by this step
		code    int16  // the error code after it
	}{
		{"first refusal of a partition is logged", 0, func() { h.refused("a", 0, 10, full) },
			errMsg + `topic=a partition=0 bytes=10 err="write: no space left on device"` + "\n", kerr.KafkaStorageError.Code},
		{"its retries within the minute are counted, not logged", 10 * time.Second, func() { h.refused("a", 0, 10, full); h.refused("a", 0, 10, full) },
			"", kerr.KafkaStorageError.Code},
		{"another partition's first refusal is logged", 0, func() { h.refused("a", 1, 7, full) },
			errMsg + `topic=a partition=1 bytes=7 err="write: no space left on device"` + "\n", kerr.KafkaStorageError.Code},
		{"a minute on, a refusal is logged with the count", time.Minute, func() { h.refused("a", 0, 10, full) },
			errMsg + `topic=a partition=0 bytes=10 err="write: no space left on device" refused_since_last_report=2` + "\n", kerr.KafkaStorageError.Code},
		{"a success clears it, once", time.Second, func() { free = 50; h.accepted(); h.accepted() },
			`level=INFO msg="log dir accepts appends again" dir=/data free_bytes=50 total_bytes=100 refused_appends=5 failing_for=1m11s` + "\n", 0},
		{"a refusal within the partition's minute sets the error without a line", time.Second, func() { free = 0; h.refused("a", 0, 10, full) },
			"", kerr.KafkaStorageError.Code},
		{"and its recovery is silent too", time.Second, func() { h.accepted() },
			"", 0},
		{"a partition not reported for a minute is reported at once", time.Minute, func() { h.refused("a", 1, 7, full) },
			errMsg + `topic=a partition=1 bytes=7 err="write: no space left on device"` + "\n", kerr.KafkaStorageError.Code},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		out.Reset()
		s.do()
		if got := out.String(); got != s.want {
			t.Errorf("%s: logged\n%s\nwant\n%s", s.name, got, s.want)
		}
		if got := h.errorCode(); got != s.code {
			t.Errorf("%s: error code %d, want %d", s.name, got, s.code)
		}
	}
}

// TestLogDirHealthUnknownSpace logs why the free space is unknown.
func TestLogDirHealthUnknownSpace(t *testing.T) {
	var out bytes.Buffer
	h := newLogDirHealth("/data", slog.New(slog.NewTextHandler(&out, nil)), func() (blog.DiskSpace, error) { return blog.DiskSpace{}, blog.ErrSpaceUnknown })
	h.refused("a", 0, 1, syscall.EIO)
	if s := out.String(); !strings.Contains(s, "free_bytes=unknown") || !strings.Contains(s, `space_err="disk space unknown"`) {
		t.Errorf("logged %q", s)
	}
}
