// Command goka-counter is a goka (v1.1.17) application against Gregor: a
// processor counts the messages of an input topic per key in a group table
// (goka.Persist, kept in a compacted topic named GROUP-table), and a goka
// View reads the counts back from that table.
//
// Usage:
//
//	goka-counter --brokers 127.0.0.1:9092 process            # run the processor until SIGINT/SIGTERM
//	goka-counter --brokers 127.0.0.1:9092 emit a b a         # send one message per argument (its key)
//	goka-counter --brokers 127.0.0.1:9092 get a b            # print "key=count" through a View
//
// The processor keeps its table in --storage (goleveldb); delete that
// directory and it restores the table from the compacted topic. goka's
// TopicManager creates the topics (replication factor 1, the table topic
// with cleanup.policy=compact) on first use.
package main
