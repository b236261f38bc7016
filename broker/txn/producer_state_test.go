package txn

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func batch(pid int64, epoch int16, first, last int32, base int64) Batch {
	return Batch{ProducerID: pid, ProducerEpoch: epoch, FirstSequence: first, LastSequence: last,
		BaseOffset: base, LastOffset: base + int64(last-first), MaxTimestamp: 1000 + base}
}

// TestProducerStateTranscript drives the table through a sequence of
// appends and checks every decision.
func TestProducerStateTranscript(t *testing.T) {
	type step struct {
		name    string
		in      Batch
		wantErr error
		wantDup bool
		dupBase int64
	}
	steps := []step{
		{name: "unknown producer, first batch", in: batch(7, 0, 0, 9, 0)},
		{name: "next in sequence", in: batch(7, 0, 10, 19, 10)},
		{name: "retry of the first batch is a duplicate", in: batch(7, 0, 0, 9, 0), wantDup: true, dupBase: 0},
		{name: "retry of the second batch", in: batch(7, 0, 10, 19, 10), wantDup: true, dupBase: 10},
		{name: "gap is out of order", in: batch(7, 0, 25, 29, 20), wantErr: ErrOutOfOrderSequence},
		{name: "older epoch is fenced", in: batch(7, -1+0, 20, 29, 20), wantErr: ErrInvalidEpoch},
		{name: "new epoch must start at zero", in: batch(7, 1, 5, 9, 20), wantErr: ErrOutOfOrderSequence},
		{name: "new epoch at zero", in: batch(7, 1, 0, 4, 20)},
		{name: "old epoch after bump is fenced", in: batch(7, 0, 20, 29, 25), wantErr: ErrInvalidEpoch},
		{name: "unknown producer may start anywhere", in: batch(8, 3, 42, 50, 25)},
		{name: "non-idempotent batch passes", in: Batch{ProducerID: -1, FirstSequence: -1, LastSequence: -1, BaseOffset: 34, LastOffset: 34}},
	}
	tab := NewProducerStateTable()
	for _, s := range steps {
		d, err := tab.Check(s.in)
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if d.Duplicate != s.wantDup {
			t.Fatalf("%s: duplicate = %v, want %v", s.name, d.Duplicate, s.wantDup)
		}
		if d.Duplicate && d.Original.BaseOffset != s.dupBase {
			t.Fatalf("%s: original base = %d, want %d", s.name, d.Original.BaseOffset, s.dupBase)
		}
		if err == nil && !d.Duplicate {
			tab.Record(s.in)
		}
	}
}

func TestProducerStateRemembersFiveBatches(t *testing.T) {
	tab := NewProducerStateTable()
	for i := int32(0); i < 7; i++ {
		tab.Record(batch(1, 0, i*10, i*10+9, int64(i*10)))
	}
	if d, _ := tab.Check(batch(1, 0, 20, 29, 0)); !d.Duplicate {
		t.Fatal("third batch (within the last five) should be a duplicate")
	}
	if d, err := tab.Check(batch(1, 0, 10, 19, 0)); d.Duplicate || !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("second batch (older than the last five): dup=%v err=%v, want out of order", d.Duplicate, err)
	}
}

func TestProducerStateSequenceWraps(t *testing.T) {
	tab := NewProducerStateTable()
	tab.Record(batch(1, 0, 1<<31-10, 1<<31-1, 0))
	if _, err := tab.Check(batch(1, 0, 0, 4, 10)); err != nil {
		t.Fatalf("sequence after MaxInt32 should wrap to 0: %v", err)
	}
}

func TestProducerStateSnapshotRoundTrip(t *testing.T) {
	tab := NewProducerStateTable()
	tab.Record(batch(1, 2, 0, 9, 0))
	tab.Record(batch(1, 2, 10, 19, 10))
	tab.Record(batch(99, 0, 0, 0, 20))
	data, err := tab.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got := NewProducerStateTable()
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Check(batch(1, 2, 10, 19, 0)); !d.Duplicate || d.Original.BaseOffset != 10 {
		t.Fatalf("restored table lost a batch: %+v", d)
	}
	data[len(data)-1] ^= 0xff
	if err := got.UnmarshalBinary(data); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("corrupt snapshot: err = %v", err)
	}
}

func TestProducerStateTruncate(t *testing.T) {
	tab := NewProducerStateTable()
	tab.Record(batch(1, 0, 0, 9, 0))
	tab.Record(batch(1, 0, 10, 19, 10))
	tab.TruncateAfter(10)
	if _, err := tab.Check(batch(1, 0, 10, 19, 10)); err != nil {
		t.Fatalf("after truncating the second batch away it may be appended again: %v", err)
	}
	tab.TruncateBefore(100)
	if tab.Len() != 1 {
		t.Fatalf("producer should keep its epoch after TruncateBefore, have %d producers", tab.Len())
	}
}

