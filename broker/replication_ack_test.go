package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
)

// ackTestBatch is a magic-v2 batch of one record.
func ackTestBatch(value string) []byte {
	now := time.Now().UnixMilli()
	r := kmsg.Record{Value: []byte(value)}
	body := r.AppendTo(nil)
	r.Length = int32(len(body) - 1)
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: r.AppendTo(nil)}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// TestAwaitReplicationMinInSync walks an acks=all wait on a leader (node
// 1 of replicas 1, 2, 3, min.insync.replicas=2) through the ways it ends:
// acknowledged once the ISR has copied the records, also after the ISR
// shrank to two that have them, but refused with
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the high watermark passes the
// records only because the ISR shrank to the leader alone — the records
// were then on one replica, fewer than the producer asked for. (The
// nemesis test that cuts a leader's followers off found leaders
// acknowledging such writes.)
func TestAwaitReplicationMinInSync(t *testing.T) {
	cases := []struct {
		name string
		// then runs while the produce waits, with the offset past its
		// records; it must end the wait.
		then func(p *partition, next int64, epoch *int32)
		want int16
	}{
		{"every follower copies the records", func(p *partition, next int64, _ *int32) {
			p.followerFetched(2, next, time.Now())
			p.followerFetched(3, next, time.Now())
		}, 0},
		{"the ISR shrinks to the leader and a follower that copies them", func(p *partition, next int64, epoch *int32) {
			*epoch++
			if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: *epoch}, 1, true); err != nil {
				t.Fatal(err)
			}
			p.followerFetched(2, next, time.Now())
		}, 0},
		{"the ISR shrinks to the leader alone", func(p *partition, _ int64, epoch *int32) {
			*epoch++
			if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, PartitionEpoch: *epoch}, 1, true); err != nil {
				t.Fatal(err)
			}
		}, kerr.NotEnoughReplicasAfterAppend.Code},
		{"leadership moves; as a follower the node truncates the record and the new leader's pass the high watermark", func(p *partition, next int64, epoch *int32) {
			*epoch++
			loseLeadership(t, p, *epoch)
		}, kerr.NotLeaderForPartition.Code},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			tp := &topic{name: "t"}
			tp.settings.Store(&topicSettings{values: map[string]string{"min.insync.replicas": "2"}})
			p, err := newPartition(tp, 0, l)
			if err != nil {
				t.Fatal(err)
			}
			epoch := int32(0)
			if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}, 1, true); err != nil {
				t.Fatal(err)
			}
			p.followerFetched(2, 0, time.Now())
			p.followerFetched(3, 0, time.Now())
			res, err := l.Append(ackTestBatch("v"), blog.AppendOptions{LeaderEpoch: 0})
			if err != nil {
				t.Fatal(err)
			}
			next := res.LastOffset + 1
			p.localAppended(next)
			if hw := p.highWatermark(); hw != 0 {
				t.Fatalf("high watermark %d before any follower copied the record", hw)
			}

			resp := kmsg.NewPtrProduceResponse()
			st := kmsg.NewProduceResponseTopic()
			st.Partitions = append(st.Partitions, kmsg.NewProduceResponseTopicPartition())
			resp.Topics = append(resp.Topics, st)
			r := &request{conn: &conn{done: make(chan struct{})}}
			done := make(chan struct{})
			go func() {
				defer close(done)
				(&Broker{}).awaitReplication(r, resp, []replicationWait{{p: p, next: next, epoch: 0}}, time.Minute)
			}()
			for { // until the produce waits
				p.waitMu.Lock()
				n := len(p.waiters)
				p.waitMu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			tc.then(p, next, &epoch)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the produce still waits")
			}
			if hw := p.highWatermark(); hw < next {
				t.Errorf("high watermark %d, want %d or more", hw, next)
			}
			if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.want {
				t.Errorf("error code %v, want %v", kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
			}
		})
	}
}

