package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFranzListOffsets(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("listoffsets")
	createTopic(t, b.addr(), topic, 1, nil)
	cl := newClient(t, b.addr())
	ctx := testCtx(t, 30*time.Second)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	// Timestamps out of order: the maximum is at offset 3. One batch per
	// record, so every answer is an exact record.
	steps := []int{0, 5, 3, 9, 2, 7}
	for i, s := range steps {
		r := &kgo.Record{Topic: topic, Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(s) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}
	adm := kadm.NewClient(cl)
	lookup := func(what string) func(kadm.ListedOffsets, error) kadm.ListedOffset {
		return func(l kadm.ListedOffsets, err error) kadm.ListedOffset {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			o, ok := l.Lookup(topic, 0)
			if !ok || o.Err != nil {
				t.Fatalf("%s: %v (found %v)", what, o.Err, ok)
			}
			return o
		}
	}
	if o := lookup("earliest")(adm.ListStartOffsets(ctx, topic)); o.Offset != 0 {
		t.Errorf("earliest = %d, want 0", o.Offset)
	}
	if o := lookup("latest")(adm.ListEndOffsets(ctx, topic)); o.Offset != int64(len(steps)) {
		t.Errorf("latest = %d, want %d", o.Offset, len(steps))
	}
	for _, c := range []struct {
		atSec int
		want  int64
	}{
		{-10, 0}, // before everything: the first record
		{0, 0},
		{1, 1}, // first record with timestamp >= base+1s is offset 1 (5s)
		{4, 1},
		{6, 3},
		{8, 3},
		{9, 3},
	} {
		ms := base.Add(time.Duration(c.atSec) * time.Second).UnixMilli()
		if o := lookup("by timestamp")(adm.ListOffsetsAfterMilli(ctx, ms, topic)); o.Offset != c.want {
			t.Errorf("by timestamp base+%ds: offset %d, want %d", c.atSec, o.Offset, c.want)
		}
	}
	// After the newest timestamp Kafka answers offset -1 (the raw request
	// shows it; kadm maps it to the end offset).
	raw := dialRaw(t, b.addr())
	listRaw := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7) // v7: max timestamp (KIP-734)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrListOffsetsResponse()
		raw.roundTrip(t, req, resp)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("list offsets %d: malformed response", ts)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := listRaw(base.Add(10 * time.Second).UnixMilli()); p.ErrorCode != 0 || p.Offset != -1 {
		t.Errorf("by timestamp after the newest: code %d offset %d, want offset -1", p.ErrorCode, p.Offset)
	}
	maxTS := base.Add(9 * time.Second).UnixMilli()
	if p := listRaw(-3); p.ErrorCode != 0 || p.Offset != 3 || p.Timestamp != maxTS {
		t.Errorf("max timestamp (-3): code %d offset %d timestamp %d, want offset 3 timestamp %d", p.ErrorCode, p.Offset, p.Timestamp, maxTS)
	}
	if p := listRaw(-2); p.ErrorCode != 0 || p.Offset != 0 {
		t.Errorf("earliest (-2): code %d offset %d", p.ErrorCode, p.Offset)
	}
	if p := listRaw(-1); p.ErrorCode != 0 || p.Offset != int64(len(steps)) {
		t.Errorf("latest (-1): code %d offset %d", p.ErrorCode, p.Offset)
	}
}

func TestFranzUnknownTopic(t *testing.T) {
	for _, autoCreate := range []string{"true", "false"} {
		t.Run("auto.create.topics.enable="+autoCreate, func(t *testing.T) {
			b := startBroker(t, "--set", "auto.create.topics.enable="+autoCreate)
			ctx := testCtx(t, 30*time.Second)
			cl := newClient(t, b.addr(), kgo.UnknownTopicRetries(2), kgo.RecordDeliveryTimeout(10*time.Second))
			topic := uniqueTopic("nosuch")

			// Metadata without permission to create.
			meta := func(allow bool) int16 {
				req := kmsg.NewPtrMetadataRequest()
				req.SetVersion(12)
				mt := kmsg.NewMetadataRequestTopic()
				mt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, mt)
				req.AllowAutoTopicCreation = allow
				resp := kmsg.NewPtrMetadataResponse()
				dialRaw(t, b.addr()).roundTrip(t, req, resp)
				if len(resp.Topics) != 1 {
					t.Fatalf("metadata: %d topics", len(resp.Topics))
				}
				return resp.Topics[0].ErrorCode
			}
			if code := meta(false); code != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("metadata allow_auto_topic_creation=false: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
			}
			// Producing (kgo never asks to auto-create by default).
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
			if !errors.Is(err, kerr.UnknownTopicOrPartition) {
				t.Fatalf("produce to an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
			}
			// A raw produce gets the code per partition.
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(9)
			req.Acks, req.TimeoutMillis = -1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = buildBatch(-1, -1, -1, "x")
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := kmsg.NewPtrProduceResponse()
			dialRaw(t, b.addr()).roundTrip(t, req, resp)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("raw produce to an unknown topic: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
			}
			// Nothing above created the topic.
			if code := meta(false); code != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("topic exists after requests that must not create it (code %d)", code)
			}
			// With the client's permission, the broker setting decides.
			code := meta(true)
			if autoCreate == "false" && code != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("auto-create disabled, allow=true: code %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
			}
			if autoCreate == "true" && code != 0 && code != kerr.LeaderNotAvailable.Code {
				t.Fatalf("auto-create enabled, allow=true: code %d", code)
			}
		})
	}
}

