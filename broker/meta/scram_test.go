package meta

import (
	"errors"
	"reflect"
	"testing"
)

func cred(iter int32) *ScramCredential {
	return &ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: iter}
}

func TestScramRecords(t *testing.T) {
	s := NewState()
	up := Record{Type: RecordScramCredentials, Scram: []ScramChange{
		{User: "alice", Mechanism: "SCRAM-SHA-256", Credential: cred(4096)},
		{User: "alice", Mechanism: "SCRAM-SHA-512", Credential: cred(8192)},
		{User: "bob", Mechanism: "SCRAM-SHA-256", Credential: cred(4096)},
	}}
	if err := s.Apply(up); err != nil {
		t.Fatal(err)
	}
	if got := s.ScramUsers(); !reflect.DeepEqual(got, []string{"alice", "bob"}) {
		t.Fatalf("users %v", got)
	}
	if got := s.ScramMechanisms("alice"); !reflect.DeepEqual(got, []ScramInfo{{"SCRAM-SHA-256", 4096}, {"SCRAM-SHA-512", 8192}}) {
		t.Fatalf("alice %v", got)
	}
	c, ok := s.ScramCredential("alice", "SCRAM-SHA-512")
	if !ok || c.Iterations != 8192 || string(c.StoredKey) != "stored" {
		t.Fatalf("credential %+v %v", c, ok)
	}
	c.StoredKey[0] = 'X' // a copy: the state is untouched
	if c2, _ := s.ScramCredential("alice", "SCRAM-SHA-512"); string(c2.StoredKey) != "stored" {
		t.Fatal("ScramCredential returned the state's own bytes")
	}

	// A record with a deletion of a missing credential applies nothing,
	// not even its valid changes.
	before := s.Hash()
	bad := Record{Type: RecordScramCredentials, Scram: []ScramChange{
		{User: "alice", Mechanism: "SCRAM-SHA-256"},
		{User: "carol", Mechanism: "SCRAM-SHA-256"},
	}}
	if err := s.Apply(bad); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete missing: %v", err)
	}
	if s.Hash() != before {
		t.Fatal("a failed record changed the state")
	}
	// Upsert then delete in one record is fine; delete then delete is not.
	if err := s.Apply(Record{Type: RecordScramCredentials, Scram: []ScramChange{
		{User: "carol", Mechanism: "SCRAM-SHA-256", Credential: cred(4096)}, {User: "carol", Mechanism: "SCRAM-SHA-256"},
	}}); err != nil {
		t.Fatalf("upsert then delete: %v", err)
	}
	if err := s.Apply(Record{Type: RecordScramCredentials, Scram: []ScramChange{
		{User: "bob", Mechanism: "SCRAM-SHA-256"}, {User: "bob", Mechanism: "SCRAM-SHA-256"},
	}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete twice: %v", err)
	}
	for _, r := range []Record{
		{Type: RecordScramCredentials},
		{Type: RecordScramCredentials, Scram: []ScramChange{{Mechanism: "SCRAM-SHA-256", Credential: cred(4096)}}},
	} {
		if err := s.Apply(r); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	// Deleting a user's last credential removes the user.
	if err := s.Apply(Record{Type: RecordScramCredentials, Scram: []ScramChange{{User: "bob", Mechanism: "SCRAM-SHA-256"}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.ScramUsers(); !reflect.DeepEqual(got, []string{"alice"}) {
		t.Fatalf("users after deleting bob's credential: %v", got)
	}

	// Snapshots carry the credentials.
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreState(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash() != s.Hash() {
		t.Fatal("restored state differs")
	}
	if c, ok := r.ScramCredential("alice", "SCRAM-SHA-256"); !ok || string(c.Salt) != "salt" || c.Iterations != 4096 {
		t.Fatalf("restored credential %+v %v", c, ok)
	}
}
