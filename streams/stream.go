package streams

import "fmt"

// Stream is a record stream (Kafka Streams' KStream) of keys K and values V. Operations
// that keep the types are methods; those that change them are package functions (Map,
// MapValues, FlatMap, ...), since Go methods cannot add type parameters.
type Stream[K, V any] struct {
	b          *Builder
	n          *gnode
	out        *fanout[K, V]
	ks         Serde[K]
	vs         Serde[V]
	keyChanged bool // grouping must repartition
}

func (s Stream[K, V]) fans() []*fanout[K, V] { return []*fanout[K, V]{s.out} }

// WithSerdes returns s with the serdes that sinks, repartitioning and stores use for it
// (nil keeps the current one). Streams of string, []byte, int64, int32 and float64 have
// default serdes.
func (s Stream[K, V]) WithSerdes(ks Serde[K], vs Serde[V]) Stream[K, V] {
	if ks != nil {
		s.ks = ks
	}
	if vs != nil {
		s.vs = vs
	}
	return s
}

func (s Stream[K, V]) keySerde() Serde[K]   { return orDefault(s.ks) }
func (s Stream[K, V]) valueSerde() Serde[V] { return orDefault(s.vs) }

// sourceProc deserializes consumed records.
type sourceProc[K, V any] struct {
	ks Serde[K]
	vs Serde[V]
	fw forwarder[K, V]
}

func (p *sourceProc[K, V]) processRaw(tc *task, r *ConsumedRecord) error {
	rec := Record[K, V]{Timestamp: r.Timestamp, Headers: r.Headers}
	if r.Key == nil {
		rec.nullKey = true
	} else {
		k, err := p.ks.Deserialize(r.Key)
		if err != nil {
			return tc.deserializationError(r, fmt.Errorf("key: %w", err))
		}
		rec.Key = k
	}
	if r.Value == nil {
		rec.Tombstone = true
	} else {
		v, err := p.vs.Deserialize(r.Value)
		if err != nil {
			return tc.deserializationError(r, fmt.Errorf("value: %w", err))
		}
		rec.Value = v
	}
	return p.fw.forward(rec)
}

// addSource adds a source node reading topics.
func addSource[K, V any](b *Builder, topics []string, internal bool, ks Serde[K], vs Serde[V], o options) Stream[K, V] {
	ks, vs = orDefault(ks), orDefault(vs)
	if ks == nil || vs == nil {
		b.fail("source of %v needs serdes for its key and value types", topics)
	}
	if len(topics) == 0 {
		b.fail("source without topics")
	}
	n := b.addNode(kindSource, o.name, "KSTREAM-SOURCE-")
	n.topics, n.internal, n.tsx = topics, internal, o.tsExtractor
	out := &fanout[K, V]{}
	n.source = func(tc *task) (rawProcessor, error) {
		fw, err := out.build(tc)
		if err != nil {
			return nil, err
		}
		return &sourceProc[K, V]{ks: ks, vs: vs, fw: fw}, nil
	}
	return Stream[K, V]{b: b, n: n, out: out, ks: ks, vs: vs}
}

// StreamFrom adds a source reading topic as a stream of records, deserialized with ks and
// vs (nil for the default serde of a basic type). More topics can follow topic.
func StreamFrom[K, V any](b *Builder, topic string, ks Serde[K], vs Serde[V], opts ...Option) Stream[K, V] {
	return addSource(b, []string{topic}, false, ks, vs, collect(opts))
}

// StreamFromTopics adds one source reading several topics.
func StreamFromTopics[K, V any](b *Builder, topics []string, ks Serde[K], vs Serde[V], opts ...Option) Stream[K, V] {
	return addSource(b, topics, false, ks, vs, collect(opts))
}

// funcProc is a processor defined by a closure over its forwarder.
type funcProc[K, V any] func(r Record[K, V]) error

func (f funcProc[K, V]) process(r Record[K, V]) error { return f(r) }

// then adds a stateless node after s whose records f handles, forwarding to fw.
func then[K, V, K2, V2 any](s Stream[K, V], prefix string, o options, f func(fw forwarder[K2, V2], r Record[K, V]) error) (*gnode, *fanout[K2, V2]) {
	n := s.b.addNode(kindProcessor, o.name, prefix, s.n)
	out := link(s.fans(), n, func(tc *task, fw forwarder[K2, V2]) (proc[K, V], error) {
		return funcProc[K, V](func(r Record[K, V]) error { return f(fw, r) }), nil
	})
	return n, out
}

func (s Stream[K, V]) derive(n *gnode, out *fanout[K, V]) Stream[K, V] {
	return Stream[K, V]{b: s.b, n: n, out: out, ks: s.ks, vs: s.vs, keyChanged: s.keyChanged}
}

