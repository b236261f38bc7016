package brokertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregorhq/gregor/broker"
)

// Cluster is several in-process brokers forming one cluster: combined
// broker+controller nodes with IDs 1..n on 127.0.0.1, each with a client
// listener and a controller listener, voting in one metadata quorum.
type Cluster struct {
	tb     testing.TB
	voters string
	opts   []Option
	mu     sync.Mutex
	nodes  []*Broker
}

// StartCluster starts n nodes and waits until every one has joined (the
// quorum has a leader, each broker is registered and unfenced). Options
// apply to every node.
func StartCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	// The ports are picked free, then bound when the nodes start: another
	// process may take one meanwhile. Then the cluster starts again on
	// other ports.
	for attempt := 1; ; attempt++ {
		c, err := startCluster(tb, n, opts)
		if err == nil {
			tb.Cleanup(c.Close)
			return c
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			tb.Fatalf("brokertest: %v", err)
		}
		tb.Logf("brokertest: %v; starting the cluster again on other ports", err)
	}
}

// startCluster starts n nodes on free ports; on an error it stops the
// nodes that started.
func startCluster(tb testing.TB, n int, opts []Option) (*Cluster, error) {
	type ports struct{ client, ctrl int }
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{freePort(tb), freePort(tb)}
	}
	var voters []string
	for i, p := range ps {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p.ctrl))
	}
	c := &Cluster{tb: tb, voters: strings.Join(voters, ","), opts: opts}
	for i, p := range ps {
		cfg := broker.DefaultConfig()
		cfg.DataDir = tb.TempDir()
		props := map[string]string{
			"node.id":                        fmt.Sprint(i + 1),
			"listeners":                      fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.client, p.ctrl),
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"controller.listener.names":      "CONTROLLER",
			"controller.quorum.voters":       strings.Join(voters, ","),
		}
		if err := cfg.ApplyProperties(props); err != nil {
			tb.Fatalf("brokertest: cluster config: %v", err)
		}
		for _, o := range opts {
			o(&cfg)
		}
		c.nodes = append(c.nodes, &Broker{tb: tb, cfg: cfg, opts: []broker.Option{broker.WithLogger(testLogger().With("node", i+1))}})
	}
	// Nodes wait for a majority, so they start together.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.startNode()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("start node %d: %w", i+1, err)
		}
	}
	return c, nil
}

func (b *Broker) startNode() error {
	br, err := broker.New(b.cfg, b.opts...)
	if err != nil {
		return err
	}
	br.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := br.WaitReady(ctx); err != nil {
		br.Close()
		return err
	}
	b.b = br
	return nil
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("brokertest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// AddBroker starts one more node, with the next ID, as a broker only
// (process.roles=broker: it observes the quorum and does not vote), and
// waits until it has registered and is unfenced. This is how a cluster
// grows. The cluster's options apply to it, then opts.
func (c *Cluster) AddBroker(opts ...Option) *Broker {
	c.tb.Helper()
	c.mu.Lock()
	id := len(c.nodes) + 1
	c.mu.Unlock()
	cfg := broker.DefaultConfig()
	cfg.DataDir = c.tb.TempDir()
	props := map[string]string{
		"node.id":                        fmt.Sprint(id),
		"process.roles":                  "broker",
		"listeners":                      fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", freePort(c.tb)),
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names":      "CONTROLLER",
		"controller.quorum.voters":       c.voters,
	}
	if err := cfg.ApplyProperties(props); err != nil {
		c.tb.Fatalf("brokertest: broker config: %v", err)
	}
	for _, o := range append(slices.Clone(c.opts), opts...) {
		o(&cfg)
	}
	nd := &Broker{tb: c.tb, cfg: cfg, opts: []broker.Option{broker.WithLogger(testLogger().With("node", id))}}
	if err := nd.startNode(); err != nil {
		c.tb.Fatalf("brokertest: start broker %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	return nd
}

// Node returns node id (1..n).
func (c *Cluster) Node(id int) *Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1]
}

// Seeds are the client addresses of every node.
func (c *Cluster) Seeds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, nd := range c.nodes {
		out = append(out, net.JoinHostPort("127.0.0.1", fmt.Sprint(nd.cfg.Listeners[0].Port)))
	}
	return out
}

// Stop closes node id (a clean, controlled shutdown).
func (c *Cluster) Stop(id int) {
	nd := c.Node(id)
	if nd.b != nil {
		if err := nd.b.Close(); err != nil {
			c.tb.Errorf("brokertest: close node %d: %v", id, err)
		}
		nd.b = nil
	}
}

// Start starts node id again on its addresses and data, and waits until it
// has rejoined.
func (c *Cluster) Start(id int) {
	c.tb.Helper()
	if err := c.Node(id).startNode(); err != nil {
		c.tb.Fatalf("brokertest: restart node %d: %v", id, err)
	}
}

// Close stops every node.
func (c *Cluster) Close() {
	c.mu.Lock()
	n := len(c.nodes)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Stop(i + 1)
		}()
	}
	wg.Wait()
}
