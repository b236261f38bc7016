package broker_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// fsTopicID is the topic ID kgo needs: it sends Fetch v13+, which names
// topics by ID.
var fsTopicID [16]byte

func fetchReq(sessionID, epoch int32, topic string, parts map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = sessionID, epoch
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, fsTopicID
		for p, off := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, off, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func countParts(resp *kmsg.FetchResponse) int {
	n := 0
	for _, t := range resp.Topics {
		n += len(t.Partitions)
	}
	return n
}

// TestIncrementalFetchSessions drives KIP-227 by hand: open a session,
// continue it with only the changes, forget a partition, and misuse it.
func TestIncrementalFetchSessions(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	cl, adm := newAdmin(t, b.Addr(), kgo.DefaultProduceTopic("fs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	mustCreate(t, ctx, adm, "fs", 2, nil)
	td, err := adm.ListTopics(ctx, "fs")
	if err != nil {
		t.Fatal(err)
	}
	fsTopicID = td["fs"].ID
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Open: a full fetch that creates a session.
	resp, err := fetchReq(0, 0, "fs", map[int32]int64{0: 0, 1: 0}).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.SessionID == 0 || countParts(resp) != 2 {
		t.Fatalf("open: session %d, %d partitions", resp.SessionID, countParts(resp))
	}
	sid := resp.SessionID

	// Epoch 1, nothing changed and nothing new: no partitions in the answer.
	resp, err = fetchReq(sid, 1, "fs", nil).RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("epoch 1: %v %v", err, resp.ErrorCode)
	}
	if n := countParts(resp); n != 1 {
		// partition 0 still has its record from offset 0 (the client did
		// not move its offset), so it is answered again; partition 1 is not.
		t.Fatalf("epoch 1 answered %d partitions, want 1: %+v", n, resp.Topics)
	}

	// Move partition 0 past its data: now only changes come back.
	resp, err = fetchReq(sid, 2, "fs", map[int32]int64{0: 1}).RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("epoch 2: %v %v", err, resp.ErrorCode)
	}
	resp, _ = fetchReq(sid, 3, "fs", nil).RequestWith(ctx, cl)
	if n := countParts(resp); n != 0 {
		t.Fatalf("epoch 3 with nothing new answered %d partitions", n)
	}
	// New data on partition 1 shows up without the client naming it.
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	resp, _ = fetchReq(sid, 4, "fs", nil).RequestWith(ctx, cl)
	if n := countParts(resp); n != 1 || resp.Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("epoch 4 should answer partition 1 alone: %+v", resp.Topics)
	}

	// Forget partition 1: even new data there is no longer answered.
	req := fetchReq(sid, 5, "fs", nil)
	req.ForgottenTopics = []kmsg.FetchRequestForgottenTopic{{Topic: "fs", TopicID: fsTopicID, Partitions: []int32{1}}}
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte("c")})
	resp, _ = fetchReq(sid, 6, "fs", nil).RequestWith(ctx, cl)
	if n := countParts(resp); n != 0 {
		t.Fatalf("forgotten partition answered: %+v", resp.Topics)
	}

	// Misuse: a stale epoch, an unknown session.
	resp, _ = fetchReq(sid, 3, "fs", nil).RequestWith(ctx, cl)
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.InvalidFetchSessionEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	resp, _ = fetchReq(sid+1, 1, "fs", nil).RequestWith(ctx, cl)
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	// Close: epoch -1 ends the session.
	if _, err := fetchReq(sid, -1, "fs", map[int32]int64{0: 0}).RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	resp, _ = fetchReq(sid, 8, "fs", nil).RequestWith(ctx, cl)
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("closed session: %v", err)
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithProperty("connections.max.idle.ms", "300"))
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("an idle connection should be closed by the broker")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the broker never closed the idle connection")
	}
}
