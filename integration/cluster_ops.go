package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stopTimeout bounds a SIGTERM shutdown before the node is killed.
const stopTimeout = 30 * time.Second

// Kill sends SIGKILL to the nodes ids (all of them first, then it waits for
// each to exit), as a crash would.
func (c *Cluster) Kill(ids ...int) {
	c.t.Helper()
	procs := c.procs(ids)
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	for i, p := range procs {
		p.Kill()
		c.setPaused(ids[i], false)
	}
}

// Stop sends SIGTERM to the nodes ids at once, a clean shutdown, and waits
// for each to exit; a node still running after 30s is killed and fails the
// test, as does a non-zero exit.
func (c *Cluster) Stop(ids ...int) {
	c.t.Helper()
	procs := c.procs(ids)
	errs := make(chan error, len(procs))
	for i, p := range procs {
		id := ids[i]
		paused := c.node(id).Paused()
		go func() {
			if paused {
				// A stopped process acts on SIGTERM only once it runs again.
				_ = p.cmd.Process.Signal(syscall.SIGCONT)
			}
			if err := p.Stop(stopTimeout); err != nil {
				errs <- fmt.Errorf("node %d: %w", id, err)
				return
			}
			errs <- nil
		}()
	}
	var all []error
	for range procs {
		all = append(all, <-errs)
	}
	for _, id := range ids {
		c.setPaused(id, false)
	}
	if err := errors.Join(all...); err != nil {
		c.fatalf("stop: %v", err)
	}
}

// Restart starts the nodes ids again, at once, with the same data
// directories, addresses and arguments, and waits for their ready lines. A
// node still running is stopped with SIGTERM first; for a crash, Kill it
// before.
func (c *Cluster) Restart(ids ...int) {
	c.t.Helper()
	var running []int
	for _, id := range ids {
		if c.node(id).Running() {
			running = append(running, id)
		}
	}
	if len(running) > 0 {
		c.Stop(running...)
	}
	c.start(ids...)
}

// Pause stops the nodes ids with SIGSTOP and waits until the kernel reports
// them stopped: they keep their sockets, accept TCP connections into the
// backlog and answer nothing, like a long GC pause or a frozen VM.
func (c *Cluster) Pause(ids ...int) {
	c.t.Helper()
	for i, p := range c.procs(ids) {
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			c.fatalf("pause node %d: %v", ids[i], err)
		}
		c.setPaused(ids[i], true)
		if err := waitState(p.Pid(), true); err != nil {
			c.fatalf("pause node %d: %v", ids[i], err)
		}
	}
}

// Resume continues paused nodes with SIGCONT.
func (c *Cluster) Resume(ids ...int) {
	c.t.Helper()
	for i, p := range c.procs(ids) {
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			c.fatalf("resume node %d: %v", ids[i], err)
		}
		if err := waitState(p.Pid(), false); err != nil {
			c.fatalf("resume node %d: %v", ids[i], err)
		}
		c.setPaused(ids[i], false)
	}
}

