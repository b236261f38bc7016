package streams

import (
	"errors"
	"fmt"
)

// TimeWindowedStream is a grouped stream windowed by TimeWindows or SlidingWindows,
// ready for aggregation (Kafka Streams' TimeWindowedKStream). Its aggregations return
// tables keyed by Windowed[K], kept in window stores and serialized with
// TimeWindowedSerde.
type TimeWindowedStream[K, V any] struct {
	g    GroupedStream[K, V]
	w    windowing
	emit EmitStrategy
}

// WindowedBy windows g by time: TimeWindows (tumbling or hopping) or SlidingWindows
// (Kafka Streams' KGroupedStream.windowedBy). It is a function, not a method, because
// its tables' keys are Windowed[K].
func WindowedBy[K, V any](g GroupedStream[K, V], w FixedWindows) TimeWindowedStream[K, V] {
	ws := w.timeWindowing()
	if ws.err != nil {
		g.s.b.errs = append(g.s.b.errs, ws.err)
	}
	return TimeWindowedStream[K, V]{g: g, w: ws}
}

// Emit sets when the aggregation forwards results: OnWindowUpdate (default) or
// OnWindowClose (Kafka Streams' emitStrategy).
func (s TimeWindowedStream[K, V]) Emit(e EmitStrategy) TimeWindowedStream[K, V] {
	s.emit = e
	return s
}

// Count counts the records of each key and window. As names the window store;
// WithRetention sets its retention, InMemory and WithLoggingDisabled apply. Like
// key-value aggregations, the store has a record cache: the updates of a window
// coalesce until the task commits (WithCachingDisabled forwards every update).
func (s TimeWindowedStream[K, V]) Count(opts ...Option) Table[Windowed[K], int64] {
	return windowAggregate(s, collect(opts), Int64(), func(_ K, _ V, old int64, _ bool) int64 { return old + 1 })
}

// Reduce combines the values of each key and window with f, the first value standing
// alone.
func (s TimeWindowedStream[K, V]) Reduce(f func(agg, v V) V, opts ...Option) Table[Windowed[K], V] {
	return windowAggregate(s, collect(opts), s.g.s.vs, func(_ K, v V, old V, found bool) V {
		if !found {
			return v
		}
		return f(old, v)
	})
}

// WindowedAggregate folds the values of each key and window into an aggregate of type
// A, starting from init(), with values serialized by as (nil: default serde).
func WindowedAggregate[K, V, A any](s TimeWindowedStream[K, V], init func() A, f func(k K, v V, agg A) A, as Serde[A], opts ...Option) Table[Windowed[K], A] {
	return windowAggregate(s, collect(opts), as, func(k K, v V, old A, found bool) A {
		if !found {
			old = init()
		}
		return f(k, v, old)
	})
}

// groupedSource returns the stream an aggregation of g reads (repartitioned if its key
// changed) and the name of the aggregation's store.
func groupedSource[K, V any](g GroupedStream[K, V], o options) (Stream[K, V], string) {
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
	return s, storeName
}

