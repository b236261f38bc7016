package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clients stands for the test process (and the clients it runs) where a
// Cluster method takes a node ID: Cut(2, Clients) cuts node 2 off from the
// clients. Node IDs start at 1.
const Clients = 0

// Ports every node listens on in Netns mode, where each has its own address.
const (
	NetnsClientPort     = 9092
	NetnsControllerPort = 9093
)

// Cluster is N real `gregor broker` processes started as one KRaft-style
// cluster in combined mode (every node a broker and a controller), each on
// its own address, with its own data directory under t.TempDir(). Nodes are
// numbered by node.id, 1..N. See the package doc for the network modes.
//
// Methods that change the cluster (Kill, Pause, Restart, Cut, ...) fail the
// test with t.Fatalf when they cannot do what they say: call them from the
// test goroutine and run load in others. Everything is torn down when the
// test ends, and every node's output is logged if it failed.
type Cluster struct {
	t      testing.TB
	cfg    clusterConfig
	net    *clusterNet
	base   string // the directory under which node data directories are made
	voters string // controller.quorum.voters

	mu    sync.Mutex // guards nodes (AddBroker appends)
	nodes []*Node
}

// Node is one broker process of a Cluster; its address, ports and data
// directory stay the same across restarts.
type Node struct {
	id       int
	ns       string // network namespace, "" in Loopback mode
	host     string
	port     int
	ctrlPort int // 0 if the node is not a controller
	dataDir  string
	args     []string // broker arguments

	mu      sync.Mutex
	proc    *Process // nil before the first start
	paused  bool
	earlier []string // output of earlier incarnations
}

// ClusterOption configures NewCluster.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	bin          string
	mode         *NetMode
	settings     []string
	nodeSettings map[int][]string
	flags        []string
	dataDirs     map[int]string
	voters       []int
	startTimeout time.Duration
	waitTimeout  time.Duration
}

// WithBinary runs bin (default: $GREGOR_BIN).
func WithBinary(bin string) ClusterOption { return func(c *clusterConfig) { c.bin = bin } }

// WithSetting passes --set key=value to every node, after the cluster
// settings the harness derives (so it can override them).
func WithSetting(key, value string) ClusterOption {
	return func(c *clusterConfig) { c.settings = append(c.settings, key+"="+value) }
}

// WithNodeSetting passes --set key=value to node id only, after every
// other setting.
func WithNodeSetting(id int, key, value string) ClusterOption {
	return func(c *clusterConfig) { c.nodeSettings[id] = append(c.nodeSettings[id], key+"="+value) }
}

// WithFlags passes extra broker flags (such as "--flush", "durable") to
// every node.
func WithFlags(flags ...string) ClusterOption {
	return func(c *clusterConfig) { c.flags = append(c.flags, flags...) }
}

// WithDataDir gives node id an existing data directory instead of a fresh
// one (t.TempDir()/node-ID).
func WithDataDir(id int, dir string) ClusterOption {
	return func(c *clusterConfig) { c.dataDirs[id] = dir }
}

// WithVoters makes only the nodes ids controllers (the quorum); the others
// run with process.roles=broker and no CONTROLLER listener. Default: all.
func WithVoters(ids ...int) ClusterOption {
	return func(c *clusterConfig) { c.voters = ids }
}

// WithNetMode forces a network mode instead of choosing Netns where it
// works (the environment variable GREGOR_CLUSTER_NET=loopback|netns does the
// same for a whole run).
func WithNetMode(m NetMode) ClusterOption { return func(c *clusterConfig) { c.mode = &m } }

// WithTimeouts sets how long a node may take to print its ready line
// (default 60s) and how long WaitReady and WaitFor wait (default 60s).
func WithTimeouts(start, wait time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.startTimeout, c.waitTimeout = start, wait }
}

