// Command benchcompare measures Gregor against franz-go's kfake on one
// franz-go workload and prints the figures side by side, with ratios to
// kfake and each broker's resident memory. `make bench` runs it.
//
// Three brokers run, each as its own child process (so its memory is
// measured alone, from /proc/PID/status): gregor with the default flush
// policy, gregor with --flush durable, and kfake. On each:
//
//   - produce -records records of 100 B over -partitions partitions with
//     acks=all (idempotent, linger 5ms), then consume them all;
//   - end-to-end latency (produce to consume) at -rate records/s for
//     -latency;
//   - the same with 1 KB records (-records-1k of them).
//
// The brokers are started together and the phases interleaved (each phase
// runs on every broker back to back, in an order rotated each round), so
// background load on a shared machine skews all columns alike. With
// -rounds N each figure is the best of N rounds. The load average is
// printed before and after: on a busy machine, take the ratios with care.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/benchcompare
//	go run ./integration/cmd/benchcompare -records 100000 -records-1k 20000 -latency-secs 2
//
// Without GREGOR_BIN it builds ./cmd/gregor into a temporary directory.
// Every child process and temporary directory is removed on exit, also on
// Ctrl-C.
package main
