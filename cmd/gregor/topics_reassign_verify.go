package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The throttle configs --execute sets and --verify clears, as Kafka's tool.
const (
	leaderRateConfig         = "leader.replication.throttled.rate"
	followerRateConfig       = "follower.replication.throttled.rate"
	leaderReplicasConfig     = "leader.replication.throttled.replicas"
	followerReplicasConfig   = "follower.replication.throttled.replicas"
	reassignmentStatusDone   = "completed"
	reassignmentStatusActive = "in progress"
)

// setThrottles throttles the replicas the plan moves, as
// kafka-reassign-partitions.sh --throttle does: on each topic the current
// replicas of moving partitions are leader-throttled and their new
// replicas follower-throttled, and every broker involved gets rate as its
// leader and follower throttled rate.
func setThrottles(ctx context.Context, adm *kadm.Client, cur, plan reassignmentPlan, rate int64) error {
	leader, follower := map[string][]string{}, map[string][]string{}
	brokers := map[int32]bool{}
	for _, pp := range plan.Partitions {
		i := slices.IndexFunc(cur.Partitions, func(c plannedPartition) bool { return c.Topic == pp.Topic && c.Partition == pp.Partition })
		if i < 0 {
			continue
		}
		old := cur.Partitions[i].Replicas
		if slices.Equal(old, pp.Replicas) {
			continue
		}
		for _, b := range old {
			leader[pp.Topic] = append(leader[pp.Topic], fmt.Sprintf("%d:%d", pp.Partition, b))
			brokers[b] = true
		}
		for _, b := range pp.Replicas {
			if !slices.Contains(old, b) {
				follower[pp.Topic] = append(follower[pp.Topic], fmt.Sprintf("%d:%d", pp.Partition, b))
			}
			brokers[b] = true
		}
	}
	for t, l := range leader {
		lv, fv := strings.Join(l, ","), strings.Join(follower[t], ",")
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: leaderReplicasConfig, Value: &lv},
			{Op: kadm.SetConfig, Name: followerReplicasConfig, Value: &fv}}, t)
		if err == nil {
			err = firstConfigErr(resps)
		}
		if err != nil {
			return fmt.Errorf("throttle topic %s: %w", t, err)
		}
	}
	r := strconv.FormatInt(rate, 10)
	for _, b := range sortedIDs(brokers) {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: leaderRateConfig, Value: &r},
			{Op: kadm.SetConfig, Name: followerRateConfig, Value: &r}}, b)
		if err == nil {
			err = firstConfigErr(resps)
		}
		if err != nil {
			return fmt.Errorf("throttle broker %d: %w", b, err)
		}
	}
	return nil
}

// clearThrottles removes the throttle configs from every broker and from
// topics, printing what it does unless quiet.
func clearThrottles(ctx context.Context, w io.Writer, quiet bool, adm *kadm.Client, topics []string) error {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	ids := map[int32]bool{}
	for _, b := range md.Brokers {
		ids[b.NodeID] = true
	}
	brokers := sortedIDs(ids)
	if !quiet {
		fmt.Fprintf(w, "Clearing broker-level throttles on brokers %s\n", joinIDs(brokers))
	}
	for _, b := range brokers {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.DeleteConfig, Name: leaderRateConfig},
			{Op: kadm.DeleteConfig, Name: followerRateConfig}}, b)
		if err == nil {
			err = firstConfigErr(resps)
		}
		if err != nil {
			return fmt.Errorf("clear the throttle of broker %d: %w", b, err)
		}
	}
	for _, t := range topics {
		if !quiet {
			fmt.Fprintf(w, "Clearing topic-level throttles on topic %s\n", t)
		}
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.DeleteConfig, Name: leaderReplicasConfig},
			{Op: kadm.DeleteConfig, Name: followerReplicasConfig}}, t)
		if err == nil {
			err = firstConfigErr(resps)
		}
		if err != nil {
			return fmt.Errorf("clear the throttle of topic %s: %w", t, err)
		}
	}
	return nil
}

