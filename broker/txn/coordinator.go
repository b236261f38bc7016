package txn

import (
	"math"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transaction's state, numbered as Kafka stores it in
// __transaction_state.
type State int8

// Transaction states.
const (
	StateEmpty          State = 0
	StateOngoing        State = 1
	StatePrepareCommit  State = 2
	StatePrepareAbort   State = 3
	StateCompleteCommit State = 4
	StateCompleteAbort  State = 5
	StateDead           State = 6
	StatePrepareFence   State = 7
)

// String returns Kafka's name of the state, as DescribeTransactions shows it.
func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StateOngoing:
		return "Ongoing"
	case StatePrepareCommit:
		return "PrepareCommit"
	case StatePrepareAbort:
		return "PrepareAbort"
	case StateCompleteCommit:
		return "CompleteCommit"
	case StateCompleteAbort:
		return "CompleteAbort"
	case StateDead:
		return "Dead"
	case StatePrepareFence:
		return "PrepareEpochFence"
	}
	return "Unknown"
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Txn is the coordinator's view of one transactional ID. Methods that
// change it are pure: the caller persists the result (MarshalValue) and
// writes the markers a transition asks for.
type Txn struct {
	ID            string
	ProducerID    int64
	ProducerEpoch int16
	// PrevProducerID/PrevEpoch let a producer retry InitProducerId after a
	// lost response (KIP-360).
	PrevProducerID int64
	PrevEpoch      int16
	TimeoutMs      int32
	State          State
	Partitions     map[TopicPartition]struct{}
	StartMs        int64
	UpdateMs       int64
}

// NewTxn returns an Empty transaction for a fresh producer ID.
func NewTxn(id string, producerID int64, timeoutMs int32, now int64) *Txn {
	return &Txn{ID: id, ProducerID: producerID, ProducerEpoch: 0, PrevProducerID: -1, PrevEpoch: -1,
		TimeoutMs: timeoutMs, State: StateEmpty, Partitions: map[TopicPartition]struct{}{}, StartMs: -1, UpdateMs: now}
}

// Clone returns a deep copy.
func (t *Txn) Clone() *Txn {
	c := *t
	c.Partitions = make(map[TopicPartition]struct{}, len(t.Partitions))
	for p := range t.Partitions {
		c.Partitions[p] = struct{}{}
	}
	return &c
}

