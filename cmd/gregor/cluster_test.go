package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestClusterDescribe(t *testing.T) {
	t.Parallel()
	addr := startGregor(t)
	r := ok(t, addr, "", "cluster", "describe")
	for _, s := range []string{"CLUSTER-ID  ", "CONTROLLER  1\n", "BROKERS\nID  HOST:PORT", addr, "unfenced, controller", "QUORUM\nLEADER          1\n", "VOTERS          1\n"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("describe output lacks %q:\n%s", s, r.stdout)
		}
	}
	var d clusterDescription
	decode(t, ok(t, addr, "", "cluster", "describe", "--output", "json").stdout, &d)
	if d.ClusterID == "" || d.ControllerID != 1 || len(d.Brokers) != 1 || d.Quorum == nil || d.QuorumStatus != "" {
		t.Fatalf("describe json: %+v", d)
	}
	// A single node is its own one-voter quorum, and leads it.
	if q := d.Quorum; q.LeaderID != 1 || len(q.Voters) != 1 || q.Voters[0].ID != 1 || q.Voters[0].Status != "leader" || q.HighWatermark < 1 {
		t.Errorf("describe json quorum: %+v", q)
	}
	if b := d.Brokers[0]; b.ID != 1 || b.State != "unfenced" || !b.Controller || net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) != addr {
		t.Errorf("describe json broker: %+v, want 1 at %s, unfenced, controller", b, addr)
	}
}

// TestClusterDescribeBrokers lists the brokers of a three-broker (fake)
// cluster, from DescribeCluster and, from a broker older than it (Kafka
// 2.7), from Metadata.
func TestClusterDescribeBrokers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []kfake.Opt
		state string
	}{
		{"DescribeCluster", nil, "unfenced"},
		{"Metadata", []kfake.Opt{kfake.MaxVersions(kversion.V2_7_0())}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			checkThreeBrokers(t, c.ListenAddrs(), tc.state)
		})
	}
}

func checkThreeBrokers(t *testing.T, addrs []string, state string) {
	t.Helper()
	var d clusterDescription
	decode(t, ok(t, addrs[0], "", "cluster", "describe", "-o", "json").stdout, &d)
	if len(d.Brokers) != 3 || d.QuorumStatus != quorumNotReported || d.ClusterID == "" {
		t.Fatalf("describe json: %+v", d)
	}
	controllers := 0
	for i, b := range d.Brokers {
		if i > 0 && b.ID <= d.Brokers[i-1].ID {
			t.Errorf("brokers not sorted by ID: %+v", d.Brokers)
		}
		if b.State != state {
			t.Errorf("broker %d state %q, want %q", b.ID, b.State, state)
		}
		if b.Controller {
			controllers++
			if b.ID != d.ControllerID {
				t.Errorf("broker %d marked controller, controller is %d", b.ID, d.ControllerID)
			}
		}
	}
	if controllers != 1 {
		t.Errorf("%d brokers marked controller: %+v", controllers, d.Brokers)
	}
	r := ok(t, addrs[1], "", "cluster", "describe")
	if n := strings.Count(r.stdout, "  "+state); n != 3 {
		t.Errorf("table shows %d %s brokers, want 3:\n%s", n, state, r.stdout)
	}
}

func TestClusterHelp(t *testing.T) {
	t.Parallel()
	r := ok(t, "127.0.0.1:1", "", "cluster")
	for _, s := range []string{"controller quorum", "Available Commands:", "describe"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("gregor cluster output lacks %q:\n%s", s, r.stdout)
		}
	}
	r = ok(t, "127.0.0.1:1", "", "cluster", "describe", "--help")
	for _, s := range []string{"fenced", "lag", "not reported by this broker", "--output json"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("describe --help lacks %q:\n%s", s, r.stdout)
		}
	}
}

// quorumResponse builds a DescribeQuorum response for __cluster_metadata:
// leader 1 at epoch 7 with high watermark 100, voters 1 (LEO 105), 2 (LEO
// 90) and 3 (unknown), observer 4 (LEO 100).
func quorumResponse() *kmsg.DescribeQuorumResponse {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	resp.Version = 2
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = metadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = 1, 7, 100
	replica := func(id int32, leo, fetch int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp = id, leo, fetch, fetch
		return r
	}
	p.CurrentVoters = append(p.CurrentVoters, replica(1, 105, -1), replica(2, 90, 1_000_000), replica(3, -1, -1))
	p.Observers = append(p.Observers, replica(4, 100, 1_000_500))
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	for _, id := range []int32{1, 2} {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = id
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = "CONTROLLER", fmt.Sprintf("10.0.0.%d", id), 9093
		n.Listeners = append(n.Listeners, l)
		resp.Nodes = append(resp.Nodes, n)
	}
	return resp
}