// Filter keeps the records for which pred is true.
func (s Stream[K, V]) Filter(pred func(k K, v V) bool, opts ...Option) Stream[K, V] {
	n, out := then(s, "KSTREAM-FILTER-", collect(opts), func(fw forwarder[K, V], r Record[K, V]) error {
		if pred(r.Key, r.Value) {
			return fw.forward(r)
		}
		return nil
	})
	return s.derive(n, out)
}

// FilterNot drops the records for which pred is true.
func (s Stream[K, V]) FilterNot(pred func(k K, v V) bool, opts ...Option) Stream[K, V] {
	n, out := then(s, "KSTREAM-FILTER-", collect(opts), func(fw forwarder[K, V], r Record[K, V]) error {
		if !pred(r.Key, r.Value) {
			return fw.forward(r)
		}
		return nil
	})
	return s.derive(n, out)
}

// Peek calls f for each record and passes it on unchanged.
func (s Stream[K, V]) Peek(f func(k K, v V), opts ...Option) Stream[K, V] {
	n, out := then(s, "KSTREAM-PEEK-", collect(opts), func(fw forwarder[K, V], r Record[K, V]) error {
		f(r.Key, r.Value)
		return fw.forward(r)
	})
	return s.derive(n, out)
}

// Foreach calls f for each record; it ends the stream.
func (s Stream[K, V]) Foreach(f func(k K, v V), opts ...Option) {
	then(s, "KSTREAM-FOREACH-", collect(opts), func(_ forwarder[K, V], r Record[K, V]) error {
		f(r.Key, r.Value)
		return nil
	})
}

// Merge returns a stream of the records of s and other.
func (s Stream[K, V]) Merge(other Stream[K, V], opts ...Option) Stream[K, V] {
	o := collect(opts)
	n := s.b.addNode(kindProcessor, o.name, "KSTREAM-MERGE-", s.n, other.n)
	out := link([]*fanout[K, V]{s.out, other.out}, n, func(tc *task, fw forwarder[K, V]) (proc[K, V], error) {
		return funcProc[K, V](fw.forward), nil
	})
	m := s.derive(n, out)
	m.keyChanged = s.keyChanged || other.keyChanged
	return m
}

// Map replaces each record's key and value by f's results.
func Map[K, V, K2, V2 any](s Stream[K, V], f func(k K, v V) (K2, V2), opts ...Option) Stream[K2, V2] {
	n, out := then(s, "KSTREAM-MAP-", collect(opts), func(fw forwarder[K2, V2], r Record[K, V]) error {
		k, v := f(r.Key, r.Value)
		return fw.forward(withKV(r, k, v))
	})
	return Stream[K2, V2]{b: s.b, n: n, out: out, keyChanged: true}
}

// MapValues replaces each record's value by f's result; keys stay, so no repartition
// follows. Tombstones pass through as tombstones without calling f, since a Go value
// cannot stand for null.
func MapValues[K, V, V2 any](s Stream[K, V], f func(k K, v V) V2, opts ...Option) Stream[K, V2] {
	n, out := then(s, "KSTREAM-MAPVALUES-", collect(opts), func(fw forwarder[K, V2], r Record[K, V]) error {
		var v V2
		if !r.Tombstone {
			v = f(r.Key, r.Value)
		}
		out := withKV(r, r.Key, v)
		out.nullKey, out.Tombstone = r.nullKey, r.Tombstone
		return fw.forward(out)
	})
	return Stream[K, V2]{b: s.b, n: n, out: out, ks: s.ks, keyChanged: s.keyChanged}
}

// FlatMap replaces each record by the records f returns.
func FlatMap[K, V, K2, V2 any](s Stream[K, V], f func(k K, v V) []KeyValue[K2, V2], opts ...Option) Stream[K2, V2] {
	n, out := then(s, "KSTREAM-FLATMAP-", collect(opts), func(fw forwarder[K2, V2], r Record[K, V]) error {
		for _, kv := range f(r.Key, r.Value) {
			if err := fw.forward(withKV(r, kv.Key, kv.Value)); err != nil {
				return err
			}
		}
		return nil
	})
	return Stream[K2, V2]{b: s.b, n: n, out: out, keyChanged: true}
}

// FlatMapValues replaces each record by one record per value f returns, with the same
// key. A tombstone passes through as one tombstone without calling f.
func FlatMapValues[K, V, V2 any](s Stream[K, V], f func(k K, v V) []V2, opts ...Option) Stream[K, V2] {
	n, out := then(s, "KSTREAM-FLATMAPVALUES-", collect(opts), func(fw forwarder[K, V2], r Record[K, V]) error {
		if r.Tombstone {
			o := withKV(r, r.Key, *new(V2))
			o.nullKey, o.Tombstone = r.nullKey, true
			return fw.forward(o)
		}
		for _, v := range f(r.Key, r.Value) {
			o := withKV(r, r.Key, v)
			o.nullKey = r.nullKey
			if err := fw.forward(o); err != nil {
				return err
			}
		}
		return nil
	})
	return Stream[K, V2]{b: s.b, n: n, out: out, ks: s.ks, keyChanged: s.keyChanged}
}

