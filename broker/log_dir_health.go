package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
)

// refusalReportEvery is how often, at most, one partition's refused appends
// are logged at ERROR; the refusals in between are counted.
const refusalReportEvery = time.Minute

// logDirHealth follows whether the data directory accepts appends. A
// storage error on an append (a full disk, most often) makes the directory
// failing: the refusal is logged at ERROR, the first time for each
// partition and then at most once per refusalReportEvery per partition
// with the count of the refusals not logged, and DescribeLogDirs reports
// KAFKA_STORAGE_ERROR for the directory. The next append that succeeds
// clears the condition and, if an ERROR line was written for it, says so
// once at INFO.
//
// Its state is owned by mu; failing mirrors "a refusal since the last
// success" so the append path checks it without the lock, and is only
// written under mu.
type logDirHealth struct {
	dir    string // absolute path of the data directory, as DescribeLogDirs names it
	logger *slog.Logger
	space  func() (blog.DiskSpace, error)
	now    func() time.Time
	every  time.Duration

	failing atomic.Bool

	mu       sync.Mutex
	since    time.Time // first refusal since the last success
	refusals int64     // refusals since the last success
	logged   bool      // an ERROR line was written since the last success
	parts    map[partitionKey]*refusalReport
}

// partitionKey names a partition in logDirHealth.
type partitionKey struct {
	topic     string
	partition int32
}

// refusalReport is when a partition's refusals were last logged and how
// many came after that, unlogged.
type refusalReport struct {
	last       time.Time
	suppressed int64
}

func newLogDirHealth(dir string, logger *slog.Logger, space func() (blog.DiskSpace, error)) *logDirHealth {
	return &logDirHealth{
		dir: dir, logger: logger, space: space, now: time.Now, every: refusalReportEvery,
		parts: make(map[partitionKey]*refusalReport),
	}
}

// refused records that an append of n bytes to topic-partition failed
// with the storage error err, and logs it unless this partition's
// refusals were logged less than every ago.
func (h *logDirHealth) refused(topic string, partition int32, n int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.failing.Load() {
		h.since, h.refusals, h.logged = now, 0, false
		h.failing.Store(true)
	}
	h.refusals++
	key := partitionKey{topic, partition}
	r := h.parts[key]
	if r == nil {
		r = &refusalReport{}
		h.parts[key] = r
	}
	if !r.last.IsZero() && now.Sub(r.last) < h.every {
		r.suppressed++
		return
	}
	attrs := []any{"dir", h.dir}
	attrs = append(attrs, h.spaceAttrs()...)
	attrs = append(attrs, "topic", topic, "partition", partition, "bytes", n, "err", err)
	if r.suppressed > 0 {
		attrs = append(attrs, "refused_since_last_report", r.suppressed)
	}
	r.last, r.suppressed = now, 0
	h.logged = true
	h.logger.Error("log dir refused an append: producers get KAFKA_STORAGE_ERROR until it accepts writes again", attrs...)
}

// accepted records that an append wrote to the directory, clearing a
// failing condition.
func (h *logDirHealth) accepted() {
	if !h.failing.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing.Load() {
		return
	}
	h.failing.Store(false)
	now := h.now()
	if h.logged {
		attrs := []any{"dir", h.dir}
		attrs = append(attrs, h.spaceAttrs()...)
		attrs = append(attrs, "refused_appends", h.refusals, "failing_for", now.Sub(h.since).Round(time.Millisecond))
		h.logger.Info("log dir accepts appends again", attrs...)
	}
	// A partition whose last report is old enough to be logged again at its
	// next refusal needs no entry.
	for k, r := range h.parts {
		if now.Sub(r.last) >= h.every {
			delete(h.parts, k)
		}
	}
}

// errorCode is the directory's error for DescribeLogDirs.
func (h *logDirHealth) errorCode() int16 {
	if h.failing.Load() {
		return kerr.KafkaStorageError.Code
	}
	return 0
}

// spaceAttrs are the free and total bytes of the directory's file system
// as log attributes (or why they are unknown).
func (h *logDirHealth) spaceAttrs() []any {
	s, err := h.space()
	if err != nil {
		return []any{"free_bytes", "unknown", "space_err", err}
	}
	return []any{"free_bytes", s.Free, "total_bytes", s.Total}
}