func firstConfigErr(rs kadm.AlterConfigsResponses) error {
	for _, r := range rs {
		if r.Err != nil {
			return respErr(r.Err, r.ErrMessage)
		}
	}
	return nil
}

func sortedIDs(m map[int32]bool) []int32 {
	out := make([]int32, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// ongoingReassignment is one partition's reassignment in progress.
type ongoingReassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Adding    []int32 `json:"adding_replicas"`
	Removing  []int32 `json:"removing_replicas"`
}

// listReassignments lists every reassignment in progress (null topics:
// kadm would send none).
func listReassignments(ctx context.Context, cl *kgo.Client) ([]ongoingReassignment, error) {
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list reassignments: %w", kafkaErr("ListPartitionReassignments", err))
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	var out []ongoingReassignment
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, ongoingReassignment{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas, Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Topic < out[j].Topic || out[i].Topic == out[j].Topic && out[i].Partition < out[j].Partition
	})
	return out, nil
}

func reassignList(ctx context.Context, w io.Writer, g *globals, cl *kgo.Client) error {
	ls, err := listReassignments(ctx, cl)
	if err != nil {
		return err
	}
	if g.json() {
		if ls == nil {
			ls = []ongoingReassignment{}
		}
		return writeJSON(w, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(w, "No partition reassignments in progress.")
		return nil
	}
	t := newTable("TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
	for _, r := range ls {
		t.add(r.Topic, r.Partition, joinIDs(r.Replicas), joinIDs(r.Adding), joinIDs(r.Removing))
	}
	return t.write(w)
}

// verifyResult is one partition's state in --verify.
type verifyResult struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Status    string  `json:"status"` // completed, in progress, or mismatch
	Target    []int32 `json:"target"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Adding    []int32 `json:"adding_replicas,omitempty"`
	Removing  []int32 `json:"removing_replicas,omitempty"`
	// Copied is, for each adding replica, the bytes it holds against the
	// leader's, when the brokers say.
	Copied map[int32]string `json:"copied,omitempty"`
}

func reassignVerify(ctx context.Context, w io.Writer, g *globals, adm *kadm.Client, cl *kgo.Client, o reassignOpts, plan reassignmentPlan) error {
	topics, parts := planTopics(plan)
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if _, err := currentPlan(md, topics, parts); err != nil {
		return err
	}
	ongoing, err := listReassignments(ctx, cl)
	if err != nil {
		return err
	}
	var sizes kadm.DescribedAllLogDirs
	if len(ongoing) > 0 {
		set := kadm.TopicsSet{}
		for t, ps := range parts {
			set.Add(t, ps...)
		}
		sizes, _ = adm.DescribeAllLogDirs(ctx, set) // progress only: best effort
	}
	var results []verifyResult
	busy := false
	for _, pp := range plan.Partitions {
		p := md.Topics[pp.Topic].Partitions[pp.Partition]
		r := verifyResult{Topic: pp.Topic, Partition: pp.Partition, Target: pp.Replicas, Replicas: p.Replicas, ISR: p.ISR}
		i := slices.IndexFunc(ongoing, func(o ongoingReassignment) bool { return o.Topic == pp.Topic && o.Partition == pp.Partition })
		switch {
		case i >= 0:
			busy = true
			r.Status, r.Replicas, r.Adding, r.Removing = reassignmentStatusActive, ongoing[i].Replicas, ongoing[i].Adding, ongoing[i].Removing
			r.Copied = copiedBytes(sizes, pp.Topic, pp.Partition, p.Leader, r.Adding)
		case slices.Equal(p.Replicas, pp.Replicas):
			r.Status = reassignmentStatusDone
		default:
			r.Status = "mismatch"
		}
		results = append(results, r)
	}
	if g.json() {
		if err := writeJSON(w, results); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(w, "Status of partition reassignment:")
		for _, r := range results {
			name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
			switch r.Status {
			case reassignmentStatusDone:
				fmt.Fprintf(w, "Reassignment of partition %s is completed.\n", name)
			case reassignmentStatusActive:
				fmt.Fprintf(w, "Reassignment of partition %s is still in progress: adding [%s], removing [%s], in sync [%s]%s.\n",
					name, joinIDs(r.Adding), joinIDs(r.Removing), joinIDs(r.ISR), copiedText(r.Copied))
			default:
				fmt.Fprintf(w, "There is no active reassignment of partition %s, but replica set is [%s] rather than [%s].\n",
					name, joinIDs(r.Replicas), joinIDs(r.Target))
			}
		}
	}
	if busy || o.preserve {
		return nil
	}
	if !g.json() {
		fmt.Fprintln(w)
	}
	return clearThrottles(ctx, w, g.json(), adm, topics)
}

// copiedBytes says how much of the leader's copy each adding replica has.
func copiedBytes(sizes kadm.DescribedAllLogDirs, topic string, partition, leader int32, adding []int32) map[int32]string {
	if sizes == nil {
		return nil
	}
	lp, ok := sizes[leader].LookupPartition(topic, partition)
	if !ok || lp.Size <= 0 {
		return nil
	}
	out := map[int32]string{}
	for _, id := range adding {
		if p, ok := sizes[id].LookupPartition(topic, partition); ok {
			out[id] = fmt.Sprintf("%d of %d bytes (%d%%)", p.Size, lp.Size, min(100, p.Size*100/lp.Size))
		}
	}
	return out
}

func copiedText(c map[int32]string) string {
	if len(c) == 0 {
		return ""
	}
	ids := make(map[int32]bool, len(c))
	for id := range c {
		ids[id] = true
	}
	var parts []string
	for _, id := range sortedIDs(ids) {
		parts = append(parts, fmt.Sprintf("replica %d has %s", id, c[id]))
	}
	return "; " + strings.Join(parts, ", ")
}

func reassignCancel(ctx context.Context, w io.Writer, g *globals, adm *kadm.Client, o reassignOpts, plan reassignmentPlan) error {
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, pp := range plan.Partitions {
		req.CancelAssign(pp.Topic, pp.Partition)
	}
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("cancel: %w", kafkaErr("AlterPartitionReassignments", err))
	}
	var results []executeResult
	var cancelled, failed []string
	for _, pp := range plan.Partitions {
		r := executeResult{Topic: pp.Topic, Partition: pp.Partition}
		name := fmt.Sprintf("%s-%d", pp.Topic, pp.Partition)
		rr, ok := resps[pp.Topic][pp.Partition]
		switch {
		case !ok:
			r.Error = "no answer for this partition"
		case errors.Is(rr.Err, kerr.NoReassignmentInProgress):
			// Done already, or never started: nothing to cancel.
		case rr.Err != nil:
			r.Error = respErr(rr.Err, rr.ErrMessage).Error()
		default:
			cancelled = append(cancelled, name)
		}
		if r.Error != "" {
			failed = append(failed, name+": "+r.Error)
		}
		results = append(results, r)
	}
	if g.json() {
		if err := writeJSON(w, results); err != nil {
			return err
		}
	} else if len(cancelled) > 0 {
		fmt.Fprintf(w, "Successfully cancelled partition reassignments for: %s\n", strings.Join(cancelled, ","))
	} else {
		fmt.Fprintln(w, "None of the partitions had a reassignment in progress.")
	}
	if len(failed) > 0 {
		return fmt.Errorf("error cancelling partition reassignment(s):\n%s", strings.Join(failed, "\n"))
	}
	if o.preserve {
		return nil
	}
	topics, _ := planTopics(plan)
	return clearThrottles(ctx, w, g.json(), adm, topics)
}
