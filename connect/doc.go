// Package connect is Gregor's Kafka Connect runtime: the data model
// (schemas, structs and the logical types Decimal, Date, Time and
// Timestamp), the API for connector authors (Connector, SourceTask,
// SinkTask, ConfigDef), the plugin Registry, converters' interface, the
// offset/config/status store interfaces with memory and file
// implementations, and the standalone worker (Standalone) that runs
// connectors and their tasks against Kafka through franz-go.
//
// Connectors are Go code compiled into the binary. A connector package
// registers itself from init, and a program imports it for that effect:
//
//	import (
//		"github.com/gregorhq/gregor/connect"
//		_ "github.com/gregorhq/gregor/connect/connectors/file"
//		_ "github.com/gregorhq/gregor/connect/converters"
//	)
//
//	wc, _ := connect.ParseWorkerConfig(map[string]string{
//		"bootstrap.servers":            "127.0.0.1:9092",
//		"offset.storage.file.filename": "/tmp/connect.offsets",
//	})
//	h, _ := connect.NewStandalone(wc, connect.Options{})
//	defer h.Close() // flushes sinks, commits offsets
//	_, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{
//		"connector.class": "FileStreamSource", "file": "/tmp/in.txt", "topic": "lines",
//	}, false, "")
//
// Source offsets are stored (offset.storage.file.filename) only after Kafka
// acknowledged every record up to them; sink offsets are committed in the
// consumer group connect-<name> only after the task flushed. A clean
// shutdown does both, so a restarted worker resumes without duplicates or
// gaps. connect/rest serves the Kafka Connect REST API over a Herder.
//
// Records pass through the connector's single message transformations
// (transforms=..., predicates=...; the implementations live in
// connect/transforms and register themselves like connectors) between the
// task and the converters. A record that fails in a converter or a
// transformation is retried for errors.retry.timeout when the failure
// wraps ErrRetriable, then fails the task (errors.tolerance=none) or is
// skipped (all); sinks can send such records to a dead letter queue
// (errors.deadletterqueue.topic.name) with __connect.errors.* headers.
// Offsets can be read, altered and reset through the herder (KIP-875),
// and Loggers changes log levels per logger at runtime.
//
// Distributed is the herder of a group of workers (group.id): connector
// configurations, source offsets and statuses live in compacted topics
// (KafkaConfigStore, KafkaOffsetStore, KafkaStatusStore, in Kafka
// Connect's formats) and the workers join a group with Connect's group
// protocol over JoinGroup/SyncGroup. By default (connect.protocol=
// sessioned) rebalancing is incremental and cooperative (KIP-415): the
// leader remembers its last assignment, assigns new work to the least
// loaded workers, revokes only what must move, and holds the work of a
// departed worker for scheduled.rebalance.max.delay.ms so that a worker
// that comes back gets it back; workers keep running everything else
// through a rebalance. connect.protocol=eager restarts every worker's
// share on every rebalance instead.
package connect
