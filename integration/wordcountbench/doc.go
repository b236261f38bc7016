// Package wordcountbench compares, on one in-process Gregor broker and one pre-filled
// input topic, the words per second of three word counts that end with exact counts in
// an output topic: Gregor streams (examples/wordcount's topology), goka v1.1.17 (a
// splitting processor emitting words to a topic and a counting processor with a group
// table), and a bare franz-go counter (one consumer, a Go map, one produce of the
// totals: the physical limit). It prints a side-by-side table. It lives in the
// integration module, so that goka and sarama are dependencies of the benchmarks, not of
// the streams library.
//
//	cd integration && go test -run '^$' -bench WordCount -benchtime 1x ./wordcountbench/
//
// All three split lines with the same splitter (wordcount.Words), and a throwaway
// consumer group commits once before the first timed run, so that no run pays for the
// broker creating __consumer_offsets. Each runs
// GREGOR_BENCH_WC_ROUNDS rounds (default 3) from scratch and the table shows the best,
// to damp the noise of a shared machine; GREGOR_BENCH_WC_ONLY (a comma-separated list of
// franz-go-bare, gregor-streams, goka) runs only those, e.g. for profiling with
// -cpuprofile. GREGOR_BENCH_WC_LINES sets the number of input lines (default 200,000,
// about 900,000 words); GREGOR_BENCH_WC_THREADS, GREGOR_BENCH_WC_COMMIT and
// GREGOR_BENCH_WC_LINGER set the streams application's threads (2), commit interval
// (100ms) and producer linger.
package wordcountbench
