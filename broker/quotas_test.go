package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/gregorhq/gregor/broker/brokertest"
)

func entity(kv ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(kv); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: kv[i]}
		if kv[i+1] != "<default>" {
			c.Name = str(kv[i+1])
		}
		e = append(e, c)
	}
	return e
}

func setQuota(key string, v float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: v}
}

func alterQuotas(t *testing.T, adm *kadm.Client, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	res, err := adm.AlterClientQuotas(testCtx(t), entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

// describeQuotas renders what a filter matches as "entity: k=v ..." lines.
func describeQuotas(t *testing.T, adm *kadm.Client, strict bool, cs ...kadm.DescribeClientQuotaComponent) string {
	t.Helper()
	got, err := adm.DescribeClientQuotas(testCtx(t), strict, cs)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, q := range got {
		var vs []string
		for _, v := range q.Values {
			vs = append(vs, v.String())
		}
		lines = append(lines, strings.Trim(q.Entity.String(), "{}")+": "+strings.Join(vs, " "))
	}
	return strings.Join(lines, "\n")
}

func TestClientQuotasAlterDescribe(t *testing.T) {
	b := brokertest.Start(t)
	_, adm := newAdmin(t, b.Addr())
	alterQuotas(t, adm,
		kadm.AlterClientQuotaEntry{Entity: entity("user", "alice"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1048576), setQuota("consumer_byte_rate", 2097152)}},
		kadm.AlterClientQuotaEntry{Entity: entity("user", "alice", "client-id", "app"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 50)}},
		kadm.AlterClientQuotaEntry{Entity: entity("user", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("controller_mutation_rate", 10)}},
		kadm.AlterClientQuotaEntry{Entity: entity("ip", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 100)}},
	)

	// Invalid entries fail alone with INVALID_REQUEST; validateOnly writes nothing.
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: entity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_bytes_rate", 1)}},
		{Entity: entity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1.5)}},
		{Entity: entity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", -1)}},
		{Entity: entity("user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 1)}},
		{Entity: entity("ip", "not-an-address"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 1)}},
		{Entity: entity("ip", "10.0.0.1", "user", "bob"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 1)}},
		{Entity: entity("group", "g"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
		{Entity: entity("user", "bob", "user", "carol"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}},
	}
	res, err := adm.AlterClientQuotas(testCtx(t), append(bad, kadm.AlterClientQuotaEntry{Entity: entity("client-id", "<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", 4096)}}))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:len(bad)] {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("bad entry %d (%v): %v, want INVALID_REQUEST", i, bad[i].Entity, r.Err)
		}
	}
	if last := res[len(bad)]; last.Err != nil {
		t.Errorf("the valid entry beside them: %v", last.Err)
	}
	vres, err := adm.ValidateAlterClientQuotas(testCtx(t), []kadm.AlterClientQuotaEntry{{Entity: entity("user", "dave"), Ops: []kadm.AlterClientQuotaOp{setQuota("producer_byte_rate", 1)}}})
	if err != nil || vres[0].Err != nil {
		t.Fatalf("validate only: %v %v", err, vres)
	}

	const all = `client-id=<default>: consumer_byte_rate=4096.000000
ip=<default>: connection_creation_rate=100.000000
user=<default>: controller_mutation_rate=10.000000
user=alice: consumer_byte_rate=2097152.000000 producer_byte_rate=1048576.000000
client-id=app, user=alice: request_percentage=50.000000`
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	sortedAll := describeQuotas(t, adm, false)
	check("everything", sortedLines(sortedAll), sortedLines(all))
	check("user alice, not strict", sortedLines(describeQuotas(t, adm, false, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: str("alice")})),
		sortedLines("user=alice: consumer_byte_rate=2097152.000000 producer_byte_rate=1048576.000000\nclient-id=app, user=alice: request_percentage=50.000000"))
	check("user alice, strict", describeQuotas(t, adm, true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: str("alice")}),
		"user=alice: consumer_byte_rate=2097152.000000 producer_byte_rate=1048576.000000")
	check("default user", describeQuotas(t, adm, true, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: kmsg.QuotasMatchTypeDefault}),
		"user=<default>: controller_mutation_rate=10.000000")
	check("any named user with a client", describeQuotas(t, adm, true, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: kmsg.QuotasMatchTypeAny},
		kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: kmsg.QuotasMatchTypeAny}),
		"client-id=app, user=alice: request_percentage=50.000000")
	if _, err := adm.DescribeClientQuotas(testCtx(t), false, []kadm.DescribeClientQuotaComponent{{Type: "ip", MatchType: kmsg.QuotasMatchTypeAny}, {Type: "user", MatchType: kmsg.QuotasMatchTypeAny}}); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("ip with user filter: %v, want INVALID_REQUEST", err)
	}

	// Removing keys; an entity without keys disappears.
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: entity("user", "alice", "client-id", "app"), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Remove: true}}})

	// The quotas are metadata: they survive a restart.
	b.Restart()
	_, adm = newAdmin(t, b.Addr())
	check("after restart", sortedLines(describeQuotas(t, adm, false)), sortedLines(strings.Join(strings.Split(all, "\n")[:4], "\n")))
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			if lines[j] < lines[i] {
				lines[i], lines[j] = lines[j], lines[i]
			}
		}
	}
	return strings.Join(lines, "\n")
}

