package streams

import "fmt"

// Table is a changelog stream seen as a table (Kafka Streams' KTable): each key's
// latest value. Downstream operations receive Change records carrying the new and the
// old value of a row.
type Table[K, V any] struct {
	b     *Builder
	n     *gnode
	out   *fanout[K, Change[V]]
	ks    Serde[K]
	vs    Serde[V]
	store string            // "" when not materialized
	get   *getterSpec[K, V] // how joins read rows when store is ""
}

// StoreName returns the name of the table's store, "" if it has none.
func (t Table[K, V]) StoreName() string { return t.store }

// materialize adds a node that applies the records of s to a store named storeName
// (generated from prefix when empty) and emits the changes.
func materialize[K, V any](s Stream[K, V], o options, prefix, storePrefix string) Table[K, V] {
	b := s.b
	storeName := o.store
	if storeName == "" {
		storeName = b.newName(storePrefix)
	}
	ks, vs := s.keySerde(), s.valueSerde()
	if ks == nil || vs == nil {
		b.fail("table store %q needs key and value serdes", storeName)
	}
	b.addStore(newKVSpec(storeName, ks, vs, o))
	n := b.addNode(kindProcessor, o.name, prefix, s.n)
	b.connect(n, storeName)
	out := link(s.fans(), n, func(tc *task, fw forwarder[K, Change[V]]) (proc[K, V], error) {
		st := tc.stores[storeName].(*KeyValueStore[K, V])
		emit := tableEmitter(st, fw)
		return funcProc[K, V](func(r Record[K, V]) error {
			if r.nullKey {
				return nil
			}
			old, found, err := st.Get(r.Key)
			if err != nil {
				return err
			}
			c := Change[V]{Old: old, HasOld: found}
			if r.Tombstone {
				if !found {
					return nil
				}
				err = st.Delete(r.Key)
			} else {
				c.New, c.HasNew = r.Value, true
				err = st.Put(r.Key, r.Value)
			}
			if err != nil {
				return err
			}
			return emit(withKV(r, r.Key, c))
		}), nil
	})
	return Table[K, V]{b: b, n: n, out: out, ks: ks, vs: vs, store: storeName}
}

// TableFrom adds a table read from topic: each record upserts its key, a null value
// deletes it. The table is materialized in a store (As names it) with its own changelog.
func TableFrom[K, V any](b *Builder, topic string, ks Serde[K], vs Serde[V], opts ...Option) Table[K, V] {
	o := collect(opts)
	src := addSource(b, []string{topic}, false, ks, vs, options{tsExtractor: o.tsExtractor})
	o.name = ""
	return materialize(src, o, "KTABLE-SOURCE-", topic+"-STATE-STORE-")
}

// ToTable turns s into a table of each key's latest value; tombstones delete.
func (s Stream[K, V]) ToTable(opts ...Option) Table[K, V] {
	return materialize(s, collect(opts), "KSTREAM-TOTABLE-", "KSTREAM-TOTABLE-STATE-STORE-")
}

// changeOp adds a node that maps each change with f (ok false drops it), materialized
// into a store when As is given.
func changeOp[K, V, V2 any](t Table[K, V], o options, prefix string, vs2 Serde[V2], f func(k K, c Change[V]) (Change[V2], bool)) Table[K, V2] {
	b := t.b
	n := b.addNode(kindProcessor, o.name, prefix, t.n)
	res := Table[K, V2]{b: b, n: n, ks: t.ks, vs: vs2}
	if o.store == "" {
		res.get = derivedGetter(t, f)
	} else {
		res.store = o.store
		if t.ks == nil || vs2 == nil {
			b.fail("materialized table %q needs key and value serdes", o.store)
		}
		b.addStore(newKVSpec(o.store, t.ks, vs2, o))
		b.connect(n, o.store)
	}
	res.out = link([]*fanout[K, Change[V]]{t.out}, n, func(tc *task, fw forwarder[K, Change[V2]]) (proc[K, Change[V]], error) {
		emit := fw.forward
		var st *KeyValueStore[K, V2]
		if res.store != "" {
			st = tc.stores[res.store].(*KeyValueStore[K, V2])
			emit = tableEmitter(st, fw)
		}
		return funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			c, ok := f(r.Key, r.Value)
			if !ok {
				return nil
			}
			if st != nil {
				var err error
				if c.HasNew {
					err = st.Put(r.Key, c.New)
				} else {
					err = st.Delete(r.Key)
				}
				if err != nil {
					return err
				}
			}
			return emit(withKV(r, r.Key, c))
		}), nil
	})
	return res
}