// SelectKey sets each record's key to f's result.
func SelectKey[K, V, K2 any](s Stream[K, V], f func(k K, v V) K2, opts ...Option) Stream[K2, V] {
	n, out := then(s, "KSTREAM-KEY-SELECT-", collect(opts), func(fw forwarder[K2, V], r Record[K, V]) error {
		o := withKV(r, f(r.Key, r.Value), r.Value)
		o.Tombstone = r.Tombstone
		return fw.forward(o)
	})
	return Stream[K2, V]{b: s.b, n: n, out: out, vs: s.vs, keyChanged: true}
}

// sinkProc serializes records and hands them to the task's collector.
type sinkProc[K, V any] struct {
	tc      *task
	topic   string
	topicFn func(Record[K, V]) string
	ks      Serde[K]
	vs      Serde[V]
}

func (p *sinkProc[K, V]) process(r Record[K, V]) error {
	topic := p.topic
	if p.topicFn != nil {
		topic = p.topicFn(r)
	}
	var kb, vb []byte
	var err error
	if !r.nullKey {
		if kb, err = serialize(p.ks, r.Key); err != nil {
			return fmt.Errorf("sink %s: key: %w", topic, err)
		}
		if kb == nil {
			kb = []byte{}
		}
	}
	if !r.Tombstone {
		if vb, err = serialize(p.vs, r.Value); err != nil {
			return fmt.Errorf("sink %s: value: %w", topic, err)
		}
		if vb == nil {
			vb = []byte{}
		}
	}
	return p.tc.cfg.out.send(topic, -1, kb, vb, r.Timestamp, r.Headers)
}

func (s Stream[K, V]) addSink(o options, topic string, internal bool, topicFn func(Record[K, V]) string) *gnode {
	ks, vs := s.keySerde(), s.valueSerde()
	if ks == nil || vs == nil {
		s.b.fail("sink after %s needs serdes: set them with WithSerdes", s.n.name)
	}
	n := s.b.addNode(kindSink, o.name, "KSTREAM-SINK-", s.n)
	n.sinkTopic, n.internal = topic, internal
	link(s.fans(), n, func(tc *task, _ forwarder[K, V]) (proc[K, V], error) {
		p := &sinkProc[K, V]{tc: tc, topicFn: topicFn, ks: ks, vs: vs}
		if topicFn == nil {
			p.topic = tc.topicName(topic, internal)
		}
		return p, nil
	})
	return n
}

// To writes the stream to topic, serialized with the stream's serdes, partitioned by
// the murmur2 hash of the key as Kafka's default partitioner does.
func (s Stream[K, V]) To(topic string, opts ...Option) {
	s.addSink(collect(opts), topic, false, nil)
}

// ToTopicFunc writes each record to the topic chosen by f.
func (s Stream[K, V]) ToTopicFunc(f func(r Record[K, V]) string, opts ...Option) {
	s.addSink(collect(opts), "", false, f)
}

// Repartition writes the stream through an internal topic
// "<application.id>-<name>-repartition" (name from Named, or generated) and reads it
// back, so that records are partitioned by their current key.
func (s Stream[K, V]) Repartition(opts ...Option) Stream[K, V] {
	o := collect(opts)
	base := o.name
	if base == "" {
		base = s.b.newName("KSTREAM-REPARTITION-")
	}
	return s.repartition(base, o.partitions)
}

// repartition inserts "<base>-repartition-filter/-sink/-source" around the internal
// topic "<base>-repartition". The filter drops records with null keys, as Kafka Streams'
// does.
func (s Stream[K, V]) repartition(base string, partitions int32) Stream[K, V] {
	topic := base + "-repartition"
	n, out := then(s, "", options{name: topic + "-filter"}, func(fw forwarder[K, V], r Record[K, V]) error {
		if r.nullKey {
			return nil
		}
		return fw.forward(r)
	})
	f := s.derive(n, out)
	f.addSink(options{name: topic + "-sink"}, topic, true, nil)
	if _, dup := s.b.repartitions[topic]; dup {
		s.b.fail("duplicate repartition topic %q: name the operations", topic)
	}
	s.b.repartitions[topic] = partitions
	return addSource(s.b, []string{topic}, true, f.keySerde(), f.valueSerde(), options{name: topic + "-source"})
}
