package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

func newAdmin(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// freshMetadata keeps a client's cached metadata at most 100ms old. kadm's
// Metadata (and most of its admin calls) answer from that cache, which kgo
// otherwise refreshes at most every 5 s: a test polling for a leader or
// ISR change would see it up to 5 s after it happened.
func freshMetadata() kgo.Opt { return kgo.MetadataMinAge(100 * time.Millisecond) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, ctx context.Context, adm *kadm.Client, name string, parts int32, configs map[string]*string) {
	t.Helper()
	res, err := adm.CreateTopic(ctx, parts, 1, configs, name)
	if err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, res.Err)
	}
}

func str(s string) *string { return &s }

func TestDescribeAndAlterTopicConfigs(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("log.retention.hours", "48"))
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "cfg", 1, map[string]*string{"cleanup.policy": str("compact")})

	rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("cfg", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	want := map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"cleanup.policy":    {"compact", kmsg.ConfigSourceDynamicTopicConfig},
		"retention.ms":      {"172800000", kmsg.ConfigSourceStaticBrokerConfig},
		"segment.bytes":     {"1073741824", kmsg.ConfigSourceDefaultConfig},
		"max.message.bytes": {"1048588", kmsg.ConfigSourceDefaultConfig},
	}
	seen := 0
	for _, c := range rc.Configs {
		if w, ok := want[c.Key]; ok {
			seen++
			if c.MaybeValue() != w.value || c.Source != w.source {
				t.Errorf("%s = %q (source %v), want %q (%v)", c.Key, c.MaybeValue(), c.Source, w.value, w.source)
			}
		}
	}
	if seen != len(want) || len(rc.Configs) < 30 {
		t.Fatalf("described %d configs, matched %d of %d", len(rc.Configs), seen, len(want))
	}

	// Incremental alter: set, append to a list, delete.
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: str("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: str("delete")},
	}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "cfg")
	rc, _ = rcs.On("cfg", nil)
	for _, c := range rc.Configs {
		switch c.Key {
		case "retention.ms":
			if c.MaybeValue() != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("retention.ms after alter = %q (%v)", c.MaybeValue(), c.Source)
			}
		case "cleanup.policy":
			if c.MaybeValue() != "compact,delete" {
				t.Errorf("cleanup.policy after append = %q", c.MaybeValue())
			}
		}
	}

	// Invalid values are INVALID_CONFIG with a message, and change nothing.
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: str("soon")}}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resps[0].Err, kerr.InvalidConfig) || !strings.Contains(resps[0].ErrMessage, "retention.ms") {
		t.Fatalf("bad value: err=%v msg=%q", resps[0].Err, resps[0].ErrMessage)
	}
	resps, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.thing", Value: str("1")}}, "cfg")
	if !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: err=%v", resps[0].Err)
	}

	// Legacy AlterConfigs replaces the whole set: retention.ms goes back to the broker's.
	if _, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: str("60000")}}, "cfg"); err != nil {
		t.Fatal(err)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "cfg")
	rc, _ = rcs.On("cfg", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "172800000" {
			t.Errorf("retention.ms after full replace = %q, want the broker default", c.MaybeValue())
		}
	}

	// Configs survive a restart.
	b.Restart()
	_, adm = newAdmin(t, b.Addr())
	rcs, _ = adm.DescribeTopicConfigs(ctx, "cfg")
	rc, _ = rcs.On("cfg", nil)
	for _, c := range rc.Configs {
		if c.Key == "segment.ms" && c.MaybeValue() != "60000" {
			t.Errorf("segment.ms after restart = %q", c.MaybeValue())
		}
	}
}

func TestBrokerConfigs(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "bc", 1, nil)
	rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "log.retention.hours" || c.Key == "num.partitions" {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("broker configs lack log.retention.hours / num.partitions")
	}
	// A cluster-wide dynamic default reaches topics without their own value.
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: str("12345")}}); err != nil {
		t.Fatal(err)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "bc")
	rc, _ := rcs.On("bc", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && (c.MaybeValue() != "12345" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			t.Errorf("retention.ms = %q (%v), want 12345 from the dynamic default", c.MaybeValue(), c.Source)
		}
	}
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.dirs", Value: str("/elsewhere")}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Fatalf("static config alter: err = %v, want INVALID_CONFIG", resps[0].Err)
	}
}

func TestRetentionTakesEffectLive(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("log.retention.check.interval.ms", "100"))
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("ret"))
	mustCreate(t, ctx, adm, "ret", 1, map[string]*string{"segment.bytes": str("16384")})
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 200; i++ {
		r := &kgo.Record{Value: make([]byte, 1000), Timestamp: old}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := func() int64 {
		offs, err := adm.ListStartOffsets(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("ret", 0)
		return o.Offset
	}
	if s := start(); s != 0 {
		t.Fatalf("log start before retention change = %d", s)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: str("60000")}}, "ret"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		if start() > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("lowering retention.ms never deleted a segment")
}

