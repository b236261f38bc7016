package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests check the Cluster harness itself. They hold whether the
// binary runs its nodes as one cluster or, before clustering, as
// independent single-node brokers: every check goes through one node at a
// time.

// newTestCluster starts a cluster of the binary under test.
func newTestCluster(t *testing.T, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	return NewCluster(t, n, append([]ClusterOption{WithBinary(gregorBin)}, opts...)...)
}

// roundTrip creates topic through node id, produces n values and reads
// them back through the same node.
func roundTrip(t *testing.T, c *Cluster, id int, topic string, n int) {
	t.Helper()
	addr := c.Node(id).Addr()
	createTopic(t, addr, topic, 1, nil)
	cl := newClient(t, addr)
	ctx := testCtx(t, 30*time.Second)
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", topic, i)}).FirstErr(); err != nil {
			t.Fatalf("node %d: produce: %v", id, err)
		}
	}
	cl.Close()
	checkNodeRecords(t, c, id, topic, n)
}

// checkNodeRecords reads topic's n values through node id.
func checkNodeRecords(t *testing.T, c *Cluster, id int, topic string, n int) {
	t.Helper()
	recs := consumeAll(t, testCtx(t, 30*time.Second), c.Node(id).Addr(), topic, 0, n)
	for i, r := range recs {
		if want := fmt.Sprintf("%s-%d", topic, i); string(r.Value) != want {
			t.Fatalf("node %d: record %d is %q, want %q", id, i, r.Value, want)
		}
	}
}

func TestClusterHarnessProcesses(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3, WithSetting("group.initial.rebalance.delay.ms", "0"))
	c.WaitReady()
	if len(c.Seeds()) != 3 {
		t.Fatalf("seeds %v", c.Seeds())
	}
	topics := map[int]string{}
	for _, id := range c.IDs() {
		nd := c.Node(id)
		checkNodeProcess(t, c, nd)
		checkNodeID(t, c, id)
		topics[id] = uniqueTopic(fmt.Sprintf("harness-node%d", id))
		roundTrip(t, c, id, topics[id], 10)
	}
	// PartitionLeader asks the first node that answers: node 1, which
	// knows its own topic whether or not the nodes form one cluster.
	if leader, err := c.PartitionLeader(t.Context(), topics[1], 0); err != nil || leader < 1 {
		t.Errorf("leader of %s/0: %d, %v", topics[1], leader, err)
	}

	// The CLI against a node.
	out, err := exec.Command(gregorBin, "--brokers", c.Node(1).Addr(), "cluster", "describe", "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("gregor cluster describe: %v\n%s", err, out)
	}
	var desc struct {
		Brokers []struct{ ID int } `json:"brokers"`
	}
	if err := json.Unmarshal(out, &desc); err != nil || !slices.ContainsFunc(desc.Brokers, func(b struct{ ID int }) bool { return b.ID == 1 }) {
		t.Errorf("gregor cluster describe on node 1 (%v) does not list broker 1:\n%s", err, out)
	}

	// kill -9 and restart: the same address, the data still there.
	oldPid := c.Node(2).Pid()
	c.Kill(2)
	if c.Node(2).Running() {
		t.Fatal("node 2 runs after Kill")
	}
	if err := c.DialFrom(Clients, c.Node(2).Addr(), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a killed node: %v, want connection refused", err)
	}
	c.Restart(2)
	if c.Node(2).Pid() == oldPid {
		t.Fatal("node 2 has its old pid after Restart")
	}
	checkNodeProcess(t, c, c.Node(2))
	checkNodeRecords(t, c, 2, topics[2], 10)
	if out := c.Node(2).Output(); strings.Count(out, " ready on ") != 2 || !strings.Contains(out, "incarnation 1 ended") {
		t.Errorf("node 2 output does not hold both incarnations:\n%s", out)
	}

	// SIGSTOP: the node answers nothing until SIGCONT.
	c.Pause(3)
	if !c.Node(3).Paused() {
		t.Fatal("node 3 not paused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = c.Metadata(ctx, 3)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("metadata from a paused node: %v, want no answer (deadline exceeded)", err)
	}
	c.Resume(3)
	c.WaitReady(3)
	checkNodeRecords(t, c, 3, topics[3], 10)

	// SIGTERM of a paused node still shuts it down cleanly.
	c.Pause(1)
	c.Stop(1)
	if c.Node(1).Running() {
		t.Fatal("node 1 runs after Stop")
	}
	c.Restart(1)
	c.WaitReady()
	checkNodeRecords(t, c, 1, topics[1], 10)

	// Restart of a running node stops it first; several restart at once.
	c.Restart(1, 3)
	c.WaitReady()
	for _, id := range c.IDs() {
		checkNodeRecords(t, c, id, topics[id], 10)
	}
	if _, err := c.ActiveController(t.Context()); err != nil {
		t.Errorf("active controller: %v", err)
	}

	// A broker added later: the next ID, broker only, serving.
	nd := c.AddBroker("broker.rack=r4")
	if nd.ID() != 4 || c.N() != 4 || len(c.Seeds()) != 4 || nd.ControllerAddr() != "" {
		t.Fatalf("added node %d (controller %q), cluster has %d nodes, seeds %v", nd.ID(), nd.ControllerAddr(), c.N(), c.Seeds())
	}
	if !slices.Contains(nd.Args(), "process.roles=broker") || !slices.Contains(nd.Args(), "broker.rack=r4") {
		t.Errorf("added broker's arguments: %q", nd.Args())
	}
	checkNodeProcess(t, c, nd)
	checkNodeID(t, c, 4)
	roundTrip(t, c, 4, uniqueTopic("harness-node4"), 5)
}