// NewCluster starts an n-node cluster and waits until every node has
// printed its ready line. The nodes start at once: a node of a quorum may
// not be ready before the others run.
func NewCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	cfg := clusterConfig{
		bin:          os.Getenv("GREGOR_BIN"),
		nodeSettings: map[int][]string{},
		dataDirs:     map[int]string{},
		startTimeout: 60 * time.Second,
		waitTimeout:  60 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.bin == "" {
		t.Fatal("NewCluster: no gregor binary: set GREGOR_BIN or use WithBinary")
	}
	if n < 1 || n >= clientHostSuffix {
		t.Fatalf("NewCluster: %d nodes: want 1 to %d", n, clientHostSuffix-1)
	}
	if cfg.voters == nil {
		for id := 1; id <= n; id++ {
			cfg.voters = append(cfg.voters, id)
		}
	}
	mode, why := chooseMode(cfg.mode)
	if mode != Netns && (cfg.mode != nil && *cfg.mode == Netns || cfg.mode == nil && os.Getenv(netModeEnv) == "netns") {
		t.Fatalf("NewCluster: netns mode asked for but unusable: %s", why)
	}
	// t.TempDir before the cleanups below: removed after the kills.
	c := &Cluster{t: t, cfg: cfg, base: t.TempDir()}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	cn, err := newClusterNet(mode)
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	c.net = cn
	t.Cleanup(func() {
		if err := cn.teardown(); err != nil {
			t.Errorf("cluster network teardown: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.Dump()
		}
		for _, nd := range c.allNodes() {
			if p := nd.process(); p != nil {
				p.Kill()
			}
		}
	})
	if err := cn.setup(ids); err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	if err := c.makeNodes(ids); err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	if why != "" {
		why = " (" + why + ")"
	}
	t.Logf("cluster: %d nodes in %s mode%s, slot %d, seeds %s", n, mode, why, cn.slot, strings.Join(c.Seeds(), ","))
	c.start(ids...)
	return c
}

// chooseMode picks Netns where it works unless told otherwise, and says
// why it did not.
func chooseMode(forced *NetMode) (NetMode, string) {
	env := os.Getenv(netModeEnv)
	if forced == nil && env == "loopback" {
		return Loopback, netModeEnv + "=loopback"
	}
	if forced != nil && *forced == Loopback {
		return Loopback, ""
	}
	if err := netnsUsable(); err != nil {
		return Loopback, "network namespaces unusable: " + err.Error()
	}
	return Netns, ""
}

// makeNodes fixes the addresses and arguments of the first nodes ids.
func (c *Cluster) makeNodes(ids []int) error {
	isVoter := map[int]bool{}
	for _, id := range c.cfg.voters {
		isVoter[id] = true
	}
	var nodes []*Node
	var voters []string
	for _, id := range ids {
		nd, err := c.newNode(id, isVoter[id])
		if err != nil {
			return err
		}
		if isVoter[id] {
			voters = append(voters, fmt.Sprintf("%d@%s", id, nd.ControllerAddr()))
		}
		nodes = append(nodes, nd)
	}
	c.voters = strings.Join(voters, ",")
	for _, nd := range nodes {
		c.setArgs(nd)
	}
	c.mu.Lock()
	c.nodes = nodes
	c.mu.Unlock()
	return nil
}

// newNode fixes node id's addresses and data directory.
func (c *Cluster) newNode(id int, voter bool) (*Node, error) {
	nd := &Node{id: id, host: c.net.host(id), dataDir: c.cfg.dataDirs[id]}
	if nd.dataDir == "" {
		nd.dataDir = filepath.Join(c.base, fmt.Sprintf("node-%d", id))
		if err := os.Mkdir(nd.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("node %d: %w", id, err)
		}
	}
	if c.net.mode == Netns {
		nd.ns = c.net.nsName(id)
		nd.port = NetnsClientPort
		if voter {
			nd.ctrlPort = NetnsControllerPort
		}
		return nd, nil
	}
	var err error
	if nd.port, err = freePort(nd.host); err != nil {
		return nil, err
	}
	if voter {
		if nd.ctrlPort, err = freePort(nd.host); err != nil {
			return nil, err
		}
	}
	return nd, nil
}

// setArgs fixes nd's broker arguments: its listeners, the cluster
// settings, then the options' settings, node settings and flags.
func (c *Cluster) setArgs(nd *Node, extra ...string) {
	listeners, roles := "PLAINTEXT://"+nd.Addr(), "broker"
	if nd.ctrlPort != 0 {
		listeners += ",CONTROLLER://" + nd.ControllerAddr()
		roles = "broker,controller"
	}
	sets := []string{
		"node.id=" + strconv.Itoa(nd.id),
		"process.roles=" + roles,
		"controller.listener.names=CONTROLLER",
		"controller.quorum.voters=" + c.voters,
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
	}
	sets = append(sets, c.cfg.settings...)
	sets = append(sets, c.cfg.nodeSettings[nd.id]...)
	sets = append(sets, extra...)
	nd.args = []string{"broker", "--data-dir", nd.dataDir, "--listen", listeners}
	for _, s := range sets {
		nd.args = append(nd.args, "--set", s)
	}
	nd.args = append(nd.args, c.cfg.flags...)
}

// AddBroker starts one more node, with the next ID, as a broker only
// (process.roles=broker; it joins the existing quorum, not a voter), with
// WithNodeSetting settings for its ID and then settings ("key=value"), and
// waits for its ready line. This is how a cluster grows.
func (c *Cluster) AddBroker(settings ...string) *Node {
	c.t.Helper()
	c.mu.Lock()
	id := len(c.nodes) + 1
	c.mu.Unlock()
	if id >= clientHostSuffix {
		c.t.Fatalf("cluster: no room for node %d", id)
	}
	if err := c.net.addNode(id); err != nil {
		c.fatalf("add node %d: %v", id, err)
	}
	nd, err := c.newNode(id, false)
	if err != nil {
		c.fatalf("add node %d: %v", id, err)
	}
	c.setArgs(nd, settings...)
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	c.t.Logf("cluster: adding broker %d at %s", id, nd.Addr())
	c.start(id)
	return nd
}

// start starts nodes ids at once and waits for all their ready lines.
func (c *Cluster) start(ids ...int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.startTimeout)
	defer cancel()
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		nd := c.node(id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, args := c.cfg.bin, nd.args
			if nd.ns != "" {
				name, args = "ip", append([]string{"netns", "exec", nd.ns, c.cfg.bin}, nd.args...)
			}
			p, err := Start(ctx, name, args...)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", id, err)
				return
			}
			nd.mu.Lock()
			if nd.proc != nil {
				nd.earlier = append(nd.earlier, nd.proc.Output())
			}
			nd.proc, nd.paused = p, false
			nd.mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("cluster: start: %v\ncommand: %s", err, c.commandLine(ids[0]))
	}
}