// windowAggregate adds the aggregation of s into a window store; step computes the new
// aggregate from the old one (found false: none yet).
func windowAggregate[K, V, A any](ws TimeWindowedStream[K, V], o options, as Serde[A], step func(k K, v V, old A, found bool) A) Table[Windowed[K], A] {
	b := ws.g.s.b
	s, storeName := groupedSource(ws.g, o)
	ks := s.keySerde()
	as = orDefault(as)
	if ks == nil || as == nil {
		b.fail("windowed aggregation into store %q needs key and value serdes", storeName)
	}
	w := ws.w
	spec := newWindowSpec(storeName, ks, as, max(w.size, 1), o, true)
	spec.windowed.window.Retention = retentionFor(b, storeName, o, w.retention)
	b.addStore(spec)
	n := b.addNode(kindProcessor, o.name, "KSTREAM-AGGREGATE-", s.n)
	b.connect(n, storeName)
	b.setGrace(n, w.grace)
	emitStore := ""
	if ws.emit == OnWindowClose {
		emitStore = addEmitStore(b, n, storeName, o)
	}
	out := link(s.fans(), n, func(tc *task, fw forwarder[Windowed[K], Change[A]]) (proc[K, V], error) {
		p := &windowAggProc[K, V, A]{
			tc: tc, node: n.name, st: tc.stores[storeName].(*WindowStore[K, A]), w: w, step: step,
			fw: fw, emit: ws.emit, observed: -1, lastEmit: -1,
		}
		if ws.emit == OnWindowUpdate && p.st.cache != nil {
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
	t := Table[Windowed[K], A]{b: b, n: n, out: out, ks: TimeWindowedSerde(ks, w.size), vs: as, store: storeName}
	t.get = &getterSpec[Windowed[K], A]{stores: []string{storeName}, make: func(tc *task) func(k Windowed[K]) (A, bool, error) {
		st := tc.stores[storeName].(*WindowStore[K, A])
		return func(k Windowed[K]) (A, bool, error) { return st.Fetch(k.Key, k.Window.Start) }
	}}
	return t
}

// addEmitStore adds the key-value store in which an aggregation that emits on window
// close keeps how far it has emitted (Kafka Streams keeps it in the committed offsets'
// metadata), so that a restarted task neither repeats nor skips final results.
func addEmitStore(b *Builder, n *gnode, storeName string, o options) string {
	name := storeName + "-emit-progress"
	spec := newKVSpec(name, String(), Int64(), options{inMemory: o.inMemory, noLog: o.noLog, noCache: true})
	b.addStore(spec)
	b.connect(n, name)
	return name
}

// loadEmitProgress returns a task's emit-progress store and the window end up to which
// the aggregation keeping storeName has emitted (-1 when it has not yet).
func loadEmitProgress(tc *task, emitStore, storeName string) (*KeyValueStore[string, int64], int64, error) {
	st := tc.stores[emitStore].(*KeyValueStore[string, int64])
	last, found, err := st.Get(storeName)
	if err != nil || !found {
		return st, -1, err
	}
	return st, last, nil
}

// windowAggProc is the processor of a time- or sliding-windowed aggregation of one task.
type windowAggProc[K, V, A any] struct {
	tc       *task
	node     string
	st       *WindowStore[K, A]
	w        windowing
	step     func(k K, v V, old A, found bool) A
	fw       forwarder[Windowed[K], Change[A]]
	emit     EmitStrategy
	observed int64 // the largest timestamp the processor has seen, -1 before any
	lastEmit int64 // OnWindowClose: the close time up to which results were emitted
	emitSt   *KeyValueStore[string, int64]
	cached   bool // updates reach downstream when the store's cache flushes
}

// winAgg is a window of the store with its aggregate and the largest timestamp in it.
type winAgg[A any] struct {
	start int64
	agg   A
	ts    int64
}

// dropLate counts and logs (at debug level) a record that came too late for its
// window, as Kafka Streams' dropped-records sensor does.
func dropLate(tc *task, node string, w Window, ts, closeTime, streamTime int64) {
	tc.dropped.Add(1)
	attrs := []any{"processor", node, "window", w.String(), "timestamp", ts, "expiration", closeTime, "streamTime", streamTime}
	if tc.cur != nil {
		attrs = append(attrs, "topic", tc.cur.Topic, "partition", tc.cur.Partition, "offset", tc.cur.Offset)
	}
	tc.logger.Debug("streams: skipping record for expired window", attrs...)
}

// dropNull counts a record without key or value, which aggregations skip.
func dropNull(tc *task, node string) { tc.dropRecord(node, "null key or value") }

func (p *windowAggProc[K, V, A]) process(r Record[K, V]) error {
	if r.nullKey || r.Tombstone {
		dropNull(p.tc, p.node)
		return nil
	}
	ts := r.Timestamp
	p.observed = max(p.observed, ts)
	closeTime := p.observed - p.w.grace
	var err error
	if p.w.tw != nil {
		err = p.processTime(r, closeTime)
	} else {
		err = p.processSliding(r, closeTime)
	}
	if err != nil {
		return err
	}
	if p.emit == OnWindowClose {
		return p.emitClosed(r, closeTime)
	}
	return nil
}

// processTime adds r to each of its tumbling or hopping windows still open.
func (p *windowAggProc[K, V, A]) processTime(r Record[K, V], closeTime int64) error {
	for _, win := range p.w.tw.windowsFor(r.Timestamp) {
		if win.End <= closeTime {
			dropLate(p.tc, p.node, win, r.Timestamp, closeTime, p.observed)
			continue
		}
		old, oldTs, found, err := p.st.fetch(r.Key, win.Start)
		if err != nil {
			return err
		}
		if err := p.update(r, win, winAgg[A]{start: win.Start, agg: old, ts: oldTs}, found); err != nil {
			return err
		}
	}
	return nil
}

// update adds r to the window win whose aggregate is cur (found false: a new window),
// stores the result with the largest timestamp and forwards it.
func (p *windowAggProc[K, V, A]) update(r Record[K, V], win Window, cur winAgg[A], found bool) error {
	nv := p.step(r.Key, r.Value, cur.agg, found)
	ts := r.Timestamp
	if found {
		ts = max(ts, cur.ts)
	}
	if err := p.st.put(r.Key, nv, win.Start, ts); err != nil {
		return err
	}
	return p.forward(r, win, Change[A]{New: nv, Old: cur.agg, HasNew: true, HasOld: found}, ts)
}

func (p *windowAggProc[K, V, A]) forward(r Record[K, V], win Window, c Change[A], ts int64) error {
	if p.emit != OnWindowUpdate || p.cached {
		return nil
	}
	return p.fw.forward(Record[Windowed[K], Change[A]]{Key: Windowed[K]{Key: r.Key, Window: win}, Value: c, Timestamp: ts, Headers: r.Headers})
}

// emitClosed forwards the final aggregate of every window closed since the last call:
// the time windows ending at or before closeTime, the sliding windows ending before it.
func (p *windowAggProc[K, V, A]) emitClosed(r Record[K, V], closeTime int64) error {
	if p.lastEmit >= 0 && closeTime <= p.lastEmit {
		return nil
	}
	// lastStart returns the start of the newest window closed at close time c.
	lastStart := func(c int64) int64 { return c - p.w.size }
	if p.w.sw != nil {
		lastStart = func(c int64) int64 { return c - p.w.size - 1 }
	}
	from := int64(0)
	if p.lastEmit >= 0 {
		from = max(0, lastStart(p.lastEmit)+1)
	}
	if to := lastStart(closeTime); to >= from {
		it, err := p.st.FetchAll(from, to)
		if err != nil {
			return err
		}
		for it.Next() {
			k := it.Key()
			rec := Record[Windowed[K], Change[A]]{Key: k, Value: Change[A]{New: it.Value(), HasNew: true}, Timestamp: it.Timestamp(), Headers: r.Headers}
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

// processSliding adds r to the sliding windows it falls into, creating the windows that
// start or end at it (KIP-450): a record at t updates every window containing t, gets a
// window [t-d, t] holding it and the records before it within d, and a window
// [t+1, t+1+d] when records after it fall within d; the previous record's window
// [prev+1, prev+1+d] is created when t falls into it.
func (p *windowAggProc[K, V, A]) processSliding(r Record[K, V], closeTime int64) error {
	ts, d := r.Timestamp, p.w.size
	if ts+1+d <= closeTime {
		dropLate(p.tc, p.node, Window{Start: ts - d, End: ts}, ts, closeTime, p.observed)
		return nil
	}
	if ts < d {
		return p.processEarly(r, closeTime)
	}
	wins, err := p.fetchWindows(r.Key, max(0, ts-2*d), ts+1)
	if err != nil {
		return err
	}
	starts := map[int64]bool{}
	var left, right *winAgg[A]
	leftDone, rightDone := false, false
	prev, hasPrev := int64(0), false
	for i := range wins {
		cur := &wins[i]
		starts[cur.start] = true
		end := cur.start + d
		switch {
		case end < ts: // ends before the record: the newest such one holds the previous records
			left, prev, hasPrev = cur, cur.ts, true
		case end == ts: // the record's own left window exists already
			leftDone = true
			if cur.ts < ts {
				prev, hasPrev = cur.ts, true
			}
			err = p.updateSliding(r, cur.start, *cur, true, closeTime)
		case cur.start <= ts: // contains the record
			right = cur
			err = p.updateSliding(r, cur.start, *cur, true, closeTime)
		case cur.start == ts+1: // the record's right window exists already
			rightDone = true
		default:
			err = fmt.Errorf("streams: %s: unexpected sliding window starting at %d for a record at %d", p.node, cur.start, ts)
		}
		if err != nil {
			return err
		}
	}
	if hasPrev && !starts[prev+1] && prev+1+d >= ts {
		// The previous record's right window, which this record is the first to enter.
		if err := p.updateSliding(r, prev+1, winAgg[A]{}, false, closeTime); err != nil {
			return err
		}
	}
	if !leftDone {
		cur, found := winAgg[A]{ts: ts}, false
		if hasPrev && ts-d <= prev {
			cur.agg, found = left.agg, true
		}
		if err := p.updateSliding(r, ts-d, cur, found, closeTime); err != nil {
			return err
		}
	}
	if !rightDone && right != nil && right.ts > ts {
		return p.createRight(r, *right)
	}
	return nil
}

// processEarly handles a record at t < d, whose left window would start before the
// epoch: the window [0, d] stands for the left windows of all such records.
func (p *windowAggProc[K, V, A]) processEarly(r Record[K, V], closeTime int64) error {
	ts := r.Timestamp
	wins, err := p.fetchWindows(r.Key, 0, ts+1)
	if err != nil {
		return err
	}
	starts := map[int64]bool{}
	var combined, right *winAgg[A]
	rightDone := false
	prev, hasPrev := int64(0), false
	for i := range wins {
		cur := &wins[i]
		starts[cur.start] = true
		switch {
		case cur.start == 0:
			combined = cur
			if cur.ts < ts {
				prev, hasPrev = cur.ts, true
			}
		case cur.start <= ts:
			right = cur
			err = p.updateSliding(r, cur.start, *cur, true, closeTime)
		case cur.start == ts+1:
			rightDone = true
		default:
			err = fmt.Errorf("streams: %s: unexpected sliding window starting at %d for an early record at %d", p.node, cur.start, ts)
		}
		if err != nil {
			return err
		}
	}
	if right == nil && combined != nil && combined.ts > ts {
		right = combined
	}
	if !rightDone && right != nil && right.ts > ts {
		if err := p.createRight(r, *right); err != nil {
			return err
		}
	}
	if hasPrev && !starts[prev+1] {
		if err := p.updateSliding(r, prev+1, winAgg[A]{}, false, closeTime); err != nil {
			return err
		}
	}
	if combined == nil {
		return p.updateSliding(r, 0, winAgg[A]{ts: ts}, false, closeTime)
	}
	return p.updateSliding(r, 0, *combined, true, closeTime)
}

// updateSliding adds r to the sliding window starting at start unless it has closed.
func (p *windowAggProc[K, V, A]) updateSliding(r Record[K, V], start int64, cur winAgg[A], found bool, closeTime int64) error {
	win := Window{Start: start, End: start + p.w.size}
	if win.End < closeTime {
		dropLate(p.tc, p.node, win, r.Timestamp, closeTime, p.observed)
		return nil
	}
	return p.update(r, win, cur, found)
}

// createRight creates the record's right window [t+1, t+1+d] with the aggregate of the
// records after it, taken from the window right (which holds them and no record before t).
func (p *windowAggProc[K, V, A]) createRight(r Record[K, V], right winAgg[A]) error {
	start := r.Timestamp + 1
	if err := p.st.put(r.Key, right.agg, start, right.ts); err != nil {
		return err
	}
	win := Window{Start: start, End: start + p.w.size}
	return p.forward(r, win, Change[A]{New: right.agg, HasNew: true}, right.ts)
}

// fetchWindows returns k's windows starting in [from, to], oldest first.
func (p *windowAggProc[K, V, A]) fetchWindows(k K, from, to int64) ([]winAgg[A], error) {
	it, err := p.st.FetchRange(k, from, to)
	if err != nil {
		return nil, err
	}
	var out []winAgg[A]
	for it.Next() {
		out = append(out, winAgg[A]{start: it.Key().Window.Start, agg: it.Value(), ts: it.Timestamp()})
	}
	return out, errors.Join(it.Err(), it.Close())
}