// checkNodeID checks that node id reports itself as broker id: the
// node.id setting reached it.
func checkNodeID(t *testing.T, c *Cluster, id int) {
	t.Helper()
	m, err := c.Metadata(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Brokers {
		if int(b.NodeID) == id && b.Host == c.Node(id).Host() {
			return
		}
	}
	t.Errorf("node %d: metadata brokers %+v lack broker %d at %s", id, m.Brokers, id, c.Node(id).Host())
}

// checkNodeProcess checks that the node's pid is the broker itself and, in
// netns mode, that it lives in the node's network namespace.
func checkNodeProcess(t *testing.T, c *Cluster, nd *Node) {
	t.Helper()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", nd.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(gregorBin); strings.TrimSpace(string(comm)) != want[:min(len(want), 15)] {
		t.Errorf("node %d: pid %d is %q, not the broker", nd.ID(), nd.Pid(), comm)
	}
	if c.Mode() != Netns {
		return
	}
	var procNS, named syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", nd.Pid()), &procNS); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join("/run/netns", nd.Namespace()), &named); err != nil {
		t.Fatal(err)
	}
	if procNS.Ino != named.Ino || procNS.Dev != named.Dev {
		t.Errorf("node %d: pid %d is not in namespace %s", nd.ID(), nd.Pid(), nd.Namespace())
	}
}