// TestControllerMutationQuota: CreateTopics over controller_mutation_rate
// fails with THROTTLING_QUOTA_EXCEEDED for v6+, and only throttles older
// versions.
func TestControllerMutationQuota(t *testing.T) {
	b := brokertest.Start(t)
	_, adm := newAdmin(t, b.Addr())
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: entity("client-id", "creator"), Ops: []kadm.AlterClientQuotaOp{setQuota("controller_mutation_rate", 10)}})

	// A full bucket holds 11 windows × 10 = 110 partitions; 120 leaves it
	// 10 below zero: about a second of throttle.
	_, first := newAdmin(t, b.Addr(), kgo.ClientID("creator"))
	res, err := first.CreateTopic(testCtx(t), 120, 1, nil, "big")
	if err != nil || res.Err != nil {
		t.Fatalf("first create: %v %v", err, res.Err)
	}
	// Another connection of the same client ID meets the empty bucket.
	cl, _ := newAdmin(t, b.Addr(), kgo.ClientID("creator"))
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "refused", 1, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != kerr.ThrottlingQuotaExceeded.Code || resp.ThrottleMillis <= 0 || resp.ThrottleMillis > 1100 {
		t.Fatalf("over the quota: code %d throttle %d ms, want THROTTLING_QUOTA_EXCEEDED and about 1000 ms", code, resp.ThrottleMillis)
	}
	// An old client (CreateTopics v5, before KIP-599) is throttled only.
	old, _ := newAdmin(t, b.Addr(), kgo.ClientID("creator"), kgo.MaxVersions(kversion.V2_6_0()))
	req.Topics[0].Topic = "old-client"
	resp, err = req.RequestWith(testCtx(t), old)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("v%d create: %v", resp.Version, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	// Another client ID has no quota.
	if res, err := adm.CreateTopic(testCtx(t), 50, 1, nil, "other"); err != nil || res.Err != nil {
		t.Fatalf("unthrottled client: %v %v", err, res.Err)
	}
}

// TestFetchThrottleMutesConnection: a fetch response over
// consumer_byte_rate carries the throttle time, and the connection serves
// nothing more until it has passed.
func TestFetchThrottleMutesConnection(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("quota.window.num", "2"), brokertest.WithProperty("quota.window.size.seconds", "1"))
	cl, adm := newAdmin(t, b.Addr(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	mustCreate(t, testCtx(t), adm, "data", 1, nil)
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Topic: "data", Value: make([]byte, 30000)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: entity("client-id", "raw"), Ops: []kadm.AlterClientQuotaOp{setQuota("consumer_byte_rate", 10000)}})

	c := dialRaw(t, b.Addr())
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "data"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := kmsg.NewPtrFetchResponse()
	if err := c.send(req, resp); err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Topics[0].Partitions[0].RecordBatches); n < 30000 {
		t.Fatalf("fetched %d bytes", n)
	}
	// About 30 KB over a 1 s span against 10 KB/s: (30-10)/10 × 1 s.
	if resp.ThrottleMillis < 1500 || resp.ThrottleMillis > 2500 {
		t.Fatalf("throttle %d ms, want about 2000", resp.ThrottleMillis)
	}
	start := time.Now()
	mreq, mresp := metadata()
	if err := c.send(mreq, mresp); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Duration(resp.ThrottleMillis)*time.Millisecond*8/10 {
		t.Fatalf("the muted connection answered after %v; throttle was %d ms", waited, resp.ThrottleMillis)
	}
}

