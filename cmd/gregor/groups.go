package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "groups",
		Aliases: []string{"group"},
		Short:   "List, describe, delete consumer groups and reset their offsets",
		Long: `Manage consumer groups, like kafka-consumer-groups.sh: list them, see their members,
committed offsets and lag, delete them, and move their committed offsets.`,
		Example: `  gregor groups list
  gregor groups describe billing
  gregor groups reset-offsets billing --topic demo --to-earliest            # dry run
  gregor groups reset-offsets billing --topic demo --to-earliest --execute
  gregor groups delete billing`,
		Args: noArgs,
	}
	cmd.AddCommand(newGroupsList(g), newGroupsDescribe(g), newGroupsDelete(g), newGroupsReset(g))
	return cmd
}

// listedGroup is one row of `groups list`.
type listedGroup struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func newGroupsList(g *globals) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  gregor groups list
  gregor groups list --state Stable --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			ls, err := adm.ListGroups(ctx, states...)
			if err != nil {
				return fmt.Errorf("list groups: %w", kafkaErr("ListGroups", err))
			}
			rows := []listedGroup{}
			for _, l := range ls.Sorted() {
				rows = append(rows, listedGroup{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Coordinator: l.Coordinator})
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, rows)
			}
			t := newTable("GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, r := range rows {
				t.add(r.Group, r.State, r.ProtocolType, r.Coordinator)
			}
			return t.write(w)
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Empty, Stable, PreparingRebalance, ...)")
	return cmd
}

// groupDescription is the output of `groups describe` for one group.
type groupDescription struct {
	Group        string           `json:"group"`
	State        string           `json:"state"`
	ProtocolType string           `json:"protocol_type"`
	Protocol     string           `json:"protocol"`
	Coordinator  string           `json:"coordinator"`
	Members      []groupMember    `json:"members"`
	Offsets      []groupOffsetLag `json:"offsets"`
	TotalLag     int64            `json:"total_lag"`
	TopicLag     map[string]int64 `json:"topic_lag"`
}

// groupMember is one member of a described group.
type groupMember struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	Host       string             `json:"host"`
	Assigned   map[string][]int32 `json:"assigned"`
}

// groupOffsetLag is one partition of a described group.
type groupOffsetLag struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset *int64 `json:"current_offset"`
	LogEndOffset  int64  `json:"log_end_offset"`
	Lag           int64  `json:"lag"`
	MemberID      string `json:"member_id,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Host          string `json:"host,omitempty"`
	Error         string `json:"error,omitempty"`
}

// describeGroupLag converts kadm's view of a group and its lag.
func describeGroupLag(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{
		Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: fmt.Sprintf("%d (%s:%d)", l.Coordinator.NodeID, l.Coordinator.Host, l.Coordinator.Port),
		Members:     []groupMember{}, Offsets: []groupOffsetLag{}, TopicLag: map[string]int64{},
	}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assigned[t.Topic] = ps
			}
		}
		d.Members = append(d.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		o := groupOffsetLag{Topic: ml.Topic, Partition: ml.Partition,
			LogEndOffset: ml.End.Offset, Lag: ml.Lag, Error: errString(ml.Err)}
		if ml.Commit.At >= 0 {
			at := ml.Commit.At
			o.CurrentOffset = &at
		}
		if ml.Member != nil {
			o.MemberID, o.ClientID, o.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		if ml.Lag > 0 {
			d.TotalLag += ml.Lag
			d.TopicLag[ml.Topic] += ml.Lag
		} else if _, ok := d.TopicLag[ml.Topic]; !ok {
			d.TopicLag[ml.Topic] = 0
		}
		d.Offsets = append(d.Offsets, o)
	}
	return d
}

func writeGroupDescription(w io.Writer, d groupDescription) error {
	s := newTable()
	s.add("GROUP", d.Group)
	s.add("COORDINATOR", d.Coordinator)
	s.add("STATE", d.State)
	proto := d.ProtocolType
	if d.Protocol != "" {
		proto += "/" + d.Protocol
	}
	s.add("PROTOCOL", proto)
	s.add("MEMBERS", len(d.Members))
	s.add("TOTAL-LAG", d.TotalLag)
	if err := s.write(w); err != nil {
		return err
	}
	if len(d.Members) > 0 {
		fmt.Fprintln(w, "\nMEMBERS")
		t := newTable("MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNED")
		for _, m := range d.Members {
			var as []string
			topics := make([]string, 0, len(m.Assigned))
			for t := range m.Assigned {
				topics = append(topics, t)
			}
			sort.Strings(topics)
			for _, tp := range topics {
				as = append(as, tp+":"+joinInt32(m.Assigned[tp]))
			}
			t.add(m.MemberID, m.ClientID, m.Host, strings.Join(as, " "))
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nOFFSETS")
	if len(d.Offsets) == 0 {
		_, err := fmt.Fprintln(w, "(no committed offsets)")
		return err
	}
	t := newTable("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST", "ERROR")
	for _, o := range d.Offsets {
		cur := "-"
		if o.CurrentOffset != nil {
			cur = fmt.Sprint(*o.CurrentOffset)
		}
		t.add(o.Topic, o.Partition, cur, o.LogEndOffset, o.Lag, o.MemberID, o.ClientID, o.Host, o.Error)
	}
	return t.write(w)
}

// groupMissing reports whether a described group does not exist: Kafka
// describes an unknown group as Dead with no members.
func groupMissing(l kadm.DescribedGroupLag) bool {
	if errors.Is(l.DescribeErr, kerr.GroupIDNotFound) {
		return true
	}
	return l.DescribeErr == nil && l.State == "Dead" && len(l.Members) == 0 && l.Lag.IsEmpty()
}

func newGroupsDescribe(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, assignments, committed offsets and lag",
		Long: `Show a consumer group's state and members, and for every partition it has
