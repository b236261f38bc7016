package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newTopicsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "topics",
		Aliases: []string{"topic"},
		Short:   "Create, list, describe, alter and delete topics",
		Long: `Manage topics, like kafka-topics.sh.

A partition count or replication factor of -1 (the default) means the broker's
default (num.partitions, default.replication.factor).`,
		Example: `  gregor topics create orders --partitions 6 --config retention.ms=86400000
  gregor topics list
  gregor topics describe orders
  gregor topics alter orders --partitions 12
  gregor topics delete orders
  gregor topics reassign --generate --topics orders --broker-list 1,2,3,4`,
		Args: noArgs,
	}
	cmd.AddCommand(newTopicsCreate(g), newTopicsList(g), newTopicsDescribe(g), newTopicsDelete(g), newTopicsAlter(g), newTopicsReassign(g))
	return cmd
}

// respErr joins a Kafka error with the broker's optional extra message.
func respErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}

// topicResult is the outcome of creating, deleting or altering one topic.
type topicResult struct {
	Topic             string `json:"topic"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions,omitempty"`
	ReplicationFactor int16  `json:"replication_factor,omitempty"`
	Status            string `json:"status"`
	Error             string `json:"error,omitempty"`
}

// writeTopicResults prints results and returns an error if any failed.
func writeTopicResults(w io.Writer, g *globals, verb string, rs []topicResult, showSize bool) error {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Topic < rs[j].Topic })
	if g.json() {
		if err := writeJSON(w, rs); err != nil {
			return err
		}
	} else {
		var t *table
		if showSize {
			t = newTable("TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "STATUS")
		} else {
			t = newTable("TOPIC", "STATUS")
		}
		for _, r := range rs {
			status := r.Status
			if r.Error != "" {
				status = r.Error
			}
			if showSize {
				t.add(r.Topic, orDash(r.Partitions), orDash(int32(r.ReplicationFactor)), status)
			} else {
				t.add(r.Topic, status)
			}
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	var failed []string
	first := ""
	for _, r := range rs {
		if r.Error != "" {
			if first == "" {
				first = r.Error
			}
			failed = append(failed, r.Topic)
		}
	}
	switch {
	case len(failed) == 1:
		return fmt.Errorf("could not %s topic %s: %s", verb, failed[0], first)
	case len(failed) > 1:
		return fmt.Errorf("could not %s %d of %d topics (%s): %s", verb, len(failed), len(rs), strings.Join(failed, ", "), first)
	}
	return nil
}

// topicID formats a topic ID the way Kafka prints it (URL-safe base64
// without padding), or "" for a broker that does not assign IDs.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func orDash(n int32) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func newTopicsCreate(g *globals) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
		dryRun      bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: `  # broker defaults for partitions and replication factor
  gregor topics create demo

  # 6 partitions, compacted, keep one day
  gregor topics create users --partitions 6 --config cleanup.policy=compact --config retention.ms=86400000

  # succeed if it is already there (for scripts)
  gregor topics create demo --if-not-exists`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if partitions == 0 || partitions < -1 {
				return usagef("--partitions %d: want a number >= 1 (or -1 for the broker default)", partitions)
			}
			if replication == 0 || replication < -1 {
				return usagef("--replication-factor %d: want a number >= 1 (or -1 for the broker default)", replication)
			}
			cfg := map[string]*string{}
			for _, kv := range configs {
				k, v, err := parseKV("--config", kv)
				if err != nil {
					return err
				}
				cfg[k] = &v
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			create := adm.CreateTopics
			if dryRun {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, partitions, replication, cfg, topics...)
			if err != nil {
				return fmt.Errorf("create topics: %w", kafkaErr("CreateTopics", err))
			}
			var rs []topicResult
			for _, t := range topics {
				r, ok := resps[t]
				res := topicResult{Topic: t, Status: "created"}
				if dryRun {
					res.Status = "valid (dry run)"
				}
				switch {
				case !ok:
					res.Error = "no response from the broker"
				case errors.Is(r.Err, kerr.TopicAlreadyExists) && ifNotExists:
					res.Status = "already exists"
				case r.Err != nil:
					res.Error = respErr(r.Err, r.ErrMessage).Error()
				default:
					res.Partitions, res.ReplicationFactor = r.NumPartitions, r.ReplicationFactor
					res.ID = topicID(r.ID)
				}
				rs = append(rs, res)
			}
			return writeTopicResults(cmd.OutOrStdout(), g, "create", rs, true)
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default num.partitions)")
	f.Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition (-1: broker default)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable), e.g. retention.ms=60000")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "do not fail when the topic already exists")
	f.BoolVar(&dryRun, "dry-run", false, "only validate the request; create nothing")
	return cmd
}

