// Package runtime is Gregor's Kafka Connect worker: it runs the connectors
// and tasks written against package connect and moves their records
// between Kafka (through franz-go) and the external systems. It holds
// the herders (Standalone for one worker, Distributed for a group of
// workers), the task loops, the wiring of converters and transformation
// chains, errors.tolerance and dead letter queues, and the stores of
// source offsets, connector configurations and statuses (in memory, in a
// file, and in Kafka topics). connect/runtime/rest serves Kafka Connect's
// REST API over a Herder.
//
// A program picks its plugins by importing them for their side effect:
//
//	import (
//		"github.com/gregorhq/gregor/connect/runtime"
//		_ "github.com/gregorhq/gregor/connect/connectors/file"
//		_ "github.com/gregorhq/gregor/connect/converters"
//	)
//
//	wc, _ := runtime.ParseWorkerConfig(map[string]string{
//		"bootstrap.servers":            "127.0.0.1:9092",
//		"offset.storage.file.filename": "/tmp/connect.offsets",
//	})
//	h, _ := runtime.NewStandalone(wc, runtime.Options{})
//	defer h.Close() // flushes sinks, commits offsets
//	_, _, err := h.PutConnectorConfig(ctx, "src", map[string]string{
//		"connector.class": "FileStreamSource", "file": "/tmp/in.txt", "topic": "lines",
//	}, false, "")
//
// Source offsets are stored (offset.storage.file.filename) only after Kafka
// acknowledged every record up to them; sink offsets are committed in the
// consumer group connect-<name> only after the task flushed. A clean
// shutdown does both, so a restarted worker resumes without duplicates or
// gaps.
//
// Records pass through the connector's single message transformations
// (transforms=..., predicates=...; the implementations live in
// connect/transforms and register themselves like connectors) between the
// task and the converters. A record that fails in a converter or a
// transformation is retried for errors.retry.timeout when the failure
// wraps connect.ErrRetriable, then fails the task (errors.tolerance=none)
// or is skipped (all); sinks can send such records to a dead letter queue
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
//
// Every store method takes a context: cancelling the REST call that
// changes a connector cancels the Kafka write behind it.
package runtime