func TestFranzCreateTopicsValidation(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t, 30*time.Second)
	adm := kadm.NewClient(newClient(t, b.addr()))
	str := func(s string) *string { return &s }
	ok := uniqueTopic("valid")
	for _, c := range []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
	}{
		{"bad characters", "bad name!", 1, 1, nil, kerr.InvalidTopicException},
		{"dot", ".", 1, 1, nil, kerr.InvalidTopicException},
		{"dot dot", "..", 1, 1, nil, kerr.InvalidTopicException},
		{"too long", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"empty", "", 1, 1, nil, kerr.InvalidTopicException},
		{"replication factor 3", uniqueTopic("rf3"), 1, 3, nil, kerr.InvalidReplicationFactor},
		{"replication factor 0", uniqueTopic("rf0"), 1, 0, nil, kerr.InvalidReplicationFactor},
		{"zero partitions", uniqueTopic("p0"), 0, 1, nil, kerr.InvalidPartitions},
		{"bad config value", uniqueTopic("cfg"), 1, 1, map[string]*string{"cleanup.policy": str("bogus")}, kerr.InvalidConfig},
		{"non-numeric config", uniqueTopic("cfg"), 1, 1, map[string]*string{"retention.ms": str("soon")}, kerr.InvalidConfig},
		{"unknown config", uniqueTopic("cfg"), 1, 1, map[string]*string{"no.such.config": str("1")}, kerr.InvalidConfig},
		{"valid", ok, 2, 1, map[string]*string{"retention.ms": str("60000")}, nil},
		{"defaults (-1)", uniqueTopic("defaults"), -1, -1, nil, nil},
		{"already exists", ok, 1, 1, nil, kerr.TopicAlreadyExists},
	} {
		resps, err := adm.CreateTopics(ctx, c.partitions, c.rf, c.configs, c.topic)
		if err != nil {
			t.Fatalf("%s: request failed: %v", c.name, err)
		}
		resp, found := resps[c.topic]
		if !found {
			t.Fatalf("%s: no answer for the topic", c.name)
		}
		if !errors.Is(resp.Err, c.want) && !(c.want == nil && resp.Err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, resp.Err, c.want)
		}
	}
	// validate_only creates nothing.
	vo := uniqueTopic("validate-only")
	if resp, err := adm.ValidateCreateTopics(ctx, 1, 1, nil, vo); err != nil || resp.Error() != nil {
		t.Fatalf("validate-only: %v %v", err, resp.Error())
	}
	details, err := adm.ListTopics(ctx, vo, ok)
	if err != nil {
		t.Fatal(err)
	}
	if d := details[vo]; d.Err == nil {
		t.Errorf("validate-only created topic %s", vo)
	}
	if d := details[ok]; d.Err != nil || len(d.Partitions) != 2 {
		t.Errorf("topic %s: %v, %d partitions, want 2", ok, d.Err, len(d.Partitions))
	}
}

func TestFranzDeleteRecreate(t *testing.T) {
	b := startBroker(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	topic := uniqueTopic("recreate")
	createTopic(t, b.addr(), topic, 2, nil)
	topicID := func() [16]byte { // a fresh client: kgo caches metadata briefly
		t.Helper()
		d, err := newKadm(t, b.addr()).ListTopics(ctx, topic)
		if err != nil || d[topic].Err != nil {
			t.Fatalf("list %s: %v %v", topic, err, d[topic].Err)
		}
		return d[topic].ID
	}
	oldID := topicID()
	var old []*kgo.Record
	for i := range 50 {
		old = append(old, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte("old")})
	}
	produceAll(t, cl, old, 10)

	resp, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Deletion may complete asynchronously, as in Kafka: retry the create.
	for {
		resp, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
		if err == nil && resp.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("recreate: %v %v", err, resp.Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if newID := topicID(); newID == oldID {
		t.Fatalf("recreated topic kept the old ID %x", oldID)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("recreated %s/%d: end offset %d (%v), want 0", topic, o.Partition, o.Offset, o.Err)
		}
	})
	// Produce through a fresh client (the old one may have cached the old ID).
	fresh := newClient(t, b.addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Topic: topic, Partition: 1, Value: []byte("new")}
	if err := fresh.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != 0 {
		t.Errorf("first record of the recreated topic at offset %d, want 0", r.Offset)
	}
	got := consumeAll(t, ctx, b.addr(), topic, 1, 1)
	if string(got[0].Value) != "new" {
		t.Errorf("recreated topic serves %q", got[0].Value)
	}
}
