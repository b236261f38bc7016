package streams

import "strconv"

// Splitter splits a stream into branches; make one with Stream.Split. Each record goes
// to the first branch whose predicate it satisfies, or to the default branch, or is
// dropped.
type Splitter[K, V any] struct {
	s      Stream[K, V]
	n      *gnode
	out    *fanout[K, V]
	preds  *[]func(K, V) bool
	closed bool
}

// Split starts splitting s into branches (Kafka Streams' split()).
func (s Stream[K, V]) Split(opts ...Option) *Splitter[K, V] {
	o := collect(opts)
	preds := &[]func(K, V) bool{}
	n := s.b.addNode(kindProcessor, o.name, "KSTREAM-BRANCH-", s.n)
	out := link(s.fans(), n, func(tc *task, fw forwarder[K, V]) (proc[K, V], error) {
		ps := *preds
		return funcProc[K, V](func(r Record[K, V]) error {
			for i, p := range ps {
				if p(r.Key, r.Value) {
					return fw.procs[i].process(r)
				}
			}
			return nil
		}), nil
	})
	return &Splitter[K, V]{s: s, n: n, out: out, preds: preds}
}

func (sp *Splitter[K, V]) add(pred func(K, V) bool, o options, def bool) Stream[K, V] {
	if sp.closed {
		sp.s.b.fail("branch added to %s after its default branch", sp.n.name)
	}
	sp.closed = def
	name := o.name
	if name == "" {
		idx := len(*sp.preds) + 1
		if def {
			idx = 0
		}
		name = sp.n.name + "-" + strconv.Itoa(idx)
	}
	*sp.preds = append(*sp.preds, pred)
	n := sp.s.b.addNode(kindProcessor, name, "", sp.n)
	out := link([]*fanout[K, V]{sp.out}, n, func(tc *task, fw forwarder[K, V]) (proc[K, V], error) {
		return funcProc[K, V](fw.forward), nil
	})
	return sp.s.derive(n, out)
}

// Branch adds a branch of the records satisfying pred (and no earlier branch's
// predicate) and returns it.
func (sp *Splitter[K, V]) Branch(pred func(k K, v V) bool, opts ...Option) Stream[K, V] {
	return sp.add(pred, collect(opts), false)
}

// Default adds the branch of the records no other branch took; no branch may follow.
func (sp *Splitter[K, V]) Default(opts ...Option) Stream[K, V] {
	return sp.add(func(K, V) bool { return true }, collect(opts), true)
}
