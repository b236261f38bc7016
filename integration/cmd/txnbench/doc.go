// Command txnbench measures transactional produce throughput next to plain
// idempotent produce on a gregor broker, in the same run: N records of 100 B
// over 6 partitions, acks=all, the transactional producer committing every
// -txn-size records. Run by `make bench`.
package main