// SortedPartitions returns the transaction's partitions in order.
func (t *Txn) SortedPartitions() []TopicPartition {
	out := make([]TopicPartition, 0, len(t.Partitions))
	for p := range t.Partitions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// InProgress reports whether markers are being written (Prepare* states):
// requests that would change the transaction must wait and retry.
func (t *Txn) InProgress() bool {
	return t.State == StatePrepareCommit || t.State == StatePrepareAbort || t.State == StatePrepareFence
}

// CheckProducer validates a request's producer ID and epoch against the
// transaction: a different ID is INVALID_PRODUCER_ID_MAPPING, an older
// epoch PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for clients too old to know
// it), and markers in flight CONCURRENT_TRANSACTIONS.
func (t *Txn) CheckProducer(producerID int64, epoch int16, fencedErr *kerr.Error) *kerr.Error {
	if producerID != t.ProducerID {
		return kerr.InvalidProducerIDMapping
	}
	if epoch != t.ProducerEpoch {
		return fencedErr
	}
	if t.InProgress() {
		return kerr.ConcurrentTransactions
	}
	return nil
}

// InitDecision is what InitProducerId must do for an existing ID.
type InitDecision struct {
	// AbortFirst is set when an open transaction must be aborted (with the
	// bumped epoch, fencing the old producer) before answering.
	AbortFirst bool
	// NeedNewID is set when the epoch is exhausted: the caller allocates a
	// new producer ID and calls ResetProducerID.
	NeedNewID bool
}

// Init handles InitProducerId for an existing transactional ID: it bumps
// the epoch (fencing any older producer) and reports whether an open
// transaction must be aborted first. reqID/reqEpoch are the KIP-360 fields
// (-1 when the client sends none).
func (t *Txn) Init(reqID int64, reqEpoch int16, timeoutMs int32, now int64) (InitDecision, *kerr.Error) {
	if t.InProgress() {
		return InitDecision{}, kerr.ConcurrentTransactions
	}
	if reqID >= 0 {
		retry := reqID == t.PrevProducerID && reqEpoch == t.PrevEpoch
		current := reqID == t.ProducerID && reqEpoch == t.ProducerEpoch
		if !retry && !current {
			if reqID != t.ProducerID && reqID != t.PrevProducerID {
				return InitDecision{}, kerr.InvalidProducerIDMapping
			}
			return InitDecision{}, kerr.ProducerFenced
		}
	}
	d := InitDecision{AbortFirst: t.State == StateOngoing}
	t.PrevProducerID, t.PrevEpoch = t.ProducerID, t.ProducerEpoch
	if t.ProducerEpoch >= math.MaxInt16-1 {
		d.NeedNewID = true
	} else {
		t.ProducerEpoch++
	}
	t.TimeoutMs = timeoutMs
	t.UpdateMs = now
	if !d.AbortFirst {
		t.State = StateEmpty
		t.Partitions = map[TopicPartition]struct{}{}
		t.StartMs = -1
	}
	return d, nil
}

// ResetProducerID moves the transaction to a new producer ID at epoch 0.
func (t *Txn) ResetProducerID(producerID int64) {
	t.ProducerID, t.ProducerEpoch = producerID, 0
}

// AddPartitions adds partitions to the transaction, starting it if needed.
// It reports whether anything changed (and so must be persisted).
func (t *Txn) AddPartitions(parts []TopicPartition, now int64) bool {
	changed := t.State != StateOngoing
	if t.State != StateOngoing {
		t.State = StateOngoing
		t.StartMs = now
		t.Partitions = map[TopicPartition]struct{}{}
	}
	for _, p := range parts {
		if _, ok := t.Partitions[p]; !ok {
			t.Partitions[p] = struct{}{}
			changed = true
		}
	}
	if changed {
		t.UpdateMs = now
	}
	return changed
}

// Has reports whether p is part of the ongoing transaction.
func (t *Txn) Has(p TopicPartition) bool {
	if t.State != StateOngoing {
		return false
	}
	_, ok := t.Partitions[p]
	return ok
}

// EndDecision is what EndTxn must do.
type EndDecision struct {
	// WriteMarkers is set when the caller must persist the Prepare state,
	// write a marker to every partition, then call Complete.
	WriteMarkers bool
}

// End handles EndTxn. A retry of an end already completed succeeds; ending
// a transaction that is not open is INVALID_TXN_STATE.
func (t *Txn) End(commit bool, now int64) (EndDecision, *kerr.Error) {
	switch t.State {
	case StateOngoing:
		if commit {
			t.State = StatePrepareCommit
		} else {
			t.State = StatePrepareAbort
		}
		t.UpdateMs = now
		return EndDecision{WriteMarkers: true}, nil
	case StateCompleteCommit:
		if commit {
			return EndDecision{}, nil
		}
	case StateCompleteAbort:
		if !commit {
			return EndDecision{}, nil
		}
	case StateEmpty:
		if !commit {
			return EndDecision{}, nil // nothing was added: aborting is a no-op
		}
	}
	return EndDecision{}, kerr.InvalidTxnState
}

// BeginAbort moves an ongoing transaction to PrepareAbort (for timeouts and
// for InitProducerId fencing an open transaction).
func (t *Txn) BeginAbort(now int64) {
	t.State = StatePrepareAbort
	t.UpdateMs = now
}

// Complete finishes the markers phase: Prepare* becomes Complete*, and the
// partitions are forgotten.
func (t *Txn) Complete(now int64) {
	switch t.State {
	case StatePrepareCommit:
		t.State = StateCompleteCommit
	case StatePrepareAbort, StatePrepareFence:
		t.State = StateCompleteAbort
	}
	t.Partitions = map[TopicPartition]struct{}{}
	t.StartMs = -1
	t.UpdateMs = now
}

// Committing reports whether the markers to write are commit markers.
func (t *Txn) Committing() bool { return t.State == StatePrepareCommit }

// TimedOut reports whether an ongoing transaction has outlived its timeout.
func (t *Txn) TimedOut(now int64) bool {
	return t.State == StateOngoing && t.StartMs >= 0 && now-t.StartMs > int64(t.TimeoutMs)
}

// MarshalKey encodes the __transaction_state record key (Kafka's format).
func (t *Txn) MarshalKey() []byte {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = t.ID
	return k.AppendTo(nil)
}

// MarshalValue encodes the __transaction_state record value (version 0).
func (t *Txn) MarshalValue() []byte {
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID, v.ProducerEpoch = t.ProducerID, t.ProducerEpoch
	v.TimeoutMillis = t.TimeoutMs
	v.State = kmsg.TransactionState(t.State)
	byTopic := map[string][]int32{}
	for _, p := range t.SortedPartitions() {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.Partition)
	}
	topics := make([]string, 0, len(byTopic))
	for tp := range byTopic {
		topics = append(topics, tp)
	}
	sort.Strings(topics)
	for _, tp := range topics {
		v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp, Partitions: byTopic[tp]})
	}
	v.LastUpdateTimestamp, v.StartTimestamp = t.UpdateMs, t.StartMs
	return v.AppendTo(nil)
}

// UnmarshalTxn decodes a __transaction_state record; a nil value (a
// tombstone) yields nil.
func UnmarshalTxn(key, value []byte) (*Txn, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return nil, err
	}
	if value == nil {
		return nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, err
	}
	t := &Txn{ID: k.TransactionalID, ProducerID: v.ProducerID, ProducerEpoch: v.ProducerEpoch,
		PrevProducerID: -1, PrevEpoch: -1, TimeoutMs: v.TimeoutMillis, State: State(v.State),
		Partitions: map[TopicPartition]struct{}{}, StartMs: v.StartTimestamp, UpdateMs: v.LastUpdateTimestamp}
	for _, tp := range v.Topics {
		for _, p := range tp.Partitions {
			t.Partitions[TopicPartition{tp.Topic, p}] = struct{}{}
		}
	}
	return t, nil
}