// Filter keeps the rows for which pred is true: a row that stops matching is deleted
// downstream. As materializes the result.
func (t Table[K, V]) Filter(pred func(k K, v V) bool, opts ...Option) Table[K, V] {
	return changeOp(t, collect(opts), "KTABLE-FILTER-", t.vs, func(k K, c Change[V]) (Change[V], bool) {
		out := Change[V]{}
		if c.HasNew && pred(k, c.New) {
			out.New, out.HasNew = c.New, true
		}
		if c.HasOld && pred(k, c.Old) {
			out.Old, out.HasOld = c.Old, true
		}
		return out, out.HasNew || out.HasOld
	})
}

// FilterNot drops the rows for which pred is true.
func (t Table[K, V]) FilterNot(pred func(k K, v V) bool, opts ...Option) Table[K, V] {
	return t.Filter(func(k K, v V) bool { return !pred(k, v) }, opts...)
}

// MapValuesTable maps the values of t with f. As materializes the result, which then
// needs a serde for V2: vs (nil: default serde).
func MapValuesTable[K, V, V2 any](t Table[K, V], f func(k K, v V) V2, vs Serde[V2], opts ...Option) Table[K, V2] {
	return changeOp(t, collect(opts), "KTABLE-MAPVALUES-", orDefault(vs), func(k K, c Change[V]) (Change[V2], bool) {
		var out Change[V2]
		if c.HasNew {
			out.New, out.HasNew = f(k, c.New), true
		}
		if c.HasOld {
			out.Old, out.HasOld = f(k, c.Old), true
		}
		return out, true
	})
}

// ToStream returns the stream of t's updates: a deletion becomes a tombstone.
func (t Table[K, V]) ToStream(opts ...Option) Stream[K, V] {
	o := collect(opts)
	n := t.b.addNode(kindProcessor, o.name, "KTABLE-TOSTREAM-", t.n)
	out := link([]*fanout[K, Change[V]]{t.out}, n, func(tc *task, fw forwarder[K, V]) (proc[K, Change[V]], error) {
		return funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			o := Record[K, V]{Key: r.Key, Value: r.Value.New, Timestamp: r.Timestamp, Headers: r.Headers, Tombstone: !r.Value.HasNew}
			return fw.forward(o)
		}), nil
	})
	return Stream[K, V]{b: t.b, n: n, out: out, ks: t.ks, vs: t.vs}
}

// tableChange is one side of a table row update sent through a repartition topic: the
// value to add (new) or to subtract (old).
type tableChange[V any] struct {
	v   V
	add bool
}

// tableChangeSerde appends one byte to the value: 1 to add, 0 to subtract.
type tableChangeSerde[V any] struct{ vs Serde[V] }

func (s tableChangeSerde[V]) Serialize(c tableChange[V]) ([]byte, error) {
	b, err := s.vs.Serialize(c.v)
	if err != nil {
		return nil, err
	}
	flag := byte(0)
	if c.add {
		flag = 1
	}
	return append(b[:len(b):len(b)], flag), nil
}

func (s tableChangeSerde[V]) Deserialize(b []byte) (tableChange[V], error) {
	if len(b) == 0 {
		return tableChange[V]{}, fmt.Errorf("%w: empty table change", ErrSerde)
	}
	v, err := s.vs.Deserialize(b[:len(b)-1])
	return tableChange[V]{v: v, add: b[len(b)-1] == 1}, err
}

// GroupedTable is a table re-grouped by a new key (Kafka Streams' KGroupedTable); its
// aggregations add new values and subtract old ones.
type GroupedTable[K, V any] struct {
	s Stream[K, tableChange[V]] // already repartitioned
}

