package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// datetimeLayouts are the --to-datetime forms without a zone, read in local
// time (Kafka's kafka-consumer-groups.sh takes 2006-01-02T15:04:05.000).
var datetimeLayouts = []string{
	"2006-01-02T15:04:05.000",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseDatetime parses RFC 3339 (with a zone), a local date-time such as
// 2006-01-02T15:04:05[.000] or 2006-01-02, or Unix milliseconds.
func parseDatetime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range datetimeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2006-01-02T15:04:05Z), 2006-01-02T15:04:05 (local time), 2006-01-02 or Unix milliseconds", s)
}

// resetStrategy is where reset-offsets moves each partition.
type resetStrategy struct {
	kind   string // earliest, latest, offset, datetime, shift
	offset int64  // for offset
	shift  int64  // for shift
	millis int64  // for datetime
}

// resetInput is what is known about one partition before the reset.
type resetInput struct {
	Topic     string
	Partition int32
	Committed int64 // -1: none
	Start     int64
	End       int64
	AtTime    int64 // for datetime: the first offset at or after the time, -1: none
}

// resetRow is the plan for one partition.
type resetRow struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"`
	NewOffset     int64  `json:"new_offset"`
	Note          string `json:"note,omitempty"`
}

// planReset computes the new offset of every partition, clamped to the
// partition's [log start, log end] like Kafka does. Partitions without a
// committed offset are skipped by --shift-by (there is nothing to shift).
func planReset(in []resetInput, s resetStrategy) []resetRow {
	var out []resetRow
	for _, p := range in {
		row := resetRow{Topic: p.Topic, Partition: p.Partition}
		if p.Committed >= 0 {
			c := p.Committed
			row.CurrentOffset = &c
		}
		var n int64
		switch s.kind {
		case "earliest":
			n = p.Start
		case "latest":
			n = p.End
		case "offset":
			n = s.offset
		case "datetime":
			n = p.AtTime
			if n < 0 {
				n = p.End
			}
		case "shift":
			if p.Committed < 0 {
				continue
			}
			n = p.Committed + s.shift
		}
		switch {
		case n < p.Start:
			row.Note = fmt.Sprintf("%d is before the log start; using it", n)
			n = p.Start
		case n > p.End:
			row.Note = fmt.Sprintf("%d is past the log end; using it", n)
			n = p.End
		}
		row.NewOffset = n
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// resetOptions are the flags of `groups reset-offsets`.
type resetOptions struct {
	topics     []string
	allTopics  bool
	earliest   bool
	latest     bool
	toOffset   int64
	toDatetime string
	shiftBy    int64
	execute    bool
	changed    func(string) bool
}

// strategy validates that exactly one strategy was given.
func (o resetOptions) strategy() (resetStrategy, error) {
	var ss []resetStrategy
	if o.earliest {
		ss = append(ss, resetStrategy{kind: "earliest"})
	}
	if o.latest {
		ss = append(ss, resetStrategy{kind: "latest"})
	}
	if o.changed("to-offset") {
		if o.toOffset < 0 {
			return resetStrategy{}, usagef("--to-offset %d: want >= 0", o.toOffset)
		}
		ss = append(ss, resetStrategy{kind: "offset", offset: o.toOffset})
	}
	if o.changed("to-datetime") {
		t, err := parseDatetime(o.toDatetime, time.Local)
		if err != nil {
			return resetStrategy{}, usagef("--to-datetime: %w", err)
		}
		ss = append(ss, resetStrategy{kind: "datetime", millis: t.UnixMilli()})
	}
	if o.changed("shift-by") {
		ss = append(ss, resetStrategy{kind: "shift", shift: o.shiftBy})
	}
	if len(ss) != 1 {
		return resetStrategy{}, usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	if len(o.topics) == 0 && !o.allTopics || len(o.topics) > 0 && o.allTopics {
		return resetStrategy{}, usagef("give --topic TOPIC[:PARTITIONS] (repeatable) or --all-topics")
	}
	return ss[0], nil
}

// resetResult is the output of `groups reset-offsets`.
type resetResult struct {
	Group    string     `json:"group"`
	Executed bool       `json:"executed"`
	Offsets  []resetRow `json:"offsets"`
}

func newGroupsReset(g *globals) *cobra.Command {
	var o resetOptions
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic T[:P,...]... | --all-topics) STRATEGY [--execute]",
		Short: "Move a group's committed offsets (a dry run unless --execute)",
		Long: `Move the committed offsets of a consumer group, like kafka-consumer-groups.sh
--reset-offsets. Without --execute it only prints the plan. The group must have no
active members when executing (stop its consumers first).

Which partitions: --topic TOPIC (all its partitions) or TOPIC:0,2,4-6, repeatable,
or --all-topics (every topic the group has committed offsets for).

Strategies (exactly one):
  --to-earliest        the log start offset
  --to-latest          the log end offset (skip everything)
  --to-offset N        offset N
  --to-datetime TIME   the first record at or after TIME (RFC 3339, or
                       2006-01-02T15:04:05 in local time, or Unix ms)
  --shift-by N         the committed offset plus N (negative to go back)
New offsets are kept within [log start, log end].`,
		Example: `  # see what would happen
  gregor groups reset-offsets billing --topic demo --to-earliest

  # do it
  gregor groups reset-offsets billing --topic demo --to-earliest --execute

  # replay the last 100 records of partitions 0 and 1
  gregor groups reset-offsets billing --topic demo:0,1 --shift-by -100 --execute

  # everything since midnight UTC
  gregor groups reset-offsets billing --all-topics --to-datetime 2025-01-01T00:00:00Z --execute`,
		Args:              exactArgs(1, "one group name"),
		ValidArgsFunction: completeGroups(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.changed = cmd.Flags().Changed
			return runReset(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "TOPIC or TOPIC:PARTITIONS to reset (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every topic the group has committed offsets for")
	f.BoolVar(&o.earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.latest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first record at or after this time")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets (without it: dry run)")
	_ = cmd.RegisterFlagCompletionFunc("topic", completeTopics(g))
	return cmd
}

// parseTopicPartitions parses TOPIC or TOPIC:PARTITIONS.
func parseTopicPartitions(s string) (string, []int32, error) {
	t, ps, ok := strings.Cut(s, ":")
	if t == "" {
		return "", nil, usagef("--topic %q: want TOPIC or TOPIC:PARTITIONS", s)
	}
	if !ok {
		return t, nil, nil
	}
	parts, err := parsePartitions(ps)
	return t, parts, err
}

func runReset(cmd *cobra.Command, g *globals, o resetOptions, group string) error {
	strat, err := o.strategy()
	if err != nil {
		return err
	}
	want := map[string][]int32{} // nil: all partitions
	for _, s := range o.topics {
		t, ps, err := parseTopicPartitions(s)
		if err != nil {
			return err
		}
		want[t] = append(want[t], ps...)
	}
	adm, ctx, done, err := g.adminOp(cmd)
	if err != nil {
		return err
	}
	defer done()

	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, kafkaErr("DescribeGroups", err))
	}
	state := ""
	if d, ok := described[group]; ok {
		if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("describe group %s: %w", group, respErr(d.Err, d.ErrMessage))
		}
		state = d.State
	}
	active := state != "" && state != "Empty" && state != "Dead"
	if o.execute && active {
		return fmt.Errorf("offsets can only be reset while group %s is inactive, but it is %s: stop its consumers first", group, state)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("fetch offsets of group %s: %w", group, kafkaErr("OffsetFetch", err))
	}
	if o.allTopics {
		for t := range committed {
			want[t] = nil
		}
		if len(want) == 0 {
			return fmt.Errorf("group %s has no committed offsets; name topics with --topic", group)
		}
	}
	inputs, err := resetInputs(ctx, adm, want, committed, strat)
	if err != nil {
		return err
	}
	rows := planReset(inputs, strat)
	if o.execute && len(rows) > 0 {
		var os kadm.Offsets
		for _, r := range rows {
			os.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.NewOffset, LeaderEpoch: -1})
		}
		resps, err := adm.CommitOffsets(ctx, group, os)
		if err != nil {
			return fmt.Errorf("commit offsets for group %s: %w", group, kafkaErr("OffsetCommit", err))
		}
		if err := resps.Error(); err != nil {
			return fmt.Errorf("commit offsets for group %s: %w", group, err)
		}
	}
	res := resetResult{Group: group, Executed: o.execute, Offsets: rows}
	if res.Offsets == nil {
		res.Offsets = []resetRow{}
	}
	w := cmd.OutOrStdout()
	if g.json() {
		return writeJSON(w, res)
	}
	if active {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: group %s is %s; --execute will refuse until it is inactive\n", group, state)
	}
	return writeReset(w, cmd.ErrOrStderr(), res)
}

