package streams

import "errors"

// Sentinel errors of the streams package, returned wrapped with %w. Test with errors.Is.
var (
	// ErrTopology reports a topology that cannot be built: a missing serde, a duplicate
	// name, an unknown store, or sources that are not co-partitioned.
	ErrTopology = errors.New("streams: invalid topology")
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("streams: invalid config")
	// ErrSerde reports a record that a serde could not serialize or deserialize.
	ErrSerde = errors.New("streams: serde error")
	// ErrNotCopartitioned reports source topics of one sub-topology with different
	// partition counts.
	ErrNotCopartitioned = errors.New("streams: topics not co-partitioned")
	// ErrClosed is returned by operations on an application that was closed.
	ErrClosed = errors.New("streams: application closed")
	// ErrUnknownStore is returned when a processor asks for a store it is not connected to.
	ErrUnknownStore = errors.New("streams: unknown state store")
	// ErrUnknownChild is returned by ForwardTo with a name that is not a child.
	ErrUnknownChild = errors.New("streams: unknown child processor")
)
