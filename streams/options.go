package streams

import "time"

// Option tunes one DSL operation: the processor's name, the store it materializes,
// the repartition topic it creates. Options that do not apply to an operation are
// ignored.
type Option func(*options)

type options struct {
	name        string
	store       string
	inMemory    bool
	noCache     bool
	noLog       bool
	partitions  int32
	stores      []string
	cacheOn     bool
	tsExtractor TimestampExtractor
	retention   time.Duration // windowed stores; 0: the default
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Named names the processor an operation adds (Kafka Streams' Named.as). For grouping
// and repartitioning it also names the repartition topic "<name>-repartition".
func Named(name string) Option { return func(o *options) { o.name = name } }

// As names the state store an operation materializes (Kafka Streams' Materialized.as).
// The store's changelog topic is "<application.id>-<store>-changelog".
func As(store string) Option { return func(o *options) { o.store = store } }

// InMemory keeps the materialized store in memory instead of goleveldb; it is restored
// in full from its changelog whenever its task starts.
func InMemory() Option { return func(o *options) { o.inMemory = true } }

// WithCachingDisabled turns off the record cache of the materialized store: every update
// is written to the store and forwarded downstream at once.
func WithCachingDisabled() Option { return func(o *options) { o.noCache = true } }

// WithLoggingDisabled turns off the changelog of the materialized store; it is then not
// restored after a failure or a move to another instance.
func WithLoggingDisabled() Option { return func(o *options) { o.noLog = true } }

// WithPartitions sets the partition count of the repartition topic an operation creates;
// by default it is the largest partition count of the upstream sub-topology's sources.
func WithPartitions(n int32) Option { return func(o *options) { o.partitions = n } }

// WithStores connects a processor added by Process to the named state stores, which
// must have been added with Builder.AddStore.
func WithStores(names ...string) Option {
	return func(o *options) { o.stores = append(o.stores, names...) }
}

// WithTimestampExtractor sets the timestamp extractor of a source, overriding
// Config.TimestampExtractor.
func WithTimestampExtractor(f TimestampExtractor) Option {
	return func(o *options) { o.tsExtractor = f }
}

// ConsumedRecord is a record as read from a topic, before deserialization.
type ConsumedRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// TimestampExtractor returns the event time, in milliseconds, of a consumed record.
// partitionTime is the largest timestamp seen so far on the record's partition (-1 when
// none). A negative result drops the record, as Kafka Streams does.
type TimestampExtractor func(r ConsumedRecord, partitionTime int64) int64

// RecordTimestamp is the default TimestampExtractor: the record's own timestamp.
func RecordTimestamp(r ConsumedRecord, _ int64) int64 { return r.Timestamp }

// WallClockTimestamp uses the current time, ignoring the record's timestamp.
func WallClockTimestamp(ConsumedRecord, int64) int64 { return time.Now().UnixMilli() }

// DeserializationAction tells the runtime what to do with a record that failed to
// deserialize.
type DeserializationAction int

const (
	// DeserializationFail stops the application with the error.
	DeserializationFail DeserializationAction = iota
	// DeserializationContinue skips the record and goes on.
	DeserializationContinue
)

// DeserializationHandler decides about a record whose key or value did not deserialize.
type DeserializationHandler func(r ConsumedRecord, err error) DeserializationAction

// LogAndContinue is a DeserializationHandler that skips bad records (the runtime logs
// them), Kafka Streams' LogAndContinueExceptionHandler.
func LogAndContinue(ConsumedRecord, error) DeserializationAction { return DeserializationContinue }

// LogAndFail is a DeserializationHandler that stops the application, Kafka Streams'
// default LogAndFailExceptionHandler.
func LogAndFail(ConsumedRecord, error) DeserializationAction { return DeserializationFail }
