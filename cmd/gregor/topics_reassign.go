package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reassignOpts are the flags of "topics reassign", named as
// kafka-reassign-partitions.sh names them.
type reassignOpts struct {
	generate, execute, verify, cancel, list bool

	topicsFile string   // --topics-to-move-json-file
	topics     []string // --topics
	brokerList string   // --broker-list
	planFile   string   // --reassignment-json-file
	throttle   int64    // --throttle, bytes/s; -1: none
	preserve   bool     // --preserve-throttles
	noRacks    bool     // --disable-rack-aware
	additional bool     // --additional
}

// reassignLong is the help of "topics reassign".
const reassignLong = `Move partition replicas between brokers: to spread topics over a broker you
have just added, to empty a broker before you retire it, or to change a
topic's replication factor. It works like Kafka's kafka-reassign-partitions.sh
and reads and writes the same JSON:

  {"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[4,1,2]}]}

The first replica of each partition is its preferred leader.

A move runs in four steps:

 1. --generate proposes a plan: it prints the current assignment of the topics
    (keep it: it is your rollback plan) and a proposed one that spreads their
    replicas and preferred leaders evenly over --broker-list, rack-aware when
    every broker has broker.rack, moving as few replicas as it can. It changes
    nothing. Save the proposed JSON to a file and edit it if you like.
 2. --execute --reassignment-json-file FILE starts the moves. New replicas copy
    the partition from its leader while producers and consumers carry on; once
    a new replica is in sync the old one is dropped and its files deleted, and
    a leader that is not in the new replica list hands over to the first one.
    --throttle BYTES caps the copying at BYTES per second on each broker
    involved (leader.replication.throttled.rate and
    follower.replication.throttled.rate, for the moving replicas only), so the
    move cannot starve clients of bandwidth.
 3. --verify --reassignment-json-file FILE shows each partition's progress.
    Once all of them are done it removes the throttle (unless
    --preserve-throttles): run it until it says every reassignment completed.
 4. --cancel --reassignment-json-file FILE stops moves in progress and puts
    the partitions back on their original replicas.

--list shows every reassignment in progress in the cluster.`

// reassignExample are the examples of "topics reassign".
const reassignExample = `  # Spread two topics over brokers 1-4 (broker 4 is new):
  gregor topics reassign --generate --topics orders,payments --broker-list 1,2,3,4
  # or, as Kafka's tool takes them:
  echo '{"version":1,"topics":[{"topic":"orders"}]}' > move.json
  gregor topics reassign --generate --topics-to-move-json-file move.json --broker-list 1,2,3,4

  # Start the moves, copying at most 10 MB/s per broker:
  gregor topics reassign --execute --reassignment-json-file plan.json --throttle 10000000

  # Watch them, and remove the throttle once they are done:
  gregor topics reassign --verify --reassignment-json-file plan.json

  # Give up and go back:
  gregor topics reassign --cancel --reassignment-json-file plan.json`

