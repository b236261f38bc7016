package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster I: three combined broker+controller nodes form a metadata quorum,
// place partitions across themselves and serve clients; the quorum survives
// the loss of its active controller, a restarted node converges on the same
// metadata, a controller cut off from the others stops acting, and a fenced
// broker's partitions go offline.

// nodeStatusView is the part of a node's controller API status the tests read.
type nodeStatusView struct {
	Leader          uint64 `json:"Leader"`
	LeaderReady     bool   `json:"LeaderReady"`
	MetadataApplied uint64 `json:"metadataApplied"`
	MetadataHash    string `json:"metadataHash"`
}

// nodeStatus reads a node's status from its controller API.
func nodeStatus(ctx context.Context, c *Cluster, id int) (nodeStatusView, error) {
	var st nodeStatusView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Node(id).ControllerAddr()+"/gregor/controller/v1/quorum", nil)
	if err != nil {
		return st, err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// activeControllers lists the nodes among ids that say they are the ready leader.
func activeControllers(ctx context.Context, c *Cluster, ids ...int) []int {
	var out []int
	for _, id := range ids {
		if st, err := nodeStatus(ctx, c, id); err == nil && st.LeaderReady {
			out = append(out, id)
		}
	}
	return out
}

// waitController waits until exactly one of ids is the active controller and returns it.
func waitController(t *testing.T, c *Cluster, ids ...int) int {
	t.Helper()
	var leader int
	c.WaitFor(fmt.Sprintf("one active controller among %v", ids), func(ctx context.Context) error {
		a := activeControllers(ctx, c, ids...)
		if len(a) != 1 {
			return fmt.Errorf("active controllers: %v", a)
		}
		leader = a[0]
		return nil
	})
	return leader
}

// createTopicOn sends CreateTopics to node id itself (a client would send
// it to the controller the metadata names).
func createTopicOn(ctx context.Context, c *Cluster, id int, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).Addr()))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	kresp, err := cl.Broker(id).RetriableRequest(ctx, req)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(kresp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode)
}

// waitAllBrokers waits until node id lists every node of c as a broker
// in Metadata: all registered and unfenced. The controller places a new
// topic's partitions on those brokers only, as Kafka's does, so a test
// that wants partitions on every node creates its topic after this, or a
// node slow to start gets none.
func waitAllBrokers(t *testing.T, c *Cluster, id int) {
	t.Helper()
	c.WaitFor(fmt.Sprintf("node %d lists %d brokers", id, c.N()), func(ctx context.Context) error {
		md, err := c.Metadata(ctx, id)
		if err != nil {
			return err
		}
		if len(md.Brokers) != c.N() {
			return fmt.Errorf("node %d lists %d brokers", id, len(md.Brokers))
		}
		return nil
	})
}

