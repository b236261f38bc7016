package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// MaxCachedBatches is how many of a producer's most recent batches each
// partition remembers, so that a retry of any of them is answered with its
// original offset (Kafka's max.in.flight.requests.per.connection bound).
const MaxCachedBatches = 5

// Errors returned by ProducerStateTable.Check. The broker maps them to
// Kafka error codes (kerr.OutOfOrderSequenceNumber, kerr.InvalidProducerEpoch).
var (
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	ErrInvalidEpoch       = errors.New("producer epoch is older than the current one")
	// ErrCoordinatorFenced is returned for a transaction marker whose
	// coordinator epoch is older than one already seen for the producer: it
	// comes from a transaction coordinator that has since been replaced
	// (kerr.TransactionCoordinatorFenced).
	ErrCoordinatorFenced = errors.New("transaction coordinator epoch is older than the current one")
	ErrCorruptSnapshot   = errors.New("corrupt producer state snapshot")
)

// Batch describes the idempotence fields of one record batch.
type Batch struct {
	ProducerID    int64
	ProducerEpoch int16
	FirstSequence int32
	LastSequence  int32
	// BaseOffset and LastOffset are the offsets the log assigned (zero in Check).
	BaseOffset int64
	LastOffset int64
	// MaxTimestamp is the batch's max timestamp, returned for duplicates.
	MaxTimestamp int64
	// Transactional marks a batch inside a transaction; Control marks a
	// transaction marker (commit or abort), which ends the producer's
	// ongoing transaction on this partition.
	Transactional bool
	Control       bool
	// CoordinatorEpoch is the epoch of the transaction coordinator that
	// wrote a marker (Control batches only).
	CoordinatorEpoch int32
}

// cachedBatch is what a partition remembers of one appended batch.
type cachedBatch struct {
	FirstSeq, LastSeq      int32
	BaseOffset, LastOffset int64
	MaxTimestamp           int64
}

// producerEntry is the state of one producer on one partition.
type producerEntry struct {
	Epoch   int16
	Batches []cachedBatch // oldest first, at most MaxCachedBatches
	// TxnFirst is the offset of the producer's first batch in its ongoing
	// transaction on this partition, or -1 when none is open.
	TxnFirst int64
	// CoordinatorEpoch is the highest transaction coordinator epoch of the
	// producer's markers here, or -1: markers from older coordinators are
	// fenced.
	CoordinatorEpoch int32
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// Decision is the outcome of checking a batch against the producer state.
type Decision struct {
	// Duplicate is true when the batch was already appended; Original then
	// holds the offsets it got the first time, and nothing must be appended.
	Duplicate bool
	Original  Batch
}

// ProducerStateTable is the idempotence state of one partition: for each
// producer ID, its epoch and its last few batches. It is a pure state machine
// with no locking: the partition that owns it serialises access.
type ProducerStateTable struct {
	producers map[int64]*producerEntry
}

// NewProducerStateTable returns an empty table.
func NewProducerStateTable() *ProducerStateTable {
	return &ProducerStateTable{producers: make(map[int64]*producerEntry)}
}

// Len returns the number of producers tracked.
func (t *ProducerStateTable) Len() int { return len(t.producers) }

// Check decides whether b may be appended. It changes nothing.
//
// Following Kafka: a batch that repeats one of the producer's last five
// batches (same epoch and sequence range) is a duplicate; an older epoch is
// rejected; a new epoch must start at sequence 0 unless the producer is
// unknown; within an epoch the first sequence must follow the last one.
// A marker from a transaction coordinator older than the producer's last
// one is fenced.
func (t *ProducerStateTable) Check(b Batch) (Decision, error) {
	if b.ProducerID < 0 {
		return Decision{}, nil
	}
	e, ok := t.producers[b.ProducerID]
	if !ok {
		// Unknown producer (new, or its state expired or was truncated
		// away): accept any sequence, as Kafka does.
		return Decision{}, nil
	}
	if b.ProducerEpoch < e.Epoch {
		return Decision{}, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrInvalidEpoch, b.ProducerID, b.ProducerEpoch, e.Epoch)
	}
	if b.Control && b.CoordinatorEpoch < e.CoordinatorEpoch {
		return Decision{}, fmt.Errorf("%w: producer %d marker from coordinator epoch %d, current %d",
			ErrCoordinatorFenced, b.ProducerID, b.CoordinatorEpoch, e.CoordinatorEpoch)
	}
	if b.Control || b.FirstSequence < 0 {
		return Decision{}, nil // markers and coordinator-written batches carry no sequence
	}
	if b.ProducerEpoch == e.Epoch {
		for _, c := range e.Batches {
			if c.FirstSeq == b.FirstSequence && c.LastSeq == b.LastSequence {
				return Decision{Duplicate: true, Original: Batch{
					ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch,
					FirstSequence: c.FirstSeq, LastSequence: c.LastSeq,
					BaseOffset: c.BaseOffset, LastOffset: c.LastOffset, MaxTimestamp: c.MaxTimestamp,
				}}, nil
			}
		}
		if len(e.Batches) == 0 {
			// Its batches were truncated away (retention, DeleteRecords): the
			// sequence history is gone, so any sequence is accepted, as Kafka
			// does for a producer whose entry left with the log's head.
			return Decision{}, nil
		}
		if !inSequence(e.lastSeq(), b.FirstSequence) {
			return Decision{}, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d",
				ErrOutOfOrderSequence, b.ProducerID, b.ProducerEpoch, nextSeq(e.lastSeq()), b.FirstSequence)
		}
		return Decision{}, nil
	}
	// A newer epoch must restart its sequences.
	if b.FirstSequence != 0 {
		return Decision{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d",
			ErrOutOfOrderSequence, b.ProducerID, b.ProducerEpoch, b.FirstSequence)
	}
	return Decision{}, nil
}