// loseLeadership makes node 1, which led p in epoch 0 and appended one
// record (offset 0) that no follower copied, a follower of node 2 in
// epoch 1 that truncates the record, copies node 2's own record at
// offset 0 and learns a high watermark past it from node 2 (partition
// epoch pe).
func loseLeadership(t *testing.T, p *partition, pe int32) {
	t.Helper()
	if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: pe}, 1, true); err != nil {
		t.Fatal(err)
	}
	if err := p.log.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	other := ackTestBatch("the new leader's")
	binary.BigEndian.PutUint32(other[12:], 1) // partitionLeaderEpoch, outside the CRC
	if _, err := p.log.AppendAsFollower(other); err != nil {
		t.Fatal(err)
	}
	p.advanceHighWatermark(1)
}

// TestAppendReplicatedWaitsForISR: a coordinator's write (an offset
// commit) returns only once every in-sync replica holds it, so a commit
// the coordinator acknowledged survives the leader's loss; it fails when
// leadership moves first (even if, as a follower, the node then learns a
// high watermark past records that replaced its own) or the followers are
// too slow. (The controller
// kill nemesis test found a group resuming behind an acknowledged commit:
// the coordinator had answered after its local append, and the new leader
// of the __consumer_offsets partition never had the commit.)
func TestAppendReplicatedWaitsForISR(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	newLeader := func(t *testing.T) (*Broker, *partition) {
		l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		tp := &topic{name: "__consumer_offsets"}
		tp.settings.Store(&topicSettings{values: map[string]string{}})
		p, err := newPartition(tp, 0, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}, 1, true); err != nil {
			t.Fatal(err)
		}
		p.followerFetched(2, 0, time.Now())
		p.followerFetched(3, 0, time.Now())
		tp.parts.Store(&[]*partition{p})
		b := &Broker{logger: logger, closing: make(chan struct{}), topics: map[string]*topic{tp.name: tp},
			dirHealth: newLogDirHealth("/data", logger, func() (blog.DiskSpace, error) { return blog.DiskSpace{}, blog.ErrSpaceUnknown })}
		return b, p
	}
	// start writes a commit through the offsets store, as the group
	// coordinator does, with offsets.commit.timeout.ms timeout.
	start := func(b *Broker, p *partition, timeout time.Duration) <-chan error {
		b.cfg.Properties = map[string]string{"offsets.commit.timeout.ms": strconv.FormatInt(timeout.Milliseconds(), 10)}
		done := make(chan error, 1)
		go func() { done <- (&offsetsStore{b}).appendBatch(0, ackTestBatch("commit")) }()
		for p.log.LogEndOffset() == 0 { // until appended
			time.Sleep(time.Millisecond)
		}
		return done
	}
	wait := func(t *testing.T, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("appendReplicated still waits")
			return nil
		}
	}

	t.Run("returns once every in-sync replica has it", func(t *testing.T) {
		b, p := newLeader(t)
		done := start(b, p, time.Minute)
		p.followerFetched(2, 1, time.Now())
		if hw := p.highWatermark(); hw != 0 {
			t.Fatalf("high watermark %d with follower 3 behind", hw)
		}
		select {
		case err := <-done:
			t.Fatalf("returned (%v) before follower 3 copied the record", err)
		default:
		}
		p.followerFetched(3, 1, time.Now())
		if err := wait(t, done); err != nil {
			t.Fatalf("after every follower copied it: %v", err)
		}
	})
	t.Run("fails when leadership moves first", func(t *testing.T) {
		b, p := newLeader(t)
		done := start(b, p, time.Minute)
		if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}, 1, true); err != nil {
			t.Fatal(err)
		}
		if err := wait(t, done); !errors.Is(err, errLeadershipMoved) {
			t.Fatalf("got %v, want %v", err, errLeadershipMoved)
		}
	})
	t.Run("fails when leadership moves and the record is truncated", func(t *testing.T) {
		b, p := newLeader(t)
		done := start(b, p, time.Minute)
		loseLeadership(t, p, 1)
		if err := wait(t, done); !errors.Is(err, errLeadershipMoved) {
			t.Fatalf("got %v, want %v", err, errLeadershipMoved)
		}
	})
	t.Run("fails when the followers are too slow", func(t *testing.T) {
		b, p := newLeader(t)
		if err := wait(t, start(b, p, 50*time.Millisecond)); !errors.Is(err, errReplicationSlow) {
			t.Fatalf("got %v, want %v", err, errReplicationSlow)
		}
	})
}

