package connect

import (
	"errors"
	"time"
)

// Header is one record header. Connect headers here carry raw bytes, as on
// the wire.
type Header struct {
	Key   string
	Value []byte
}

// SourceRecord is what a source task produces: a key and value with their
// schemas, the destination topic, and the source partition and offset that
// the worker stores once the record is written to Kafka.
type SourceRecord struct {
	// SourcePartition identifies where in the external system the record
	// came from (e.g. {"filename": "/var/log/app.log"}).
	SourcePartition map[string]any
	// SourceOffset is the position within SourcePartition after this
	// record (e.g. {"position": 1234}). Values are JSON types.
	SourceOffset map[string]any
	Topic        string
	// Partition is the Kafka partition, or nil to let the producer's
	// partitioner choose from the key.
	Partition   *int32
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	// Timestamp is the record's timestamp; zero means "now".
	Timestamp time.Time
	Headers   []Header
}

// SinkRecord is what a sink task receives: a Kafka record converted to
// Connect data.
type SinkRecord struct {
	Topic       string
	Partition   int32
	Offset      int64
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	Timestamp   time.Time
	Headers     []Header
}

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// RecordMetadata is what Kafka acknowledged for a written source record.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
}

// ErrRetriable marks a task error that the worker retries (after a backoff)
// instead of failing the task: wrap it, as in
// fmt.Errorf("database unavailable: %w", connect.ErrRetriable).
var ErrRetriable = errors.New("retriable")