func TestClusterHarnessCuts(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, 3)
	if err := c.CanCut(); err != nil {
		t.Skip(err)
	}
	// reach checks TCP from one node to another's controller port (to: a
	// node) or to a listener in the test's namespace (to: Clients).
	clientLn, err := net.Listen("tcp", net.JoinHostPort(c.net.host(Clients), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer clientLn.Close()
	go func() {
		for {
			conn, err := clientLn.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	reach := func(from, to int) error {
		addr := clientLn.Addr().String()
		if to != Clients {
			addr = c.Node(to).ControllerAddr()
		}
		return c.DialFrom(from, addr, time.Second)
	}
	// want dials every link at once and checks which connect.
	want := func(what string, open map[[2]int]bool) {
		t.Helper()
		var links [][2]int
		for _, from := range append(c.IDs(), Clients) {
			for _, to := range append(c.IDs(), Clients) {
				if from != to {
					links = append(links, [2]int{from, to})
				}
			}
		}
		errs := make([]error, len(links))
		var wg sync.WaitGroup
		for i, l := range links {
			wg.Go(func() { errs[i] = reach(l[0], l[1]) })
		}
		wg.Wait()
		for i, l := range links {
			from, to, err := l[0], l[1], errs[i]
			var ne net.Error
			switch cut := !open[l]; {
			case !cut && err != nil:
				t.Errorf("%s: %s -> %s: %v, want a connection", what, nodeName(from), nodeName(to), err)
			case cut && err == nil:
				t.Errorf("%s: %s -> %s connects, want a cut", what, nodeName(from), nodeName(to))
			case cut && !(errors.As(err, &ne) && ne.Timeout()):
				t.Errorf("%s: %s -> %s: %v, want a timeout (dropped packets)", what, nodeName(from), nodeName(to), err)
			}
		}
	}
	// allBut lists every link but those given, for want.
	allBut := func(cut ...[2]int) map[[2]int]bool {
		m := map[[2]int]bool{}
		for _, a := range append(c.IDs(), Clients) {
			for _, b := range append(c.IDs(), Clients) {
				m[[2]int{a, b}] = true
			}
		}
		for _, l := range cut {
			delete(m, l)
		}
		return m
	}
	want("before", allBut())

	c.Cut(1, 2)
	want("cut 1-2", allBut([2]int{1, 2}, [2]int{2, 1}))
	c.Heal()
	want("healed", allBut())

	// One-way: over TCP both directions fail (no handshake completes), so
	// prove the direction with UDP datagrams.
	c.CutOneWay(1, 2)
	want("cut 1->2", allBut([2]int{1, 2}, [2]int{2, 1}))
	if udpArrives(t, c, 1, 2) || !udpArrives(t, c, 2, 1) {
		t.Errorf("cut 1->2: datagrams 1->2 arrive %v, 2->1 arrive %v; want false, true", udpArrives(t, c, 1, 2), udpArrives(t, c, 2, 1))
	}
	c.Heal()
	if !udpArrives(t, c, 1, 2) {
		t.Error("healed: datagrams 1->2 do not arrive")
	}

	c.Isolate(2)
	want("isolate 2", allBut([2]int{1, 2}, [2]int{2, 1}, [2]int{3, 2}, [2]int{2, 3}))
	c.Cut(2, Clients)
	want("isolate 2 from all", allBut([2]int{1, 2}, [2]int{2, 1}, [2]int{3, 2}, [2]int{2, 3}, [2]int{2, Clients}, [2]int{Clients, 2}))
	c.Heal()
	want("healed", allBut())

	// The brokers themselves: a client cut off from node 3 gets no answer.
	c.Cut(3, Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = c.Metadata(ctx, 3)
	cancel()
	if err == nil {
		t.Error("metadata from node 3 cut off from the clients: answered")
	}
	c.Heal()
	c.WaitReady(3)

	if err := c.CanDelay(); err != nil {
		t.Logf("not testing Delay: %v", err)
		return
	}
	c.Delay(1, 50*time.Millisecond)
	if out, err := c.Exec(1, "tc", "qdisc", "show", "dev", "eth0"); err != nil || !strings.Contains(out, "delay 50ms") {
		t.Errorf("delay: qdisc %q, %v", out, err)
	}
	if err := reach(Clients, 1); err != nil {
		t.Errorf("delayed node 1: %v", err)
	}
	c.Heal()
	if out, err := c.Exec(1, "tc", "qdisc", "show", "dev", "eth0"); err != nil || strings.Contains(out, "netem") {
		t.Errorf("healed delay: qdisc %q, %v", out, err)
	}
}

// udpArrives sends a datagram from node from's namespace to a socket in
// node to's and reports whether it arrived within a second.
func udpArrives(t *testing.T, c *Cluster, from, to int) bool {
	t.Helper()
	var pc net.PacketConn
	if err := inNetns(c.Node(to).Namespace(), func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(c.Node(to).Host(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := inNetns(c.Node(from).Namespace(), func() error {
		conn, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte("ping"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 16)
	n, _, err := pc.ReadFrom(buf)
	return err == nil && string(buf[:n]) == "ping"
}
