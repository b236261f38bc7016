package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupSummary is a row of the group list.
type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocolType"`
	Protocol     string `json:"protocol"`
	Members      int    `json:"members"`
	Lag          int64  `json:"lag"`
	Coordinator  int32  `json:"coordinator"`
	Error        string `json:"error,omitempty"`
}

// totalLag sums the known lags of a group.
func totalLag(l kadm.GroupLag) int64 {
	var n int64
	for _, ps := range l {
		for _, ml := range ps {
			if ml.Err == nil && ml.Lag > 0 {
				n += ml.Lag
			}
		}
	}
	return n
}

// listGroups answers GET /api/groups.
func (c *Console) listGroups(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	listed, err := s.adm.ListGroups(ctx)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	out := []groupSummary{}
	if len(listed) == 0 {
		return out, nil
	}
	lags, err := s.adm.Lag(ctx, listed.Groups()...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	for _, l := range lags.Sorted() {
		gs := groupSummary{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
			Members: len(l.Members), Lag: totalLag(l.Lag), Coordinator: l.Coordinator.NodeID}
		if err := l.Error(); err != nil {
			gs.Error = err.Error()
		}
		out = append(out, gs)
	}
	return out, nil
}

// memberJSON is a member of a group.
type memberJSON struct {
	MemberID   string           `json:"memberId"`
	ClientID   string           `json:"clientId"`
	Host       string           `json:"host"`
	InstanceID string           `json:"instanceId"`
	Assignment []assignmentJSON `json:"assignment"`
}

type assignmentJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// offsetJSON is a group's position on a partition.
type offsetJSON struct {
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Committed int64      `json:"committed"`
	End       int64      `json:"end"`
	Lag       int64      `json:"lag"`
	LagSeries []lagPoint `json:"lagSeries"`
}

// describeGroup answers GET /api/groups/{group}.
func (c *Console) describeGroup(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	g := r.PathValue("group")
	ctx, cancel := opCtx(r)
	defer cancel()
	lags, err := s.adm.Lag(ctx, g)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("describe group: %w", err)
	}
	l, ok := lags[g]
	if !ok {
		return nil, notFound("no group " + g)
	}
	if err := l.Error(); err != nil {
		return nil, err
	}
	if l.State == "Dead" && len(l.Lag) == 0 {
		return nil, &apiError{Status: http.StatusNotFound, Code: kerr.GroupIDNotFound.Message, Message: "no group " + g}
	}
	out := struct {
		Group    string       `json:"group"`
		State    string       `json:"state"`
		Protocol string       `json:"protocol"`
		Members  []memberJSON `json:"members"`
		Offsets  []offsetJSON `json:"offsets"`
	}{Group: g, State: l.State, Protocol: l.Protocol, Members: []memberJSON{}, Offsets: []offsetJSON{}}
	for _, m := range l.Members {
		mj := memberJSON{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, InstanceID: deref(m.InstanceID), Assignment: []assignmentJSON{}}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				mj.Assignment = append(mj.Assignment, assignmentJSON{Topic: t.Topic, Partitions: ps})
			}
		}
		out.Members = append(out.Members, mj)
	}
	hist := c.sampler.history(s.user)
	for t, ps := range l.Lag {
		for p, ml := range ps {
			oj := offsetJSON{Topic: t, Partition: p, Committed: ml.Commit.At, End: -1, Lag: ml.Lag,
				LagSeries: lagSeries(hist, g, topicPartition{t, p})}
			if ml.End.Err == nil {
				oj.End = ml.End.Offset
			}
			out.Offsets = append(out.Offsets, oj)
		}
	}
	slices.SortFunc(out.Offsets, func(a, b offsetJSON) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// deleteGroup answers DELETE /api/groups/{group}.
func (c *Console) deleteGroup(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	resp, err := s.adm.DeleteGroup(ctx, r.PathValue("group"))
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, withField(err, resp.ErrMessage, nil)
	}
	return nil, nil
}

// resetJSON is one partition of an offset reset.
type resetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

