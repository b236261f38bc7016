// Command wordcount is Kafka Streams' WordCountDemo on Gregor streams: it reads lines
// from streams-plaintext-input, splits them into lowercase words on \W+, counts each
// word and writes the counts to streams-wordcount-output (string keys, int64 values
// encoded as Kafka's LongSerializer does). The topology lives in package
// examples/wordcount/wordcount; both topics must exist (the internal repartition and
// changelog topics are created by the application).
//
//	gregor topics create streams-plaintext-input --partitions 4
//	gregor topics create streams-wordcount-output --partitions 4 --config cleanup.policy=compact
//	go run ./examples/wordcount --brokers localhost:9092 --state-dir /tmp/wordcount
//
// Once it has started it prints "streams-wordcount ready on BROKERS" on
// stdout. It stops cleanly on SIGINT or SIGTERM (committing and checkpointing); killed
// with SIGKILL it restarts from its last commit, restoring its counts from the
// changelog topic if its state directory is gone (at-least-once: input processed after
// the last commit is counted again). With --processing-guarantee exactly_once_v2 the
// counts it commits (read with read_committed) count every line exactly once, however
// often it is killed.
package main
