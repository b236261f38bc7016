package streams

// Joiners see the key of the records they join. For left and outer joins a nil pointer
// stands for the missing side (Java's null): joiners must not keep the pointers.

// getterSpec says how a join reads the current value of a table row: through the
// table's own store, or through the nearest materialized ancestor with the mapping of
// the operations in between (Kafka Streams' KTableValueGetter).
type getterSpec[K, V any] struct {
	stores []string // the stores read, to connect to the reading processor
	make   func(tc *task) func(k K) (V, bool, error)
}

// connectGetter connects n to the stores g reads.
func connectGetter[K, V any](b *Builder, n *gnode, g getterSpec[K, V]) {
	for _, s := range g.stores {
		b.connect(n, s)
	}
}

// valueGetter returns how to read t's rows, failing the build if t has no store to read
// them from.
func (t Table[K, V]) valueGetter(op string) (getterSpec[K, V], bool) {
	if t.get != nil { // set first: windowed tables read their window or session store
		return *t.get, true
	}
	if t.store != "" {
		name := t.store
		return getterSpec[K, V]{stores: []string{name}, make: func(tc *task) func(k K) (V, bool, error) {
			return tc.stores[name].(*KeyValueStore[K, V]).Get
		}}, true
	}
	t.b.fail("%s: table %s has no store to look values up in: materialize it with As", op, t.n.name)
	return getterSpec[K, V]{}, false
}

// derivedGetter is the getter of a table computed from parent's rows by f, the
// function of changeOp.
func derivedGetter[K, V, V2 any](parent Table[K, V], f func(k K, c Change[V]) (Change[V2], bool)) *getterSpec[K, V2] {
	var pg *getterSpec[K, V]
	switch {
	case parent.get != nil:
		pg = parent.get
	case parent.store != "":
		g, _ := parent.valueGetter("")
		pg = &g
	default:
		return nil
	}
	return &getterSpec[K, V2]{stores: pg.stores, make: func(tc *task) func(k K) (V2, bool, error) {
		get := pg.make(tc)
		return func(k K) (V2, bool, error) {
			var zero V2
			v, found, err := get(k)
			if err != nil || !found {
				return zero, false, err
			}
			c, ok := f(k, Change[V]{New: v, HasNew: true})
			if !ok || !c.HasNew {
				return zero, false, nil
			}
			return c.New, true, nil
		}
	}}
}

// dropRecord counts and logs a record a processor skips, as Kafka Streams' dropped-records
// sensor does.
func (t *task) dropRecord(node, reason string) {
	t.dropped.Add(1)
	attrs := []any{"processor", node, "reason", reason}
	if t.cur != nil {
		attrs = append(attrs, "topic", t.cur.Topic, "partition", t.cur.Partition, "offset", t.cur.Offset)
	}
	t.logger.Debug("streams: skipping record", attrs...)
}

// suffixed returns Named's name with suffix, or "" (a generated name) without one.
func suffixed(named, suffix string) string {
	if named == "" {
		return ""
	}
	return named + suffix
}

// repartitionForJoin repartitions a re-keyed stream before a join, through
// "<name>-repartition": name is Named's with suffix ("-left", "-right"), or the node
// name of the stream, as in Kafka Streams.
func repartitionForJoin[K, V any](s Stream[K, V], named, suffix string) Stream[K, V] {
	if !s.keyChanged {
		return s
	}
	base := s.n.name
	if named != "" {
		base = named + suffix
	} else if r, ok := s.b.joinSources[s.n].(Stream[K, V]); ok {
		return r // joined before: its repartition topic serves again, as in Kafka Streams
	}
	if s.keySerde() == nil || s.valueSerde() == nil {
		s.b.fail("join after %s repartitions the stream and needs serdes: set them with WithSerdes", s.n.name)
	}
	r := s.repartition(base, 0)
	if named == "" {
		if s.b.joinSources == nil {
			s.b.joinSources = map[*gnode]any{}
		}
		s.b.joinSources[s.n] = r
	}
	return r
}

func ptrTo[V any](v V, ok bool) *V {
	if !ok {
		return nil
	}
	return &v
}

// changeMerge adds the node that merges the updates of a table join's sides (Kafka
// Streams' KTableKTableJoinMerger), materialized in a store when As is given.
func changeMerge[K, V any](b *Builder, o options, ins []*fanout[K, Change[V]], parents []*gnode, ks Serde[K], vs Serde[V]) Table[K, V] {
	n := b.addNode(kindProcessor, o.name, "KTABLE-MERGE-", parents...)
	res := Table[K, V]{b: b, n: n, ks: ks, vs: vs, store: o.store}
	if o.store != "" {
		if ks == nil || vs == nil {
			b.fail("materialized table %q needs key and value serdes", o.store)
		}
		b.addStore(newKVSpec(o.store, ks, vs, o))
		b.connect(n, o.store)
	}
	res.out = link(ins, n, func(tc *task, fw forwarder[K, Change[V]]) (proc[K, Change[V]], error) {
		if res.store == "" {
			return funcProc[K, Change[V]](fw.forward), nil
		}
		st := tc.stores[res.store].(*KeyValueStore[K, V])
		emit := tableEmitter(st, fw)
		return funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			var err error
			if r.Value.HasNew {
				err = st.Put(r.Key, r.Value.New)
			} else {
				err = st.Delete(r.Key)
			}
			if err != nil {
				return err
			}
			return emit(r)
		}), nil
	})
	return res
}
