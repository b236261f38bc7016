package log

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"time"
)

// Config holds the per-topic log settings, with Kafka's names and defaults.
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when a segment would grow past this
	SegmentMs          int64 // segment.ms: roll a segment this long after its first append
	RetentionMs        int64 // retention.ms: delete segments older than this; -1 = unlimited
	RetentionBytes     int64 // retention.bytes: delete old segments while the log is bigger; -1 = unlimited
	IndexIntervalBytes int32 // index.interval.bytes: bytes between sparse index entries
	SegmentIndexBytes  int32 // segment.index.bytes: max index file size; roll when full
	FlushMessages      int64 // flush.messages: fsync after this many unflushed records
	FlushMs            int64 // flush.ms: fsync when data is unflushed for this long
	FileDeleteDelayMs  int64 // file.delete.delay.ms: accepted for compatibility (see Log.ApplyRetention)

	// Compaction (see cleaner.go).
	CleanupPolicy          string  // cleanup.policy: "delete" (default when empty), "compact" or "compact,delete"
	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones and transaction markers outlive cleaning
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: dirty share of the cleanable log that triggers cleaning
	MinCompactionLagMs     int64   // min.compaction.lag.ms: records younger than this are not compacted
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: records older than this are compacted whatever the dirty ratio
}

// Compact reports whether cleanup.policy includes compact.
func (c Config) Compact() bool { return strings.Contains(c.CleanupPolicy, "compact") }

// Delete reports whether cleanup.policy includes delete (the default), so
// that retention.ms and retention.bytes apply.
func (c Config) Delete() bool {
	return c.CleanupPolicy == "" || strings.Contains(c.CleanupPolicy, "delete")
}

// maxSegmentMs is how long a segment stays active: segment.ms, or less on
// compacted topics with max.compaction.lag.ms, as Kafka does.
func (c Config) maxSegmentMs() int64 {
	if c.Compact() && c.MaxCompactionLagMs > 0 {
		return min(c.SegmentMs, c.MaxCompactionLagMs)
	}
	return c.SegmentMs
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60000,

		CleanupPolicy:          "delete",
		DeleteRetentionMs:      24 * 3600 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// normalized replaces nonsensical values with defaults.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= BatchHeaderSize {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes < 12 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	if c.FlushMessages <= 0 {
		c.FlushMessages = d.FlushMessages
	}
	if c.FlushMs <= 0 {
		c.FlushMs = d.FlushMs
	}
	if c.CleanupPolicy == "" {
		c.CleanupPolicy = d.CleanupPolicy
	}
	if c.DeleteRetentionMs < 0 {
		c.DeleteRetentionMs = d.DeleteRetentionMs
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 || math.IsNaN(c.MinCleanableDirtyRatio) {
		c.MinCleanableDirtyRatio = d.MinCleanableDirtyRatio
	}
	if c.MinCompactionLagMs < 0 {
		c.MinCompactionLagMs = 0
	}
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = d.MaxCompactionLagMs
	}
	return c
}

// Options are the environment of a Log or Manager.
type Options struct {
	FS     FS               // nil = OSFS{}
	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = slog.Default()
	// MaxOpenSegments bounds the cold segment file handles kept open (across
	// all logs of a Manager); idle ones are closed and reopened lazily.
	// Default 1000.
	MaxOpenSegments int
	// RetentionCheckInterval is log.retention.check.interval.ms (default 5 min).
	RetentionCheckInterval time.Duration
	// CheckpointInterval is log.flush.offset.checkpoint.interval.ms (default 60 s).
	CheckpointInterval time.Duration
	// FlushCheckInterval is log.flush.scheduler.interval.ms: how often the
	// Manager looks for logs whose flush.ms has passed (default 1 s).
	FlushCheckInterval time.Duration
	// CleanerThreads is log.cleaner.threads: goroutines compacting logs
	// (default 1; negative disables the cleaner, log.cleaner.enable=false).
	CleanerThreads int
	// CleanerDedupeBufferSize is log.cleaner.dedupe.buffer.size: the memory
	// all cleaner threads together may use for their key maps (default
	// 128 MiB; each entry takes 24 bytes, as in Kafka).
	CleanerDedupeBufferSize int64
	// CleanerBackoff is log.cleaner.backoff.ms: how long an idle cleaner
	// thread sleeps before looking for dirty logs again (default 15 s).
	CleanerBackoff time.Duration
	// CleanerIOBufferSize is log.cleaner.io.buffer.size: the read buffer
	// of a cleaner thread (default 1 MiB; grown for bigger batches).
	CleanerIOBufferSize int
	// OnFlush, when set, is called after each successful fsync of a log
	// with how long it took (the broker's flush-time metric). It must be
	// cheap and safe for concurrent use.
	OnFlush func(time.Duration)
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxOpenSegments <= 0 {
		o.MaxOpenSegments = 1000
	}
	if o.RetentionCheckInterval <= 0 {
		o.RetentionCheckInterval = 5 * time.Minute
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Minute
	}
	if o.FlushCheckInterval <= 0 {
		o.FlushCheckInterval = time.Second
	}
	if o.CleanerThreads == 0 {
		o.CleanerThreads = 1
	}
	if o.CleanerDedupeBufferSize <= 0 {
		o.CleanerDedupeBufferSize = 128 << 20
	}
	if o.CleanerBackoff <= 0 {
		o.CleanerBackoff = 15 * time.Second
	}
	if o.CleanerIOBufferSize <= 0 {
		o.CleanerIOBufferSize = 1 << 20
	}
	return o
}

// Errors of the log. Storage failures (ENOSPC, EIO, ...) wrap ErrStorage and
// the underlying error; the broker answers them with KAFKA_STORAGE_ERROR.
var (
	// ErrOffsetOutOfRange: the offset is below the log start or past the log end.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrStorage: the disk failed; the log stays usable and consistent.
	ErrStorage = errors.New("storage error")
	// ErrClosed: the log or manager is closed.
	ErrClosed = errors.New("log closed")
	// ErrStaleLeaderEpoch: AssignLeaderEpoch, or an Append stamped, with an
	// epoch older than the latest.
	ErrStaleLeaderEpoch = errors.New("leader epoch older than the latest")
	// ErrCorruptCheckpoint: a checkpoint file could not be parsed.
	ErrCorruptCheckpoint = errors.New("corrupt checkpoint file")
	// ErrInvalidBatch: Append got something that is not one whole v2 batch.
	ErrInvalidBatch = errors.New("invalid record batch")
	// errSegmentGone: a segment was deleted while a reader wanted it.
	errSegmentGone = errors.New("segment deleted")
)

// AppendOptions are what the leader assigns to a batch on append.
type AppendOptions struct {
	// LeaderEpoch is written into the batch's partition leader epoch.
	LeaderEpoch int32
	// LogAppendTime, if > 0, stamps the batch with this LogAppendTime
	// (topics with message.timestamp.type=LogAppendTime).
	LogAppendTime int64
}

// AppendResult is the outcome of Append.
type AppendResult struct {
	BaseOffset, LastOffset int64
	LogStartOffset         int64
	// Duplicate reports an idempotent retry: nothing was written and the
	// offsets are those of the original append.
	Duplicate bool
	// MaxTimestamp is the batch's max timestamp (for duplicates, the original's).
	MaxTimestamp int64
}
