package streams

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// StreamJoin joins two streams on their keys within windows (Kafka Streams'
// KStream#join(KStream, ValueJoiner, JoinWindows)): a record of s at time t joins every
// record of other with the same key whose time lies in [t-before, t+after], and the
// other way round; each pair is emitted once, when its second record arrives, at the
// larger of the two timestamps. Records with a null key or value are dropped, as are
// records arriving after their window closed plus the grace period. Both sides are kept
// in window stores with duplicates (retention before+after+grace), named
// "<store>-this-join-store" and "<store>-other-join-store" with As(store). Re-keyed
// inputs are repartitioned first ("<name>-left-repartition", "<name>-right-repartition"
// with Named(name)), so that both sides are co-partitioned.
func StreamJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], joiner func(k K, v V, vo VO) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(s, other, collect(opts), innerJoin, w, func(k K, v *V, vo *VO) VR { return joiner(k, *v, *vo) })
}

// StreamLeftJoin is StreamJoin that also emits each record of s that joined nothing,
// with a nil vo, once its window has closed (plus grace), so that a late partner within
// the window still yields a joined result instead (Kafka 3.1's behaviour, with an
// "outer-shared-join-store"). A record of s with a null key is emitted at once with a
// nil vo (Kafka 3.7's KIP-962).
func StreamLeftJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], joiner func(k K, v V, vo *VO) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(s, other, collect(opts), leftJoin, w, func(k K, v *V, vo *VO) VR { return joiner(k, *v, vo) })
}

// StreamOuterJoin is StreamLeftJoin for both sides: a record of either stream that
// joined nothing is emitted with nil for the other side once its window has closed.
func StreamOuterJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], joiner func(k K, v *V, vo *VO) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(s, other, collect(opts), outerJoin, w, joiner)
}

// joinSide is the part of a stream-stream join one side's processors need.
type joinSide struct {
	left       bool  // this is the left stream
	outer      bool  // this side's records that join nothing are emitted
	before     int64 // this side's record at t joins the other's in [t-before, t+after]
	after      int64
	thisStore  string
	otherStore string
}

// joinTime is the state the two processors of a join share in a task (Kafka Streams'
// TimeTracker): the largest timestamp either side has seen, and a lower bound of the
// timestamps in the outer-join store.
type joinTime struct {
	streamTime int64
	minTime    int64
}