// resetInputs lists the partitions to reset with their committed, start,
// end and (for --to-datetime) time-based offsets.
func resetInputs(ctx context.Context, adm *kadm.Client, want map[string][]int32, committed kadm.OffsetResponses, s resetStrategy) ([]resetInput, error) {
	topics := make([]string, 0, len(want))
	for t := range want {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("look up topics: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var atTime kadm.ListedOffsets
	if s.kind == "datetime" {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, s.millis, topics...); err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
	}
	var in []resetInput
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil {
			e := d.Err
			if e == nil {
				e = kerr.UnknownTopicOrPartition
			}
			return nil, fmt.Errorf("topic %s: %w", t, e)
		}
		parts := want[t]
		if parts == nil {
			parts = d.Partitions.Numbers()
		}
		for _, p := range parts {
			if _, ok := d.Partitions[p]; !ok {
				return nil, fmt.Errorf("topic %s has no partition %d: %w", t, p, kerr.UnknownTopicOrPartition)
			}
			ri := resetInput{Topic: t, Partition: p, Committed: -1, AtTime: -1}
			if c, ok := committed.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
				ri.Committed = c.At
			}
			so, ok := starts.Lookup(t, p)
			eo, ok2 := ends.Lookup(t, p)
			if !ok || !ok2 || so.Err != nil || eo.Err != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t, p, firstErr(so.Err, eo.Err, kerr.UnknownTopicOrPartition))
			}
			ri.Start, ri.End = so.Offset, eo.Offset
			if atTime != nil {
				if a, ok := atTime.Lookup(t, p); ok && a.Err == nil {
					ri.AtTime = a.Offset
				}
			}
			in = append(in, ri)
		}
	}
	return in, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func writeReset(w, stderr io.Writer, r resetResult) error {
	t := newTable("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET", "NOTE")
	for _, row := range r.Offsets {
		cur := "-"
		if row.CurrentOffset != nil {
			cur = fmt.Sprint(*row.CurrentOffset)
		}
		t.add(r.Group, row.Topic, row.Partition, cur, row.NewOffset, row.Note)
	}
	if err := t.write(w); err != nil {
		return err
	}
	if r.Executed {
		fmt.Fprintf(stderr, "committed new offsets for %d partitions of group %s\n", len(r.Offsets), r.Group)
	} else {
		fmt.Fprintln(stderr, "dry run: nothing changed; add --execute to commit these offsets")
	}
	return nil
}