// topicSummary is one row of `topics list`.
type topicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

func summarize(d kadm.TopicDetail) topicSummary {
	s := topicSummary{Name: d.Topic, Partitions: len(d.Partitions), ReplicationFactor: d.Partitions.NumReplicas(), Internal: d.IsInternal}
	s.ID = topicID(d.ID)
	return s
}

func newTopicsList(g *globals) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: `  gregor topics list
  gregor topics list --internal --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			td, err := list(ctx)
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			rows := []topicSummary{}
			for _, d := range td.Sorted() {
				rows = append(rows, summarize(d))
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, rows)
			}
			t := newTable("NAME", "PARTITIONS", "REPLICATION-FACTOR")
			if internal {
				t.header = append(t.header, "INTERNAL")
			}
			for _, r := range rows {
				if internal {
					t.add(r.Name, r.Partitions, r.ReplicationFactor, r.Internal)
				} else {
					t.add(r.Name, r.Partitions, r.ReplicationFactor)
				}
			}
			return t.write(w)
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

// topicDescription is the output of `topics describe` for one topic.
type topicDescription struct {
	topicSummary
	Configs         []configEntry    `json:"configs"`
	ConfigsError    string           `json:"configs_error,omitempty"`
	PartitionStates []partitionState `json:"partition_details"`
	LogDirs         []logDirState    `json:"log_dirs"`
	LogDirsError    string           `json:"log_dirs_error,omitempty"`
}

// partitionState is one partition of a described topic.
type partitionState struct {
	Partition     int32   `json:"partition"`
	Leader        int32   `json:"leader"`
	LeaderEpoch   int32   `json:"leader_epoch"`
	Replicas      []int32 `json:"replicas"`
	ISR           []int32 `json:"isr"`
	LogStart      int64   `json:"log_start_offset"`
	HighWatermark int64   `json:"high_watermark"`
	Error         string  `json:"error,omitempty"`
	LogDir        string  `json:"log_dir,omitempty"`
	LogDirError   string  `json:"log_dir_error,omitempty"` // the error of the log dir holding the partition
}

// describeTopics gathers metadata, offsets and configs for topics. Configs
// are optional: a broker without DescribeConfigs still gets the rest.
func describeTopics(ctx context.Context, adm *kadm.Client, topics []string, allConfigs bool) ([]topicDescription, error) {
	td, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		d, ok := td[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", t, d.Err)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("topic %s: %w", strings.Join(missing, ", "), kerr.UnknownTopicOrPartition)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	rcs, cfgErr := adm.DescribeTopicConfigs(ctx, topics...)
	cfgErr = kafkaErr("DescribeConfigs", cfgErr)
	var out []topicDescription
	for _, t := range topics {
		d := td[t]
		desc := topicDescription{topicSummary: summarize(d), Configs: []configEntry{}}
		for _, p := range d.Partitions.Sorted() {
			ps := partitionState{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, LogStart: -1, HighWatermark: -1, Error: errString(p.Err)}
			if o, ok := starts.Lookup(t, p.Partition); ok && o.Err == nil {
				ps.LogStart = o.Offset
			}
			if o, ok := ends.Lookup(t, p.Partition); ok {
				if o.Err == nil {
					ps.HighWatermark = o.Offset
				} else if ps.Error == "" {
					ps.Error = o.Err.Error()
				}
			}
			desc.PartitionStates = append(desc.PartitionStates, ps)
		}
		if cfgErr != nil {
			desc.ConfigsError = cfgErr.Error()
		} else if rc, err := rcs.On(t, nil); err != nil {
			desc.ConfigsError = err.Error()
		} else if rc.Err != nil {
			desc.ConfigsError = respErr(rc.Err, rc.ErrMessage).Error()
		} else {
			desc.Configs = configEntries(rc.Configs, allConfigs)
		}
		out = append(out, desc)
	}
	addLogDirs(ctx, adm, td, out) // topics_logdirs.go
	return out, nil
}

func newTopicsDescribe(g *globals) *cobra.Command {
	var allConfigs bool
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show a topic's partitions, offsets and configs",
		Long: `Show a topic's partitions (leader, replicas, in-sync replicas, log start offset and
