package streams

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// Foreign-key table-table joins (Kafka Streams' KIP-213): each row of the left table
// subscribes to the row of the right table its foreign key names, through the internal
// topic "<base>-subscription-registration-topic" partitioned like the right table; the
// right side answers through "<base>-subscription-response-topic", partitioned like the
// left table, whenever a subscription arrives or the right row changes. Each message
// carries a hash of the left value it was made for, so that the left side drops answers
// to values it no longer holds (a foreign key changed in between).

// subscriptionInstruction tells the right side what to do with a subscription, with
// the names (and meaning) of Kafka Streams' SubscriptionWrapper.Instruction.
type subscriptionInstruction byte

const (
	// deleteKeyAndPropagate removes the subscription and answers with no value.
	deleteKeyAndPropagate subscriptionInstruction = iota
	// deleteKeyNoPropagate removes the subscription silently.
	deleteKeyNoPropagate
	// propagateNullIfNoFKValAvailable stores the subscription and always answers.
	propagateNullIfNoFKValAvailable
	// propagateOnlyIfFKValAvailable stores the subscription and answers if the right
	// row exists.
	propagateOnlyIfFKValAvailable
)

const hashSize = 16

// subscription is the value of a subscription-registration record, keyed by the
// foreign key.
type subscription[K any] struct {
	hash        []byte // of the left value; nil for a deleted row
	instruction subscriptionInstruction
	partition   int32 // of the left task, where the answer goes
	pk          K
}

// subscriptionSerde writes [version 0][instruction][hash flag][hash][partition][pk].
type subscriptionSerde[K any] struct{ ks Serde[K] }

func (s subscriptionSerde[K]) Serialize(v subscription[K]) ([]byte, error) {
	pk, err := serialize(s.ks, v.pk)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 3+hashSize+4+len(pk))
	out = append(out, 0, byte(v.instruction))
	out = appendHash(out, v.hash)
	out = binary.BigEndian.AppendUint32(out, uint32(v.partition))
	return append(out, pk...), nil
}

func (s subscriptionSerde[K]) Deserialize(b []byte) (subscription[K], error) {
	var v subscription[K]
	if len(b) < 3 || b[0] != 0 {
		return v, fmt.Errorf("%w: bad subscription record", ErrSerde)
	}
	v.instruction = subscriptionInstruction(b[1])
	rest, hash, err := readHash(b[2:])
	if err != nil || len(rest) < 4 {
		return v, fmt.Errorf("%w: bad subscription record", ErrSerde)
	}
	v.hash = hash
	v.partition = int32(binary.BigEndian.Uint32(rest))
	v.pk, err = s.ks.Deserialize(rest[4:])
	return v, err
}

// response is the value of a subscription-response record, keyed by the left key.
type response[VO any] struct {
	hash      []byte // the subscription's
	value     VO
	has       bool  // the right row exists
	partition int32 // where to send it (not serialized)
}

// responseSerde writes [version 0][hash flag][hash][value flag][value].
type responseSerde[VO any] struct{ vs Serde[VO] }

func (s responseSerde[VO]) Serialize(v response[VO]) ([]byte, error) {
	out := appendHash([]byte{0}, v.hash)
	if !v.has {
		return append(out, 0), nil
	}
	vb, err := serialize(s.vs, v.value)
	if err != nil {
		return nil, err
	}
	return append(append(out, 1), vb...), nil
}

func (s responseSerde[VO]) Deserialize(b []byte) (response[VO], error) {
	var v response[VO]
	if len(b) < 2 || b[0] != 0 {
		return v, fmt.Errorf("%w: bad subscription response record", ErrSerde)
	}
	rest, hash, err := readHash(b[1:])
	if err != nil || len(rest) < 1 {
		return v, fmt.Errorf("%w: bad subscription response record", ErrSerde)
	}
	v.hash = hash
	if rest[0] == 1 {
		v.has = true
		v.value, err = s.vs.Deserialize(rest[1:])
	}
	return v, err
}

func appendHash(out, hash []byte) []byte {
	if hash == nil {
		return append(out, 0)
	}
	return append(append(out, 1), hash...)
}

