package streams

// StreamTableJoin joins each record of s with the row of t under the same key (Kafka
// Streams' KStream#join(KTable)): a record whose key has no row in t is dropped, as are
// records with a null key or value (counted as dropped records). Only the stream side
// triggers results; an update of t changes what later records see but emits nothing.
// The lookup reads t's current row. If s was re-keyed it is first repartitioned through
// "<application.id>-<name>-repartition" (name: Named's, or the stream's node name), so it
// is co-partitioned with t's source topic. The result keeps the record's timestamp.
func StreamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(k K, v V, vt VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, collect(opts), false, func(k K, v V, vt *VT) VR { return joiner(k, v, *vt) })
}

// StreamTableLeftJoin is StreamTableJoin keeping every record: joiner gets a nil row when
// t has none for the key. A record with a null key is joined with a nil row too (Kafka
// 3.7's KIP-962 semantics); records with a null value are dropped.
func StreamTableLeftJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], joiner func(k K, v V, vt *VT) VR, opts ...Option) Stream[K, VR] {
	return streamTableJoin(s, t, collect(opts), true, joiner)
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], o options, left bool, joiner func(k K, v V, vt *VT) VR) Stream[K, VR] {
	b := s.b
	prefix := "KSTREAM-JOIN-"
	if left {
		prefix = "KSTREAM-LEFTJOIN-"
	}
	s = repartitionForJoin(s, o.name, "")
	g, ok := t.valueGetter("stream-table join")
	n := b.addNode(kindProcessor, o.name, prefix, s.n)
	name := n.name
	if ok {
		connectGetter(b, n, g)
	}
	out := link(s.fans(), n, func(tc *task, fw forwarder[K, VR]) (proc[K, V], error) {
		get := g.make(tc)
		return funcProc[K, V](func(r Record[K, V]) error {
			switch {
			case r.Tombstone:
				tc.dropRecord(name, "null value")
				return nil
			case r.nullKey && left:
				res := withKV(r, r.Key, joiner(r.Key, r.Value, nil))
				res.nullKey = true
				return fw.forward(res)
			case r.nullKey:
				tc.dropRecord(name, "null key")
				return nil
			}
			vt, found, err := get(r.Key)
			if err != nil {
				return err
			}
			if !found && !left {
				return nil
			}
			return fw.forward(withKV(r, r.Key, joiner(r.Key, r.Value, ptrTo(vt, found))))
		}), nil
	})
	return Stream[K, VR]{b: b, n: n, out: out, ks: s.ks}
}