func TestClusterServesClients(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	topic := uniqueTopic("cluster-clients")
	waitAllBrokers(t, c, 2)
	if err := createTopicOn(ctx, c, 2, topic, 6); err != nil {
		t.Fatal(err)
	}
	// Leaders spread over all three brokers, each node reports the same.
	var leaders []int32
	c.WaitFor("partition leaders on every node", func(ctx context.Context) error {
		leaders = leaders[:0]
		for _, id := range c.IDs() {
			md, err := c.Metadata(ctx, id, topic)
			if err != nil {
				return err
			}
			var ls []int32
			for _, p := range md.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					return fmt.Errorf("node %d: partition %d: leader %d, error %d", id, p.Partition, p.Leader, p.ErrorCode)
				}
				ls = append(ls, p.Leader)
			}
			if len(md.Brokers) != 3 {
				return fmt.Errorf("node %d lists %d brokers", id, len(md.Brokers))
			}
			if len(leaders) == 0 {
				leaders = ls
			} else if !slices.Equal(leaders, ls) {
				return fmt.Errorf("node %d says leaders %v, others %v", id, ls, leaders)
			}
		}
		return nil
	})
	for _, id := range []int32{1, 2, 3} {
		if !slices.Contains(leaders, id) {
			t.Fatalf("broker %d leads none of %v", id, leaders)
		}
	}

	// franz-go: produce through a seed list and read everything back.
	cl := c.Client()
	const n = 300
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 6), Value: fmt.Appendf(nil, "kgo-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("franz-go produce: %v", err)
		}
	}
	cl.Close()

	// sarama: a synchronous producer with acks=all.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	sp, err := sarama.NewSyncProducer(c.Seeds(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 6), Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))}); err != nil {
			t.Fatalf("sarama produce: %v", err)
		}
	}
	sp.Close()

	// kcat: list the cluster and read the topic to its end.
	list := kcat(t, "", "-b", strings.Join(c.Seeds(), ","), "-L", "-t", topic)
	if !strings.Contains(list, "3 brokers:") {
		t.Fatalf("kcat -L:\n%s", list)
	}
	out := kcat(t, "", "-b", c.Node(3).Addr(), "-C", "-t", topic, "-e", "-q", "-f", "%s\n")
	got := strings.Fields(out)
	if len(got) != 2*n {
		t.Fatalf("kcat read %d records, want %d", len(got), 2*n)
	}
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("kgo-%d", i)] || !seen[fmt.Sprintf("sarama-%d", i)] {
			t.Fatalf("record %d missing from kcat's read", i)
		}
	}

	// A consumer group reads everything through the coordinator that leads
	// its __consumer_offsets partition, and commits.
	gcl := c.Client(kgo.ConsumerGroup("cluster-group-"+topic), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	read := 0
	for read < 2*n {
		fs := gcl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group consume: %v", err)
		}
		read += fs.NumRecords()
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group commit: %v", err)
	}
	gcl.Close()
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	lag, err := adm.Lag(ctx, "cluster-group-"+topic)
	if err != nil {
		t.Fatal(err)
	}
	if l := lag["cluster-group-"+topic]; l.Error() != nil || l.Lag.Total() != 0 {
		t.Fatalf("group lag after commit: %v, total %d", l.Error(), l.Lag.Total())
	}

	// A config changed through one broker is in effect on every broker.
	ret := "3600000"
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	arc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	arc.Name, arc.Value = "retention.ms", &ret
	ar.Configs = append(ar.Configs, arc)
	alter.Resources = append(alter.Resources, ar)
	acl := c.Client()
	defer acl.Close()
	aresp, err := acl.Broker(3).RetriableRequest(ctx, alter)
	if err != nil || aresp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode != 0 {
		t.Fatalf("alter configs on broker 3: %v %+v", err, aresp)
	}
	// Each broker applies the change when the metadata record reaches it,
	// as Kafka's do, so the others may answer with the old value at first.
	for _, id := range c.IDs() {
		c.WaitFor(fmt.Sprintf("retention.ms %s on broker %d", ret, id), func(ctx context.Context) error {
			dreq := kmsg.NewPtrDescribeConfigsRequest()
			dr := kmsg.NewDescribeConfigsRequestResource()
			dr.ResourceType, dr.ResourceName, dr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
			dreq.Resources = append(dreq.Resources, dr)
			dresp, err := acl.Broker(id).RetriableRequest(ctx, dreq)
			if err != nil {
				return err
			}
			cfgs := dresp.(*kmsg.DescribeConfigsResponse).Resources[0].Configs
			if len(cfgs) != 1 || cfgs[0].Value == nil || *cfgs[0].Value != ret {
				var v any = cfgs
				if len(cfgs) == 1 && cfgs[0].Value != nil {
					v = fmt.Sprintf("%s (%v)", *cfgs[0].Value, cfgs[0].Source)
				}
				return fmt.Errorf("retention.ms = %v", v)
			}
			return nil
		})
	}

	// A request for a partition on another broker is refused with
	// NOT_LEADER_OR_FOLLOWER and the leader's whereabouts (KIP-951).
	md, err := c.Metadata(ctx, 1, topic)
	if err != nil {
		t.Fatal(err)
	}
	var other int32 = -1
	for _, p := range md.Topics[0].Partitions {
		if p.Leader != 1 {
			other = p.Partition
			break
		}
	}
	raw, err := kgo.NewClient(kgo.SeedBrokers(c.Node(1).Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = topic, md.Topics[0].TopicID
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = other
	pp.Records = buildBatch(-1, -1, -1, "misdirected")
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := raw.Broker(1).RetriableRequest(ctx, preq)
	if err != nil {
		t.Fatal(err)
	}
	pr := presp.(*kmsg.ProduceResponse)
	part := pr.Topics[0].Partitions[0]
	if part.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to partition %d on broker 1: error %d, want NOT_LEADER_OR_FOLLOWER", other, part.ErrorCode)
	}
	if pr.Version >= 10 && (part.CurrentLeader.LeaderID < 1 || len(pr.Brokers) != 1) {
		t.Fatalf("no KIP-951 leader hint: %+v, brokers %+v", part.CurrentLeader, pr.Brokers)
	}

	// Deleting the topic through one broker removes its partitions'
	// data on every broker that held them.
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("partition directories removed on every node", func(context.Context) error {
		for _, id := range c.IDs() {
			matches, _ := filepath.Glob(filepath.Join(c.Node(id).DataDir(), topic+"-*"))
			for _, m := range matches {
				if !strings.HasSuffix(m, "-delete") {
					return fmt.Errorf("node %d still has %s", id, m)
				}
			}
		}
		return nil
	})
}

