package meta

import (
	"fmt"

	"github.com/gregorhq/gregor/broker/acl"
)

// ACL record types (CreateAcls, DeleteAcls). A create-acls record adds its
// bindings (one already present is no change); a delete-acls record
// removes its bindings (one already gone is no change), so concurrent
// requests that overlap both apply.
const (
	RecordCreateACLs RecordType = "create-acls"
	RecordDeleteACLs RecordType = "delete-acls"
)

// applyACLs applies a create-acls or delete-acls record.
func (s *State) applyACLs(r Record) error {
	if len(r.ACLs) == 0 {
		return fmt.Errorf("%w: %s without bindings", ErrBadRecord, r.Type)
	}
	if r.Type == RecordCreateACLs {
		for _, b := range r.ACLs {
			if err := b.Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrBadRecord, err)
			}
		}
	}
	if s.acls == nil {
		s.acls = map[acl.Binding]struct{}{}
	}
	for _, b := range r.ACLs {
		b = b.Normalize()
		if r.Type == RecordCreateACLs {
			s.acls[b] = struct{}{}
		} else {
			delete(s.acls, b)
		}
	}
	s.aclGen++
	return nil
}

// ACLs returns every ACL binding, sorted.
func (s *State) ACLs() []acl.Binding {
	out := make([]acl.Binding, 0, len(s.acls))
	for b := range s.acls {
		out = append(out, b)
	}
	acl.Sort(out)
	return out
}

// ACLGeneration changes whenever a record changes the ACLs, so a reader
// can tell whether an authorizer built from ACLs is still current (for
// the same State).
func (s *State) ACLGeneration() uint64 { return s.aclGen }

func aclSet(bs []acl.Binding) map[acl.Binding]struct{} {
	if len(bs) == 0 {
		return nil
	}
	out := make(map[acl.Binding]struct{}, len(bs))
	for _, b := range bs {
		out[b.Normalize()] = struct{}{}
	}
	return out
}
