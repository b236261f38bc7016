package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopic is the KRaft metadata log DescribeQuorum asks about.
const metadataTopic = "__cluster_metadata"

// quorumNotReported is what describe says when a broker does not serve
// DescribeQuorum (a single-node Gregor today, a ZooKeeper-mode Kafka).
const quorumNotReported = "not reported by this broker"

func newClusterCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Describe the cluster: brokers, the active controller and the metadata quorum",
		Long: `Inspect the cluster the --brokers belong to: its brokers, as Kafka's
Admin.describeCluster lists them, and its controller quorum, as
kafka-metadata-quorum.sh describe --status --replication shows it.

A cluster is a set of brokers and a controller quorum (KRaft): a few nodes that
keep the cluster's metadata (topics, partitions and where they live, configs,
the brokers themselves) in a replicated log, __cluster_metadata, with Raft. One
of them, the leader of that log, is the active controller: it alone decides
where partitions go and which brokers may serve (a broker that stops
heartbeating is fenced, and leadership moves off it).`,
		Example: `  gregor cluster describe
  gregor cluster describe --brokers 10.0.0.1:9092 --output json`,
		Args: noArgs,
	}
	cmd.AddCommand(newClusterDescribe(g))
	return cmd
}

// clusterDescription is the output of `cluster describe`.
type clusterDescription struct {
	ClusterID    string          `json:"cluster_id"`
	ControllerID int32           `json:"controller_id"`
	Brokers      []clusterBroker `json:"brokers"`
	// Quorum is nil when no broker reported it; QuorumStatus says why.
	Quorum       *quorumState `json:"quorum"`
	QuorumStatus string       `json:"quorum_status,omitempty"`
}

// clusterBroker is one broker of the cluster.
type clusterBroker struct {
	ID         int32  `json:"id"`
	Host       string `json:"host"`
	Port       int32  `json:"port"`
	Rack       string `json:"rack,omitempty"`
	State      string `json:"state"` // "unfenced", "fenced", or "unknown" (from Metadata)
	Controller bool   `json:"controller"`
}

// quorumState is the metadata quorum as DescribeQuorum reports it.
type quorumState struct {
	LeaderID      int32          `json:"leader_id"`
	LeaderEpoch   int32          `json:"leader_epoch"`
	HighWatermark int64          `json:"high_watermark"`
	Voters        []quorumMember `json:"voters"`
	Observers     []quorumMember `json:"observers"`
}

// quorumMember is a voter or observer of the quorum. LogEndOffset is -1
// when the leader does not know it yet; Lag is how far it is behind the
// high watermark (0 when at or past it, -1 when unknown); the timestamps
// are the leader's wall clock in milliseconds, -1 when unknown.
type quorumMember struct {
	ID                 int32  `json:"id"`
	Status             string `json:"status"` // "leader", "follower" or "observer"
	Endpoint           string `json:"endpoint,omitempty"`
	LogEndOffset       int64  `json:"log_end_offset"`
	Lag                int64  `json:"lag"`
	LastFetchMillis    int64  `json:"last_fetch_timestamp_ms"`
	LastCaughtUpMillis int64  `json:"last_caught_up_timestamp_ms"`
}