// resetGroup answers POST /api/groups/{group}/reset, as
// kafka-consumer-groups.sh --reset-offsets does: with --dry-run it only
// shows the plan, and it refuses while the group has members.
func (c *Console) resetGroup(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	g := r.PathValue("group")
	var in struct {
		Topic     string `json:"topic"`
		To        string `json:"to"`
		Timestamp int64  `json:"timestamp"`
		Offset    int64  `json:"offset"`
		DryRun    bool   `json:"dryRun"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	switch in.To {
	case "earliest", "latest", "timestamp", "offset":
	default:
		return nil, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "to: want earliest, latest, timestamp or offset", Field: "to"}
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	described, err := s.adm.DescribeGroups(ctx, g)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("describe group: %w", err)
	}
	if d, ok := described[g]; ok {
		if d.Err != nil {
			return nil, d.Err
		}
		if len(d.Members) > 0 {
			return nil, &apiError{Status: http.StatusConflict, Code: kerr.NonEmptyGroup.Message,
				Message: fmt.Sprintf("group %s has %d active members: stop its consumers before resetting its offsets", g, len(d.Members))}
		}
	}
	committed, err := s.adm.FetchOffsets(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets: %w", err)
	}
	// The partitions to reset: the group's committed ones (of in.Topic
	// when given), or every partition of in.Topic when it has none.
	from := map[topicPartition]int64{}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && (in.Topic == "" || o.Topic == in.Topic) {
			from[topicPartition{o.Topic, o.Partition}] = o.At
		}
	})
	topics := map[string]bool{}
	for tp := range from {
		topics[tp.topic] = true
	}
	if in.Topic != "" {
		topics[in.Topic] = true
	}
	if len(topics) == 0 {
		return nil, badRequest("group " + g + " has no committed offsets: name a topic")
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	starts, err := s.adm.ListStartOffsets(ctx, names...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, names...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var after kadm.ListedOffsets
	if in.To == "timestamp" {
		if after, err = s.adm.ListOffsetsAfterMilli(ctx, in.Timestamp, names...); err != nil && !partial(err) {
			return nil, fmt.Errorf("list offsets after %d: %w", in.Timestamp, err)
		}
	}
	if in.Topic != "" {
		if err := ends.Error(); err != nil && len(from) == 0 {
			return nil, err
		}
		ends.Each(func(o kadm.ListedOffset) {
			tp := topicPartition{o.Topic, o.Partition}
			if _, ok := from[tp]; !ok && o.Err == nil && o.Topic == in.Topic {
				from[tp] = -1
			}
		})
	}
	plan := []resetJSON{}
	offsets := kadm.Offsets{}
	for tp, f := range from {
		st, ok1 := starts.Lookup(tp.topic, tp.partition)
		en, ok2 := ends.Lookup(tp.topic, tp.partition)
		if !ok1 || !ok2 || st.Err != nil || en.Err != nil {
			continue
		}
		var to int64
		switch in.To {
		case "earliest":
			to = st.Offset
		case "latest":
			to = en.Offset
		case "offset":
			to = min(max(in.Offset, st.Offset), en.Offset)
		case "timestamp":
			to = en.Offset
			if o, ok := after.Lookup(tp.topic, tp.partition); ok && o.Err == nil && o.Offset >= 0 {
				to = min(max(o.Offset, st.Offset), en.Offset)
			}
		}
		plan = append(plan, resetJSON{Topic: tp.topic, Partition: tp.partition, From: f, To: to})
		offsets.Add(kadm.Offset{Topic: tp.topic, Partition: tp.partition, At: to, LeaderEpoch: -1})
	}
	slices.SortFunc(plan, func(a, b resetJSON) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if !in.DryRun && len(plan) > 0 {
		if err := s.adm.CommitAllOffsets(ctx, g, offsets); err != nil {
			return nil, fmt.Errorf("commit offsets: %w", err)
		}
		c.log.Info("console: reset group offsets", "group", g, "to", in.To, "partitions", len(plan), "user", s.user)
	}
	return map[string]any{"applied": !in.DryRun && len(plan) > 0, "partitions": plan}, nil
}