// TableGroupBy re-keys the rows of t with f and groups them by the new key, through the
// repartition topic "<application.id>-<name>-repartition". ks and vs serialize the new
// key and value (nil: default serdes).
func TableGroupBy[K, V, K2, V2 any](t Table[K, V], f func(k K, v V) KeyValue[K2, V2], ks Serde[K2], vs Serde[V2], opts ...Option) GroupedTable[K2, V2] {
	o := collect(opts)
	b := t.b
	ks, vs = orDefault(ks), orDefault(vs)
	if ks == nil || vs == nil {
		b.fail("table groupBy after %s needs key and value serdes", t.n.name)
	}
	n := b.addNode(kindProcessor, "", "KTABLE-SELECT-", t.n)
	out := link([]*fanout[K, Change[V]]{t.out}, n, func(tc *task, fw forwarder[K2, tableChange[V2]]) (proc[K, Change[V]], error) {
		return funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			if r.Value.HasOld {
				kv := f(r.Key, r.Value.Old)
				if err := fw.forward(withKV(r, kv.Key, tableChange[V2]{v: kv.Value})); err != nil {
					return err
				}
			}
			if r.Value.HasNew {
				kv := f(r.Key, r.Value.New)
				return fw.forward(withKV(r, kv.Key, tableChange[V2]{v: kv.Value, add: true}))
			}
			return nil
		}), nil
	})
	s := Stream[K2, tableChange[V2]]{b: b, n: n, out: out, ks: ks, vs: tableChangeSerde[V2]{vs: vs}}
	base := o.name
	if base == "" {
		base = b.newName("KTABLE-AGGREGATE-STATE-STORE-")
	}
	return GroupedTable[K2, V2]{s: s.repartition(base, o.partitions)}
}

// aggregateTable adds the aggregation of a grouped table; step applies one added or
// subtracted value to the aggregate (found false: none yet) and reports whether the
// result is to be stored.
func aggregateTable[K, V, A any](g GroupedTable[K, V], o options, as Serde[A], step func(k K, c tableChange[V], old A, found bool) (A, bool)) Table[K, A] {
	b := g.s.b
	storeName := o.store
	if storeName == "" {
		storeName = b.newName("KTABLE-AGGREGATE-STATE-STORE-")
	}
	ks := g.s.keySerde()
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("aggregation into store %q needs key and value serdes", storeName)
	}
	b.addStore(newKVSpec(storeName, ks, as, o))
	n := b.addNode(kindProcessor, o.name, "KTABLE-AGGREGATE-", g.s.n)
	b.connect(n, storeName)
	out := link(g.s.fans(), n, func(tc *task, fw forwarder[K, Change[A]]) (proc[K, tableChange[V]], error) {
		st := tc.stores[storeName].(*KeyValueStore[K, A])
		emit := tableEmitter(st, fw)
		return funcProc[K, tableChange[V]](func(r Record[K, tableChange[V]]) error {
			if r.nullKey {
				return nil
			}
			old, found, err := st.Get(r.Key)
			if err != nil {
				return err
			}
			nv, ok := step(r.Key, r.Value, old, found)
			if !ok {
				return nil
			}
			if err := st.Put(r.Key, nv); err != nil {
				return err
			}
			return emit(withKV(r, r.Key, Change[A]{New: nv, Old: old, HasNew: true, HasOld: found}))
		}), nil
	})
	return Table[K, A]{b: b, n: n, out: out, ks: ks, vs: as, store: storeName}
}

// Count counts the rows per new key.
func (g GroupedTable[K, V]) Count(opts ...Option) Table[K, int64] {
	return aggregateTable(g, collect(opts), Int64(), func(_ K, c tableChange[V], old int64, _ bool) (int64, bool) {
		if c.add {
			return old + 1, true
		}
		return old - 1, true
	})
}

// Reduce combines the values per new key: adder for new rows, subtractor for the rows
// they replace.
func (g GroupedTable[K, V]) Reduce(adder, subtractor func(agg, v V) V, opts ...Option) Table[K, V] {
	vs := g.s.vs.(tableChangeSerde[V]).vs
	return aggregateTable(g, collect(opts), vs, func(_ K, c tableChange[V], old V, found bool) (V, bool) {
		switch {
		case c.add && !found:
			return c.v, true
		case c.add:
			return adder(old, c.v), true
		case !found:
			return old, false
		default:
			return subtractor(old, c.v), true
		}
	})
}

// TableAggregate folds the values per new key into an aggregate A: adder for new rows,
// subtractor for the rows they replace, starting from init().
func TableAggregate[K, V, A any](g GroupedTable[K, V], init func() A, adder, subtractor func(k K, v V, agg A) A, as Serde[A], opts ...Option) Table[K, A] {
	return aggregateTable(g, collect(opts), as, func(k K, c tableChange[V], old A, found bool) (A, bool) {
		if !found {
			old = init()
		}
		if c.add {
			return adder(k, c.v, old), true
		}
		return subtractor(k, c.v, old), true
	})
}