committed offsets for (or is assigned): the committed offset, the log end offset,
the lag between them and the member consuming it.`,
		Example: `  gregor groups describe billing
  gregor groups describe billing shipping --output json`,
		Args:              minArgs(1, "at least one group name"),
		ValidArgsFunction: completeGroups(g),
		RunE: func(cmd *cobra.Command, groups []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return fmt.Errorf("describe groups: %w", kafkaErr("DescribeGroups", err))
			}
			var out []groupDescription
			for _, name := range groups {
				l, ok := lags[name]
				if !ok || groupMissing(l) {
					return fmt.Errorf("group %s: %w", name, kerr.GroupIDNotFound)
				}
				if err := l.Error(); err != nil {
					return fmt.Errorf("group %s: %w", name, err)
				}
				out = append(out, describeGroupLag(l))
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err := writeGroupDescription(w, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return cmd
}

// groupResult is the outcome of deleting one group.
type groupResult struct {
	Group  string `json:"group"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func newGroupsDelete(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets",
		Long: `Delete consumer groups with their committed offsets. A group with active members
cannot be deleted (NON_EMPTY_GROUP): stop its consumers first.`,
		Example:           `  gregor groups delete billing`,
		Args:              minArgs(1, "at least one group name"),
		ValidArgsFunction: completeGroups(g),
		RunE: func(cmd *cobra.Command, groups []string) error {
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", kafkaErr("DeleteGroups", err))
			}
			var rs []groupResult
			var failed []string
			first := ""
			for _, name := range groups {
				r := groupResult{Group: name, Status: "deleted"}
				if resp, ok := resps[name]; !ok {
					r.Error = "no response from the broker"
				} else if resp.Err != nil {
					r.Error = respErr(resp.Err, resp.ErrMessage).Error()
				}
				if r.Error != "" {
					if first == "" {
						first = r.Error
					}
					failed = append(failed, name)
				}
				rs = append(rs, r)
			}
			w := cmd.OutOrStdout()
			if g.json() {
				err = writeJSON(w, rs)
			} else {
				t := newTable("GROUP", "STATUS")
				for _, r := range rs {
					st := r.Status
					if r.Error != "" {
						st = r.Error
					}
					t.add(r.Group, st)
				}
				err = t.write(w)
			}
			if err != nil {
				return err
			}
			switch {
			case len(failed) == 1:
				return fmt.Errorf("could not delete group %s: %s", failed[0], first)
			case len(failed) > 1:
				return fmt.Errorf("could not delete %d of %d groups (%s): %s", len(failed), len(groups), strings.Join(failed, ", "), first)
			}
			return nil
		},
	}
	return cmd
}