// TestConnectionCreationRate: connections from an IP over its
// connection_creation_rate are closed after a delay; the others stay.
func TestConnectionCreationRate(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("quota.window.num", "2"))
	_, adm := newAdmin(t, b.Addr())
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: entity("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setQuota("connection_creation_rate", 2)}})
	var conns []*rawConn
	for range 6 {
		conns = append(conns, dialRaw(t, b.Addr()))
	}
	closed := 0
	for _, c := range conns {
		c.nc.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		if _, err := c.nc.Read(make([]byte, 1)); errors.Is(err, io.EOF) {
			closed++
		}
	}
	// Two per second over a span of at least one second: two or three
	// fit, the rest are closed.
	if closed < 3 || closed > 4 {
		t.Fatalf("%d of 6 connections closed, want 3 or 4", closed)
	}
}

// TestRequestPercentageThrottles: a client over request_percentage gets a
// throttle time on its responses; another client ID does not.
func TestRequestPercentageThrottles(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("quota.window.num", "2"))
	_, adm := newAdmin(t, b.Addr())
	// 0.001% of a thread: 10 µs of handling per second.
	alterQuotas(t, adm, kadm.AlterClientQuotaEntry{Entity: entity("client-id", "raw"), Ops: []kadm.AlterClientQuotaOp{setQuota("request_percentage", 0.001)}})
	c := dialRaw(t, b.Addr())
	throttled := false
	for range 50 {
		req, resp := metadata()
		req.Version = 12
		if err := c.send(req, resp); err != nil {
			t.Fatal(err)
		}
		if resp.ThrottleMillis > 0 {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("50 Metadata requests over request_percentage were never throttled")
	}
	other, _ := newAdmin(t, b.Addr(), kgo.ClientID("someone-else"))
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), other)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ThrottleMillis != 0 {
		t.Fatalf("a client without a quota was throttled %d ms", resp.ThrottleMillis)
	}
}

// TestClusterQuotas: a quota altered through one node is in the metadata
// of every node.
func TestClusterQuotas(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alter := kmsg.NewPtrAlterClientQuotasRequest()
	entry := kmsg.NewAlterClientQuotasRequestEntry()
	entry.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("alice")}}
	entry.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1024}}
	alter.Entries = append(alter.Entries, entry)
	// The client learns node 2's address from its first metadata response:
	// until then, Broker(2) is an unknown broker.
	waitFor(t, "the alter on node 2", func() error {
		kresp, err := cl.Broker(2).Request(ctx, alter)
		if err != nil {
			return err
		}
		if code := kresp.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode; code != 0 {
			t.Fatalf("alter on node 2: %v", kerr.ErrorForCode(code))
		}
		return nil
	})
	for id := 1; id <= 3; id++ {
		waitFor(t, fmt.Sprintf("the quota on node %d", id), func() error {
			kresp, err := cl.Broker(id).Request(ctx, kmsg.NewPtrDescribeClientQuotasRequest())
			if err != nil {
				return err
			}
			resp := kresp.(*kmsg.DescribeClientQuotasResponse)
			if len(resp.Entries) != 1 || len(resp.Entries[0].Values) != 1 || resp.Entries[0].Values[0].Value != 1024 {
				return fmt.Errorf("node %d describes %+v", id, resp.Entries)
			}
			return nil
		})
	}
}
