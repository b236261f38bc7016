// Command goka-counter is a goka (v1.1.17) application against Gregor: a
// processor counts the messages of an input topic per key in a group table
// (goka.Persist, kept in a compacted topic named GROUP-table), and a goka
// View reads the counts back from that table.
//
// It lives in the integration module (integration/go.mod), so that goka is
// not a dependency of Gregor's library module; build it there:
//
//	cd integration && go build ./examples/goka-counter
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