func streamJoin[K, V, VO, VR any](s Stream[K, V], other Stream[K, VO], o options, kind joinKind, w JoinWindows, joiner func(k K, v *V, vo *VO) VR) Stream[K, VR] {
	b := s.b
	if err := w.validate(); err != nil {
		b.errs = append(b.errs, err)
	}
	s = repartitionForJoin(s, o.name, "-left")
	other = repartitionForJoin(other, o.name, "-right")
	ks, vs, ovs := s.keySerde(), s.valueSerde(), other.valueSerde()
	if ks == nil || vs == nil || ovs == nil {
		b.fail("stream-stream join of %s and %s needs serdes for the key and both values: set them with WithSerdes", s.n.name, other.n.name)
	}
	thisPrefix, otherPrefix := "KSTREAM-JOINTHIS-", "KSTREAM-JOINOTHER-"
	thisSuffix, otherSuffix := "-join-this", "-join-other"
	if kind == outerJoin {
		thisPrefix, thisSuffix = "KSTREAM-OUTERTHIS-", "-outer-this"
	}
	if kind != innerJoin {
		otherPrefix, otherSuffix = "KSTREAM-OUTEROTHER-", "-outer-other"
	}
	thisWin := b.addNode(kindProcessor, suffixed(o.name, "-this-windowed"), "KSTREAM-WINDOWED-", s.n)
	otherWin := b.addNode(kindProcessor, suffixed(o.name, "-other-windowed"), "KSTREAM-WINDOWED-", other.n)
	thisJoin := b.addNode(kindProcessor, suffixed(o.name, thisSuffix), thisPrefix, thisWin)
	otherJoin := b.addNode(kindProcessor, suffixed(o.name, otherSuffix), otherPrefix, otherWin)

	thisStore, otherStore, outerStore := thisJoin.name+"-store", otherJoin.name+"-store", ""
	if o.store != "" {
		thisStore, otherStore = o.store+"-this-join-store", o.store+"-other-join-store"
	}
	retention := w.before + w.after + w.grace
	size := w.before + w.after
	addJoinWindowStore(b, thisStore, ks, vs, retention, size, o)
	addJoinWindowStore(b, otherStore, ks, ovs, retention, size, o)
	b.connect(thisWin, thisStore)
	b.connect(otherWin, otherStore)
	b.connect(thisJoin, otherStore)
	b.connect(otherJoin, thisStore)
	if kind != innerJoin {
		outerStore = b.newName("KSTREAM-OUTERSHARED-") + "-store"
		if o.store != "" {
			outerStore = o.store + "-outer-shared-join-store"
		}
		b.addStore(newKVSpec(outerStore, Bytes(), Bytes(), options{noCache: true, inMemory: o.inMemory, noLog: o.noLog}))
		b.connect(thisJoin, outerStore)
		b.connect(otherJoin, outerStore)
	}
	shared := &gnode{} // per-task key of the joinTime both sides share
	thisSide := joinSide{left: true, outer: kind != innerJoin, before: w.before, after: w.after, thisStore: thisStore, otherStore: otherStore}
	otherSide := joinSide{outer: kind == outerJoin, before: w.after, after: w.before, thisStore: otherStore, otherStore: thisStore}

	thisWinOut := windowedNode(s, thisWin, thisSide, w.grace, shared)
	otherWinOut := windowedNode(other, otherWin, otherSide, w.grace, shared)
	thisOut := link([]*fanout[K, V]{thisWinOut}, thisJoin, func(tc *task, fw forwarder[K, VR]) (proc[K, V], error) {
		p := &ssJoin[K, V, VO, VR]{tc: tc, node: thisJoin.name, side: thisSide, grace: w.grace, wbefore: w.before, wafter: w.after,
			t: sharedJoinTime(tc, shared), ks: ks, vs: vs, ovs: ovs, fw: fw, joiner: joiner,
			others: joinWindowFetcher[K, VO](tc, otherStore)}
		if outerStore != "" {
			p.outerStore = tc.stores[outerStore].(*KeyValueStore[[]byte, []byte])
		}
		return funcProc[K, V](p.process), nil
	})
	otherOut := link([]*fanout[K, VO]{otherWinOut}, otherJoin, func(tc *task, fw forwarder[K, VR]) (proc[K, VO], error) {
		// The mirror image: the joiner and the values are swapped back in place.
		p := &ssJoin[K, VO, V, VR]{tc: tc, node: otherJoin.name, side: otherSide, grace: w.grace, wbefore: w.before, wafter: w.after,
			t: sharedJoinTime(tc, shared), ks: ks, vs: ovs, ovs: vs, fw: fw,
			joiner: func(k K, vo *VO, v *V) VR { return joiner(k, v, vo) }, others: joinWindowFetcher[K, V](tc, thisStore)}
		if outerStore != "" {
			p.outerStore = tc.stores[outerStore].(*KeyValueStore[[]byte, []byte])
		}
		return funcProc[K, VO](p.process), nil
	})
	merge := b.addNode(kindProcessor, suffixed(o.name, "-merge"), "KSTREAM-MERGE-", thisJoin, otherJoin)
	out := link([]*fanout[K, VR]{thisOut, otherOut}, merge, func(tc *task, fw forwarder[K, VR]) (proc[K, VR], error) {
		return funcProc[K, VR](fw.forward), nil
	})
	return Stream[K, VR]{b: b, n: merge, out: out, ks: s.ks}
}

func sharedJoinTime(tc *task, key *gnode) *joinTime {
	if t, ok := tc.memo[key]; ok {
		return t.(*joinTime)
	}
	// minTime 0: the first record that advances stream time scans the outer-join store,
	// which may hold records restored from its changelog.
	t := &joinTime{streamTime: -1}
	tc.memo[key] = t
	return t
}

