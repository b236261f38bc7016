// Command txnbench measures transactional produce throughput next to plain
// idempotent produce on a gregor broker, in the same run: N records of 100 B
// over 6 partitions, acks=all, the transactional producer committing every
// -txn-size records. Run by `make bench`.
//
// Every count of -producers (default "1,4") is measured: that many clients,
// each with its own transactional.id, share the records. One producer runs
// each transaction's round trips (AddPartitionsToTxn, the Produce of the
// flush, EndTxn) back to back with nothing to overlap them, so its ratio is
// bound by round-trip latency; several producers overlap them, as an
// application with many producers (or stream threads) does. The idempotent
// phase uses the same number of clients, so each row compares like with like.
//
// -latency adds, per phase, the client-side round trip of each request by
// API and, for transactions, the time spent per transaction in the Produce
// calls, in Flush and in EndTransaction. -tv1 caps EndTxn at v4 so that,
// against a broker that offers KIP-890 part 2 (transaction.version 2, as
// kfake does), the client still uses the classic protocol with an
// AddPartitionsToTxn round trip per transaction: comparing kfake with and
// without -tv1 isolates what that round trip costs.
package main
