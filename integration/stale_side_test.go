package integration

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What the chaos tests of netfault_test.go and replication_chaos_test.go
// share to check that a leader which lost its place (fenced, cut off or
// stopped) acknowledges nothing: a side topic written with markers
// through an ordinary client and with raw produces sent straight to that
// leader.

// staleSide is a side topic with one partition that only a test writes:
// markers through an ordinary acks=all client, and raw produces sent to a
// node that should no longer acknowledge them.
type staleSide struct {
	rc      *replChaos
	topic   string
	cl      *kgo.Client
	markers []string
	unacked []string
	// produceTimeout is the raw produces' timeout (the broker answers
	// REQUEST_TIMED_OUT after it), answerWait how long a check waits for
	// their answer.
	produceTimeout, answerWait time.Duration
}

// newStaleSide creates the side topic (replication factor 3,
// min.insync.replicas 2) and adds it to the replicas finish compares.
func (rc *replChaos) newStaleSide(prefix string) *staleSide {
	rc.t.Helper()
	s := &staleSide{rc: rc, topic: uniqueTopic(prefix), produceTimeout: 5 * time.Second, answerWait: 30 * time.Second}
	rc.createTopic(s.topic, 1)
	rc.extra[s.topic] = 1
	s.cl = rc.c.Client(kgo.DefaultProduceTopic(s.topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(60*time.Second))
	return s
}

// marker writes name and waits for its acknowledgement.
func (s *staleSide) marker(name string) {
	s.rc.t.Helper()
	if err := s.cl.ProduceSync(testCtx(s.rc.t, 90*time.Second), &kgo.Record{Value: []byte(name)}).FirstErr(); err != nil {
		s.rc.t.Fatalf("marker %s: %v", name, err)
	}
	s.markers = append(s.markers, name)
}

// send produces values (acks=all) on conn, a connection to node id, in
// the background; the returned check fails the test if they are
// acknowledged, waiting up to answerWait for the answer.
func (s *staleSide) send(conn *rawConn, id int, why string, values ...string) (check func()) {
	out := make(chan rawOutcome, 1)
	go func() { out <- rawProduce(conn, s.topic, s.produceTimeout, values) }()
	s.unacked = append(s.unacked, values...)
	return func() {
		t := s.rc.t
		t.Helper()
		var o rawOutcome
		select {
		case o = <-out:
		case <-time.After(s.answerWait):
			t.Errorf("%s: no answer from node %d to the produce of %v", why, id, values)
			return
		}
		switch {
		case o.err != nil:
			t.Logf("%s: the produce of %v to node %d: %v", why, values, id, o.err)
		case o.code == 0:
			t.Errorf("%s: node %d acknowledged %v at offset %d", why, id, values, o.offset)
		default:
			t.Logf("%s: node %d answered the produce of %v with %v", why, id, values, kerr.ErrorForCode(o.code))
		}
	}
}

// finish writes a last marker (it lands where a stale leader's appends
// did, so the replica comparison covers them), finishes the test and
// checks that the side topic holds every marker once, in order, and none
// of the values sent to stale leaders.
func (s *staleSide) finish() {
	s.rc.t.Helper()
	s.marker("marker-last")
	s.rc.finish()
	checkSide(s.rc.t, s.rc.c, s.topic, s.markers, s.unacked)
}

// rawProduce sends one acks=all produce of values to topic's partition 0
// on conn, with the given timeout, and returns the answer.
func rawProduce(conn *rawConn, topic string, timeout time.Duration, values []string) rawOutcome {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(-1, -1, -1, values...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	if err := conn.tryRoundTrip(req, resp); err != nil {
		return rawOutcome{err: err}
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return rawOutcome{err: errors.New("malformed produce response")}
	}
	sp := resp.Topics[0].Partitions[0]
	return rawOutcome{code: sp.ErrorCode, offset: sp.BaseOffset}
}

// checkSide reads partition 0 of side from the start to its high
// watermark and checks that it holds each of want once, in order, and
// none of never.
func checkSide(t *testing.T, c *Cluster, side string, want, never []string) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	adm := kadm.NewClient(c.Client())
	defer adm.Close()
	ends, err := allOffsets(ctx, side, 1, adm.ListEndOffsets)
	if err != nil {
		t.Fatalf("%s: %v", side, err)
	}
	var got []string
	if ends[0] > 0 {
		for _, r := range consumeAll(t, ctx, c.Seeds()[0], side, 0, int(ends[0]), kgo.SeedBrokers(c.Seeds()...)) {
			got = append(got, string(r.Value))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want the markers %q", side, got, want)
	}
	for _, v := range never {
		if slices.Contains(got, v) {
			t.Errorf("%s holds %q, which was never acknowledged by a leader", side, v)
		}
	}
	t.Logf("%s holds the %d markers; none of the %d values sent to a stale leader", side, len(want), len(never))
}
