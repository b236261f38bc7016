// Command replbench measures what replication costs a producer: on one
// three-node Gregor cluster (three real processes in combined mode, on
// loopback), produce with acks=all to a topic with replication factor 3
// (min.insync.replicas=2) against a topic with replication factor 1, and
// print records/s for each, their ratio (issue 18 asks for at least 0.6;
// Kafka's own figure for three synchronous replicas is about 0.5), and the
// end-to-end latency (produce to consume) at -rate records/s. `make bench`
// runs it once.
//
// Both topics have -partitions partitions spread over the three nodes, so
// each node leads some of either; the phases alternate between them
// (RF 1 first, then RF 3, each round), so background load on a shared
// machine skews both alike. The load average is printed before and after.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/replbench
//	go run ./integration/cmd/replbench -records 100000 -latency 3s -rounds 3
//
// Without GREGOR_BIN it builds ./cmd/gregor into a temporary directory.
// The nodes and their data directories are removed on exit, also on
// Ctrl-C.
package main