// windowedNode adds the node that advances the join's stream time, drops the records
// the join cannot use and keeps the others in the side's window store (Kafka Streams'
// KStreamJoinWindow).
func windowedNode[K, V any](s Stream[K, V], n *gnode, side joinSide, grace int64, shared *gnode) *fanout[K, V] {
	return link(s.fans(), n, func(tc *task, fw forwarder[K, V]) (proc[K, V], error) {
		jt := sharedJoinTime(tc, shared)
		put := joinWindowPutter[K, V](tc, side.thisStore)
		return funcProc[K, V](func(r Record[K, V]) error {
			jt.streamTime = max(jt.streamTime, r.Timestamp)
			switch {
			case r.Tombstone:
				tc.dropRecord(n.name, "null value")
				return nil
			case r.nullKey:
				if side.outer {
					return fw.forward(r) // joined with nothing at once (KIP-962)
				}
				tc.dropRecord(n.name, "null key")
				return nil
			case r.Timestamp+side.after+grace < jt.streamTime:
				tc.dropRecord(n.name, "late record: its join window has closed")
				return nil
			}
			if err := put(r.Key, r.Value, r.Timestamp); err != nil {
				return err
			}
			return fw.forward(r)
		}), nil
	})
}

// ssJoin is one side's join processor (Kafka Streams' KStreamKStreamJoin), joining
// records of type V (this side) with the other side's VO.
type ssJoin[K, V, VO, VR any] struct {
	tc              *task
	node            string
	side            joinSide
	grace           int64
	wbefore, wafter int64 // the windows, as seen from the left side
	t               *joinTime
	ks              Serde[K]
	vs              Serde[V]
	ovs             Serde[VO]
	fw              forwarder[K, VR]
	joiner          func(k K, v *V, vo *VO) VR
	others          func(k K, from, to int64, each func(ts int64, vo VO) error) error
	outerStore      *KeyValueStore[[]byte, []byte]
}

func (p *ssJoin[K, V, VO, VR]) process(r Record[K, V]) error {
	if r.nullKey {
		res := withKV(r, r.Key, p.joiner(r.Key, &r.Value, nil))
		res.nullKey = true
		return p.fw.forward(res)
	}
	ts := r.Timestamp
	if p.outerStore != nil && ts == p.t.streamTime {
		if err := p.emitNonJoined(r.Headers); err != nil {
			return err
		}
	}
	kb, err := serialize(p.ks, r.Key)
	if err != nil {
		return fmt.Errorf("stream-stream join: key: %w", err)
	}
	joined := false
	err = p.others(r.Key, max(0, ts-p.side.before), max(0, ts+p.side.after), func(ots int64, vo VO) error {
		joined = true
		if p.outerStore != nil {
			// The other record is joined now: it no longer waits for its window to close.
			if err := deleteIfPresent(p.outerStore, outerKey(ots, !p.side.left, kb)); err != nil {
				return err
			}
		}
		res := withKV(r, r.Key, p.joiner(r.Key, &r.Value, &vo))
		res.Timestamp = max(ts, ots)
		return p.fw.forward(res)
	})
	if err != nil || joined || !p.side.outer {
		return err
	}
	// Kept until its window closes: a late partner within the window may still join it.
	ok := outerKey(ts, p.side.left, kb)
	prev, _, err := p.outerStore.Get(ok)
	if err != nil {
		return err
	}
	vb, err := serialize(p.vs, r.Value)
	if err != nil {
		return fmt.Errorf("stream-stream join: outer store value: %w", err)
	}
	if err := p.outerStore.Put(ok, appendOuterValue(prev, vb)); err != nil {
		return err
	}
	p.t.minTime = min(p.t.minTime, ts)
	return nil
}