func TestClusterControllerFailover(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3)
	ctx := testCtx(t, 120*time.Second)
	leader := waitController(t, c, c.IDs()...)
	before := uniqueTopic("before-failover")
	if err := createTopicOn(ctx, c, leader%3+1, before, 3); err != nil {
		t.Fatal(err)
	}

	// kill -9 the active controller: the other two elect a new one and
	// metadata writes resume.
	killed := time.Now()
	c.Kill(leader)
	rest := slices.DeleteFunc(c.IDs(), func(id int) bool { return id == leader })
	next := waitController(t, c, rest...)
	t.Logf("controller %d killed; %d active after %v", leader, next, time.Since(killed).Round(time.Millisecond))
	after := uniqueTopic("after-failover")
	c.WaitFor("a topic created after the failover", func(ctx context.Context) error {
		err := createTopicOn(ctx, c, rest[0], after, 3)
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	})

	// The old controller comes back, replays its log, catches up, and ends
	// with the same metadata as the others (compared by digest).
	c.Restart(leader)
	c.WaitFor("every node applies the same metadata", func(ctx context.Context) error {
		var hashes []string
		for _, id := range c.IDs() {
			st, err := nodeStatus(ctx, c, id)
			if err != nil {
				return err
			}
			hashes = append(hashes, st.MetadataHash)
		}
		if hashes[0] == "" || hashes[0] != hashes[1] || hashes[1] != hashes[2] {
			return fmt.Errorf("metadata hashes differ: %v", hashes)
		}
		return nil
	})
	md, err := c.Metadata(ctx, leader, before, after)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range md.Topics {
		if mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
			t.Fatalf("restarted node: topic %v: error %d, %d partitions", *mt.Topic, mt.ErrorCode, len(mt.Partitions))
		}
	}
}

func TestClusterIsolatedControllerStepsDown(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3)
	if err := c.CanCut(); err != nil {
		t.Skipf("links cannot be cut here: %v", err)
	}
	leader := waitController(t, c, c.IDs()...)
	others := slices.DeleteFunc(c.IDs(), func(id int) bool { return id == leader })
	c.Cut(leader, others[0])
	c.Cut(leader, others[1])
	// The majority elects a controller of its own; the cut-off one stops
	// acting as controller (CheckQuorum) and cannot write metadata.
	waitController(t, c, others...)
	c.WaitFor(fmt.Sprintf("node %d stops acting as controller", leader), func(ctx context.Context) error {
		if len(activeControllers(ctx, c, leader)) != 0 {
			return errors.New("still the active controller")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := createTopicOn(ctx, c, leader, uniqueTopic("isolated"), 1); err == nil {
		t.Fatalf("the isolated node created a topic")
	}
	// The majority side keeps taking writes.
	if err := createTopicOn(testCtx(t, 30*time.Second), c, others[0], uniqueTopic("majority"), 1); err != nil {
		t.Fatalf("majority side: %v", err)
	}
	c.Heal()
	c.WaitFor("the healed node catches up", func(ctx context.Context) error {
		a, err := nodeStatus(ctx, c, leader)
		if err != nil {
			return err
		}
		b, err := nodeStatus(ctx, c, others[0])
		if err != nil {
			return err
		}
		if a.MetadataHash != b.MetadataHash {
			return errors.New("metadata differs")
		}
		return nil
	})
}

func TestClusterFencedBrokerGoesOffline(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, WithSetting("broker.session.timeout.ms", "3000"), WithSetting("broker.heartbeat.interval.ms", "500"))
	ctx := testCtx(t, 120*time.Second)
	topic := uniqueTopic("fenced")
	waitAllBrokers(t, c, 1)
	if err := createTopicOn(ctx, c, 1, topic, 6); err != nil {
		t.Fatal(err)
	}
	// Pause a broker that is not the active controller for longer than its
	// session: the controller fences it and its partitions go offline.
	leader := waitController(t, c, c.IDs()...)
	victim := leader%3 + 1
	observer := 6 - leader - victim
	c.Pause(victim)
	c.WaitFor(fmt.Sprintf("broker %d's partitions offline", victim), func(ctx context.Context) error {
		md, err := c.Metadata(ctx, observer, topic)
		if err != nil {
			return err
		}
		offline := 0
		for _, p := range md.Topics[0].Partitions {
			if slices.Contains(p.Replicas, int32(victim)) {
				if p.Leader != -1 || p.ErrorCode != kerr.LeaderNotAvailable.Code || !slices.Contains(p.OfflineReplicas, int32(victim)) {
					return fmt.Errorf("partition %d: leader %d, error %d", p.Partition, p.Leader, p.ErrorCode)
				}
				offline++
			}
		}
		for _, b := range md.Brokers {
			if b.NodeID == int32(victim) {
				return fmt.Errorf("fenced broker %d still listed", victim)
			}
		}
		if offline == 0 {
			return errors.New("the paused broker held no partition")
		}
		return nil
	})
	c.Resume(victim)
	c.WaitFor(fmt.Sprintf("broker %d's partitions back online", victim), func(ctx context.Context) error {
		md, err := c.Metadata(ctx, observer, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[0].Partitions {
			if p.Leader < 1 {
				return fmt.Errorf("partition %d still offline", p.Partition)
			}
		}
		return nil
	})
}
