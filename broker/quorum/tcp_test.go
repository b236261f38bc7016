package quorum

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// controllerListener stands in for the broker's controller listener: it
// sniffs each connection's first four bytes and hands raft ones to the node.
type controllerListener struct {
	ln   net.Listener
	mu   sync.Mutex
	node *Node
	wg   sync.WaitGroup
}

func listen(t *testing.T) *controllerListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &controllerListener{ln: ln}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

func (l *controllerListener) setNode(n *Node) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.node = n
}

func (l *controllerListener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var b [4]byte
			if _, err := io.ReadFull(c, b[:]); err != nil || string(b[:]) != Preamble {
				c.Close() // a Kafka client, in the broker; not expected here
				return
			}
			l.mu.Lock()
			n := l.node
			l.mu.Unlock()
			if n == nil {
				c.Close()
				return
			}
			n.ServeConn(c) // the preamble is already consumed
		}()
	}
}

func TestTCPTransportThreeNodes(t *testing.T) {
	ids := []uint64{1, 2, 3}
	lns := map[uint64]*controllerListener{}
	voters := map[uint64]string{}
	for _, id := range ids {
		lns[id] = listen(t)
		voters[id] = lns[id].ln.Addr().String()
	}
	dirs := map[uint64]string{}
	nodes := map[uint64]*Node{}
	sms := map[uint64]*testSM{}
	start := func(id uint64) {
		sms[id] = &testSM{}
		n, err := Open(Config{
			NodeID: id, Voters: voters, Dir: dirs[id],
			TickInterval: 10 * time.Millisecond, ElectionTicks: 20, HeartbeatTicks: 2,
			Logger: testLogger(),
		}, sms[id])
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
		lns[id].setNode(n)
	}
	stop := func(id uint64) {
		lns[id].setNode(nil)
		if err := nodes[id].Close(); err != nil {
			t.Errorf("close %d: %v", id, err)
		}
		delete(nodes, id)
	}
	for _, id := range ids {
		dirs[id] = t.TempDir()
		start(id)
	}
	t.Cleanup(func() {
		for id := range nodes {
			stop(id)
		}
	})

	leader := func() *Node {
		var lead *Node
		eventually(t, "a ready leader over TCP", func() bool {
			for _, n := range nodes {
				if n.LeaderReady() {
					lead = n
					return true
				}
			}
			return false
		})
		return lead
	}
	propose := func(v string) uint64 {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			idx, err := leader().Propose(ctx, []byte(v))
			cancel()
			if err == nil {
				return idx
			}
			t.Logf("propose %s: %v (retrying)", v, err)
		}
	}
	converged := func(idx uint64) {
		eventually(t, fmt.Sprintf("convergence at %d", idx), func() bool {
			h := ""
			for id, n := range nodes {
				if n.Status().Applied < idx {
					return false
				}
				if h == "" {
					h = sms[id].hash()
				} else if h != sms[id].hash() {
					return false
				}
			}
			return true
		})
	}

	var idx uint64
	for i := range 20 {
		idx = propose(fmt.Sprintf("tcp-%d", i))
	}
	converged(idx)

	// Kill the leader: the other two elect one over TCP and writes resume;
	// back on the same address, the old leader catches up.
	var old uint64
	for id, n := range nodes {
		if n.LeaderReady() {
			old = id
		}
	}
	stop(old)
	for i := range 10 {
		idx = propose(fmt.Sprintf("tcp-b-%d", i))
	}
	start(old)
	converged(idx)
	if got := len(sms[old].values()); got != 30 {
		t.Errorf("restarted node holds %d values, want 30", got)
	}

	// Junk on the controller listener costs the sender its connection and
	// nothing else.
	for _, junk := range []string{
		Preamble + "\x7f\xff\xff\xff",    // a frame over MaxFrameSize
		Preamble + "\x00\x00\x00\x03abc", // not a raft message
		Preamble + "\x00\x00\x00\x00",    // an empty message: addressed to node 0
	} {
		c, err := net.Dial("tcp", voters[old])
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(junk))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after %q the node did not close the connection: %v", junk, err)
		}
		c.Close()
	}
	idx = propose("after-junk")
	converged(idx)
}
