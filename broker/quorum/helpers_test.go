package quorum

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// testLogger discards logs unless QUORUM_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("QUORUM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var errApply = errors.New("test: apply refused")

// testSM records every applied payload; Apply refuses the payload "fail".
type testSM struct {
	mu       sync.Mutex
	vals     []string
	idx      []uint64
	restores int
}

func (s *testSM) Apply(index uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(data) == "fail" {
		return errApply
	}
	if n := len(s.idx); n > 0 && index <= s.idx[n-1] {
		return fmt.Errorf("test: index %d applied after %d", index, s.idx[n-1])
	}
	s.vals = append(s.vals, string(data))
	s.idx = append(s.idx, index)
	return nil
}

func (s *testSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for i, v := range s.vals {
		b = binary.BigEndian.AppendUint64(b, s.idx[i])
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b, nil
}

func (s *testSM) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restores++
	s.vals, s.idx = nil, nil
	for len(b) > 0 {
		if len(b) < 12 {
			return errors.New("test: short snapshot")
		}
		i, l := binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		if uint32(len(b)) < l {
			return errors.New("test: short snapshot value")
		}
		s.vals = append(s.vals, string(b[:l]))
		s.idx = append(s.idx, i)
		b = b[l:]
	}
	return nil
}

func (s *testSM) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vals)
}

func (s *testSM) restoreCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

// hash identifies the applied state (values and their indexes).
func (s *testSM) hash() string {
	b, _ := s.Snapshot()
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// simNet is an in-process network between nodes. Each directed link has a
// FIFO queue served by one goroutine; links can be cut (one way or both),
// delayed, and made to drop a share of messages.
type simNet struct {
	mu    sync.Mutex
	nodes map[uint64]*Node
	links map[[2]uint64]*simLink
	cut   map[[2]uint64]bool
	delay map[[2]uint64]time.Duration
	drop  float64
	stop  chan struct{}
	wg    sync.WaitGroup
}

type simLink struct{ q chan simMsg }

// simMsg is a message in flight and when it may arrive.
type simMsg struct {
	m  *raftpb.Message
	at time.Time
}

func newSimNet(t *testing.T) *simNet {
	s := &simNet{
		nodes: map[uint64]*Node{},
		links: map[[2]uint64]*simLink{},
		cut:   map[[2]uint64]bool{},
		delay: map[[2]uint64]time.Duration{},
		stop:  make(chan struct{}),
	}
	t.Cleanup(func() { close(s.stop); s.wg.Wait() })
	return s
}

func (s *simNet) register(id uint64, n *Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[id] = n
}

func (s *simNet) node(id uint64) *Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[id]
}

// setCut cuts (or restores) the link from -> to.
func (s *simNet) setCut(from, to uint64, cut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut[[2]uint64{from, to}] = cut
}

// isolate cuts (or restores) every link to and from id.
func (s *simNet) isolate(id uint64, ids []uint64, cut bool) {
	for _, o := range ids {
		if o != id {
			s.setCut(id, o, cut)
			s.setCut(o, id, cut)
		}
	}
}

func (s *simNet) setDelay(from, to uint64, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[[2]uint64{from, to}] = d
}

func (s *simNet) setDrop(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = p
}

// blocked reports whether a message on the link is lost now.
func (s *simNet) blocked(k [2]uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut[k] || (s.drop > 0 && rand.Float64() < s.drop)
}

func (s *simNet) endpoint(id uint64) Transport { return &simEndpoint{s: s, id: id} }

type simEndpoint struct {
	s  *simNet
	id uint64
}

func (e *simEndpoint) Send(msgs []*raftpb.Message) {
	s := e.s
	for _, m := range msgs {
		k := [2]uint64{e.id, m.GetTo()}
		s.mu.Lock()
		at := time.Now().Add(s.delay[k])
		l := s.links[k]
		if l == nil {
			l = &simLink{q: make(chan simMsg, 4096)}
			s.links[k] = l
			s.wg.Add(1)
			go s.serve(k, l)
		}
		s.mu.Unlock()
		select {
		case l.q <- simMsg{m, at}:
		default: // full: lost, like a TCP transport's full queue
			if m.GetType() == raftpb.MsgSnap {
				s.wg.Add(1)
				go func() { defer s.wg.Done(); s.report(k, false) }()
			}
		}
	}
}

func (e *simEndpoint) Close() error { return nil }