// TestOffsetsReplayToLogEnd: a node just elected leader of a
// __consumer_offsets partition loads its groups from everything its log
// holds. As a follower it copied three commits but learned a high
// watermark past only the first (followers hear it a fetch late), and as
// the new leader its high watermark stays there until its followers fetch;
// the other two were acknowledged by the old leader and must be loaded.
// (The controller kill nemesis test found group members resuming behind an
// acknowledged commit, loaded up to the new leader's high watermark.)
func TestOffsetsReplayToLogEnd(t *testing.T) {
	l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		b := ackTestBatch(fmt.Sprintf("commit %d", i))
		binary.BigEndian.PutUint64(b, uint64(i)) // base offset
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	tp := &topic{name: "__consumer_offsets"}
	tp.settings.Store(&topicSettings{values: map[string]string{}})
	p, err := newPartition(tp, 0, l)
	if err != nil {
		t.Fatal(err)
	}
	p.hw.Store(1)
	l.SetHighWatermark(1)
	tp.parts.Store(&[]*partition{p})
	if err := p.follow(meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1}, 1, true); err != nil {
		t.Fatal(err)
	}
	if hw := p.highWatermark(); hw != 1 {
		t.Fatalf("the new leader's high watermark is %d before its followers fetched, want 1", hw)
	}
	b := &Broker{topics: map[string]*topic{tp.name: tp}}
	var got int
	err = (&offsetsStore{b}).Replay(0, func(data []byte) error {
		for pos := 0; pos < len(data); {
			h, err := blog.ParseBatchHeader(data[pos:])
			if err != nil {
				return err
			}
			got++
			pos += h.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != 3 {
		t.Errorf("replayed %d batches, want the 3 in the log", got)
	}
}

// TestHighWatermarkAfterTruncatedLeadership: a node that led (its log end
// counted toward the high watermark), then followed and truncated, and
// leads again with no other replica in sync, has a high watermark of its
// log end now, not of the end it had before the truncation: offsets it no
// longer holds are not committed, and a follower can join the ISR once it
// has what the leader has.
func TestHighWatermarkAfterTruncatedLeadership(t *testing.T) {
	l, err := blog.Open(t.TempDir(), blog.DefaultConfig(), blog.Options{CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tp := &topic{name: "t"}
	tp.settings.Store(&topicSettings{values: map[string]string{}})
	p, err := newPartition(tp, 0, l)
	if err != nil {
		t.Fatal(err)
	}
	state := func(leader int32, isr []int32, epoch int32) meta.PartitionState {
		return meta.PartitionState{Replicas: []int32{1, 2}, ISR: isr, Leader: leader, LeaderEpoch: epoch, PartitionEpoch: epoch}
	}
	if err := p.follow(state(1, []int32{1, 2}, 0), 1, true); err != nil {
		t.Fatal(err)
	}
	p.followerFetched(2, 0, time.Now())
	for i := range 4 {
		res, err := l.Append(ackTestBatch(fmt.Sprint(i)), blog.AppendOptions{LeaderEpoch: 0})
		if err != nil {
			t.Fatal(err)
		}
		p.localAppended(res.LastOffset + 1)
	}
	p.followerFetched(2, 2, time.Now()) // node 2 has offsets 0 and 1
	if hw := p.highWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2", hw)
	}
	// Node 2 leads epoch 1 from offset 2; node 1 follows and truncates
	// the two records only it had.
	if err := p.follow(state(2, []int32{2}, 1), 1, true); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	// Node 2 is gone before node 1 copied anything; node 1 leads again,
	// alone in the ISR (an unclean election, say).
	if err := p.follow(state(1, []int32{1}, 2), 1, true); err != nil {
		t.Fatal(err)
	}
	if hw, end := p.highWatermark(), l.LogEndOffset(); hw != end {
		t.Errorf("high watermark %d with the log ending at %d", hw, end)
	}
}
