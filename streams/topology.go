package streams

import (
	"fmt"
	"slices"
	"strings"
)

// Topology is a built, immutable processing graph: sub-topologies of connected
// processors, each run as one task per partition of its source topics. Make one with
// Builder.Build; run it with New, or test it with streamstest.
type Topology struct {
	nodes        []*gnode
	subs         []*subtopology
	stores       map[string]*storeSpec
	repartitions map[string]int32
	topicSub     map[string]int // source topic (internal ones unprefixed) -> sub-topology
	globals      []*globalSpec
}

// topicRef is a topic of the topology; internal topics get the application.id prefix.
type topicRef struct {
	name     string
	internal bool
}

type subtopology struct {
	id      int
	nodes   []*gnode
	sources []*gnode
	topics  []topicRef
	stores  []*storeSpec
	sinks   []topicRef // static sink topics
}

func newTopology(b *Builder) (*Topology, error) {
	t := &Topology{nodes: b.nodes, stores: b.stores, repartitions: b.repartitions, topicSub: map[string]int{}, globals: b.globals}
	// Union-find over processor edges and shared stores.
	parent := make([]int, len(b.nodes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra < rb {
			parent[rb] = ra
		} else if rb < ra {
			parent[ra] = rb
		}
	}
	for _, n := range b.nodes {
		for _, c := range n.children {
			union(n.id, c.id)
		}
	}
	for _, name := range b.order {
		users := b.stores[name].users
		for i := 1; i < len(users); i++ {
			union(users[0].id, users[i].id)
		}
	}
	byRoot := map[int]*subtopology{}
	for _, n := range b.nodes {
		r := find(n.id)
		sub, ok := byRoot[r]
		if !ok {
			sub = &subtopology{id: len(t.subs)}
			byRoot[r] = sub
			t.subs = append(t.subs, sub)
		}
		sub.nodes = append(sub.nodes, n)
		switch n.kind {
		case kindSource:
			sub.sources = append(sub.sources, n)
			for _, topic := range n.topics {
				if other, dup := t.topicSub[topic]; dup {
					return nil, fmt.Errorf("%w: topic %q is read by two sources (sub-topologies %d and %d)", ErrTopology, topic, other, sub.id)
				}
				t.topicSub[topic] = sub.id
				sub.topics = append(sub.topics, topicRef{name: topic, internal: n.internal})
			}
		case kindSink:
			if n.sinkTopic != "" {
				sub.sinks = append(sub.sinks, topicRef{name: n.sinkTopic, internal: n.internal})
			}
		}
	}
	for _, sub := range t.subs {
		if len(sub.sources) == 0 {
			return nil, fmt.Errorf("%w: processors %s are not connected to any source", ErrTopology, sub.nodes[0].name)
		}
	}
	for _, name := range b.order {
		spec := b.stores[name]
		if len(spec.users) == 0 {
			continue // added but unused: Kafka Streams ignores it too
		}
		sub := t.subs[t.subOf(spec.users[0])]
		sub.stores = append(sub.stores, spec)
	}
	if err := checkFixedCopartitioning(t); err != nil {
		return nil, err
	}
	if err := t.checkGlobals(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Topology) subOf(n *gnode) int {
	for _, sub := range t.subs {
		if slices.Contains(sub.nodes, n) {
			return sub.id
		}
	}
	return -1
}

// SourceTopics returns the topics the topology reads, internal ones prefixed with appID.
func (t *Topology) sourceTopics(appID string) []string {
	var out []string
	for _, sub := range t.subs {
		for _, tr := range sub.topics {
			out = append(out, resolve(appID, tr))
		}
	}
	return out
}

func resolve(appID string, tr topicRef) string {
	if tr.internal {
		return appID + "-" + tr.name
	}
	return tr.name
}

// NodeDescription describes one node of a topology.
type NodeDescription struct {
	// Kind is "Source", "Processor" or "Sink".
	Kind         string
	Name         string
	Topics       []string // sources: topics read; sinks: the topic written ("" if dynamic)
	Stores       []string
	Successors   []string
	Predecessors []string
}

// SubtopologyDescription describes one sub-topology.
type SubtopologyDescription struct {
	ID    int
	Nodes []NodeDescription
	// Global marks the sub-topology that updates a global store; it runs no tasks.
	Global bool
}

// TopologyDescription describes a topology; String prints it as Kafka Streams'
// TopologyDescription does.
type TopologyDescription struct {
	Subtopologies []SubtopologyDescription
}

// Describe returns the topology's description. Internal topics appear without the
// application.id prefix, as in Kafka Streams.
func (t *Topology) Describe() TopologyDescription {
	var d TopologyDescription
	for _, sub := range t.subs {
		sd := SubtopologyDescription{ID: sub.id}
		for _, n := range orderNodes(sub.nodes) {
			nd := NodeDescription{Name: n.name, Stores: n.stores}
			for _, c := range n.children {
				nd.Successors = append(nd.Successors, c.name)
			}
			for _, p := range n.parents {
				nd.Predecessors = append(nd.Predecessors, p.name)
			}
			switch n.kind {
			case kindSource:
				nd.Kind, nd.Topics = "Source", n.topics
			case kindSink:
				nd.Kind, nd.Topics = "Sink", []string{n.sinkTopic}
			default:
				nd.Kind = "Processor"
			}
			sd.Nodes = append(sd.Nodes, nd)
		}
		d.Subtopologies = append(d.Subtopologies, sd)
	}
	t.describeGlobals(&d)
	return d
}

// orderNodes lists sources first, then the others by depth from the sources, then by
// creation order.
func orderNodes(nodes []*gnode) []*gnode {
	depth := map[*gnode]int{}
	var walk func(n *gnode, d int)
	walk = func(n *gnode, d int) {
		if old, ok := depth[n]; ok && old >= d {
			return
		}
		depth[n] = d
		for _, c := range n.children {
			walk(c, d+1)
		}
	}
	for _, n := range nodes {
		if n.kind == kindSource {
			walk(n, 0)
		}
	}
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b *gnode) int {
		if depth[a] != depth[b] {
			return depth[a] - depth[b]
		}
		return a.id - b.id
	})
	return out
}

func names(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// String prints the description in Kafka Streams' format.
func (d TopologyDescription) String() string {
	var sb strings.Builder
	sb.WriteString("Topologies:\n ")
	for _, sub := range d.Subtopologies {
		if sub.Global {
			fmt.Fprintf(&sb, "  Sub-topology: %d for global store (will not generate tasks)\n", sub.ID)
		} else {
			fmt.Fprintf(&sb, "  Sub-topology: %d\n", sub.ID)
		}
		for _, n := range sub.Nodes {
			switch n.Kind {
			case "Source":
				fmt.Fprintf(&sb, "    Source: %s (topics: [%s])\n      --> %s\n", n.Name, strings.Join(n.Topics, ", "), names(n.Successors))
			case "Sink":
				fmt.Fprintf(&sb, "    Sink: %s (topic: %s)\n      <-- %s\n", n.Name, n.Topics[0], names(n.Predecessors))
			default:
				fmt.Fprintf(&sb, "    Processor: %s (stores: [%s])\n      --> %s\n      <-- %s\n", n.Name, strings.Join(n.Stores, ", "), names(n.Successors), names(n.Predecessors))
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}
