// Package meta holds the cluster metadata of a Gregor broker: topics, their
// IDs, partition counts and configs, and the producer ID blocks handed out,
// as a state machine over an append-only metadata journal.
//
// State is a pure state machine: Apply takes a Record and changes the state.
// Journal persists records (one fsync'd, checksummed line each) and replays
// them on start, so metadata survives restarts and torn tails are dropped.
//
//	j, recs, err := meta.OpenJournal(dir)
//	st := meta.NewState()
//	for _, r := range recs {
//		st.Apply(r)
//	}
//	rec := meta.Record{Type: meta.RecordCreateTopic, Topic: &meta.Topic{...}}
//	if err := j.Append(rec); err == nil {
//		st.Apply(rec)
//	}
package meta
