package streams

// joinKind is the kind of a join: inner, left or outer.
type joinKind int

const (
	innerJoin joinKind = iota
	leftJoin
	outerJoin
)

// TableJoin joins two tables on their keys (Kafka Streams' KTable#join(KTable)): the
// result has a row for each key present in both, joiner(k, v, vo). An update on either
// side looks the other side up and emits the result's Change, with the old result row
// computed from the update's old value, so downstream aggregations subtract it. vs
// serializes the result (nil: default serde); As materializes it in a queryable store.
// Named(name) names the processors "<name>-join-this", "<name>-join-other" and "<name>".
func TableJoin[K, V, VO, VR any](t Table[K, V], other Table[K, VO], joiner func(k K, v V, vo VO) VR, vs Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(t, other, collect(opts), innerJoin, vs, func(k K, v *V, vo *VO) VR { return joiner(k, *v, *vo) })
}

// TableLeftJoin is TableJoin with a row for every key of t: joiner gets a nil vo when
// other has no row for the key.
func TableLeftJoin[K, V, VO, VR any](t Table[K, V], other Table[K, VO], joiner func(k K, v V, vo *VO) VR, vs Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(t, other, collect(opts), leftJoin, vs, func(k K, v *V, vo *VO) VR { return joiner(k, *v, vo) })
}

// TableOuterJoin is TableJoin with a row for every key of either table: joiner gets nil
// for the side that has no row.
func TableOuterJoin[K, V, VO, VR any](t Table[K, V], other Table[K, VO], joiner func(k K, v *V, vo *VO) VR, vs Serde[VR], opts ...Option) Table[K, VR] {
	return tableJoin(t, other, collect(opts), outerJoin, vs, joiner)
}

// tableJoinPrefixes are Kafka Streams' generated names of the this/other processors.
var tableJoinPrefixes = map[joinKind][2]string{
	innerJoin: {"KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"},
	leftJoin:  {"KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"},
	outerJoin: {"KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"},
}

func tableJoin[K, V, VO, VR any](t Table[K, V], other Table[K, VO], o options, kind joinKind, vs Serde[VR], joiner func(k K, v *V, vo *VO) VR) Table[K, VR] {
	b := t.b
	gThis, ok1 := t.valueGetter("table-table join")
	gOther, ok2 := other.valueGetter("table-table join")
	prefixes := tableJoinPrefixes[kind]
	thisNode := b.addNode(kindProcessor, suffixed(o.name, "-join-this"), prefixes[0], t.n)
	otherNode := b.addNode(kindProcessor, suffixed(o.name, "-join-other"), prefixes[1], other.n)
	if ok1 && ok2 {
		connectGetter(b, thisNode, gOther)
		connectGetter(b, otherNode, gThis)
	}
	// Updates of this side, joined with the other side's current row.
	thisOut := link([]*fanout[K, Change[V]]{t.out}, thisNode, func(tc *task, fw forwarder[K, Change[VR]]) (proc[K, Change[V]], error) {
		get := gOther.make(tc)
		return funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			if r.nullKey {
				return nil
			}
			vo, found, err := get(r.Key)
			if err != nil {
				return err
			}
			c, ok := joinChange(kind, r.Value, ptrTo(vo, found), false, func(v *V, vo *VO) VR { return joiner(r.Key, v, vo) })
			if !ok {
				return nil
			}
			return fw.forward(withKV(r, r.Key, c))
		}), nil
	})
	// Updates of the other side, joined with this side's current row: the mirror image,
	// where a left join keeps this side's rows.
	otherOut := link([]*fanout[K, Change[VO]]{other.out}, otherNode, func(tc *task, fw forwarder[K, Change[VR]]) (proc[K, Change[VO]], error) {
		get := gThis.make(tc)
		return funcProc[K, Change[VO]](func(r Record[K, Change[VO]]) error {
			if r.nullKey {
				return nil
			}
			v, found, err := get(r.Key)
			if err != nil {
				return err
			}
			c, ok := joinChange(kind, r.Value, ptrTo(v, found), true, func(vo *VO, v *V) VR { return joiner(r.Key, v, vo) })
			if !ok {
				return nil
			}
			return fw.forward(withKV(r, r.Key, c))
		}), nil
	})
	merge := changeMerge(b, o, []*fanout[K, Change[VR]]{thisOut, otherOut}, []*gnode{thisNode, otherNode}, t.ks, orDefault(vs))
	if merge.store == "" && ok1 && ok2 {
		stores := append(append([]string{}, gThis.stores...), gOther.stores...)
		merge.get = &getterSpec[K, VR]{stores: stores, make: func(tc *task) func(k K) (VR, bool, error) {
			getThis, getOther := gThis.make(tc), gOther.make(tc)
			return func(k K) (VR, bool, error) {
				var zero VR
				v, found, err := getThis(k)
				if err != nil {
					return zero, false, err
				}
				vo, foundO, err := getOther(k)
				if err != nil {
					return zero, false, err
				}
				if (kind == innerJoin && !(found && foundO)) || (kind == leftJoin && !found) || (!found && !foundO) {
					return zero, false, nil
				}
				return joiner(k, ptrTo(v, found), ptrTo(vo, foundO)), true, nil
			}
		}}
	}
	return merge
}

// joinChange joins an update of one side with the other side's row (nil: none), as
// Kafka Streams' KTableKTable{Inner,Left,Right,Outer}Join processors do. mirrored says
// the update is of the right side, which a left join does not keep on its own. It
// reports false when there is nothing to emit.
func joinChange[A, B, R any](kind joinKind, c Change[A], other *B, mirrored bool, join func(a *A, b *B) R) (Change[R], bool) {
	var out Change[R]
	newV, oldV := ptrTo(c.New, c.HasNew), ptrTo(c.Old, c.HasOld)
	switch {
	case kind == innerJoin || (kind == leftJoin && mirrored):
		// The other side's row is required (for a mirrored left join it is the kept side,
		// and a missing update value still yields a row joined with nil).
		if other == nil {
			return out, false
		}
		if c.HasNew || kind == leftJoin {
			out.New, out.HasNew = join(newV, other), true
		}
		if c.HasOld || kind == leftJoin {
			out.Old, out.HasOld = join(oldV, other), true
		}
	case kind == leftJoin:
		if c.HasNew {
			out.New, out.HasNew = join(newV, other), true
		}
		if c.HasOld {
			out.Old, out.HasOld = join(oldV, other), true
		}
	default: // outer
		if c.HasNew || other != nil {
			out.New, out.HasNew = join(newV, other), true
		}
		if c.HasOld || other != nil {
			out.Old, out.HasOld = join(oldV, other), true
		}
	}
	return out, out.HasNew || out.HasOld
}