// waitState waits until pid is stopped (or no longer stopped), from the
// state letter in /proc/PID/stat ('T').
func waitState(pid int, stopped bool) error {
	for deadline := time.Now().Add(10 * time.Second); ; {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return fmt.Errorf("process %d: %w", pid, err)
		}
		// "PID (comm) S ...": comm may hold spaces and parentheses.
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			if (s[i+2] == 'T') == stopped {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d: state still %q", pid, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procs returns the current processes of nodes ids (all when ids is
// empty) or fails the test if one was never started.
func (c *Cluster) procs(ids []int) []*Process {
	c.t.Helper()
	if len(ids) == 0 {
		c.t.Fatal("cluster: no node IDs given")
	}
	out := make([]*Process, len(ids))
	for i, id := range ids {
		if out[i] = c.node(id).process(); out[i] == nil {
			c.t.Fatalf("cluster: node %d was never started", id)
		}
	}
	return out
}

func (c *Cluster) setPaused(id int, paused bool) {
	nd := c.node(id)
	nd.mu.Lock()
	nd.paused = paused
	nd.mu.Unlock()
}

// CanCut reports why links cannot be cut here (Loopback mode, no working
// iptables), or nil. Tests of network faults skip on it.
func (c *Cluster) CanCut() error {
	if c.net.mode != Netns {
		return errNoCuts
	}
	_, err := c.net.nsIptables(c.node(1).ns)
	return err
}

// Cut drops every packet between a and b, both ways (either may be
// Clients). Established connections hang, new ones time out. The test is
// skipped where links cannot be cut (see CanCut).
func (c *Cluster) Cut(a, b int) {
	c.t.Helper()
	c.cut(a, b)
	c.cut(b, a)
}

// CutOneWay drops every packet from `from` to `to` (either may be
// Clients); packets from `to` to `from` still arrive. Over TCP this still
// stops `from`'s connections to `to` (no handshake completes) and leaves
// connections that `to` opens to `from` one-sided.
func (c *Cluster) CutOneWay(from, to int) {
	c.t.Helper()
	c.cut(from, to)
}

// Isolate cuts node id off from every other node; clients still reach it
// (add Cut(id, Clients) for that too).
func (c *Cluster) Isolate(id int) {
	c.t.Helper()
	for _, o := range c.IDs() {
		if o != id {
			c.Cut(id, o)
		}
	}
}

// CutPort drops every TCP packet from node from to node to's port (such
// as NetnsClientPort), one way, and nothing else: CutPort(f, l,
// NetnsClientPort) stops f's replica fetches from l and its client
// requests to l while their controller traffic (NetnsControllerPort)
// flows. Both must be nodes; Heal removes it. The test is skipped where
// links cannot be cut (see CanCut).
func (c *Cluster) CutPort(from, to, port int) {
	c.t.Helper()
	if from == to || from == Clients || to == Clients {
		c.t.Fatalf("cluster: CutPort(%d, %d): want two different nodes", from, to)
	}
	c.node(from)
	c.node(to)
	if err := c.CanCut(); err != nil {
		c.t.Skipf("cluster: %v", err)
	}
	if err := c.net.dropPortFrom(from, to, port); err != nil {
		c.fatalf("cut %s -> %s port %d: %v", nodeName(from), nodeName(to), port, err)
	}
	c.t.Logf("cluster: cut %s -> %s port %d", nodeName(from), nodeName(to), port)
}

// CutLinkOneWay drops every TCP packet node from sends to node to on
// port's links (to's port, and from's port for the connections to opens
// to it), one way: CutLinkOneWay(a, b, NetnsControllerPort) stops the
// quorum's and the controller API's traffic from a to b and leaves every
// other link, and everything b sends to a, alone. Both must be nodes;
// Heal removes it. The test is skipped where links cannot be cut (see
// CanCut).
func (c *Cluster) CutLinkOneWay(from, to, port int) {
	c.t.Helper()
	if from == to || from == Clients || to == Clients {
		c.t.Fatalf("cluster: CutLinkOneWay(%d, %d): want two different nodes", from, to)
	}
	c.node(from)
	c.node(to)
	if err := c.CanCut(); err != nil {
		c.t.Skipf("cluster: %v", err)
	}
	if err := c.net.dropLinkFrom(from, to, port); err != nil {
		c.fatalf("cut %s -> %s on port %d's links: %v", nodeName(from), nodeName(to), port, err)
	}
	c.t.Logf("cluster: cut %s -> %s on port %d's links", nodeName(from), nodeName(to), port)
}

// CutLink cuts port's links between a and b both ways (CutLinkOneWay
// each way): CutLink(a, b, NetnsControllerPort) partitions the quorum
// between them while their replica fetches and clients flow.
func (c *Cluster) CutLink(a, b, port int) {
	c.t.Helper()
	c.CutLinkOneWay(a, b, port)
	c.CutLinkOneWay(b, a, port)
}

func (c *Cluster) cut(from, to int) {
	c.t.Helper()
	if from == to {
		c.t.Fatalf("cluster: cut %d from itself", from)
	}
	for _, id := range []int{from, to} {
		if id != Clients {
			c.node(id)
		}
	}
	if err := c.CanCut(); err != nil {
		c.t.Skipf("cluster: %v", err)
	}
	if err := c.net.dropFrom(from, to); err != nil {
		c.fatalf("cut %s -> %s: %v", nodeName(from), nodeName(to), err)
	}
	c.t.Logf("cluster: cut %s -> %s", nodeName(from), nodeName(to))
}

func nodeName(id int) string {
	if id == Clients {
		return "clients"
	}
	return fmt.Sprintf("node %d", id)
}

// Heal removes every cut and delay.
func (c *Cluster) Heal() {
	c.t.Helper()
	if err := c.net.heal(c.IDs()); err != nil {
		c.fatalf("heal: %v", err)
	}
	c.t.Logf("cluster: healed")
}

// CanDelay reports why Delay cannot work here (Loopback mode, or a kernel
// without the netem queueing discipline), or nil.
func (c *Cluster) CanDelay() error {
	if c.net.mode != Netns {
		return errors.New("delays need network namespaces (netns mode)")
	}
	return c.net.netemUsable(c.node(1).ns)
}

// Delay adds d of latency to every packet node id sends (tc netem on its
// interface, to nodes and clients alike) until Heal. The test is skipped
// where that cannot work (see CanDelay).
func (c *Cluster) Delay(id int, d time.Duration) {
	c.t.Helper()
	c.node(id)
	if err := c.CanDelay(); err != nil {
		c.t.Skipf("cluster: %v", err)
	}
	if err := c.net.delay(id, d); err != nil {
		c.fatalf("delay node %d: %v", id, err)
	}
	c.t.Logf("cluster: delay %v on everything node %d sends", d, id)
}

// DialFrom opens (and closes) a TCP connection to addr from node from's
// network namespace (Clients: the test's own), to check what a cut does.
// The error of a dropped link is a timeout.
func (c *Cluster) DialFrom(from int, addr string, timeout time.Duration) error {
	if from != Clients {
		c.node(from)
	}
	return c.net.dialFrom(from, addr, timeout)
}

// Exec runs a command in node id's network namespace (in Loopback mode, in
// the test's) and returns its combined output.
func (c *Cluster) Exec(id int, args ...string) (string, error) {
	nd := c.node(id)
	if nd.ns != "" {
		args = append([]string{"ip", "netns", "exec", nd.ns}, args...)
	}
	return cmdOutput(args...)
}

// WaitReady waits until each of the nodes ids (all running, unpaused nodes
// when none are given) answers a Metadata request on its client address.
func (c *Cluster) WaitReady(ids ...int) {
	c.t.Helper()
	if len(ids) == 0 {
		for _, nd := range c.allNodes() {
			if nd.Running() && !nd.Paused() {
				ids = append(ids, nd.id)
			}
		}
	}
	for _, id := range ids {
		addr := c.node(id).Addr()
		c.WaitFor(fmt.Sprintf("node %d answers Metadata", id), func(ctx context.Context) error {
			_, err := metadataFrom(ctx, addr)
			return err
		})
	}
}

// metadataFrom sends a Metadata request for topics (none if empty) to
// addr alone.
func metadataFrom(ctx context.Context, addr string, topics ...string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return nil, fmt.Errorf("client for %s has %d seed brokers", addr, len(seeds))
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := seeds[0].Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", addr, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// Metadata asks node id alone for the cluster's metadata: brokers, the
// controller, and topics (none if not given).
func (c *Cluster) Metadata(ctx context.Context, id int, topics ...string) (*kmsg.MetadataResponse, error) {
	return metadataFrom(ctx, c.node(id).Addr(), topics...)
}

// anyMetadata asks the nodes in turn (running, not paused) until one
// answers.
func (c *Cluster) anyMetadata(ctx context.Context, topics ...string) (*kmsg.MetadataResponse, error) {
	var errs []error
	for _, nd := range c.allNodes() {
		if !nd.Running() || nd.Paused() {
			continue
		}
		m, err := metadataFrom(ctx, nd.Addr(), topics...)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no node answered: %w", errors.Join(errs...))
}

// ActiveController is the controller ID the first answering node (running,
// not paused) reports in its Metadata.
func (c *Cluster) ActiveController(ctx context.Context) (int32, error) {
	m, err := c.anyMetadata(ctx)
	if err != nil {
		return -1, err
	}
	return m.ControllerID, nil
}

// PartitionLeader is the leader of topic's partition as the first
// answering node reports it (-1: none, the partition is offline).
func (c *Cluster) PartitionLeader(ctx context.Context, topic string, partition int32) (int32, error) {
	m, err := c.anyMetadata(ctx, topic)
	if err != nil {
		return -1, err
	}
	for _, t := range m.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return -1, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.Leader, nil
			}
		}
	}
	return -1, fmt.Errorf("metadata has no partition %s/%d", topic, partition)
}

// WaitFor calls check until it returns nil, every 100ms for the cluster's
// wait timeout (WithTimeouts), each call with a context bounded by that
// timeout; then it dumps the nodes' output and fails the test with what
// check said last.
func (c *Cluster) WaitFor(what string, check func(ctx context.Context) error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.waitTimeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			c.fatalf("waiting %v for %s: %v", c.cfg.waitTimeout, what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client returns a franz-go client seeded with every node, closed when the
// test ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, opts...)...)
	if err != nil {
		c.t.Fatalf("cluster: new client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Dump logs every node's state, command line and output.
func (c *Cluster) Dump() {
	c.t.Helper()
	for _, nd := range c.allNodes() {
		state := "never started"
		if p := nd.process(); p != nil {
			state = fmt.Sprintf("pid %d, exited", p.Pid())
			if nd.Running() {
				state = fmt.Sprintf("pid %d, running", p.Pid())
			}
			if nd.Paused() {
				state += ", paused"
			}
		}
		c.t.Logf("=== node %d (%s, %s)\n$ %s\n%s", nd.id, nd.Addr(), state, c.commandLine(nd.id), nd.Output())
	}
}

// fatalf fails the test; the cleanup dumps the nodes' output.
func (c *Cluster) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("cluster: "+format, args...)
}