func readHash(b []byte) (rest, hash []byte, err error) {
	if b[0] == 0 {
		return b[1:], nil, nil
	}
	if len(b) < 1+hashSize {
		return nil, nil, fmt.Errorf("%w: short hash", ErrSerde)
	}
	return b[1+hashSize:], bytes.Clone(b[1 : 1+hashSize]), nil
}

// valueHash is the 128-bit FNV-1a hash of a serialized left value (Kafka Streams uses
// murmur3; any stable hash will do, the records never leave the application).
func valueHash(b []byte) []byte {
	h := fnv.New128a()
	h.Write(b)
	return h.Sum(nil)
}

// combinedKey is the key of the subscription store: the foreign key (length-prefixed)
// then the left key, so that a prefix scan finds the subscribers of a foreign key.
func combinedKey(fk, pk []byte) []byte {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(fk)+len(pk)), uint32(len(fk)))
	return append(append(out, fk...), pk...)
}

// prefixEnd returns the smallest key greater than every key starting with prefix, nil
// when there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// TableForeignKeyJoin joins each row of t with the row of other whose key fk extracts
// from it (Kafka Streams' KTable#join(KTable, Function, ValueJoiner)): the result, keyed
// like t, has a row joiner(k, v, vo) for each row of t whose foreign key names a row of
// other. fk reports false for a row without a foreign key (Java's null), which has no
// result. Updates on either side update the result, also when a row's foreign key
// changes or rows are deleted; answers computed for a left value that has been replaced
// since are dropped. The tables need not be co-partitioned. The internal topics are
// "<application.id>-<name>-subscription-registration-topic" and
// "-subscription-response-topic" (name: Named's, or generated), the subscription store
// "<name>-subscription-store"; As names the result's store (always materialized). vs
// serializes the result (nil: default serde).
func TableForeignKeyJoin[K, V, KO, VO, VR any](t Table[K, V], other Table[KO, VO], fk func(k K, v V) (KO, bool), joiner func(k K, v V, vo VO) VR, vs Serde[VR], opts ...Option) Table[K, VR] {
	return fkJoin(t, other, fk, collect(opts), false, vs, func(k K, v V, vo *VO) VR { return joiner(k, v, *vo) })
}

// TableForeignKeyLeftJoin is TableForeignKeyJoin with a result row for every row of t:
// joiner gets a nil vo when the row has no foreign key or other has no row for it.
func TableForeignKeyLeftJoin[K, V, KO, VO, VR any](t Table[K, V], other Table[KO, VO], fk func(k K, v V) (KO, bool), joiner func(k K, v V, vo *VO) VR, vs Serde[VR], opts ...Option) Table[K, VR] {
	return fkJoin(t, other, fk, collect(opts), true, vs, joiner)
}

// fkNames are the internal names of one foreign-key join.
type fkNames struct {
	subscriptionTopic, responseTopic, subscriptionStore string
}

func newFKNames(b *Builder, named string) fkNames {
	if named != "" {
		return fkNames{
			subscriptionTopic: named + "-subscription-registration-topic",
			responseTopic:     named + "-subscription-response-topic",
			subscriptionStore: named + "-subscription-store",
		}
	}
	return fkNames{
		subscriptionTopic: b.newName("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-") + "-topic",
		responseTopic:     b.newName("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-") + "-topic",
		subscriptionStore: b.newName("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-"),
	}
}

