package streams

import (
	"errors"
	"fmt"

	"github.com/gregorhq/gregor/state"
)

// GlobalTable is a table of which every instance of the application keeps a full copy
// (Kafka Streams' GlobalKTable): all partitions of its topic, read into a store of its
// own by a global consumer outside the consumer group. The store is brought up to the
// topic's end before any task processes a record, then kept up to date in the
// background; the topic itself is the store's changelog, so no changelog topic is
// created. A global table is only read, through stream-global table joins; it needs no
// co-partitioning, and the join may look a row up by any key derived from the record.
type GlobalTable[K, V any] struct {
	b    *Builder
	spec *globalSpec
	ks   Serde[K]
	vs   Serde[V]
}

// StoreName returns the name of the global table's store.
func (g GlobalTable[K, V]) StoreName() string { return g.spec.store }

// globalSpec describes a global store of the topology.
type globalSpec struct {
	store    string
	topic    string
	inMemory bool
	// source and proc are the names of the source and the processor that updates the
	// store, as Kafka Streams' TopologyDescription shows them.
	source, proc string
	// check deserializes a record's key and value with the table's serdes, so that a
	// record the joins could not read is handled (DeserializationHandler) when it
	// arrives rather than failing a lookup later.
	check func(key, value []byte) error
}

// GlobalTableFrom reads topic into a global table (Kafka Streams' StreamsBuilder#
// globalTable). Options: As names the store (default "<topic>-STATE-STORE-<n>"),
// InMemory keeps it in memory (reloaded from the topic at every start), Named names the
// source. Records with a null key are skipped; a null value deletes the key.
func GlobalTableFrom[K, V any](b *Builder, topic string, ks Serde[K], vs Serde[V], opts ...Option) GlobalTable[K, V] {
	o := collect(opts)
	spec := &globalSpec{topic: topic, inMemory: o.inMemory, store: o.store}
	spec.source = o.name
	if spec.source == "" {
		spec.source = b.newName("KSTREAM-SOURCE-")
	} else {
		b.seq++
	}
	spec.proc = b.newName("KTABLE-SOURCE-")
	if spec.store == "" {
		spec.store = b.newName(topic + "-STATE-STORE-")
	}
	g := GlobalTable[K, V]{b: b, spec: spec, ks: orDefault(ks), vs: orDefault(vs)}
	spec.check = func(key, value []byte) error {
		if _, err := g.ks.Deserialize(key); err != nil {
			return fmt.Errorf("key: %w", err)
		}
		if value == nil {
			return nil
		}
		if _, err := g.vs.Deserialize(value); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		return nil
	}
	b.addGlobal(spec)
	return g
}

func (b *Builder) addGlobal(spec *globalSpec) {
	switch {
	case spec.topic == "":
		b.fail("global table without a topic")
		return
	case b.names[spec.source] || b.names[spec.proc]:
		b.fail("duplicate processor name %q", spec.source)
		return
	}
	if _, dup := b.stores[spec.store]; dup || b.globalStore(spec.store) {
		b.fail("duplicate store name %q", spec.store)
		return
	}
	for _, g := range b.globals {
		if g.topic == spec.topic {
			b.fail("topic %q is already the source of global store %q", spec.topic, g.store)
			return
		}
	}
	b.names[spec.source], b.names[spec.proc] = true, true
	b.globals = append(b.globals, spec)
}

// globalStore reports whether a global table already uses the store name.
func (b *Builder) globalStore(name string) bool {
	for _, g := range b.globals {
		if g.store == name {
			return true
		}
	}
	return false
}

// checkGlobals fails when a global table's topic is also read by a sub-topology: Kafka
// Streams refuses to register one topic for two sources.
func (t *Topology) checkGlobals() error {
	for _, g := range t.globals {
		if _, ok := t.topicSub[g.topic]; ok {
			return fmt.Errorf("%w: topic %q is the source of global store %q and of a sub-topology", ErrTopology, g.topic, g.store)
		}
	}
	return nil
}