// Record notes that b was appended at the offsets it carries. Call it after
// a successful append of a batch that Check accepted, and when replaying the
// log on recovery.
func (t *ProducerStateTable) Record(b Batch) {
	if b.ProducerID < 0 {
		return
	}
	e, ok := t.producers[b.ProducerID]
	if !ok {
		e = &producerEntry{Epoch: b.ProducerEpoch, TxnFirst: -1, CoordinatorEpoch: -1}
		t.producers[b.ProducerID] = e
	}
	if b.ProducerEpoch != e.Epoch {
		e.Epoch = b.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	if b.Control {
		e.TxnFirst = -1
		e.CoordinatorEpoch = max(e.CoordinatorEpoch, b.CoordinatorEpoch)
		return
	}
	if b.Transactional && e.TxnFirst < 0 {
		e.TxnFirst = b.BaseOffset
	}
	if b.FirstSequence < 0 {
		return
	}
	if len(e.Batches) == MaxCachedBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:MaxCachedBatches-1]
	}
	e.Batches = append(e.Batches, cachedBatch{
		FirstSeq: b.FirstSequence, LastSeq: b.LastSequence,
		BaseOffset: b.BaseOffset, LastOffset: b.LastOffset, MaxTimestamp: b.MaxTimestamp,
	})
}

// OngoingTxn reports whether the producer has a transaction open on this
// partition at the given epoch.
func (t *ProducerStateTable) OngoingTxn(producerID int64, epoch int16) bool {
	e, ok := t.producers[producerID]
	return ok && e.Epoch == epoch && e.TxnFirst >= 0
}

// TxnFirstOffset returns the first offset of the producer's ongoing
// transaction on this partition, or -1.
func (t *ProducerStateTable) TxnFirstOffset(producerID int64) int64 {
	if e, ok := t.producers[producerID]; ok {
		return e.TxnFirst
	}
	return -1
}

// FirstUnstableOffset returns the smallest first offset of any ongoing
// transaction, or -1 when none is open: the last stable offset can't pass it.
func (t *ProducerStateTable) FirstUnstableOffset() int64 {
	first := int64(-1)
	for _, e := range t.producers {
		if e.TxnFirst >= 0 && (first < 0 || e.TxnFirst < first) {
			first = e.TxnFirst
		}
	}
	return first
}

// OngoingTxn is a producer with an open transaction on this partition.
type OngoingTxn struct {
	ProducerID    int64
	ProducerEpoch int16
	FirstOffset   int64
}

// ProducerInfo is what DescribeProducers reports of one producer.
type ProducerInfo struct {
	ProducerID     int64
	ProducerEpoch  int16
	LastSequence   int32
	LastTimestamp  int64
	TxnStartOffset int64
	// CoordinatorEpoch is the epoch of the coordinator of the producer's
	// last marker here, or -1.
	CoordinatorEpoch int32
}

