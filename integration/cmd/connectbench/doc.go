// Command connectbench measures Connect's throughput next to bare franz-go
// clients moving the same records in the same run, each side in its own
// process as it runs in production: a `gregor broker`, a `gregor connect
// standalone` worker driven over its REST API, and the bare clients in
// this program. Run by `make bench`.
//
// Two rows, each run -rounds times alternating Connect and bare, medians
// shown:
//
//   - datagen -> topic: the Datagen connector's pageviews quickstart
//     (-records records, String keys, schemaless JSON values) into a
//     one-partition topic, next to a bare producer sending the same keys
//     and values with the worker's producer settings (linger 5 ms; kgo's
//     defaults otherwise: acks=all, idempotent, snappy).
//   - topic -> file sink: FileStreamSink copying that topic's values (as
//     text, StringConverter) into a file, next to a bare consumer writing
//     the same lines through a buffered writer.
//
// Both sides of a row are timed alike, by a watcher polling every 2 ms
// from the first record seen (in the topic, or in the file) to the last:
// start-up (connector creation, client metadata, the group join) is left
// out on both sides. CPU is reported per process: the worker or this
// program, and the broker. What generating and converting the records
// costs without Kafka (the part of the source row the bare producer
// skips) is printed for scale.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/connectbench [-records N] [-rounds R] [-worker-profile PREFIX]
package main
