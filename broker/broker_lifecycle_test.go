package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
	"github.com/gregorhq/gregor/broker/meta"
	"github.com/gregorhq/gregor/broker/quorum"
)

// leaderOnly is a metadataLog that only names a leader.
type leaderOnly struct{ leader atomic.Uint64 }

func (l *leaderOnly) Propose(context.Context, []byte) (uint64, error) { return 0, errors.New("no") }
func (l *leaderOnly) Barrier(context.Context) error                   { return nil }
func (l *leaderOnly) LeaderReady() bool                               { return false }
func (l *leaderOnly) Leader() uint64                                  { return l.leader.Load() }
func (l *leaderOnly) Status() quorum.Status                           { return quorum.Status{} }
func (l *leaderOnly) ServeConn(c net.Conn)                            { c.Close() }
func (l *leaderOnly) Close() error                                    { return nil }

// A heartbeat in flight to a controller that stops leading the quorum is
// given up at once, not at its timeout: the new controller's fresh session
// for this broker would run out first.
func TestControllerCallCtxEndsWhenTheControllerMoves(t *testing.T) {
	q := &leaderOnly{}
	q.leader.Store(3) // node 2
	b := &Broker{quorum: q}

	ctx, cancel := b.controllerCallCtx(time.Minute)
	defer cancel()
	select {
	case <-ctx.Done():
		t.Fatalf("canceled while the controller is the same: %v", context.Cause(ctx))
	case <-time.After(4 * controllerWatchInterval):
	}
	q.leader.Store(2) // node 1 takes over
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call outlived its controller's leadership")
	}
	if err := context.Cause(ctx); !errors.Is(err, errControllerMoved) {
		t.Fatalf("cause %v, want errControllerMoved", err)
	}

	// The timeout still bounds a call, and cancel ends the watch.
	ctx2, cancel2 := b.controllerCallCtx(50 * time.Millisecond)
	<-ctx2.Done()
	if !errors.Is(ctx2.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", ctx2.Err())
	}
	cancel2()
}

// A node of a cluster that has not heard from the active controller for
// half a session doubts its leadership, and a leader in doubt sends a
// client fetching past its log end to the metadata, not to its offset
// reset policy.
func TestLeadershipInDoubt(t *testing.T) {
	b := &Broker{}
	b.cfg.Cluster.SessionTimeout = 2 * time.Second
	b.cfg.Cluster.Voters = map[int32]string{1: "a:1", 2: "b:1", 3: "c:1"}
	b.lastControllerContact.Store(time.Now().UnixNano())
	if b.leadershipInDoubt() {
		t.Fatal("in doubt right after the controller answered")
	}
	b.lastControllerContact.Store(time.Now().Add(-1500 * time.Millisecond).UnixNano())
	if !b.leadershipInDoubt() {
		t.Fatal("not in doubt 1.5s after the controller last answered, with a 2s session")
	}
	b.cfg.Cluster.Voters = map[int32]string{1: "a:1"}
	if b.leadershipInDoubt() {
		t.Fatal("a single node in doubt")
	}

	for _, tc := range []struct {
		err     error
		inDoubt bool
		want    int16
	}{
		{blog.ErrOffsetOutOfRange, false, kerr.OffsetOutOfRange.Code},
		{fmt.Errorf("read: %w", blog.ErrOffsetOutOfRange), true, kerr.NotLeaderForPartition.Code},
		{blog.ErrStorage, true, kerr.KafkaStorageError.Code},
		{blog.ErrClosed, false, kerr.NotLeaderForPartition.Code},
	} {
		if got := clientFetchErrorCode(tc.err, tc.inDoubt); got != tc.want {
			t.Errorf("clientFetchErrorCode(%v, %v) = %v, want %v", tc.err, tc.inDoubt, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
}

// The last live broker of a cluster does not wait long for a controlled
// shutdown nobody can grant: with the rest of the cluster stopped there
// is no broker to take its leaderships and maybe no quorum to answer. It
// gives the controller a heartbeat interval. While another broker is live
// it waits for the controller's answer.
func TestControlledShutdownOfTheLastLiveBroker(t *testing.T) {
	b := &Broker{meta: meta.NewState(), lifecycleWake: make(chan struct{}, 1), shutdownAck: make(chan struct{}),
		logger: slog.New(slog.DiscardHandler)}
	b.cfg.NodeID = 1
	b.cfg.Cluster.Roles = []string{"broker", "controller"}
	b.cfg.Cluster.Voters = map[int32]string{1: "a:1", 2: "b:1", 3: "c:1"}
	b.cfg.Cluster.HeartbeatInterval = 100 * time.Millisecond
	b.brokerEpoch.Store(1)
	for _, id := range []int32{1, 2, 3} {
		for _, r := range []meta.Record{
			{Type: meta.RecordRegisterBroker, Broker: &meta.BrokerRegistration{ID: id}},
			{Type: meta.RecordUnfenceBroker, BrokerID: id},
		} {
			if err := b.meta.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	fence := func(id int32) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.meta.Apply(meta.Record{Type: meta.RecordFenceBroker, BrokerID: id}); err != nil {
			t.Fatal(err)
		}
	}
	fence(3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.controlledShutdown(time.Hour)
	}()
	select {
	case <-done:
		t.Fatal("stopped without the controller's answer while broker 2 was live")
	case <-time.After(500 * time.Millisecond): // several looks at the metadata
	}
	fence(2)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the last live broker still waits for its controlled shutdown")
	}
	if !b.shuttingDown.Load() {
		t.Fatal("heartbeats did not ask for the shutdown")
	}
}
