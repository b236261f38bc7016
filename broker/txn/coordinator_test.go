package txn

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTxnLifecycleTranscript(t *testing.T) {
	tx := NewTxn("app-1", 100, 60000, 0)
	tp := TopicPartition{"orders", 0}
	steps := []struct {
		name string
		do   func() error
		want State
	}{
		{"add starts the transaction", func() error {
			if !tx.AddPartitions([]TopicPartition{tp}, 10) {
				return errors.New("no change reported")
			}
			return nil
		}, StateOngoing},
		{"adding again changes nothing", func() error {
			if tx.AddPartitions([]TopicPartition{tp}, 11) {
				return errors.New("change reported")
			}
			return nil
		}, StateOngoing},
		{"commit prepares", func() error {
			d, err := tx.End(true, 20)
			if err != nil || !d.WriteMarkers {
				return errors.Join(err, errors.New("no markers"))
			}
			return nil
		}, StatePrepareCommit},
		{"requests wait while markers are written", func() error {
			if err := tx.CheckProducer(100, 0, kerr.ProducerFenced); err != kerr.ConcurrentTransactions {
				return err
			}
			return nil
		}, StatePrepareCommit},
		{"complete", func() error { tx.Complete(30); return nil }, StateCompleteCommit},
		{"a retried commit succeeds", func() error {
			d, err := tx.End(true, 31)
			if err != nil || d.WriteMarkers {
				return errors.New("retry should be a no-op success")
			}
			return nil
		}, StateCompleteCommit},
		{"abort after commit is invalid", func() error {
			if _, err := tx.End(false, 32); err != kerr.InvalidTxnState {
				return err
			}
			return nil
		}, StateCompleteCommit},
		{"wrong epoch is fenced", func() error {
			if err := tx.CheckProducer(100, 3, kerr.ProducerFenced); err != kerr.ProducerFenced {
				return err
			}
			return nil
		}, StateCompleteCommit},
		{"wrong producer ID", func() error {
			if err := tx.CheckProducer(7, 0, kerr.ProducerFenced); err != kerr.InvalidProducerIDMapping {
				return err
			}
			return nil
		}, StateCompleteCommit},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if tx.State != s.want {
			t.Fatalf("%s: state %v, want %v", s.name, tx.State, s.want)
		}
	}
	if len(tx.Partitions) != 0 {
		t.Fatalf("completed transaction still lists partitions: %v", tx.Partitions)
	}
}

func TestTxnInitFencesAndAborts(t *testing.T) {
	tx := NewTxn("app-2", 5, 1000, 0)
	tx.AddPartitions([]TopicPartition{{"t", 1}}, 1)
	d, err := tx.Init(-1, -1, 1000, 2)
	if err != nil || !d.AbortFirst || tx.ProducerEpoch != 1 {
		t.Fatalf("init over an open transaction: %+v %v epoch %d", d, err, tx.ProducerEpoch)
	}
	tx.BeginAbort(2)
	tx.Complete(3)
	// KIP-360: the previous producer/epoch may retry; an unknown epoch is fenced.
	if _, err := tx.Init(5, 0, 1000, 4); err != nil {
		t.Fatalf("retry with the previous epoch: %v", err)
	}
	if _, err := tx.Init(5, 0, 1000, 5); err != kerr.ProducerFenced {
		t.Fatalf("stale epoch: %v", err)
	}
	if _, err := tx.Init(99, 0, 1000, 5); err != kerr.InvalidProducerIDMapping {
		t.Fatalf("unknown producer: %v", err)
	}
	tx.ProducerEpoch = 1<<15 - 2
	if d, _ := tx.Init(-1, -1, 1000, 6); !d.NeedNewID {
		t.Fatal("an exhausted epoch needs a new producer ID")
	}
}

func TestTxnTimeoutAndRecordRoundTrip(t *testing.T) {
	tx := NewTxn("app-3", 9, 100, 0)
	tx.AddPartitions([]TopicPartition{{"a", 0}, {"b", 2}}, 1000)
	if tx.TimedOut(1050) || !tx.TimedOut(1101) {
		t.Fatal("timeout is start + timeout.ms")
	}
	got, err := UnmarshalTxn(tx.MarshalKey(), tx.MarshalValue())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "app-3" || got.ProducerID != 9 || got.State != StateOngoing || len(got.Partitions) != 2 || got.StartMs != 1000 {
		t.Fatalf("round trip: %+v", got)
	}
	if tomb, err := UnmarshalTxn(tx.MarshalKey(), nil); err != nil || tomb != nil {
		t.Fatalf("tombstone: %v %v", tomb, err)
	}
}

func TestProducerStateTracksTransactions(t *testing.T) {
	tab := NewProducerStateTable()
	tab.Record(Batch{ProducerID: 1, FirstSequence: 0, LastSequence: 4, BaseOffset: 10, LastOffset: 14, Transactional: true})
	tab.Record(Batch{ProducerID: 2, FirstSequence: 0, LastSequence: 0, BaseOffset: 15, LastOffset: 15, Transactional: true})
	tab.Record(Batch{ProducerID: 1, FirstSequence: 5, LastSequence: 9, BaseOffset: 16, LastOffset: 20, Transactional: true})
	if fu := tab.FirstUnstableOffset(); fu != 10 {
		t.Fatalf("first unstable = %d, want 10", fu)
	}
	if _, err := tab.Check(Batch{ProducerID: 1, FirstSequence: -1, LastSequence: -1, Control: true}); err != nil {
		t.Fatalf("a marker must pass the sequence check: %v", err)
	}
	tab.Record(Batch{ProducerID: 1, FirstSequence: -1, LastSequence: -1, BaseOffset: 21, LastOffset: 21, Control: true})
	if fu := tab.FirstUnstableOffset(); fu != 15 {
		t.Fatalf("after producer 1's marker first unstable = %d, want 15", fu)
	}
	data, _ := tab.MarshalBinary()
	back := NewProducerStateTable()
	if err := back.UnmarshalBinary(data); err != nil || back.FirstUnstableOffset() != 15 {
		t.Fatalf("snapshot lost the open transaction: %v %d", err, back.FirstUnstableOffset())
	}
	if _, err := tab.Check(Batch{ProducerID: 2, ProducerEpoch: -1, Control: true}); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("a marker with an older epoch: %v", err)
	}
}