func FuzzProducerSnapshot(f *testing.F) {
	tab := NewProducerStateTable()
	tab.Record(batch(1, 2, 0, 9, 0))
	seed, _ := tab.MarshalBinary()
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tab := NewProducerStateTable()
		if err := tab.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := tab.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := NewProducerStateTable().UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
	})
}

// TestProducerStateAfterHeadTruncation: once DeleteRecords or retention removed a
// producer's cached batches, its next batch continues the sequence (which the broker
// can no longer check) and is accepted, as Kafka accepts a producer whose entry left
// with the log's head; an older epoch stays fenced. Streams' repartition purges hit
// this: an exactly-once producer's next batch was refused OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestProducerStateAfterHeadTruncation(t *testing.T) {
	tab := NewProducerStateTable()
	for _, b := range []Batch{batch(7, 2, 0, 9, 0), batch(7, 2, 10, 19, 10)} {
		if _, err := tab.Check(b); err != nil {
			t.Fatal(err)
		}
		tab.Record(b)
	}
	tab.TruncateBefore(20)
	if _, err := tab.Check(batch(7, 2, 20, 29, 20)); err != nil {
		t.Fatalf("next batch after the head was deleted: %v", err)
	}
	if _, err := tab.Check(batch(7, 1, 0, 9, 20)); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("older epoch after truncation: %v, want ErrInvalidEpoch", err)
	}
	tab.Record(batch(7, 2, 20, 29, 20))
	if _, err := tab.Check(batch(7, 2, 35, 39, 30)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("a gap once batches are cached again: %v, want ErrOutOfOrderSequence", err)
	}
}

// TestProducerStateFencesStaleCoordinator: a marker from a coordinator
// epoch older than the producer's last marker is fenced; equal or newer
// ones pass, and the epoch survives a snapshot.
func TestProducerStateFencesStaleCoordinator(t *testing.T) {
	tab := NewProducerStateTable()
	data := Batch{ProducerID: 5, ProducerEpoch: 1, FirstSequence: 0, LastSequence: 0, Transactional: true, BaseOffset: 0, LastOffset: 0}
	marker := func(coord int32, at int64) Batch {
		return Batch{ProducerID: 5, ProducerEpoch: 1, FirstSequence: -1, LastSequence: -1, Control: true, Transactional: true,
			CoordinatorEpoch: coord, BaseOffset: at, LastOffset: at}
	}
	steps := []struct {
		name    string
		in      Batch
		wantErr error
	}{
		{"data", data, nil},
		{"marker from coordinator epoch 3", marker(3, 1), nil},
		{"marker from coordinator epoch 2 is fenced", marker(2, 2), ErrCoordinatorFenced},
		{"a retried marker from epoch 3", marker(3, 2), nil},
		{"marker from a newer coordinator", marker(4, 3), nil},
		{"epoch 3 is fenced now", marker(3, 4), ErrCoordinatorFenced},
	}
	for _, s := range steps {
		_, err := tab.Check(s.in)
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if err == nil {
			tab.Record(s.in)
		}
	}
	snap, err := tab.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got := NewProducerStateTable()
	if err := got.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := got.Check(marker(3, 5)); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("after a snapshot round trip: err = %v, want ErrCoordinatorFenced", err)
	}
}

// TestProducerStateReadsVersion2Snapshot: a snapshot written before the
// coordinator epoch was kept still loads, with no epoch seen.
func TestProducerStateReadsVersion2Snapshot(t *testing.T) {
	// version 2, one producer (id 9, epoch 1, txnFirst 4, no batches).
	v2 := []byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 1}
	v2 = binary.BigEndian.AppendUint64(v2, 9)
	v2 = binary.BigEndian.AppendUint16(v2, 1)
	v2 = binary.BigEndian.AppendUint64(v2, 4)
	v2 = append(v2, 0)
	binary.BigEndian.PutUint32(v2[2:], crc32.Checksum(v2[6:], crc32c))
	tab := NewProducerStateTable()
	if err := tab.UnmarshalBinary(v2); err != nil {
		t.Fatal(err)
	}
	if !tab.OngoingTxn(9, 1) || tab.OngoingTxn(9, 2) {
		t.Fatal("the open transaction of a version 2 snapshot is lost")
	}
	m := Batch{ProducerID: 9, ProducerEpoch: 1, FirstSequence: -1, LastSequence: -1, Control: true, CoordinatorEpoch: 0}
	if _, err := tab.Check(m); err != nil {
		t.Fatalf("marker after a version 2 snapshot: %v", err)
	}
}