// emitNonJoined emits the records of the outer-join store whose windows have closed,
// oldest first, joined with nil, and removes them.
func (p *ssJoin[K, V, VO, VR]) emitNonJoined(headers []Header) error {
	if p.t.minTime == math.MaxInt64 || p.t.minTime+min(p.wbefore, p.wafter)+p.grace >= p.t.streamTime {
		return nil // nothing can have closed yet
	}
	it, err := p.outerStore.All()
	if err != nil {
		return err
	}
	type closed struct {
		key, value []byte
	}
	var done []closed
	next := int64(math.MaxInt64)
	leftOpen, rightOpen := false, false
	for !(leftOpen && rightOpen) && it.Next() {
		ts, left, _, err := decodeOuterKey(it.Key())
		if err != nil {
			it.Close()
			return err
		}
		// A left record at t waits for right records up to t+after, a right one for left
		// records up to t+before.
		lookAhead := p.wbefore
		if left {
			lookAhead = p.wafter
		}
		if ts+lookAhead+p.grace >= p.t.streamTime {
			next = min(next, ts)
			if left {
				leftOpen = true
			} else {
				rightOpen = true
			}
			continue
		}
		done = append(done, closed{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p.t.minTime = next
	for _, c := range done {
		ts, left, kb, _ := decodeOuterKey(c.key)
		k, err := p.ks.Deserialize(kb)
		if err != nil {
			return fmt.Errorf("stream-stream join: outer store key: %w", err)
		}
		vals, err := outerValues(c.value)
		if err != nil {
			return err
		}
		for _, vb := range vals {
			var out VR
			if left == p.side.left {
				v, err := p.vs.Deserialize(vb)
				if err != nil {
					return fmt.Errorf("stream-stream join: outer store value: %w", err)
				}
				out = p.joiner(k, &v, nil)
			} else {
				vo, err := p.ovs.Deserialize(vb)
				if err != nil {
					return fmt.Errorf("stream-stream join: outer store value: %w", err)
				}
				out = p.joiner(k, nil, &vo)
			}
			if err := p.fw.forward(Record[K, VR]{Key: k, Value: out, Timestamp: ts, Headers: headers}); err != nil {
				return err
			}
		}
		if err := p.outerStore.Delete(c.key); err != nil {
			return err
		}
	}
	return nil
}

// deleteIfPresent deletes k, without writing a changelog tombstone when it is absent.
func deleteIfPresent(st *KeyValueStore[[]byte, []byte], k []byte) error {
	_, found, err := st.Get(k)
	if err != nil || !found {
		return err
	}
	return st.Delete(k)
}

// outerKey is the key of the outer-join store: timestamp, side, key, so that records
// iterate oldest first (Kafka Streams' TimestampedKeyAndJoinSide).
func outerKey(ts int64, left bool, kb []byte) []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(kb)), uint64(ts))
	side := byte(0)
	if !left {
		side = 1
	}
	return append(append(out, side), kb...)
}

func decodeOuterKey(b []byte) (ts int64, left bool, kb []byte, err error) {
	if len(b) < 9 {
		return 0, false, nil, fmt.Errorf("%w: bad outer-join store key", ErrSerde)
	}
	return int64(binary.BigEndian.Uint64(b)), b[8] == 0, b[9:], nil
}

// appendOuterValue adds a serialized value to the list of values waiting under one
// outer-join store key ([length][value]...), since records of one key and side may
// share a timestamp.
func appendOuterValue(prev, vb []byte) []byte {
	out := binary.BigEndian.AppendUint32(bytes.Clone(prev), uint32(len(vb)))
	return append(out, vb...)
}

func outerValues(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
			return nil, fmt.Errorf("%w: bad outer-join store value", ErrSerde)
		}
		n := int(binary.BigEndian.Uint32(b))
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out, nil
}

// addJoinWindowStore adds the window store of one side of a stream-stream join: every
// record is kept (duplicates too) under its timestamp for retention (before + after +
// grace), as Kafka Streams' join stores do.
func addJoinWindowStore[K, V any](b *Builder, name string, ks Serde[K], vs Serde[V], retention, size int64, o options) {
	size = max(size, 1)
	spec := newWindowSpec(name, ks, vs, size, options{inMemory: o.inMemory, noLog: o.noLog}, false)
	spec.windowed.window.Retention = max(retention, size)
	spec.windowed.window.RetainDuplicates = true
	b.addStore(spec)
}

// joinWindowPutter returns how a join side keeps its records in its window store.
func joinWindowPutter[K, V any](tc *task, name string) func(k K, v V, ts int64) error {
	return tc.stores[name].(*WindowStore[K, V]).Put
}

// joinWindowFetcher returns how a join side finds the other side's records of a key
// with timestamps in [from, to], oldest first.
func joinWindowFetcher[K, V any](tc *task, name string) func(k K, from, to int64, each func(ts int64, v V) error) error {
	st := tc.stores[name].(*WindowStore[K, V])
	type rec struct {
		ts int64
		v  V
	}
	return func(k K, from, to int64, each func(ts int64, v V) error) error {
		if from > to {
			return nil
		}
		it, err := st.FetchRange(k, from, to)
		if err != nil {
			return err
		}
		var recs []rec // the iterator is closed before the records go downstream
		for it.Next() {
			recs = append(recs, rec{it.Key().Window.Start, it.Value()})
		}
		err = it.Err()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := each(r.ts, r.v); err != nil {
				return err
			}
		}
		return nil
	}
}