func fkJoin[K, V, KO, VO, VR any](t Table[K, V], other Table[KO, VO], fk func(k K, v V) (KO, bool), o options, left bool, vs Serde[VR], joiner func(k K, v V, vo *VO) VR) Table[K, VR] {
	b := t.b
	names := newFKNames(b, o.name)
	ks, lvs, oks, ovs := orDefault(t.ks), orDefault(t.vs), orDefault(other.ks), orDefault(other.vs)
	if ks == nil || lvs == nil || oks == nil || ovs == nil {
		b.fail("foreign-key join of %s and %s needs the key and value serdes of both tables", t.n.name, other.n.name)
	}
	gLeft, okL := t.valueGetter("foreign-key join")
	gRight, okR := other.valueGetter("foreign-key join")
	for _, topic := range []string{names.subscriptionTopic, names.responseTopic} {
		if _, dup := b.repartitions[topic]; dup {
			b.fail("duplicate internal topic %q: name the joins", topic)
		}
		b.repartitions[topic] = 0
	}
	b.addStore(newKVSpec(names.subscriptionStore, Bytes(), Bytes(), options{noCache: true, inMemory: o.inMemory}))
	hashOf := func(v V) ([]byte, error) {
		vb, err := serialize(lvs, v)
		if err != nil {
			return nil, fmt.Errorf("foreign-key join: hash value: %w", err)
		}
		return valueHash(vb), nil
	}

	// Left side: each row change subscribes, unsubscribes or answers itself (no foreign key).
	send := b.addNode(kindProcessor, "", "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-", t.n)
	subOut := &fanout[KO, subscription[K]]{}
	localOut := &fanout[K, response[VO]]{}
	t.out.kids = append(t.out.kids, kid[K, Change[V]]{n: send, make: func(tc *task) (proc[K, Change[V]], error) {
		if p, ok := tc.memo[send]; ok {
			return p.(proc[K, Change[V]]), nil
		}
		subFw, err := subOut.build(tc)
		if err != nil {
			return nil, err
		}
		localFw, err := localOut.build(tc)
		if err != nil {
			return nil, err
		}
		p := funcProc[K, Change[V]](func(r Record[K, Change[V]]) error {
			if r.nullKey {
				return nil
			}
			return fkSend(tc, r, fk, oks, hashOf, left, subFw, localFw)
		})
		tc.memo[send] = p
		return p, nil
	}})
	subStream := Stream[KO, subscription[K]]{b: b, n: send, out: subOut, ks: oks, vs: subscriptionSerde[K]{ks: ks}}
	subStream.addSink(options{}, names.subscriptionTopic, true, nil)

	// Right side: subscriptions are stored and answered; right row changes answer every
	// subscriber of the row.
	subSrc := addSource(b, []string{names.subscriptionTopic}, true, oks, Serde[subscription[K]](subscriptionSerde[K]{ks: ks}), options{})
	recv := b.addNode(kindProcessor, "", "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-", subSrc.n)
	b.connect(recv, names.subscriptionStore)
	if okR {
		connectGetter(b, recv, gRight)
	}
	recvOut := link(subSrc.fans(), recv, func(tc *task, fw forwarder[K, response[VO]]) (proc[KO, subscription[K]], error) {
		st := tc.stores[names.subscriptionStore].(*KeyValueStore[[]byte, []byte])
		get := gRight.make(tc)
		return funcProc[KO, subscription[K]](func(r Record[KO, subscription[K]]) error {
			return fkReceive(r, st, get, oks, ks, fw)
		}), nil
	})
	foreign := b.addNode(kindProcessor, "", "KTABLE-FK-JOIN-FOREIGN-PROCESSOR-", other.n)
	b.connect(foreign, names.subscriptionStore)
	foreignOut := link([]*fanout[KO, Change[VO]]{other.out}, foreign, func(tc *task, fw forwarder[K, response[VO]]) (proc[KO, Change[VO]], error) {
		st := tc.stores[names.subscriptionStore].(*KeyValueStore[[]byte, []byte])
		return funcProc[KO, Change[VO]](func(r Record[KO, Change[VO]]) error {
			if r.nullKey || (!r.Value.HasNew && !r.Value.HasOld) {
				return nil
			}
			return fkForeignChange(r, st, oks, ks, fw)
		}), nil
	})
	respSerde := responseSerde[VO]{vs: ovs}
	fkResponseSink(b, names.responseTopic, ks, respSerde, recv, foreign, recvOut, foreignOut)

	// Left side again: answers that still match the current row are joined.
	respSrc := addSource(b, []string{names.responseTopic}, true, ks, Serde[response[VO]](respSerde), options{})
	resolver := b.addNode(kindProcessor, "", "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-", respSrc.n, send)
	if okL {
		connectGetter(b, resolver, gLeft)
	}
	vs = orDefault(vs)
	resolved := fkResolve(resolver, gLeft, hashOf, left, joiner, respSrc.out, localOut)
	res := Stream[K, VR]{b: b, n: resolver, out: resolved, ks: ks, vs: vs}
	out := o
	out.name = ""
	return materialize(res, out, "KTABLE-FK-JOIN-OUTPUT-", "KTABLE-FK-JOIN-OUTPUT-STATE-STORE-")
}

