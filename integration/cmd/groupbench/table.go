package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// printTable prints the medians side by side, gregor's ratio to kfake
// (above 1 is better for gregor on every row), and issue 4's target: each
// figure at least as good as kfake's.
func printTable(out io.Writer, gregor, kfake result) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rows := []struct {
		label       string
		g, k        float64
		format      string
		lowerBetter bool
	}{
		{fmt.Sprintf("join: %d members Stable, all assigned (ms)", *members), ms(median(gregor.join)), ms(median(kfake.join)), "%.1f", true},
		{"leave: 1 member closes, rest own all (ms)", ms(median(gregor.leave)), ms(median(kfake.leave)), "%.1f", true},
		{fmt.Sprintf("OffsetCommit, %d committers (commits/s)", *committers), median(gregor.commitsPerSec), median(kfake.commitsPerSec), "%.0f", false},
	}
	fmt.Fprintf(out, "groups: %d members, %d partitions, cooperative-sticky; median of %d round(s)\n", *members, *partitions, *rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tgregor\tkfake\tgregor vs kfake (>1 better)\ttarget\t")
	for _, r := range rows {
		ratio, verdict := "-", "-"
		if r.g > 0 && r.k > 0 {
			x := r.g / r.k
			if r.lowerBetter {
				x = r.k / r.g
			}
			ratio = fmt.Sprintf("%.2fx", x)
			verdict = "ok"
			if x < 1 {
				verdict = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t"+r.format+"\t"+r.format+"\t%s\t%s\t\n", r.label, r.g, r.k, ratio, verdict)
	}
	tw.Flush()
	fmt.Fprintln(out, "target (issue 4): each at least as good as kfake (ratio >= 1)")
	// A join is bimodal: when every member's JoinGroup reaches the
	// coordinator before the first generation completes, one generation
	// settles the group; otherwise the first members own partitions that
	// the cooperative protocol must revoke in an extra round, which the
	// other members only learn of at their next heartbeat. Which way a round
	// goes is a race between client start-up and the coordinator, on both
	// brokers, so the rounds are listed.
	fmt.Fprintf(out, "join rounds (ms, sorted), gregor: %v\n", sortedMillis(gregor.join))
	fmt.Fprintf(out, "join rounds (ms, sorted), kfake:  %v\n", sortedMillis(kfake.join))
}

// sortedMillis returns the durations in whole milliseconds, sorted.
func sortedMillis(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	slices.Sort(out)
	return out
}
