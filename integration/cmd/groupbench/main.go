// Command groupbench measures Gregor's group coordinator against franz-go's
// kfake and prints the figures side by side with ratios to kfake (issue 4's
// performance proof). `make bench` runs it.
//
// Both brokers run as child processes, started together: gregor (built
// binary, GREGOR_BIN, with group.initial.rebalance.delay.ms=0 so that it
// does not wait for more members where kfake never does) and kfake (this
// program re-run with -kfake-child). On each, every round:
//
//   - join: -members franz-go clients (kgo.ConsumerGroup, cooperative-sticky)
//     start together on a -partitions topic; the time until the group is
//     Stable with every partition owned by exactly one member (seen through
//     the members' assign/revoke callbacks and DescribeGroups);
//   - leave: one member closes (it revokes and sends LeaveGroup); the time
//     from the close until the others own every partition and the group is
//     Stable again;
//   - commit: -committers goroutines, each with its own client and group,
//     send OffsetCommit requests (one partition each, generation -1, as
//     kadm, kcat and kafka-go commit) back to back for -commit-secs; the
//     sustained rate in commits/s.
//
// Phases alternate between the brokers, in an order rotated each round, so
// background load skews both columns alike; each figure is the median of
// -rounds rounds. Members heartbeat every -heartbeat (kgo's default is 3 s,
// which would dominate the rebalance times for both brokers alike). The
// program prints figures only; it asserts nothing.
//
// Usage:
//
//	GREGOR_BIN=bin/gregor go run ./integration/cmd/groupbench
//	go run ./integration/cmd/groupbench -rounds 5 -commit-secs 5
//
// Without GREGOR_BIN it builds ./cmd/gregor into a temporary directory.
// Every child process and temporary directory is removed on exit, also on
// Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gregorhq/gregor/integration"
	"github.com/gregorhq/gregor/integration/benchkit"
)

var (
	members    = flag.Int("members", 10, "members of the group")
	partitions = flag.Int("partitions", 30, "partitions of the group's topic")
	rounds     = flag.Int("rounds", 3, "rounds of every phase; each figure is the median")
	committers = flag.Int("committers", 8, "goroutines committing offsets, each with its own client and group")
	commitTime = flag.Duration("commit-secs", 3*time.Second, "length of the commit phase")
	heartbeat  = flag.Duration("heartbeat", 100*time.Millisecond, "members' heartbeat interval")
)

// result is what was measured on one broker, one entry per round.
type result struct {
	name          string
	join, leave   []time.Duration
	commitsPerSec []float64
}

// broker is a running broker under test.
type broker struct {
	name string
	p    *integration.Process
	res  result
}

func main() {
	flag.Parse()
	if benchkit.IsKfakeChild() {
		benchkit.RunKfakeChild(*partitions)
		return
	}
	benchkit.HandleSignals("groupbench")
	if *members < 2 || *partitions < 1 || *rounds < 1 || *committers < 1 {
		die("need -members >= 2, -partitions, -rounds and -committers >= 1")
	}

	bin := benchkit.GregorBinary("groupbench")
	fmt.Fprintf(os.Stderr, "groupbench: %d members (cooperative-sticky, heartbeat %v) on %d partitions; %d committers for %v; %d round(s)\n",
		*members, *heartbeat, *partitions, *committers, *commitTime, *rounds)
	loadBefore := benchkit.LoadAvg()
	brokers := []*broker{
		launch("gregor", func(ctx context.Context, dir string) (*integration.Process, error) {
			return integration.StartGregor(ctx, bin, dir, "--log-level", "warn",
				"--set", "group.initial.rebalance.delay.ms=0")
		}),
		launch("kfake", func(ctx context.Context, _ string) (*integration.Process, error) {
			return benchkit.StartKfake(ctx)
		}),
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for round := range *rounds {
		for i := range brokers {
			b := brokers[(i+round)%len(brokers)]
			join, leave, err := rebalancePhases(ctx, b.p.Addr(), fmt.Sprintf("r%d", round))
			if err != nil {
				die("%s: round %d: %v\nbroker output:\n%s", b.name, round, err, tail(b.p.Output(), 40))
			}
			b.res.join = append(b.res.join, join)
			b.res.leave = append(b.res.leave, leave)
			fmt.Fprintf(os.Stderr, "%s: round %d: join %v, leave %v\n", b.name, round, join.Round(time.Millisecond), leave.Round(time.Millisecond))
		}
		for i := range brokers {
			b := brokers[(i+round)%len(brokers)]
			rate, err := commitPhase(ctx, b.p.Addr(), fmt.Sprintf("r%d", round))
			if err != nil {
				die("%s: round %d: commits: %v\nbroker output:\n%s", b.name, round, err, tail(b.p.Output(), 40))
			}
			b.res.commitsPerSec = append(b.res.commitsPerSec, rate)
			fmt.Fprintf(os.Stderr, "%s: round %d: %.0f commits/s\n", b.name, round, rate)
		}
	}
	for _, b := range brokers {
		if err := b.p.Stop(30 * time.Second); err != nil && b.name != "kfake" {
			fmt.Fprintf(os.Stderr, "%s: unclean stop: %v\n", b.name, err)
		}
	}
	fmt.Printf("load average before: %s, after: %s (2 cores: above ~1.5 the figures are skewed by other work)\n\n", loadBefore, benchkit.LoadAvg())
	benchkit.RunCleanups()
	printTable(os.Stdout, brokers[0].res, brokers[1].res)
}

// launch starts a broker with a temporary data directory; both are removed
// at exit.
func launch(name string, start func(ctx context.Context, dir string) (*integration.Process, error)) *broker {
	dir, err := os.MkdirTemp("", "groupbench-"+name+"-")
	if err != nil {
		die("%v", err)
	}
	benchkit.AtExit(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := start(ctx, dir)
	if err != nil {
		die("%s: %v", name, err)
	}
	benchkit.AtExit(p.Kill)
	fmt.Fprintf(os.Stderr, "%s: ready on %s (pid %d)\n", name, p.Addr(), p.Pid())
	return &broker{name: name, p: p, res: result{name: name}}
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}

// median of durations or rates (the input is sorted in place).
func median[T time.Duration | float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func die(format string, args ...any) { benchkit.Die("groupbench", format, args...) }