// Producers lists the producers this partition knows, sorted by ID.
func (t *ProducerStateTable) Producers() []ProducerInfo {
	out := make([]ProducerInfo, 0, len(t.producers))
	for id, e := range t.producers {
		pi := ProducerInfo{ProducerID: id, ProducerEpoch: e.Epoch, LastSequence: -1, LastTimestamp: -1, TxnStartOffset: e.TxnFirst,
			CoordinatorEpoch: e.CoordinatorEpoch}
		if n := len(e.Batches); n > 0 {
			pi.LastSequence, pi.LastTimestamp = e.Batches[n-1].LastSeq, e.Batches[n-1].MaxTimestamp
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// TruncateBefore forgets batches that lie wholly before offset (after
// retention or DeleteRecords moved the log start). Producers left with no
// batches keep their epoch (older epochs stay fenced) but accept any next
// sequence.
func (t *ProducerStateTable) TruncateBefore(offset int64) {
	for _, e := range t.producers {
		i := 0
		for i < len(e.Batches) && e.Batches[i].LastOffset < offset {
			i++
		}
		e.Batches = append(e.Batches[:0], e.Batches[i:]...)
	}
}

// TruncateAfter forgets batches at or after offset (when the log tail is
// truncated). Replaying the remaining log is the caller's job.
func (t *ProducerStateTable) TruncateAfter(offset int64) {
	for id, e := range t.producers {
		i := len(e.Batches)
		for i > 0 && e.Batches[i-1].LastOffset >= offset {
			i--
		}
		e.Batches = e.Batches[:i]
		if e.TxnFirst >= offset {
			e.TxnFirst = -1
		}
		if len(e.Batches) == 0 && e.TxnFirst < 0 {
			delete(t.producers, id)
		}
	}
}

func nextSeq(last int32) int32 {
	if last == 1<<31-1 {
		return 0
	}
	return last + 1
}

func inSequence(last, first int32) bool {
	return first == nextSeq(last)
}

// Snapshot encoding, version 3 (all big-endian):
//
//	u16 version | u32 crc32c of the rest | u32 producer count |
//	per producer: i64 id | i16 epoch | i64 txnFirst | i32 coordinatorEpoch | u8 batch count |
//	  per batch: i32 firstSeq | i32 lastSeq | i64 baseOffset | i64 lastOffset | i64 maxTimestamp
//
// Version 2 lacks coordinatorEpoch and version 1 also txnFirst; both are
// still read (as no coordinator epoch seen, no open transactions).
const snapshotVersion = 3

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the table for a producer snapshot file.
func (t *ProducerStateTable) MarshalBinary() ([]byte, error) {
	ids := make([]int64, 0, len(t.producers))
	for id := range t.producers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]byte, 10, 10+len(ids)*(11+MaxCachedBatches*32))
	binary.BigEndian.PutUint16(out, snapshotVersion)
	binary.BigEndian.PutUint32(out[6:], uint32(len(ids)))
	for _, id := range ids {
		e := t.producers[id]
		out = binary.BigEndian.AppendUint64(out, uint64(id))
		out = binary.BigEndian.AppendUint16(out, uint16(e.Epoch))
		out = binary.BigEndian.AppendUint64(out, uint64(e.TxnFirst))
		out = binary.BigEndian.AppendUint32(out, uint32(e.CoordinatorEpoch))
		out = append(out, byte(len(e.Batches)))
		for _, c := range e.Batches {
			out = binary.BigEndian.AppendUint32(out, uint32(c.FirstSeq))
			out = binary.BigEndian.AppendUint32(out, uint32(c.LastSeq))
			out = binary.BigEndian.AppendUint64(out, uint64(c.BaseOffset))
			out = binary.BigEndian.AppendUint64(out, uint64(c.LastOffset))
			out = binary.BigEndian.AppendUint64(out, uint64(c.MaxTimestamp))
		}
	}
	binary.BigEndian.PutUint32(out[2:], crc32.Checksum(out[6:], crc32c))
	return out, nil
}

// UnmarshalBinary replaces the table with a decoded snapshot. Any damage to
// the bytes yields ErrCorruptSnapshot and leaves the table unchanged.
func (t *ProducerStateTable) UnmarshalBinary(data []byte) error {
	if len(data) < 10 {
		return fmt.Errorf("%w: %d bytes", ErrCorruptSnapshot, len(data))
	}
	v := binary.BigEndian.Uint16(data)
	if v < 1 || v > snapshotVersion {
		return fmt.Errorf("%w: version %d", ErrCorruptSnapshot, v)
	}
	head := map[uint16]int{1: 11, 2: 19, 3: 23}[v]
	if crc32.Checksum(data[6:], crc32c) != binary.BigEndian.Uint32(data[2:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	n := binary.BigEndian.Uint32(data[6:])
	rest := data[10:]
	producers := make(map[int64]*producerEntry)
	for i := uint32(0); i < n; i++ {
		if len(rest) < head {
			return fmt.Errorf("%w: truncated producer entry", ErrCorruptSnapshot)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{Epoch: int16(binary.BigEndian.Uint16(rest[8:])), TxnFirst: -1, CoordinatorEpoch: -1}
		if v >= 2 {
			e.TxnFirst = int64(binary.BigEndian.Uint64(rest[10:]))
		}
		if v >= 3 {
			e.CoordinatorEpoch = int32(binary.BigEndian.Uint32(rest[18:]))
		}
		count := int(rest[head-1])
		rest = rest[head:]
		if count > MaxCachedBatches || len(rest) < count*32 {
			return fmt.Errorf("%w: bad batch count %d", ErrCorruptSnapshot, count)
		}
		for j := 0; j < count; j++ {
			e.Batches = append(e.Batches, cachedBatch{
				FirstSeq:     int32(binary.BigEndian.Uint32(rest)),
				LastSeq:      int32(binary.BigEndian.Uint32(rest[4:])),
				BaseOffset:   int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:   int64(binary.BigEndian.Uint64(rest[16:])),
				MaxTimestamp: int64(binary.BigEndian.Uint64(rest[24:])),
			})
			rest = rest[32:]
		}
		producers[id] = e
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(rest))
	}
	t.producers = producers
	return nil
}