func TestCreatePartitionsAndDeleteRecords(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("grow"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	mustCreate(t, ctx, adm, "grow", 2, nil)

	if _, err := adm.CreatePartitions(ctx, 3, "grow"); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx, "grow")
	if err != nil || len(td["grow"].Partitions) != 5 {
		t.Fatalf("partitions after grow: %v %v", td, err)
	}
	res, _ := adm.UpdatePartitions(ctx, 3, "grow")
	if r, _ := res.On("grow", nil); !errors.Is(r.Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking: err = %v, want INVALID_PARTITIONS", r.Err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce to new partition: %v", err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "grow", Partition: 4, At: 6})
	dr, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("grow", 4); r.Err != nil || r.LowWatermark != 6 {
		t.Fatalf("delete records: %+v", r)
	}
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "grow", Partition: 4, At: 99})
	dr, _ = adm.DeleteRecords(ctx, offs)
	if r, _ := dr.Lookup("grow", 4); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond high watermark: %v", r.Err)
	}
	b.Restart()
	_, adm = newAdmin(t, b.Addr())
	so, err := adm.ListStartOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := so.Lookup("grow", 4); o.Offset != 6 {
		t.Fatalf("log start after restart = %d, want 6", o.Offset)
	}
	td, _ = adm.ListTopics(ctx, "grow")
	if len(td["grow"].Partitions) != 5 {
		t.Fatalf("partition count after restart = %d", len(td["grow"].Partitions))
	}
}

func TestClusterAndLogDirs(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("dirs"))
	mustCreate(t, ctx, adm, "dirs", 1, nil)
	if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dcr, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dcr.ErrorCode != 0 || len(dcr.Brokers) != 1 || dcr.ControllerID != 1 || dcr.ClusterID == "" {
		t.Fatalf("describe cluster: %+v %v", dcr, err)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "dirs" {
				size = p.Size
			}
		})
	})
	if size <= 0 {
		t.Fatalf("log dir size of dirs-0 = %d", size)
	}
	// Leader epochs: the only epoch (0) ends at the log end offset.
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "dirs"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 1 || p.LeaderEpoch != 0 {
		t.Fatalf("offset for leader epoch: %+v", p)
	}
	// Elections are never needed on one node.
	er, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"dirs": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := er["dirs"][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("elect leaders: %v", r.Err)
	}
	// DescribeTopicPartitions pages through partitions.
	dtp := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dtp.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "dirs"}}
	dtp.ResponsePartitionLimit = 10
	dresp, err := dtp.RequestWith(ctx, cl)
	if err != nil || len(dresp.Topics) != 1 || len(dresp.Topics[0].Partitions) != 1 {
		t.Fatalf("describe topic partitions: %+v %v", dresp, err)
	}
}

func TestTwoListenersAdvertiseTheirOwnAddresses(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	inner, outer := free(), free()
	_, outerPort, _ := net.SplitHostPort(outer)
	b := brokertest.Start(t,
		brokertest.WithProperty("listeners", "INTERNAL://"+inner+",EXTERNAL://"+outer),
		brokertest.WithProperty("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"),
		brokertest.WithProperty("advertised.listeners", "INTERNAL://"+inner+",EXTERNAL://localhost:"+outerPort),
	)
	_ = b
	ctx := testCtx(t)
	for addr, wantHost := range map[string]string{inner: "127.0.0.1", outer: "localhost"} {
		req := kmsg.NewPtrMetadataRequest()
		cl, _ := newAdmin(t, addr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != wantHost {
			t.Errorf("metadata on %s advertises %+v, want host %s", addr, resp.Brokers, wantHost)
		}
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("max.connections.per.ip", "2"))
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Give the accept loop time to register both before the third.
	time.Sleep(200 * time.Millisecond)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection from one IP should be closed by the broker")
	}
}

// fixCRC recomputes the CRC-32C of a hand-built record batch.
func fixCRC(b []byte) {
	crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(b[17:], crc)
}

// TestTopicCompressionTypeRecompresses: a topic whose compression.type is a
// codec stores batches in that codec whatever the producer sent, and a live
// change applies to the next batch.
func TestTopicCompressionTypeRecompresses(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("zs"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	mustCreate(t, ctx, adm, "zs", 1, map[string]*string{"compression.type": str("zstd")})
	codecAt := func(offset int64) int16 {
		t.Helper()
		td, _ := adm.ListTopics(ctx, "zs")
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.MaxWaitMillis = 1<<20, 100
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "zs", td["zs"].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		raw := resp.Topics[0].Partitions[0].RecordBatches
		if len(raw) < 23 {
			t.Fatalf("no batch at %d", offset)
		}
		return int16(binary.BigEndian.Uint16(raw[21:])) & 7
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("squeeze me")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if c := codecAt(0); c != 4 {
		t.Fatalf("stored codec %d, want zstd (4)", c)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: str("lz4")}}, "zs"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("now lz4")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if c := codecAt(1); c != 3 {
		t.Fatalf("after the change stored codec %d, want lz4 (3)", c)
	}
	rd, _ := newAdmin(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"zs": {0: kgo.NewOffset().AtStart()}}))
	var vals []string
	for len(vals) < 2 {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
		if ctx.Err() != nil {
			t.Fatal("timed out reading")
		}
	}
	if vals[0] != "squeeze me" || vals[1] != "now lz4" {
		t.Fatalf("read back %v", vals)
	}
}
