package meta

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gregorhq/gregor/broker/quota"
)

func TestClientQuotaRecords(t *testing.T) {
	alice := quota.Entity{{Type: quota.EntityUser, Name: "alice"}}
	dflt := quota.Entity{{Type: quota.EntityClientID, Default: true}}
	s := NewState()
	must := func(r Record) {
		t.Helper()
		if err := s.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	must(Record{Type: RecordClientQuotas, Quotas: []QuotaChange{
		{Entity: alice, Key: quota.ProducerByteRate, Value: 1024},
		{Entity: alice, Key: quota.ConsumerByteRate, Value: 2048},
		{Entity: dflt, Key: quota.RequestPercentage, Value: 50},
	}})
	must(Record{Type: RecordClientQuotas, Quotas: []QuotaChange{
		{Entity: alice, Key: quota.ConsumerByteRate, Remove: true},
		{Entity: dflt, Key: quota.RequestPercentage, Remove: true},
		{Entity: dflt, Key: quota.ProducerByteRate, Remove: true}, // not set: ignored
	}})
	want := []quota.Config{{Entity: alice, Values: map[string]float64{quota.ProducerByteRate: 1024}}}
	if got := s.ClientQuotas(); !reflect.DeepEqual(got, want) {
		t.Fatalf("quotas %+v, want %+v", got, want)
	}
	// A bad change refuses the whole record.
	err := s.Apply(Record{Type: RecordClientQuotas, Quotas: []QuotaChange{
		{Entity: alice, Key: quota.ProducerByteRate, Value: 1},
		{Entity: alice, Key: "bogus", Value: 1},
	}})
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("bad key: %v", err)
	}
	if got := s.ClientQuotas(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a refused record: %+v", got)
	}
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	st, err := RestoreState(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.ClientQuotas(); !reflect.DeepEqual(got, want) || st.Hash() != s.Hash() {
		t.Fatalf("restored %+v", got)
	}
}
