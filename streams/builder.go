package streams

import (
	"errors"
	"fmt"
)

type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// gnode is one node of the topology graph as the builder records it.
type gnode struct {
	id       int
	name     string
	kind     nodeKind
	parents  []*gnode
	children []*gnode
	stores   []string
	// Sources: the topics read, and the factory of the per-task source.
	topics   []string
	internal bool // the source or sink topic is internal (prefixed with application.id)
	source   func(tc *task) (rawProcessor, error)
	tsx      TimestampExtractor
	// Sinks: the static topic; "" when the topic is chosen per record.
	sinkTopic string
}

// rawProcessor is a source: it takes a consumed record and forwards it typed.
type rawProcessor interface {
	processRaw(tc *task, r *ConsumedRecord) error
}

// proc is a typed processor instance of one task.
type proc[K, V any] interface {
	process(r Record[K, V]) error
}

// fanout collects the children of a node while the topology is built; for each task,
// build instantiates them.
type fanout[K, V any] struct {
	kids []kid[K, V]
}

type kid[K, V any] struct {
	n    *gnode
	make func(tc *task) (proc[K, V], error)
}

// forwarder passes a record to each child of a node instance.
type forwarder[K, V any] struct {
	names []string
	procs []proc[K, V]
}

func (f *fanout[K, V]) build(tc *task) (forwarder[K, V], error) {
	fw := forwarder[K, V]{}
	for _, k := range f.kids {
		p, err := k.make(tc)
		if err != nil {
			return fw, err
		}
		fw.names = append(fw.names, k.n.name)
		fw.procs = append(fw.procs, p)
	}
	return fw, nil
}

func (fw forwarder[K, V]) forward(r Record[K, V]) error {
	for _, p := range fw.procs {
		if err := p.process(r); err != nil {
			return err
		}
	}
	return nil
}

func (fw forwarder[K, V]) forwardTo(name string, r Record[K, V]) error {
	for i, n := range fw.names {
		if n == name {
			return fw.procs[i].process(r)
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownChild, name)
}

// Builder records a topology written with the DSL. Create one with NewBuilder, add
// sources with StreamFrom and TableFrom, chain operations, then call Build. A Builder is
// not safe for concurrent use.
type Builder struct {
	nodes  []*gnode
	names  map[string]bool
	stores map[string]*storeSpec
	order  []string // store names in creation order
	// repartitions maps internal repartition topics (without the application.id
	// prefix) to their configured partition count, 0 to derive it.
	repartitions map[string]int32
	globals      []*globalSpec
	joinSources  map[*gnode]any // re-keyed streams repartitioned for joins, by node
	seq          int
	errs         []error
	built        bool
	// windowGrace holds the grace period of windowed aggregation nodes, for Suppress.
	windowGrace map[*gnode]int64
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{names: map[string]bool{}, stores: map[string]*storeSpec{}, repartitions: map[string]int32{}}
}

// newName returns a generated name in Kafka Streams' style, "PREFIX-0000000007".
func (b *Builder) newName(prefix string) string {
	n := fmt.Sprintf("%s%010d", prefix, b.seq)
	b.seq++
	return n
}

func (b *Builder) fail(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf("%w: "+format, append([]any{ErrTopology}, args...)...))
}

// addNode registers a node named name (or a generated one with prefix) under parents.
func (b *Builder) addNode(kind nodeKind, name, prefix string, parents ...*gnode) *gnode {
	if name == "" {
		name = b.newName(prefix)
	} else {
		b.seq++ // Kafka Streams counts named nodes too
	}
	if b.names[name] {
		b.fail("duplicate processor name %q", name)
	}
	b.names[name] = true
	n := &gnode{id: len(b.nodes), name: name, kind: kind}
	for _, p := range parents {
		n.parents = append(n.parents, p)
		p.children = append(p.children, n)
	}
	b.nodes = append(b.nodes, n)
	return n
}

// link adds node n, fed by the parents' fanouts, whose instances mk builds given the
// forwarder of n's own children. It returns n's fanout.
func link[KIn, VIn, KOut, VOut any](parents []*fanout[KIn, VIn], n *gnode,
	mk func(tc *task, fw forwarder[KOut, VOut]) (proc[KIn, VIn], error)) *fanout[KOut, VOut] {
	out := &fanout[KOut, VOut]{}
	maker := func(tc *task) (proc[KIn, VIn], error) {
		if p, ok := tc.memo[n]; ok {
			return p.(proc[KIn, VIn]), nil
		}
		fw, err := out.build(tc)
		if err != nil {
			return nil, err
		}
		p, err := mk(tc, fw)
		if err != nil {
			return nil, fmt.Errorf("streams: init processor %s: %w", n.name, err)
		}
		tc.memo[n] = p
		return p, nil
	}
	for _, pf := range parents {
		pf.kids = append(pf.kids, kid[KIn, VIn]{n: n, make: maker})
	}
	return out
}

// Build checks the topology and returns it. The Builder must not be used afterwards.
func (b *Builder) Build() (*Topology, error) {
	if b.built {
		return nil, fmt.Errorf("%w: Build called twice", ErrTopology)
	}
	b.built = true
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return newTopology(b)
}
