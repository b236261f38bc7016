package connect

import "context"

// Connector is the common part of source and sink connectors: it takes the
// connector configuration, splits the work into task configurations, and
// describes its configuration.
//
// The worker calls Start, then TaskConfigs, and Stop when the connector is
// deleted, reconfigured, paused to stop or the worker shuts down. A
// connector value is used once: a restart creates a fresh one.
type Connector interface {
	// Version is the connector's version, shown by the REST API.
	Version() string
	// Config describes the connector's own configuration keys; the worker
	// validates configurations against it before a connector starts.
	Config() *ConfigDef
	// Start starts the connector with its (validated) configuration.
	Start(props map[string]string) error
	// TaskConfigs returns at most maxTasks task configurations.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop stops the connector.
	Stop() error
}

// SourceConnector is a connector that reads from an external system into
// Kafka.
type SourceConnector interface {
	Connector
	// NewTask returns a new, unstarted task.
	NewTask() SourceTask
}

// SinkConnector is a connector that writes Kafka records to an external
// system.
type SinkConnector interface {
	Connector
	// NewTask returns a new, unstarted task.
	NewTask() SinkTask
}

// ConfigValidator is implemented by connectors with checks beyond their
// ConfigDef (e.g. keys that depend on each other). It receives the values
// already validated per key and may add errors to them.
type ConfigValidator interface {
	ValidateConfig(props map[string]string, values []ConfigValue) []ConfigValue
}

// ConnectorContext lets a running connector talk to the worker.
type ConnectorContext interface {
	// RequestTaskReconfiguration asks the worker to call TaskConfigs again
	// and restart the tasks if their configurations changed.
	RequestTaskReconfiguration()
	// RaiseError fails the connector with err.
	RaiseError(err error)
}

// ContextConnector is implemented by connectors that want a
// ConnectorContext; Initialize is called before Start.
type ContextConnector interface {
	Initialize(ctx ConnectorContext)
}

// Task is the common part of source and sink tasks.
type Task interface {
	Version() string
	// Start starts the task with its task configuration.
	Start(props map[string]string) error
	// Stop stops the task. It is called once, after the last Poll or Put
	// has returned.
	Stop() error
}

// SourceTask reads records from an external system.
type SourceTask interface {
	Task
	// Initialize is called before Start.
	Initialize(ctx SourceTaskContext)
	// Poll returns the next records. It should block until records are
	// available or ctx is done (return nil, nil then). An error fails the
	// task unless it wraps ErrRetriable.
	Poll(ctx context.Context) ([]*SourceRecord, error)
}

// SourceTaskCommitter is implemented by source tasks that want to know when
// the worker has written their offsets (Commit) or when Kafka acknowledged
// a record (CommitRecord).
type SourceTaskCommitter interface {
	Commit() error
	CommitRecord(rec *SourceRecord, md *RecordMetadata) error
}

// SourceTaskReleaser is implemented by source tasks that reuse the memory
// of the records they return (a generator, say, that fills the same
// records again rather than allocating new ones each Poll).
type SourceTaskReleaser interface {
	// Release hands back the slice one Poll returned once the worker is
	// done with every record in it: each was converted, produced and
	// acknowledged by Kafka, or dropped by a transformation. The worker
	// no longer reads the records or their keys and values after it. A
	// batch that fails, or is still unsent when the task stops, is never
	// released. Release may be called from another goroutine, while
	// Poll runs, and must not block.
	Release(records []*SourceRecord)
}

// SourceTaskContext gives a source task its configuration and the offsets
// stored for its source partitions.
type SourceTaskContext interface {
	Configs() map[string]string
	OffsetReader() OffsetReader
}

// OffsetReader reads stored source offsets.
type OffsetReader interface {
	// Offset returns the last committed offset of a source partition, or
	// nil when there is none.
	Offset(partition map[string]any) (map[string]any, error)
}

// SinkTask writes records to an external system.
type SinkTask interface {
	Task
	// Initialize is called before Start.
	Initialize(ctx SinkTaskContext)
	// Put delivers records. It may buffer them; Flush must make them
	// durable. An error fails the task unless it wraps ErrRetriable, in
	// which case the same records are delivered again after a backoff.
	Put(records []*SinkRecord) error
	// Flush makes everything Put so far durable; the worker then commits
	// offsets (the next offset to read per partition, as given).
	Flush(offsets map[TopicPartition]int64) error
}

// SinkTaskPartitions is implemented by sink tasks that want to know which
// partitions they own: Open after an assignment, Close before they are
// taken away (after a final Flush).
type SinkTaskPartitions interface {
	Open(partitions []TopicPartition) error
	Close(partitions []TopicPartition) error
}

// SinkTaskRecordRetention is implemented by sink tasks that can tell the
// worker they do not keep the records Put gives them.
type SinkTaskRecordRetention interface {
	// RetainsRecords reports, after Start, whether the task keeps any
	// *SinkRecord (or the slice) once Put returns. When it reports false
	// the worker fills the same records again for a later Put instead of
	// allocating new ones. Keys, values and headers are the task's to
	// keep either way. Tasks that do not implement this are assumed to
	// keep their records.
	RetainsRecords() bool
}

// SinkTaskContext gives a sink task its configuration and some control
// over consumption.
type SinkTaskContext interface {
	Configs() map[string]string
	// Assignment returns the partitions the task currently owns.
	Assignment() []TopicPartition
	// Offset asks the worker to consume tp from offset next.
	Offset(tp TopicPartition, offset int64)
	// RequestCommit asks for a flush and offset commit soon.
	RequestCommit()
}