func TestClusterQuorum(t *testing.T) {
	t.Parallel()
	q, err := quorumFrom(quorumResponse())
	if err != nil {
		t.Fatal(err)
	}
	if q.LeaderID != 1 || q.LeaderEpoch != 7 || q.HighWatermark != 100 || len(q.Voters) != 3 || len(q.Observers) != 1 {
		t.Fatalf("quorum: %+v", q)
	}
	want := []quorumMember{
		{ID: 1, Status: "leader", Endpoint: "CONTROLLER://10.0.0.1:9093", LogEndOffset: 105, Lag: 0, LastFetchMillis: -1, LastCaughtUpMillis: -1},
		{ID: 2, Status: "follower", Endpoint: "CONTROLLER://10.0.0.2:9093", LogEndOffset: 90, Lag: 10, LastFetchMillis: 1_000_000, LastCaughtUpMillis: 1_000_000},
		{ID: 3, Status: "follower", LogEndOffset: -1, Lag: -1, LastFetchMillis: -1, LastCaughtUpMillis: -1},
		{ID: 4, Status: "observer", LogEndOffset: 100, Lag: 0, LastFetchMillis: 1_000_500, LastCaughtUpMillis: 1_000_500},
	}
	got := append(append([]quorumMember{}, q.Voters...), q.Observers...)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	d := &clusterDescription{ClusterID: "abc", ControllerID: 1, Quorum: q,
		Brokers: []clusterBroker{{ID: 1, Host: "10.0.0.1", Port: 9092, Rack: "r1", State: "unfenced", Controller: true}, {ID: 2, Host: "10.0.0.2", Port: 9092, State: "fenced"}}}
	var b strings.Builder
	if err := writeClusterDescription(&b, d, time.UnixMilli(1_001_000)); err != nil {
		t.Fatal(err)
	}
	wantOut := `CLUSTER-ID  abc
CONTROLLER  1

BROKERS
ID  HOST:PORT      RACK  STATE
1   10.0.0.1:9092  r1    unfenced, controller
2   10.0.0.2:9092  -     fenced

QUORUM
LEADER          1
LEADER-EPOCH    7
HIGH-WATERMARK  100
VOTERS          3
OBSERVERS       1

NODE  STATUS    LOG-END-OFFSET  LAG  LAST-FETCH  LAST-CAUGHT-UP  ENDPOINT
1     leader    105             0    -           -               CONTROLLER://10.0.0.1:9093
2     follower  90              10   1s ago      1s ago          CONTROLLER://10.0.0.2:9093
3     follower  -               -    -           -               -
4     observer  100             0    500ms ago   500ms ago       -
`
	if b.String() != wantOut {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), wantOut)
	}

	// Errors: of the whole response, of the partition, no partition.
	bad := quorumResponse()
	bad.ErrorCode = kerr.UnsupportedVersion.Code
	if _, err := quorumFrom(bad); !isUnsupported(err) {
		t.Errorf("top-level UNSUPPORTED_VERSION: %v", err)
	}
	bad = quorumResponse()
	bad.Topics[0].Partitions[0].ErrorCode = kerr.NotLeaderForPartition.Code
	if _, err := quorumFrom(bad); err == nil || !strings.Contains(err.Error(), "NOT_LEADER") {
		t.Errorf("partition error: %v", err)
	}
	// No leader: an election is under way; every voter is a follower.
	noLeader := quorumResponse()
	noLeader.Topics[0].Partitions[0].LeaderID = -1
	q, err = quorumFrom(noLeader)
	if err != nil || q.Voters[0].Status != "follower" {
		t.Fatalf("no leader: %+v, %v", q, err)
	}
	b.Reset()
	if err := writeClusterDescription(&b, &clusterDescription{ControllerID: -1, Quorum: q}, time.UnixMilli(0)); err != nil || !strings.Contains(b.String(), "LEADER          none (election in progress)\n") || !strings.Contains(b.String(), "CONTROLLER  none\n") {
		t.Errorf("no leader table (%v):\n%s", err, b.String())
	}

	bad = quorumResponse()
	bad.Topics[0].Topic = "other"
	if _, err := quorumFrom(bad); err == nil || !strings.Contains(err.Error(), "no __cluster_metadata partition 0") {
		t.Errorf("no partition: %v", err)
	}
}
