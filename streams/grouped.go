package streams

import "fmt"

// GroupedStream is a stream grouped by key, ready for aggregation (Kafka Streams'
// KGroupedStream). If the key was changed upstream, aggregating first repartitions
// through "<application.id>-<name>-repartition".
type GroupedStream[K, V any] struct {
	s          Stream[K, V]
	name       string
	partitions int32
}

// GroupByKey groups s by its current key. Named names the repartition topic, if one is
// needed.
func (s Stream[K, V]) GroupByKey(opts ...Option) GroupedStream[K, V] {
	o := collect(opts)
	return GroupedStream[K, V]{s: s, name: o.name, partitions: o.partitions}
}

// GroupBy groups s by the key f selects, serialized with ks (nil: default serde). It
// always repartitions.
func GroupBy[K, V, K2 any](s Stream[K, V], f func(k K, v V) K2, ks Serde[K2], opts ...Option) GroupedStream[K2, V] {
	o := collect(opts)
	sel := SelectKey(s, f).WithSerdes(ks, s.vs)
	return GroupedStream[K2, V]{s: sel, name: o.name, partitions: o.partitions}
}

// tableEmitter returns how a materializing processor passes table updates downstream.
// With a cache the store's flushes forward them and the returned function does nothing.
func tableEmitter[K, V any](st *KeyValueStore[K, V], fw forwarder[K, Change[V]]) func(r Record[K, Change[V]]) error {
	if st.cache == nil {
		return fw.forward
	}
	st.cache.listener = func(kb, nb, ob []byte, ts int64) error {
		k, err := st.ks.Deserialize(kb)
		if err != nil {
			return err
		}
		var c Change[V]
		if nb != nil {
			if c.New, err = st.vs.Deserialize(nb); err != nil {
				return err
			}
			c.HasNew = true
		}
		if ob != nil {
			if c.Old, err = st.vs.Deserialize(ob); err != nil {
				return err
			}
			c.HasOld = true
		}
		return fw.forward(Record[K, Change[V]]{Key: k, Value: c, Timestamp: ts})
	}
	return func(Record[K, Change[V]]) error { return nil }
}

// aggregateStream adds an aggregation of g into a table with a store of values A;
// step computes the new aggregate from the old one (found false: none yet).
func aggregateStream[K, V, A any](g GroupedStream[K, V], o options, as Serde[A], step func(k K, v V, old A, found bool) A) Table[K, A] {
	b := g.s.b
	storeName := o.store
	if storeName == "" {
		storeName = b.newName("KSTREAM-AGGREGATE-STATE-STORE-")
	}
	s := g.s
	if s.keyChanged {
		base := g.name
		if base == "" {
			base = storeName
		}
		s = s.repartition(base, g.partitions)
	}
	ks := s.keySerde()
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("aggregation into store %q needs key and value serdes", storeName)
	}
	b.addStore(newKVSpec(storeName, ks, as, o))
	n := b.addNode(kindProcessor, o.name, "KSTREAM-AGGREGATE-", s.n)
	b.connect(n, storeName)
	out := link(s.fans(), n, func(tc *task, fw forwarder[K, Change[A]]) (proc[K, V], error) {
		st := tc.stores[storeName].(*KeyValueStore[K, A])
		emit := tableEmitter(st, fw)
		return funcProc[K, V](func(r Record[K, V]) error {
			if r.nullKey || r.Tombstone {
				return nil // Kafka Streams skips null keys and values here
			}
			// One key serialization for the read and the write.
			kb, err := st.key(r.Key)
			if err != nil {
				return err
			}
			ob, err := st.getRaw(kb)
			if err != nil {
				return err
			}
			var old A
			found := ob != nil
			if found {
				if old, err = st.vs.Deserialize(ob); err != nil {
					return fmt.Errorf("store %s: value: %w", storeName, err)
				}
			}
			nv := step(r.Key, r.Value, old, found)
			nb, err := st.vs.Serialize(nv)
			if err != nil {
				return fmt.Errorf("store %s: value: %w", storeName, err)
			}
			if nb == nil {
				nb = []byte{}
			}
			if err := st.putRaw(kb, nb); err != nil {
				return err
			}
			return emit(withKV(r, r.Key, Change[A]{New: nv, Old: old, HasNew: true, HasOld: found}))
		}), nil
	})
	return Table[K, A]{b: b, n: n, out: out, ks: ks, vs: as, store: storeName}
}

// Count counts the records of each key into a table of int64 counts (serialized as
// Kafka's LongSerializer does). As names its store.
func (g GroupedStream[K, V]) Count(opts ...Option) Table[K, int64] {
	return aggregateStream(g, collect(opts), Int64(), func(_ K, _ V, old int64, _ bool) int64 { return old + 1 })
}

// Reduce combines the values of each key with f, the first value standing alone.
func (g GroupedStream[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[K, V] {
	return aggregateStream(g, collect(opts), g.s.vs, func(_ K, v V, old V, found bool) V {
		if !found {
			return v
		}
		return f(old, v)
	})
}

// Aggregate folds the values of each key into an aggregate of type A, starting from
// init(), with values serialized by as (nil: default serde).
func Aggregate[K, V, A any](g GroupedStream[K, V], init func() A, f func(k K, v V, agg A) A, as Serde[A], opts ...Option) Table[K, A] {
	return aggregateStream(g, collect(opts), as, func(k K, v V, old A, found bool) A {
		if !found {
			old = init()
		}
		return f(k, v, old)
	})
}