func newTopicsReassign(g *globals) *cobra.Command {
	o := reassignOpts{throttle: -1}
	cmd := &cobra.Command{
		Use:     "reassign (--generate | --execute | --verify | --cancel | --list) [flags]",
		Short:   "Move partition replicas between brokers, like kafka-reassign-partitions.sh",
		Long:    reassignLong,
		Example: reassignExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, b := range []bool{o.generate, o.execute, o.verify, o.cancel, o.list} {
				if b {
					n++
				}
			}
			if n != 1 {
				return usagef("give exactly one of --generate, --execute, --verify, --cancel and --list")
			}
			cl, err := g.client(cmd)
			if err != nil {
				return err
			}
			adm := newAdminFrom(cl, g)
			defer adm.Close()
			ctx, cancel := g.opCtx(cmd)
			defer cancel()
			w := cmd.OutOrStdout()
			switch {
			case o.generate:
				return reassignGenerate(ctx, w, g, adm, o)
			case o.list:
				return reassignList(ctx, w, g, cl)
			}
			plan, err := readPlanFile(o.planFile)
			if err != nil {
				return err
			}
			switch {
			case o.execute:
				return reassignExecute(ctx, w, g, adm, cl, o, plan)
			case o.verify:
				return reassignVerify(ctx, w, g, adm, cl, o, plan)
			default:
				return reassignCancel(ctx, w, g, adm, o, plan)
			}
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.generate, "generate", false, "propose a plan moving --topics (or --topics-to-move-json-file) onto --broker-list")
	f.BoolVar(&o.execute, "execute", false, "start the reassignment in --reassignment-json-file")
	f.BoolVar(&o.verify, "verify", false, "show the progress of --reassignment-json-file; clear the throttle once it is complete")
	f.BoolVar(&o.cancel, "cancel", false, "cancel the reassignments of --reassignment-json-file in progress, reverting to the original replicas")
	f.BoolVar(&o.list, "list", false, "list every reassignment in progress")
	f.StringVar(&o.topicsFile, "topics-to-move-json-file", "", `--generate: the topics to move, as {"version":1,"topics":[{"topic":"orders"}]}`)
	f.StringSliceVar(&o.topics, "topics", nil, "--generate: the topics to move, comma-separated (instead of --topics-to-move-json-file)")
	f.StringVar(&o.brokerList, "broker-list", "", "--generate: the broker IDs to spread the topics over, e.g. 1,2,3,4")
	f.StringVar(&o.planFile, "reassignment-json-file", "", "the plan, in Kafka's reassignment JSON (the proposed plan of --generate)")
	f.Int64Var(&o.throttle, "throttle", -1, "--execute: cap the copying at this many bytes/s on each broker involved")
	f.BoolVar(&o.preserve, "preserve-throttles", false, "--verify, --cancel: leave the throttle in place")
	f.BoolVar(&o.noRacks, "disable-rack-aware", false, "--generate: ignore broker racks")
	f.BoolVar(&o.additional, "additional", false, "--execute: start even though other reassignments are in progress")
	return cmd
}

// readPlanFile reads --reassignment-json-file.
func readPlanFile(name string) (reassignmentPlan, error) {
	if name == "" {
		return reassignmentPlan{}, usagef("--reassignment-json-file is required")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return reassignmentPlan{}, usagef("--reassignment-json-file: %w", err)
	}
	return parsePlan(data)
}