high watermark), its configs and the log directories holding it, with their
total and usable bytes and error (KAFKA_STORAGE_ERROR while a disk refuses writes).
Only configs that differ from the defaults are listed unless --all-configs is
given.`,
		Example: `  gregor topics describe demo
  gregor topics describe demo --all-configs
  gregor topics describe demo --output json`,
		Args:              minArgs(1, "at least one topic name"),
		ValidArgsFunction: completeTopics(g),
		RunE: func(cmd *cobra.Command, topics []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			descs, err := describeTopics(ctx, adm, topics, allConfigs)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, descs)
			}
			for i, d := range descs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err := writeTopicDescription(w, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "list every config, not only those that differ from the defaults")
	return cmd
}

func writeTopicDescription(w io.Writer, d topicDescription) error {
	s := newTable()
	s.add("TOPIC", d.Name)
	s.add("ID", d.ID)
	s.add("PARTITIONS", d.Partitions)
	s.add("REPLICATION-FACTOR", d.ReplicationFactor)
	s.add("INTERNAL", d.Internal)
	if err := s.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nCONFIGS")
	switch {
	case d.ConfigsError != "":
		fmt.Fprintf(w, "(unavailable: %s)\n", d.ConfigsError)
	case len(d.Configs) == 0:
		fmt.Fprintln(w, "(all defaults; --all-configs lists them)")
	default:
		if err := configTable(d.Configs).write(w); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nPARTITIONS")
	t := newTable("PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK", "ERROR")
	for _, p := range d.PartitionStates {
		msg := p.Error
		if msg == "" && p.LogDirError != "" {
			msg = "log dir " + p.LogDir + ": " + p.LogDirError
		}
		t.add(p.Partition, p.Leader, p.LeaderEpoch, joinInt32(p.Replicas), joinInt32(p.ISR), p.LogStart, p.HighWatermark, msg)
	}
	if err := t.write(w); err != nil {
		return err
	}
	return writeLogDirs(w, d) // topics_logdirs.go
}

func newTopicsDelete(g *globals) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics and all their data",
		Example: `  gregor topics delete demo
  gregor topics delete old-1 old-2 --if-exists`,
		Args:              minArgs(1, "at least one topic name"),
		ValidArgsFunction: completeTopics(g),
		RunE: func(cmd *cobra.Command, topics []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(ctx, topics...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", kafkaErr("DeleteTopics", err))
			}
			var rs []topicResult
			for _, t := range topics {
				r, ok := resps[t]
				res := topicResult{Topic: t, Status: "deleted"}
				switch {
				case !ok:
					res.Error = "no response from the broker"
				case errors.Is(r.Err, kerr.UnknownTopicOrPartition) && ifExists:
					res.Status = "does not exist"
				case r.Err != nil:
					res.Error = respErr(r.Err, r.ErrMessage).Error()
				}
				rs = append(rs, res)
			}
			return writeTopicResults(cmd.OutOrStdout(), g, "delete", rs, false)
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "do not fail when a topic does not exist")
	return cmd
}

func newTopicsAlter(g *globals) *cobra.Command {
	var partitions int
	cmd := &cobra.Command{
		Use:   "alter TOPIC --partitions N",
		Short: "Add partitions to a topic",
		Long: `Raise a topic's partition count to N. Kafka cannot remove partitions, and adding
them changes which partition a key maps to. To change a topic's configs use
"gregor configs alter --topic TOPIC".`,
		Example:           `  gregor topics alter demo --partitions 6`,
		Args:              exactArgs(1, "one topic name"),
		ValidArgsFunction: completeTopics(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if partitions < 1 {
				return usagef("--partitions is required and must be >= 1")
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			topic := args[0]
			resps, err := adm.UpdatePartitions(ctx, partitions, topic)
			if err != nil {
				return fmt.Errorf("alter topic %s: %w", topic, kafkaErr("CreatePartitions", err))
			}
			res := topicResult{Topic: topic, Partitions: int32(partitions), Status: fmt.Sprintf("now has %d partitions", partitions)}
			if r, err := resps.On(topic, nil); err != nil {
				res.Error = err.Error()
			} else if r.Err != nil {
				res.Error = respErr(r.Err, r.ErrMessage).Error()
			}
			return writeTopicResults(cmd.OutOrStdout(), g, "alter", []topicResult{res}, false)
		},
	}
	cmd.Flags().IntVarP(&partitions, "partitions", "p", 0, "the new total number of partitions")
	return cmd
}