// commandLine is how node id is started, for a human to repeat it.
func (c *Cluster) commandLine(id int) string {
	nd := c.node(id)
	s := c.cfg.bin + " " + strings.Join(nd.args, " ")
	if nd.ns != "" {
		s = "ip netns exec " + nd.ns + " " + s
	}
	return s
}

// node returns node id or fails the test.
func (c *Cluster) node(id int) *Node {
	c.t.Helper()
	nodes := c.allNodes()
	if id < 1 || id > len(nodes) {
		c.t.Fatalf("cluster: no node %d (nodes are 1..%d)", id, len(nodes))
	}
	return nodes[id-1]
}

// allNodes returns the nodes, safe to use while AddBroker runs.
func (c *Cluster) allNodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[:len(c.nodes):len(c.nodes)]
}

// N is the number of nodes.
func (c *Cluster) N() int { return len(c.allNodes()) }

// Mode is the cluster's network mode.
func (c *Cluster) Mode() NetMode { return c.net.mode }

// Node returns node id (1..N).
func (c *Cluster) Node(id int) *Node { return c.node(id) }

// IDs returns every node ID, 1..N.
func (c *Cluster) IDs() []int {
	ids := make([]int, c.N())
	for i := range ids {
		ids[i] = i + 1
	}
	return ids
}

// Seeds returns every node's client address, for kgo.SeedBrokers.
func (c *Cluster) Seeds() []string {
	nodes := c.allNodes()
	s := make([]string, len(nodes))
	for i, nd := range nodes {
		s[i] = nd.Addr()
	}
	return s
}

// ID is the node's node.id.
func (n *Node) ID() int { return n.id }

// Host is the node's IP address.
func (n *Node) Host() string { return n.host }

// Addr is the node's client listener, host:port.
func (n *Node) Addr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.port)) }

// ControllerAddr is the node's CONTROLLER listener, or "" if it is not a
// controller.
func (n *Node) ControllerAddr() string {
	if n.ctrlPort == 0 {
		return ""
	}
	return net.JoinHostPort(n.host, strconv.Itoa(n.ctrlPort))
}

// Namespace is the node's network namespace ("" in Loopback mode).
func (n *Node) Namespace() string { return n.ns }

// DataDir is the node's data directory.
func (n *Node) DataDir() string { return n.dataDir }

// Args are the node's broker arguments.
func (n *Node) Args() []string { return append([]string(nil), n.args...) }

func (n *Node) process() *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Pid is the process ID of the node's current process (the broker itself:
// `ip netns exec` execs it).
func (n *Node) Pid() int { return n.process().Pid() }

// Running reports whether the node's current process has not exited (a
// paused node is running).
func (n *Node) Running() bool {
	p := n.process()
	if p == nil {
		return false
	}
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// Paused reports whether the node is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// Output is everything the node wrote, earlier incarnations first.
func (n *Node) Output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b strings.Builder
	for i, o := range n.earlier {
		fmt.Fprintf(&b, "%s--- incarnation %d ended ---\n", o, i+1)
	}
	if n.proc != nil {
		b.WriteString(n.proc.Output())
	}
	return b.String()
}