// writePlanJSON prints a plan on one line, as Kafka's tool does.
func writePlanJSON(w io.Writer, p reassignmentPlan) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// currentPlan is the current assignment of the given partitions (all of a
// topic's when parts is nil) from the metadata.
func currentPlan(md kadm.Metadata, topics []string, parts map[string][]int32) (reassignmentPlan, error) {
	out := reassignmentPlan{Version: 1}
	for _, t := range topics {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil {
			return out, fmt.Errorf("topic %s does not exist", t)
		}
		want := parts[t]
		for _, p := range td.Partitions.Sorted() {
			if want == nil || slices.Contains(want, p.Partition) {
				out.Partitions = append(out.Partitions, plannedPartition{Topic: t, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
			}
		}
		for _, p := range want {
			if _, ok := td.Partitions[p]; !ok {
				return out, fmt.Errorf("partition %s-%d does not exist", t, p)
			}
		}
	}
	sortPlan(&out)
	return out, nil
}

func reassignGenerate(ctx context.Context, w io.Writer, g *globals, adm *kadm.Client, o reassignOpts) error {
	topics := o.topics
	if o.topicsFile != "" {
		data, err := os.ReadFile(o.topicsFile)
		if err != nil {
			return usagef("--topics-to-move-json-file: %w", err)
		}
		var tm topicsToMove
		if err := json.Unmarshal(data, &tm); err != nil {
			return usagef("--topics-to-move-json-file: %w", err)
		}
		for _, t := range tm.Topics {
			topics = append(topics, t.Topic)
		}
	}
	if len(topics) == 0 {
		return usagef("--generate needs --topics or --topics-to-move-json-file")
	}
	ids, err := parseBrokerIDs(o.brokerList)
	if err != nil {
		return err
	}
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	brokers := map[int32]string{}
	for _, id := range ids {
		i := slices.IndexFunc(md.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == id })
		if i < 0 {
			return usagef("--broker-list: broker %d is not in the cluster (or is fenced)", id)
		}
		if r := md.Brokers[i].Rack; r != nil && !o.noRacks {
			brokers[id] = *r
		} else {
			brokers[id] = ""
		}
	}
	cur, err := currentPlan(md, topics, nil)
	if err != nil {
		return err
	}
	proposed, err := generatePlan(cur, brokers)
	if err != nil {
		return err
	}
	cur, proposed = withAnyLogDirs(cur), withAnyLogDirs(proposed)
	if g.json() {
		return writeJSON(w, map[string]reassignmentPlan{"current": cur, "proposed": proposed})
	}
	fmt.Fprintln(w, "Current partition replica assignment")
	if err := writePlanJSON(w, cur); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nProposed partition reassignment configuration")
	return writePlanJSON(w, proposed)
}

// parseBrokerIDs parses --broker-list.
func parseBrokerIDs(s string) ([]int32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, usagef("--generate needs --broker-list, e.g. --broker-list 1,2,3,4")
	}
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, usagef("--broker-list %q: want broker IDs such as 1,2,3", s)
		}
		if slices.Contains(ids, int32(n)) {
			return nil, usagef("--broker-list names broker %d twice", n)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// planTopics lists a plan's topics and partitions.
func planTopics(p reassignmentPlan) ([]string, map[string][]int32) {
	parts := map[string][]int32{}
	var topics []string
	for _, pp := range p.Partitions {
		if _, ok := parts[pp.Topic]; !ok {
			topics = append(topics, pp.Topic)
		}
		parts[pp.Topic] = append(parts[pp.Topic], pp.Partition)
	}
	sort.Strings(topics)
	return topics, parts
}

// executeResult is one partition's outcome of --execute or --cancel.
type executeResult struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func reassignExecute(ctx context.Context, w io.Writer, g *globals, adm *kadm.Client, cl *kgo.Client, o reassignOpts, plan reassignmentPlan) error {
	topics, parts := planTopics(plan)
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	cur, err := currentPlan(md, topics, parts)
	if err != nil {
		return err
	}
	if !o.additional {
		busy, err := listReassignments(ctx, cl)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			return fmt.Errorf("cannot execute because there is an existing partition assignment (see --list); use --additional to start this one as well")
		}
	}
	if !g.json() {
		fmt.Fprintln(w, "Current partition replica assignment")
		fmt.Fprintln(w)
		if err := writePlanJSON(w, withAnyLogDirs(cur)); err != nil {
			return err
		}
		fmt.Fprintln(w, "\nSave this to use as the --reassignment-json-file option during rollback")
	}
	if o.throttle >= 0 {
		if err := setThrottles(ctx, adm, cur, plan, o.throttle); err != nil {
			return err
		}
		if !g.json() {
			fmt.Fprintf(w, "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\n")
			fmt.Fprintf(w, "The inter-broker throttle limit was set to %d B/s\n", o.throttle)
		}
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, pp := range plan.Partitions {
		req.Assign(pp.Topic, pp.Partition, pp.Replicas)
	}
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("reassign: %w", kafkaErr("AlterPartitionReassignments", err))
	}
	var results []executeResult
	var started, failed []string
	for _, pp := range plan.Partitions {
		r := executeResult{Topic: pp.Topic, Partition: pp.Partition, Replicas: pp.Replicas}
		if rr, ok := resps[pp.Topic][pp.Partition]; !ok {
			r.Error = "no answer for this partition"
		} else if rr.Err != nil {
			r.Error = respErr(rr.Err, rr.ErrMessage).Error()
		}
		name := fmt.Sprintf("%s-%d", pp.Topic, pp.Partition)
		if r.Error != "" {
			failed = append(failed, name+": "+r.Error)
		} else {
			started = append(started, name)
		}
		results = append(results, r)
	}
	if g.json() {
		if err := writeJSON(w, results); err != nil {
			return err
		}
	} else if len(started) > 0 {
		fmt.Fprintf(w, "Successfully started partition reassignments for %s\n", strings.Join(started, ","))
	}
	if len(failed) > 0 {
		return fmt.Errorf("error reassigning partition(s):\n%s", strings.Join(failed, "\n"))
	}
	return nil
}