// StreamGlobalTableJoin joins each record of s with the row of g under the key that
// keyOf derives from the record (Kafka Streams' KStream#join(GlobalKTable,
// KeyValueMapper, ValueJoiner)). A record whose derived key has no row, for which keyOf
// returns false, or whose value is null, is dropped. The result keeps the record's key
// and timestamp. Only the stream side triggers results; the lookup reads the global
// store as the global consumer has brought it so far.
func StreamGlobalTableJoin[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], keyOf func(k K, v V) (KG, bool), joiner func(k K, v V, vg VG) VR, opts ...Option) Stream[K, VR] {
	return streamGlobalJoin(s, g, collect(opts), false, keyOf, func(k K, v V, vg *VG) VR { return joiner(k, v, *vg) })
}

// StreamGlobalTableLeftJoin is StreamGlobalTableJoin keeping every record with a value:
// joiner gets a nil row when there is none or keyOf returns false.
func StreamGlobalTableLeftJoin[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], keyOf func(k K, v V) (KG, bool), joiner func(k K, v V, vg *VG) VR, opts ...Option) Stream[K, VR] {
	return streamGlobalJoin(s, g, collect(opts), true, keyOf, joiner)
}

func streamGlobalJoin[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], o options, left bool,
	keyOf func(k K, v V) (KG, bool), joiner func(k K, v V, vg *VG) VR) Stream[K, VR] {
	b := s.b
	if g.b != b {
		b.fail("global table %q comes from another Builder", g.spec.store)
	}
	prefix := "KSTREAM-JOIN-"
	if left {
		prefix = "KSTREAM-LEFTJOIN-"
	}
	n := b.addNode(kindProcessor, o.name, prefix, s.n)
	name, store := n.name, g.spec.store
	out := link(s.fans(), n, func(tc *task, fw forwarder[K, VR]) (proc[K, V], error) {
		raw, ok := tc.cfg.globals[store]
		if !ok {
			return nil, fmt.Errorf("%w: global store %q is not open", ErrTopology, store)
		}
		return funcProc[K, V](func(r Record[K, V]) error {
			if r.Tombstone {
				tc.dropRecord(name, "null value")
				return nil
			}
			var row *VG
			if kg, ok := keyOf(r.Key, r.Value); ok {
				vg, found, err := globalGet(raw, g.ks, g.vs, kg)
				if err != nil {
					return fmt.Errorf("streams: %s: global store %s: %w", name, store, err)
				}
				row = ptrTo(vg, found)
			}
			if row == nil && !left {
				return nil
			}
			res := withKV(r, r.Key, joiner(r.Key, r.Value, row))
			res.nullKey = r.nullKey
			return fw.forward(res)
		}), nil
	})
	return Stream[K, VR]{b: b, n: n, out: out, ks: s.ks, keyChanged: s.keyChanged}
}

// globalGet reads key's row from a global store.
func globalGet[K, V any](raw state.KeyValueStore, ks Serde[K], vs Serde[V], key K) (V, bool, error) {
	var zero V
	kb, err := serialize(ks, key)
	if err != nil {
		return zero, false, fmt.Errorf("key: %w", err)
	}
	vb, err := raw.Get(kb)
	if errors.Is(err, state.ErrNotFound) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	v, err := vs.Deserialize(vb)
	if err != nil {
		return zero, false, fmt.Errorf("value: %w", err)
	}
	return v, true, nil
}

// describeGlobals appends the global stores' sub-topologies, numbered after the others,
// as Kafka Streams prints them.
func (t *Topology) describeGlobals(d *TopologyDescription) {
	for i, g := range t.globals {
		d.Subtopologies = append(d.Subtopologies, SubtopologyDescription{
			ID:     len(t.subs) + i,
			Global: true,
			Nodes: []NodeDescription{
				{Kind: "Source", Name: g.source, Topics: []string{g.topic}, Successors: []string{g.proc}},
				{Kind: "Processor", Name: g.proc, Stores: []string{g.store}, Predecessors: []string{g.source}},
			},
		})
	}
}

// GlobalStoreGet reads key from the global store named store of a running App (nil
// serdes: the defaults of the types). found is false when the store holds no row for
// key. The store reflects the global topic as far as the App's global consumer has read
// it.
func GlobalStoreGet[K, V any](a *App, store string, key K, ks Serde[K], vs Serde[V]) (v V, found bool, err error) {
	raw, ok := a.globals.storesByName()[store]
	if !ok {
		return v, false, fmt.Errorf("%w: no global store %q", ErrTopology, store)
	}
	return globalGet(raw, orDefault(ks), orDefault(vs), key)
}
