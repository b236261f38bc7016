package streams

import "strconv"

// CogroupedStream is several grouped streams aggregated into one table (Kafka Streams'
// CogroupedKStream): each input has its own aggregator, and all of them update the same
// aggregate per key, kept in one store. Start one with Cogroup, add inputs with
// CogroupWith and finish with Aggregate.
type CogroupedStream[K, A any] struct {
	b      *Builder
	inputs []cogroupInput[K, A]
}

// cogroupInput adds the aggregation node of one input, given the store, the initializer
// and its index; it returns the node and its output.
type cogroupInput[K, A any] func(store string, init func() A, i int, repartitioned *bool) (*gnode, *fanout[K, Change[A]], Serde[K])

// Cogroup starts a cogrouped aggregation with g's records, folded into the aggregate of
// their key with agg.
func Cogroup[K, V, A any](g GroupedStream[K, V], agg func(k K, v V, a A) A) CogroupedStream[K, A] {
	return CogroupWith(CogroupedStream[K, A]{b: g.s.b}, g, agg)
}

// CogroupWith adds g's records to the cogrouped aggregation c, folded with agg. Streams
// whose key was changed are repartitioned first, through
// "<application.id>-<name>-repartition" (name: GroupBy's Named, else the store name), so
// that all inputs are co-partitioned.
func CogroupWith[K, V, A any](c CogroupedStream[K, A], g GroupedStream[K, V], agg func(k K, v V, a A) A) CogroupedStream[K, A] {
	if g.s.b != c.b {
		c.b.fail("cogroup of streams of different builders")
	}
	in := func(store string, init func() A, i int, repartitioned *bool) (*gnode, *fanout[K, Change[A]], Serde[K]) {
		s := g.s
		b := s.b
		if s.keyChanged {
			base := g.name
			if base == "" {
				base = store
				if *repartitioned {
					base = store + "-" + strconv.Itoa(i)
				}
			}
			*repartitioned = true
			if s.keySerde() == nil || s.valueSerde() == nil {
				b.fail("cogroup of %s repartitions the stream and needs serdes: set them with WithSerdes", s.n.name)
			}
			s = s.repartition(base, g.partitions)
		}
		n := b.addNode(kindProcessor, "", "COGROUPKSTREAM-AGGREGATE-", s.n)
		out := link(s.fans(), n, func(tc *task, fw forwarder[K, Change[A]]) (proc[K, V], error) {
			st := tc.stores[store].(*KeyValueStore[K, A])
			emit := tableEmitter(st, fw)
			return funcProc[K, V](func(r Record[K, V]) error {
				if r.nullKey || r.Tombstone {
					tc.dropRecord(n.name, "null key or value")
					return nil
				}
				old, found, err := st.Get(r.Key)
				if err != nil {
					return err
				}
				a := old
				if !found {
					a = init()
				}
				nv := agg(r.Key, r.Value, a)
				if err := st.Put(r.Key, nv); err != nil {
					return err
				}
				return emit(withKV(r, r.Key, Change[A]{New: nv, Old: old, HasNew: true, HasOld: found}))
			}), nil
		})
		return n, out, s.keySerde()
	}
	c.inputs = append(append([]cogroupInput[K, A](nil), c.inputs...), in)
	return c
}

// Aggregate finishes the cogrouped aggregation: each key's aggregate starts at init()
// and every input's aggregator updates it. as serializes the aggregate (nil: default
// serde); As names the store (default "COGROUPKSTREAM-AGGREGATE-STATE-STORE-<n>").
func (c CogroupedStream[K, A]) Aggregate(init func() A, as Serde[A], opts ...Option) Table[K, A] {
	o := collect(opts)
	b := c.b
	storeName := o.store
	if storeName == "" {
		storeName = b.newName("COGROUPKSTREAM-AGGREGATE-STATE-STORE-")
	}
	var nodes []*gnode
	var outs []*fanout[K, Change[A]]
	var ks Serde[K]
	repartitioned := false
	for i, in := range c.inputs {
		n, out, k := in(storeName, init, i, &repartitioned)
		nodes, outs = append(nodes, n), append(outs, out)
		if ks == nil {
			ks = k
		}
	}
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("cogrouped aggregation into store %q needs key and value serdes", storeName)
	}
	b.addStore(newKVSpec(storeName, ks, as, o))
	for _, n := range nodes {
		b.connect(n, storeName)
	}
	n := b.addNode(kindProcessor, o.name, "COGROUPKSTREAM-MERGE-", nodes...)
	out := link(outs, n, func(tc *task, fw forwarder[K, Change[A]]) (proc[K, Change[A]], error) {
		return funcProc[K, Change[A]](fw.forward), nil
	})
	return Table[K, A]{b: b, n: n, out: out, ks: ks, vs: as, store: storeName}
}
