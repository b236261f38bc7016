package state

import (
	"context"
	"fmt"
	"strconv"
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic-partition", as Kafka prints partitions.
func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// ChangelogRecord is one record of a changelog partition. A nil Value is a tombstone.
type ChangelogRecord struct {
	Key    []byte
	Value  []byte
	Offset int64 // set by readers; ignored by writers
}

// ChangelogWriter sends store changes to changelog partitions. The streams runtime
// implements it with its (possibly transactional) producer; see state/kafkachangelog.
// A Task calls it from one goroutine at a time.
type ChangelogWriter interface {
	// Append sends one record to tp. It may return before the record is acknowledged;
	// a failure may instead be returned by a later Append or by Flush.
	Append(ctx context.Context, tp TopicPartition, rec ChangelogRecord) error
	// Flush blocks until every appended record is acknowledged and returns, for each
	// partition appended to since the previous Flush, the offset of its last record.
	Flush(ctx context.Context) (map[TopicPartition]int64, error)
}

// ChangelogReader reads changelog partitions for restoration. Under exactly-once it must
// read committed data only, and its end offset is then the last stable offset.
//
// Restore makes one call at a time, but calls Fetch from a goroutine of its own (to fetch
// the next batch while the previous one is applied), so an implementation must not depend
// on the calling goroutine, and the records a Fetch returns must stay valid while later
// Fetch calls run (stores copy the keys and values they keep).
type ChangelogReader interface {
	// Offsets returns the partition's log start offset and end offset (the offset the next
	// record will get, or the last stable offset when reading committed data).
	Offsets(ctx context.Context, tp TopicPartition) (start, end int64, err error)
	// Fetch returns records of tp from offset on, and the position after them: the offset
	// to fetch next, which may lie past the last record returned when the log holds
	// transaction markers, aborted records or compacted gaps there. It returns an error
	// wrapping ErrOffsetOutOfRange when offset is outside the log.
	Fetch(ctx context.Context, tp TopicPartition, offset int64) (records []ChangelogRecord, next int64, err error)
}

// ChangelogTopic returns the changelog topic of store in application appID:
// "<application.id>-<store>-changelog".
func ChangelogTopic(appID, store string) string {
	return appID + "-" + store + "-changelog"
}

// DayMillis is one day in milliseconds, the extra retention of window changelogs.
const DayMillis = 24 * 60 * 60 * 1000

// ChangelogTopicConfigs returns the topic configs Kafka Streams gives a store's changelog:
// "compact" for key-value stores; "compact,delete" with retention.ms of the store's
// retention plus one day for windowed (window and session) stores.
func ChangelogTopicConfigs(windowed bool, retentionMs int64) map[string]string {
	if !windowed {
		return map[string]string{"cleanup.policy": "compact"}
	}
	return map[string]string{
		"cleanup.policy": "compact,delete",
		"retention.ms":   strconv.FormatInt(retentionMs+DayMillis, 10),
	}
}

// changelogError wraps a writer or reader failure with the store it concerns.
func changelogError(store string, tp TopicPartition, op string, err error) error {
	return fmt.Errorf("state: store %q changelog %s: %s: %w", store, tp, op, err)
}
