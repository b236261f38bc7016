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

// cogroupInput is one input of a cogrouped aggregation, with its value type hidden:
// prepare repartitions it if needed (once) and returns its key serde; keyed and
// windowed add its aggregation node over the shared store.
type cogroupInput[K, A any] struct {
	prepare  func(store string, i int, repartitioned *bool) Serde[K]
	keyed    func(store string, init func() A) (*gnode, *fanout[K, Change[A]])
	windowed func(store string, init func() A, w windowing) (*gnode, *fanout[Windowed[K], Change[A]])
}

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
	s := g.s
	in := cogroupInput[K, A]{}
	in.prepare = func(store string, i int, repartitioned *bool) Serde[K] {
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
		return s.keySerde()
	}
	in.keyed = func(store string, init func() A) (*gnode, *fanout[K, Change[A]]) {
		n := s.b.addNode(kindProcessor, "", "COGROUPKSTREAM-AGGREGATE-", s.n)
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
		return n, out
	}
	in.windowed = func(store string, init func() A, w windowing) (*gnode, *fanout[Windowed[K], Change[A]]) {
		n := s.b.addNode(kindProcessor, "", "COGROUPKSTREAM-AGGREGATE-", s.n)
		step := func(k K, v V, old A, found bool) A {
			if !found {
				old = init()
			}
			return agg(k, v, old)
		}
		out := link(s.fans(), n, func(tc *task, fw forwarder[Windowed[K], Change[A]]) (proc[K, V], error) {
			return &windowAggProc[K, V, A]{
				tc: tc, node: n.name, st: tc.stores[store].(*WindowStore[K, A]), w: w, step: step,
				fw: fw, emit: OnWindowUpdate, observed: -1, lastEmit: -1,
			}, nil
		})
		return n, out
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
	storeName, ks := c.prepare(o)
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("cogrouped aggregation into store %q needs key and value serdes", storeName)
	}
	b.addStore(newKVSpec(storeName, ks, as, o))
	var nodes []*gnode
	var outs []*fanout[K, Change[A]]
	for _, in := range c.inputs {
		n, out := in.keyed(storeName, init)
		b.connect(n, storeName)
		nodes, outs = append(nodes, n), append(outs, out)
	}
	n := b.addNode(kindProcessor, o.name, "COGROUPKSTREAM-MERGE-", nodes...)
	out := link(outs, n, func(tc *task, fw forwarder[K, Change[A]]) (proc[K, Change[A]], error) {
		return funcProc[K, Change[A]](fw.forward), nil
	})
	return Table[K, A]{b: b, n: n, out: out, ks: ks, vs: as, store: storeName}
}

// prepare names the store and repartitions the inputs that need it; it returns the
// store name and the key serde.
func (c CogroupedStream[K, A]) prepare(o options) (string, Serde[K]) {
	storeName := o.store
	if storeName == "" {
		storeName = c.b.newName("COGROUPKSTREAM-AGGREGATE-STATE-STORE-")
	}
	var ks Serde[K]
	repartitioned := false
	for i, in := range c.inputs {
		if k := in.prepare(storeName, i, &repartitioned); ks == nil {
			ks = k
		}
	}
	return storeName, ks
}

// TimeWindowedCogroupedStream is a cogrouped aggregation windowed by time (Kafka
// Streams' TimeWindowedCogroupedKStream). Make one with CogroupedStream.WindowedBy.
type TimeWindowedCogroupedStream[K, A any] struct {
	c CogroupedStream[K, A]
	w windowing
}

// WindowedBy windows the cogrouped aggregation with TimeWindows (tumbling or hopping) or
// SlidingWindows: each key and window gets its own aggregate.
func (c CogroupedStream[K, A]) WindowedBy(w FixedWindows) TimeWindowedCogroupedStream[K, A] {
	ws := w.timeWindowing()
	if ws.err != nil {
		c.b.errs = append(c.b.errs, ws.err)
	}
	return TimeWindowedCogroupedStream[K, A]{c: c, w: ws}
}

// Aggregate finishes the windowed cogrouped aggregation: each key and window's
// aggregate starts at init() and every input's aggregator updates it, in one window
// store (As names it; WithRetention sets its retention). Records later than their
// window's end plus the grace period are dropped. The result is keyed by Windowed[K].
func (s TimeWindowedCogroupedStream[K, A]) Aggregate(init func() A, as Serde[A], opts ...Option) Table[Windowed[K], A] {
	o := collect(opts)
	b := s.c.b
	storeName, ks := s.c.prepare(o)
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("windowed cogrouped aggregation into store %q needs key and value serdes", storeName)
	}
	w := s.w
	spec := newWindowSpec(storeName, ks, as, max(w.size, 1), o, true)
	spec.windowed.window.Retention = retentionFor(b, storeName, o, w.retention)
	b.addStore(spec)
	var nodes []*gnode
	var outs []*fanout[Windowed[K], Change[A]]
	for _, in := range s.c.inputs {
		n, out := in.windowed(storeName, init, w)
		b.connect(n, storeName)
		b.setGrace(n, w.grace)
		nodes, outs = append(nodes, n), append(outs, out)
	}
	n := b.addNode(kindProcessor, o.name, "COGROUPKSTREAM-MERGE-", nodes...)
	b.setGrace(n, w.grace)
	out := link(outs, n, func(tc *task, fw forwarder[Windowed[K], Change[A]]) (proc[Windowed[K], Change[A]], error) {
		return funcProc[Windowed[K], Change[A]](fw.forward), nil
	})
	t := Table[Windowed[K], A]{b: b, n: n, out: out, ks: TimeWindowedSerde(ks, w.size), vs: as, store: storeName}
	t.get = &getterSpec[Windowed[K], A]{stores: []string{storeName}, make: func(tc *task) func(k Windowed[K]) (A, bool, error) {
		st := tc.stores[storeName].(*WindowStore[K, A])
		return func(k Windowed[K]) (A, bool, error) { return st.Fetch(k.Key, k.Window.Start) }
	}}
	return t
}