func newClusterDescribe(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe",
		Short: "Show the brokers, the active controller and the metadata quorum",
		Long: `Show the cluster ID, the active controller, every broker (ID, address, rack, and
whether it is fenced — registered but not allowed to serve — or unfenced), and
the controller quorum: the leader of __cluster_metadata, its epoch and high
watermark, and for each voter and observer its log end offset and its lag (how
many records it is behind the high watermark), with when it last fetched from
the leader and when it last caught up.

Brokers come from DescribeCluster (Metadata for brokers without it), the quorum
from DescribeQuorum, which any broker of a KRaft cluster answers. A broker that
does not report the quorum (a single-node Gregor, a ZooKeeper-mode Kafka) gets
"quorum: not reported by this broker", not an error.`,
		Example: `  gregor cluster describe
  gregor cluster describe --output json | jq '.quorum.voters[] | {id, lag}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, ctx, done, err := g.clientOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			d, err := describeCluster(ctx, cl)
			if err != nil {
				return err
			}
			qerr := describeQuorum(ctx, cl, d)
			w := cmd.OutOrStdout()
			if g.json() {
				err = writeJSON(w, d)
			} else {
				err = writeClusterDescription(w, d, time.Now())
			}
			if err != nil {
				return err
			}
			return qerr
		},
	}
}

// describeCluster asks for the brokers and the controller with
// DescribeCluster, or Metadata where the broker lacks it.
func describeCluster(ctx context.Context, cl *kgo.Client) (*clusterDescription, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if isUnsupported(err) {
		return describeFromMetadata(ctx, cl)
	}
	if err != nil {
		return nil, fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe cluster: %w", respErr(err, deref(resp.ErrorMessage)))
	}
	d := &clusterDescription{ClusterID: resp.ClusterID, ControllerID: resp.ControllerID, Brokers: []clusterBroker{}}
	for _, b := range resp.Brokers {
		state := "unfenced" // before v2 only unfenced brokers are listed
		if b.IsFenced {
			state = "fenced"
		}
		d.Brokers = append(d.Brokers, clusterBroker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack),
			State: state, Controller: b.NodeID == resp.ControllerID})
	}
	sort.Slice(d.Brokers, func(i, j int) bool { return d.Brokers[i].ID < d.Brokers[j].ID })
	return d, nil
}

func describeFromMetadata(ctx context.Context, cl *kgo.Client) (*clusterDescription, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe cluster: metadata: %w", err)
	}
	d := &clusterDescription{ClusterID: deref(resp.ClusterID), ControllerID: resp.ControllerID, Brokers: []clusterBroker{}}
	for _, b := range resp.Brokers {
		d.Brokers = append(d.Brokers, clusterBroker{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack),
			State: "unknown", Controller: b.NodeID == resp.ControllerID})
	}
	sort.Slice(d.Brokers, func(i, j int) bool { return d.Brokers[i].ID < d.Brokers[j].ID })
	return d, nil
}

// describeQuorum fills d.Quorum from DescribeQuorum, asking the brokers in
// d (the controller first) until one answers; a broker that does not serve
// the request leaves the quorum "not reported". It returns the error of a
// quorum that could not be described for another reason, after recording
// it in d.QuorumStatus.
func describeQuorum(ctx context.Context, cl *kgo.Client, d *clusterDescription) error {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)

	var ids []int32
	for _, b := range d.Brokers {
		if b.Controller {
			ids = append([]int32{b.ID}, ids...)
		} else {
			ids = append(ids, b.ID)
		}
	}
	var (
		resp *kmsg.DescribeQuorumResponse
		err  = errors.New("no broker to ask")
	)
	for _, id := range ids {
		resp, err = req.RequestWith(ctx, cl.Broker(int(id)))
		if err == nil || ctx.Err() != nil || !isNetErr(err) {
			break
		}
	}
	if err == nil {
		d.Quorum, err = quorumFrom(resp)
	}
	if isUnsupported(err) {
		d.QuorumStatus = quorumNotReported
		return nil
	}
	if err != nil {
		d.QuorumStatus = "error: " + err.Error()
		return fmt.Errorf("describe quorum: %w", err)
	}
	return nil
}

// quorumFrom reads the __cluster_metadata partition of a DescribeQuorum
// response.
func quorumFrom(resp *kmsg.DescribeQuorumResponse) (*quorumState, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, respErr(err, deref(resp.ErrorMessage))
	}
	var part *kmsg.DescribeQuorumResponseTopicPartition
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			if t.Topic == metadataTopic && t.Partitions[j].Partition == 0 {
				part = &t.Partitions[j]
			}
		}
	}
	if part == nil {
		return nil, fmt.Errorf("the response has no %s partition 0", metadataTopic)
	}
	if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
		return nil, respErr(err, deref(part.ErrorMessage))
	}
	endpoints := map[int32]string{}
	for _, n := range resp.Nodes {
		var eps []string
		for _, l := range n.Listeners {
			eps = append(eps, l.Name+"://"+net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
		}
		endpoints[n.NodeID] = strings.Join(eps, ",")
	}
	q := &quorumState{LeaderID: part.LeaderID, LeaderEpoch: part.LeaderEpoch, HighWatermark: part.HighWatermark,
		Voters: []quorumMember{}, Observers: []quorumMember{}}
	member := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, status string) quorumMember {
		m := quorumMember{ID: r.ReplicaID, Status: status, Endpoint: endpoints[r.ReplicaID], LogEndOffset: r.LogEndOffset,
			Lag: -1, LastFetchMillis: r.LastFetchTimestamp, LastCaughtUpMillis: r.LastCaughtUpTimestamp}
		if r.LogEndOffset >= 0 && part.HighWatermark >= 0 {
			m.Lag = max(part.HighWatermark-r.LogEndOffset, 0)
		}
		return m
	}
	for _, r := range part.CurrentVoters {
		status := "follower"
		if r.ReplicaID == part.LeaderID {
			status = "leader"
		}
		q.Voters = append(q.Voters, member(r, status))
	}
	for _, r := range part.Observers {
		q.Observers = append(q.Observers, member(r, "observer"))
	}
	return q, nil
}

// isUnsupported reports whether err says the broker does not serve a
// request or version.
func isUnsupported(err error) bool {
	return err != nil && (errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "broker is too old"))
}

// isNetErr reports whether err is a connection failure, where another
// broker may answer.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, kgo.ErrClientClosed) || strings.Contains(err.Error(), "unknown broker")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// writeClusterDescription prints d as tables; now makes the quorum's
// timestamps into ages.
func writeClusterDescription(w io.Writer, d *clusterDescription, now time.Time) error {
	s := newTable()
	s.add("CLUSTER-ID", d.ClusterID)
	controller := "none"
	if d.ControllerID >= 0 {
		controller = strconv.Itoa(int(d.ControllerID))
	}
	s.add("CONTROLLER", controller)
	if err := s.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nBROKERS")
	t := newTable("ID", "HOST:PORT", "RACK", "STATE")
	for _, b := range d.Brokers {
		state := b.State
		if b.Controller {
			state += ", controller"
		}
		t.add(b.ID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), b.Rack, state)
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	q := d.Quorum
	if q == nil {
		_, err := fmt.Fprintf(w, "QUORUM: %s\n", d.QuorumStatus)
		return err
	}
	fmt.Fprintln(w, "QUORUM")
	s = newTable()
	leader := "none (election in progress)"
	if q.LeaderID >= 0 {
		leader = strconv.Itoa(int(q.LeaderID))
	}
	s.add("LEADER", leader)
	s.add("LEADER-EPOCH", q.LeaderEpoch)
	s.add("HIGH-WATERMARK", q.HighWatermark)
	s.add("VOTERS", len(q.Voters))
	s.add("OBSERVERS", len(q.Observers))
	if err := s.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable("NODE", "STATUS", "LOG-END-OFFSET", "LAG", "LAST-FETCH", "LAST-CAUGHT-UP", "ENDPOINT")
	for _, m := range append(append([]quorumMember{}, q.Voters...), q.Observers...) {
		t.add(m.ID, m.Status, orUnknown(m.LogEndOffset), orUnknown(m.Lag), age(m.LastFetchMillis, now), age(m.LastCaughtUpMillis, now), m.Endpoint)
	}
	return t.write(w)
}

// orUnknown prints -1 as "-".
func orUnknown(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// age prints a millisecond timestamp as how long before now it was.
func age(ms int64, now time.Time) string {
	if ms < 0 {
		return "-"
	}
	d := max(now.Sub(time.UnixMilli(ms)), 0)
	return d.Round(time.Millisecond).String() + " ago"
}
