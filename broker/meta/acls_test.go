package meta

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/acl"
)

func TestACLRecords(t *testing.T) {
	read := acl.Binding{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	write := read
	write.Operation = kmsg.ACLOperationWrite
	s := NewState()
	gen := s.ACLGeneration()
	if err := s.Apply(Record{Type: RecordCreateACLs, ACLs: []acl.Binding{write, read, read}}); err != nil {
		t.Fatal(err)
	}
	if got := s.ACLs(); len(got) != 2 || got[0] != read || got[1] != write || s.ACLGeneration() == gen {
		t.Fatalf("after create: %v (generation %d)", got, s.ACLGeneration())
	}
	bad := read
	bad.PatternType = kmsg.ACLResourcePatternTypeMatch
	if err := s.Apply(Record{Type: RecordCreateACLs, ACLs: []acl.Binding{bad}}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("invalid binding: %v", err)
	}
	if err := s.Apply(Record{Type: RecordDeleteACLs}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("empty delete: %v", err)
	}

	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := RestoreState(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ACLs(); len(got) != 2 || got[0] != read || got[1] != write || r.Hash() != s.Hash() {
		t.Fatalf("restored: %v", got)
	}

	if err := s.Apply(Record{Type: RecordDeleteACLs, ACLs: []acl.Binding{read, read}}); err != nil {
		t.Fatal(err)
	}
	if got := s.ACLs(); len(got) != 1 || got[0] != write {
		t.Fatalf("after delete: %v", got)
	}
}
