// Package meta holds the cluster metadata of a Gregor broker as a pure
// state machine: topics (IDs, partition counts, dynamic configs, and each
// partition's replicas, ISR, leader and epochs), the registered brokers and
// whether they are fenced, the producer ID blocks handed out, dynamic
// broker configs, SCRAM credentials, ACL bindings, client quotas and the cluster ID.
//
// State.ApplyAt takes one Record, found at an index of the replicated
// metadata log (broker/quorum), and changes the state, or refuses it with
// one of the package's sentinel errors, the same way on every node.
// Elections happen there too: fencing a broker moves its partitions'
// leadership to another in-sync replica. Snapshot and RestoreState carry
// the whole state; Hash digests it so nodes can be compared. Place spreads
// new partitions over the live brokers, rack-aware. A partition's
// reassignment (KIP-455) is recorded in its state, started with
// StartReassignment, completed by the record that brings the last target
// replica into the ISR, and reverted with CancelReassignment.
//
// Journal is the single-node metadata journal of earlier versions: a
// broker reads it once, to seed the quorum, when it starts on an old data
// directory.
//
//	st := meta.NewState()
//	rec := meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{...}}
//	if err := st.ApplyAt(index, rec); err != nil {
//		// refused: errors.Is(err, meta.ErrTopicExists), ...
//	}
package meta
