package streams

import "errors"

// SessionWindowedStream is a grouped stream windowed by SessionWindows, ready for
// aggregation (Kafka Streams' SessionWindowedKStream). Its aggregations return tables
// keyed by Windowed[K] (the session's first and last record times), kept in session
// stores and serialized with SessionWindowedSerde. When a record merges sessions, the
// merged ones are deleted downstream (tombstones) and the new session forwarded.
type SessionWindowedStream[K, V any] struct {
	g    GroupedStream[K, V]
	w    SessionWindows
	emit EmitStrategy
}

// SessionWindowedBy windows g into sessions (Kafka Streams' KGroupedStream.windowedBy
// with SessionWindows).
func SessionWindowedBy[K, V any](g GroupedStream[K, V], w SessionWindows) SessionWindowedStream[K, V] {
	if w.err != nil {
		g.s.b.errs = append(g.s.b.errs, w.err)
	}
	return SessionWindowedStream[K, V]{g: g, w: w}
}

// Emit sets when the aggregation forwards results: OnWindowUpdate (default) or
// OnWindowClose, which forwards each session once, after stream time has passed its
// end plus the inactivity gap and the grace period, and never forwards the sessions a
// merge replaced.
func (s SessionWindowedStream[K, V]) Emit(e EmitStrategy) SessionWindowedStream[K, V] {
	s.emit = e
	return s
}

// sessionOps are the functions of one session aggregation. A running aggregate may be
// absent (found false) for reductions, which have no initial value.
type sessionOps[K, V, A any] struct {
	init  func() (A, bool)
	add   func(k K, v V, agg A, found bool) A
	merge func(k K, a, b A) A
}

// Count counts the records of each session. As names the session store;
// WithRetention, InMemory, WithLoggingDisabled and WithCachingDisabled apply (with the
// cache, sessions created and merged between two commits never reach downstream).
func (s SessionWindowedStream[K, V]) Count(opts ...Option) Table[Windowed[K], int64] {
	return sessionAggregate(s, collect(opts), Int64(), sessionOps[K, V, int64]{
		init:  func() (int64, bool) { return 0, true },
		add:   func(_ K, _ V, n int64, _ bool) int64 { return n + 1 },
		merge: func(_ K, a, b int64) int64 { return a + b },
	})
}