func (s *simNet) serve(k [2]uint64, l *simLink) {
	defer s.wg.Done()
	for {
		var sm simMsg
		select {
		case sm = <-l.q:
		case <-s.stop:
			return
		}
		m := sm.m
		if d := time.Until(sm.at); d > 0 {
			select {
			case <-time.After(d):
			case <-s.stop:
				return
			}
		}
		ok := false
		if dst := s.node(k[1]); dst != nil && !s.blocked(k) {
			ok = dst.Step(context.Background(), m) == nil
		}
		if m.GetType() == raftpb.MsgSnap {
			s.report(k, ok)
		}
	}
}

func (s *simNet) report(k [2]uint64, ok bool) {
	if src := s.node(k[0]); src != nil {
		src.ReportSnapshot(k[1], ok)
	}
}

// cluster runs voters 1..n over a simNet, each with its own Dir.
type cluster struct {
	t      *testing.T
	net    *simNet
	ids    []uint64
	dirs   map[uint64]string
	nodes  map[uint64]*Node
	sms    map[uint64]*testSM
	leads  map[uint64][]bool // OnLeadership calls per node
	mu     sync.Mutex
	modify func(*Config)
}

func newCluster(t *testing.T, size int, modify func(*Config)) *cluster {
	c := &cluster{
		t: t, net: newSimNet(t), dirs: map[uint64]string{}, nodes: map[uint64]*Node{},
		sms: map[uint64]*testSM{}, leads: map[uint64][]bool{}, modify: modify,
	}
	for i := 1; i <= size; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.dirs[id] = t.TempDir()
	}
	t.Cleanup(func() {
		for _, id := range c.ids {
			c.stop(id)
		}
	})
	for _, id := range c.ids {
		c.start(id)
	}
	return c
}

func (c *cluster) config(id uint64) Config {
	voters := map[uint64]string{}
	for _, v := range c.ids {
		voters[v] = fmt.Sprintf("sim-%d", v)
	}
	cfg := Config{
		NodeID:         id,
		Voters:         voters,
		Dir:            c.dirs[id],
		TickInterval:   10 * time.Millisecond,
		ElectionTicks:  20,
		HeartbeatTicks: 2,
		Transport:      c.net.endpoint(id),
		Logger:         testLogger(),
		OnLeadership: func(active bool, term uint64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.leads[id] = append(c.leads[id], active)
		},
	}
	if c.modify != nil {
		c.modify(&cfg)
	}
	return cfg
}

// start opens node id from its Dir with a fresh state machine.
func (c *cluster) start(id uint64) {
	c.t.Helper()
	sm := &testSM{}
	n, err := Open(c.config(id), sm)
	if err != nil {
		c.t.Fatalf("open node %d: %v", id, err)
	}
	c.nodes[id], c.sms[id] = n, sm
	c.net.register(id, n)
}

func (c *cluster) stop(id uint64) {
	if n := c.nodes[id]; n != nil {
		c.net.register(id, nil)
		if err := n.Close(); err != nil {
			c.t.Errorf("close node %d: %v", id, err)
		}
		delete(c.nodes, id)
	}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until exactly one of the given running nodes is the ready
// leader and returns it.
func (c *cluster) leader(among ...uint64) uint64 {
	c.t.Helper()
	if len(among) == 0 {
		among = c.ids
	}
	var lead uint64
	eventually(c.t, "a ready leader", func() bool {
		lead = 0
		for _, id := range among {
			if n := c.nodes[id]; n != nil && n.LeaderReady() {
				if lead != 0 {
					return false
				}
				lead = id
			}
		}
		return lead != 0
	})
	return lead
}

// propose proposes on whichever node (of among, or of all) is the ready
// leader, retrying while leadership moves.
func (c *cluster) propose(val string, among ...uint64) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		lead := c.leader(among...)
		// Generous: a deposed leader learns its entry was dropped only when
		// the new leader's entry reaches it.
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		idx, err := c.nodes[lead].Propose(pctx, []byte(val))
		pcancel()
		if err == nil {
			return idx
		}
		if ctx.Err() != nil {
			c.t.Fatalf("propose %q: %v", val, err)
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrProposalDropped) {
			c.t.Fatalf("propose %q: %v", val, err)
		}
	}
}

// converged waits until the given nodes have applied at least index and hold
// the same state.
func (c *cluster) converged(index uint64, ids ...uint64) {
	c.t.Helper()
	if len(ids) == 0 {
		ids = c.ids
	}
	eventually(c.t, fmt.Sprintf("nodes %v to converge at index %d", ids, index), func() bool {
		var h string
		for i, id := range ids {
			if c.nodes[id].Status().Applied < index {
				return false
			}
			if i == 0 {
				h = c.sms[id].hash()
			} else if c.sms[id].hash() != h {
				return false
			}
		}
		return true
	})
}
