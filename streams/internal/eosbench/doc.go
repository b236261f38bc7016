// Package eosbench measures what exactly-once processing costs in Gregor streams: two
// topologies over the same pre-filled input on one in-process Gregor broker, each run
// under processing.guarantee at_least_once and exactly_once_v2 in the same run, with
// records per second side by side (issue 10's target: exactly-once at least 60% of
// at-least-once).
//
//   - windowed-count: clicks (100,000 users) grouped by user and counted in one-minute
//     tumbling windows, written to an output topic;
//   - stream-table-join: the clicks left-joined with a table of the users' regions
//     (a left join, so that every click yields exactly one output record whatever
//     order the table and the stream are fetched in), written to an output topic.
//
// A run ends when the output, read with isolation level read_committed, holds the
// final answer: every user's exact count in every window, or one joined record per
// click. Both guarantees use the same commit interval (GREGOR_BENCH_EOS_COMMIT, default
// 100ms, exactly_once_v2's default in Kafka Streams), since at-least-once output
// appears only when the record cache is flushed at a commit.
//
//	go test -run '^$' -bench EOS -benchtime 1x ./streams/internal/eosbench/
//
// Exactly-once output becomes visible only when its transaction commits, so a run pays up
// to one commit interval more at its end; the default of a million clicks keeps that
// small next to the run. GREGOR_BENCH_EOS_CLICKS sets the number of clicks,
// GREGOR_BENCH_EOS_ROUNDS the rounds of each case (default 2, the best is shown; the
// guarantees alternate so background load skews both alike).
package eosbench
