// Package txn holds the broker's producer bookkeeping: producer ID
// allocation and the per-partition idempotence state that deduplicates
// retried batches and rejects out-of-order or fenced ones.
//
// The types here are pure state machines: they take inputs and return
// decisions, and the partition or broker that owns them does the locking and
// the I/O.
//
//	t := txn.NewProducerStateTable()
//	d, err := t.Check(b) // before appending
//	if err == nil && !d.Duplicate {
//		// append, then:
//		t.Record(b)
//	}
//
// The files in testdata/ are transcripts of a transaction (Txn) driven
// through commits, aborts, timeouts and fencing: every input with the
// decision it returned and the transaction after it. TestTranscripts
// replays them; regenerate them with -rewrite after a deliberate change.
package txn