// fkResponseSink writes the right side's answers (to subscriptions and to
// right row changes) to the response topic, to the partition of the left
// row that asked.
func fkResponseSink[K, VO any](b *Builder, responseTopic string, ks Serde[K], respSerde responseSerde[VO], recv, foreign *gnode, recvOut, foreignOut *fanout[K, response[VO]]) {
	sink := b.addNode(kindSink, "", "KTABLE-SINK-", recv, foreign)
	sink.sinkTopic, sink.internal = responseTopic, true
	link([]*fanout[K, response[VO]]{recvOut, foreignOut}, sink, func(tc *task, _ forwarder[K, response[VO]]) (proc[K, response[VO]], error) {
		topic := tc.topicName(responseTopic, true)
		return funcProc[K, response[VO]](func(r Record[K, response[VO]]) error {
			kb, err := serialize(ks, r.Key)
			if err != nil {
				return fmt.Errorf("sink %s: key: %w", topic, err)
			}
			vb, err := respSerde.Serialize(r.Value)
			if err != nil {
				return fmt.Errorf("sink %s: value: %w", topic, err)
			}
			return tc.cfg.out.send(topic, r.Value.partition, nonNilBytes(kb), vb, r.Timestamp, r.Headers)
		}), nil
	})
}

// fkResolve joins the answers that still match the left row's current
// value (by hash) and drops the stale ones; an answer without a right row
// is a tombstone unless the join is a left join and the row exists.
func fkResolve[K, V, VO, VR any](resolver *gnode, gLeft getterSpec[K, V], hashOf func(V) ([]byte, error), left bool,
	joiner func(k K, v V, vo *VO) VR, answers ...*fanout[K, response[VO]]) *fanout[K, VR] {
	return link(answers, resolver, func(tc *task, fw forwarder[K, VR]) (proc[K, response[VO]], error) {
		get := gLeft.make(tc)
		return funcProc[K, response[VO]](func(r Record[K, response[VO]]) error {
			v, found, err := get(r.Key)
			if err != nil {
				return err
			}
			var cur []byte
			if found {
				if cur, err = hashOf(v); err != nil {
					return err
				}
			}
			if !bytes.Equal(cur, r.Value.hash) {
				return nil // an answer for a value the row no longer holds
			}
			out := withKV(r, r.Key, *new(VR))
			if !r.Value.has && (!left || !found) {
				out.Tombstone = true
			} else {
				out.Value = joiner(r.Key, v, ptrTo(r.Value.value, r.Value.has))
			}
			return fw.forward(out)
		}), nil
	})
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fkSend turns a change of a left row into subscription messages, following Kafka
// Streams' SubscriptionSendProcessorSupplier; a row without a foreign key (or deleted)
// answers itself through local.
func fkSend[K, V, KO, VO any](tc *task, r Record[K, Change[V]], fk func(K, V) (KO, bool), oks Serde[KO], hashOf func(V) ([]byte, error), left bool,
	subs forwarder[KO, subscription[K]], local forwarder[K, response[VO]]) error {
	c := r.Value
	var oldFK, newFK KO
	var oldBytes, newBytes []byte
	hasOldFK, hasNewFK := false, false
	var err error
	if c.HasOld {
		if oldFK, hasOldFK = fk(r.Key, c.Old); hasOldFK {
			if oldBytes, err = serialize(oks, oldFK); err != nil {
				return fmt.Errorf("foreign-key join: foreign key: %w", err)
			}
		}
	}
	if c.HasNew {
		if newFK, hasNewFK = fk(r.Key, c.New); hasNewFK {
			if newBytes, err = serialize(oks, newFK); err != nil {
				return fmt.Errorf("foreign-key join: foreign key: %w", err)
			}
		}
	}
	var hash []byte
	if c.HasNew {
		if hash, err = hashOf(c.New); err != nil {
			return err
		}
	}
	part := tc.id.Partition
	if hasOldFK && (!hasNewFK || !bytes.Equal(oldBytes, newBytes)) {
		// Unsubscribe from the old foreign key; the new key or the local answer updates
		// the result.
		s := subscription[K]{hash: hash, instruction: deleteKeyNoPropagate, partition: part, pk: r.Key}
		if err := subs.forward(withKV(r, oldFK, s)); err != nil {
			return err
		}
	}
	if hasNewFK {
		ins := propagateOnlyIfFKValAvailable
		if left || c.HasOld {
			// Left joins always have a row; an update must also clear the result the
			// previous value had if the new foreign key has no row.
			ins = propagateNullIfNoFKValAvailable
		}
		return subs.forward(withKV(r, newFK, subscription[K]{hash: hash, instruction: ins, partition: part, pk: r.Key}))
	}
	if !c.HasNew && !c.HasOld {
		return nil
	}
	if !c.HasNew || c.HasOld || left {
		// Deleted, or no foreign key: the result is a left join with no right row, or no
		// row at all (clearing the one the old value may have had).
		return local.forward(withKV(r, r.Key, response[VO]{hash: hash, partition: part}))
	}
	tc.dropRecord("foreign-key join", "null foreign key")
	return nil
}

// fkReceive applies a subscription on the right side and answers it (Kafka Streams'
// SubscriptionReceiveProcessorSupplier and SubscriptionJoinProcessorSupplier).
func fkReceive[K, KO, VO any](r Record[KO, subscription[K]], st *KeyValueStore[[]byte, []byte], get func(KO) (VO, bool, error), oks Serde[KO], ks Serde[K], fw forwarder[K, response[VO]]) error {
	s := r.Value
	fkb, err := serialize(oks, r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: foreign key: %w", err)
	}
	pkb, err := serialize(ks, s.pk)
	if err != nil {
		return fmt.Errorf("foreign-key join: key: %w", err)
	}
	ck := combinedKey(fkb, pkb)
	switch s.instruction {
	case deleteKeyAndPropagate, deleteKeyNoPropagate:
		err = st.Delete(ck)
	default:
		var vb []byte
		if vb, err = (subscriptionSerde[K]{ks: ks}).Serialize(s); err == nil {
			err = st.Put(ck, vb)
		}
	}
	if err != nil {
		return err
	}
	resp := response[VO]{hash: s.hash, partition: s.partition}
	switch s.instruction {
	case deleteKeyNoPropagate:
		return nil
	case deleteKeyAndPropagate:
	default:
		if resp.value, resp.has, err = get(r.Key); err != nil {
			return err
		}
		if !resp.has && s.instruction == propagateOnlyIfFKValAvailable {
			return nil
		}
	}
	return fw.forward(withKV(r, s.pk, resp))
}

// fkForeignChange answers every subscriber of a right row that changed (Kafka
// Streams' ForeignTableJoinProcessorSupplier).
func fkForeignChange[K, KO, VO any](r Record[KO, Change[VO]], st *KeyValueStore[[]byte, []byte], oks Serde[KO], ks Serde[K], fw forwarder[K, response[VO]]) error {
	fkb, err := serialize(oks, r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: foreign key: %w", err)
	}
	prefix := combinedKey(fkb, nil)
	end := prefixEnd(prefix)
	var it *KeyValueIterator[[]byte, []byte]
	if end == nil {
		it, err = st.All()
	} else {
		it, err = st.Range(prefix, end)
	}
	if err != nil {
		return err
	}
	var subs []subscription[K]
	ser := subscriptionSerde[K]{ks: ks}
	for it.Next() {
		if !bytes.HasPrefix(it.Key(), prefix) {
			continue
		}
		// The iterator may reuse its buffers: deserialize a copy.
		s, err := ser.Deserialize(bytes.Clone(it.Value()))
		if err != nil {
			it.Close()
			return fmt.Errorf("foreign-key join: subscription store: %w", err)
		}
		subs = append(subs, s)
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, s := range subs {
		resp := response[VO]{hash: s.hash, value: r.Value.New, has: r.Value.HasNew, partition: s.partition}
		if err := fw.forward(withKV(r, s.pk, resp)); err != nil {
			return err
		}
	}
	return nil
}