// Reduce combines the values of each session with f; merging sessions combines their
// aggregates with f too.
func (s SessionWindowedStream[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[Windowed[K], V] {
	return sessionAggregate(s, collect(opts), s.g.s.vs, sessionOps[K, V, V]{
		init: func() (V, bool) { var zero V; return zero, false },
		add: func(_ K, v V, agg V, found bool) V {
			if !found {
				return v
			}
			return f(agg, v)
		},
		merge: func(_ K, a, b V) V { return f(a, b) },
	})
}

// SessionAggregate folds the values of each session into an aggregate of type A,
// starting from init(); merger combines the aggregates of sessions a record merges
// (Kafka Streams' Merger). Values are serialized by as (nil: default serde).
func SessionAggregate[K, V, A any](s SessionWindowedStream[K, V], init func() A, f func(k K, v V, agg A) A, merger func(k K, a, b A) A, as Serde[A], opts ...Option) Table[Windowed[K], A] {
	return sessionAggregate(s, collect(opts), as, sessionOps[K, V, A]{
		init:  func() (A, bool) { return init(), true },
		add:   func(k K, v V, agg A, _ bool) A { return f(k, v, agg) },
		merge: merger,
	})
}

func sessionAggregate[K, V, A any](ss SessionWindowedStream[K, V], o options, as Serde[A], ops sessionOps[K, V, A]) Table[Windowed[K], A] {
	b := ss.g.s.b
	s, storeName := groupedSource(ss.g, o)
	ks := s.keySerde()
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("session aggregation into store %q needs key and value serdes", storeName)
	}
	spec := newSessionSpec(storeName, ks, as, o)
	spec.windowed.sess.Retention = retentionFor(b, storeName, o, ss.w.gap+ss.w.grace)
	b.addStore(spec)
	n := b.addNode(kindProcessor, o.name, "KSTREAM-AGGREGATE-", s.n)
	b.connect(n, storeName)
	// A session can grow until stream time passes its end plus gap plus grace.
	b.setGrace(n, ss.w.grace+ss.w.gap)
	emitStore := ""
	if ss.emit == OnWindowClose {
		emitStore = addEmitStore(b, n, storeName, o)
	}
	out := link(s.fans(), n, func(tc *task, fw forwarder[Windowed[K], Change[A]]) (proc[K, V], error) {
		p := &sessionProc[K, V, A]{
			tc: tc, node: n.name, st: tc.stores[storeName].(*SessionStore[K, A]), w: ss.w, ops: ops,
			fw: fw, emit: ss.emit, observed: -1, lastEmit: -1,
		}
		if ss.emit == OnWindowUpdate && p.st.cache != nil {
			p.cached = true // the cache forwards what it flushes
			p.st.forwardFlushes(fw)
		}
		if emitStore != "" {
			var err error
			if p.emitSt, p.lastEmit, err = loadEmitProgress(tc, emitStore, storeName); err != nil {
				return nil, err
			}
		}
		return p, nil
	})
	t := Table[Windowed[K], A]{b: b, n: n, out: out, ks: SessionWindowedSerde(ks), vs: as, store: storeName}
	t.get = &getterSpec[Windowed[K], A]{stores: []string{storeName}, make: func(tc *task) func(k Windowed[K]) (A, bool, error) {
		st := tc.stores[storeName].(*SessionStore[K, A])
		return func(k Windowed[K]) (A, bool, error) { return st.FetchSession(k.Key, k.Window) }
	}}
	return t
}

// sessionProc is the processor of a session aggregation of one task.
type sessionProc[K, V, A any] struct {
	tc       *task
	node     string
	st       *SessionStore[K, A]
	w        SessionWindows
	ops      sessionOps[K, V, A]
	fw       forwarder[Windowed[K], Change[A]]
	emit     EmitStrategy
	observed int64
	lastEmit int64
	emitSt   *KeyValueStore[string, int64]
	cached   bool // updates reach downstream when the store's cache flushes
}

type session[A any] struct {
	w   Window
	agg A
}

func (p *sessionProc[K, V, A]) process(r Record[K, V]) error {
	if r.nullKey || r.Tombstone {
		dropNull(p.tc, p.node)
		return nil
	}
	ts := r.Timestamp
	p.observed = max(p.observed, ts)
	closeTime := p.observed - p.w.grace
	// The sessions this record touches: those ending no more than the gap before it
	// and starting no more than the gap after it.
	it, err := p.st.FindSessions(r.Key, ts-p.w.gap, ts+p.w.gap)
	if err != nil {
		return err
	}
	var merged []session[A]
	for it.Next() {
		merged = append(merged, session[A]{w: it.Key().Window, agg: it.Value()})
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	own := Window{Start: ts, End: ts}
	win := own
	agg, found := p.ops.init()
	for _, s := range merged {
		if found {
			agg = p.ops.merge(r.Key, agg, s.agg)
		} else {
			agg, found = s.agg, true
		}
		win = Window{Start: min(win.Start, s.w.Start), End: max(win.End, s.w.End)}
	}
	if win.End < closeTime {
		dropLate(p.tc, p.node, win, ts, closeTime, p.observed)
		return nil
	}
	if win != own {
		for _, s := range merged {
			if err := p.st.Remove(r.Key, s.w); err != nil {
				return err
			}
			if err := p.forward(r, s.w, Change[A]{Old: s.agg, HasOld: true}); err != nil {
				return err
			}
		}
	}
	agg = p.ops.add(r.Key, r.Value, agg, found)
	if err := p.st.Put(r.Key, win, agg); err != nil {
		return err
	}
	if err := p.forward(r, win, Change[A]{New: agg, HasNew: true}); err != nil {
		return err
	}
	if p.emit == OnWindowClose {
		// A session ending at e still grows with a record at e+gap, which is not late
		// until stream time passes e+gap+grace.
		return p.emitClosed(r, closeTime-p.w.gap)
	}
	return nil
}

// forward passes a session update downstream, timestamped with the session's end.
func (p *sessionProc[K, V, A]) forward(r Record[K, V], w Window, c Change[A]) error {
	if p.emit != OnWindowUpdate || p.cached {
		return nil
	}
	return p.fw.forward(Record[Windowed[K], Change[A]]{Key: Windowed[K]{Key: r.Key, Window: w}, Value: c, Timestamp: w.End, Headers: r.Headers})
}

// emitClosed forwards every session that ended before closeTime (stream time minus
// grace and gap) and not before the previous close time: no record can reach those
// sessions any more.
func (p *sessionProc[K, V, A]) emitClosed(r Record[K, V], closeTime int64) error {
	if p.lastEmit >= 0 && closeTime <= p.lastEmit {
		return nil
	}
	from := int64(0)
	if p.lastEmit >= 0 {
		from = p.lastEmit
	}
	if closeTime > from {
		it, err := p.st.FindSessionsByEnd(from, closeTime-1)
		if err != nil {
			return err
		}
		for it.Next() {
			k := it.Key()
			rec := Record[Windowed[K], Change[A]]{Key: k, Value: Change[A]{New: it.Value(), HasNew: true}, Timestamp: k.Window.End, Headers: r.Headers}
			if err := p.fw.forward(rec); err != nil {
				_ = it.Close()
				return err
			}
		}
		if err := errors.Join(it.Err(), it.Close()); err != nil {
			return err
		}
	}
	p.lastEmit = closeTime
	return p.emitSt.Put(p.st.name, closeTime)
}
