package meta

import (
	"fmt"
	"sort"
)

// RecordScramCredentials upserts and deletes SCRAM credentials of one
// user (AlterUserScramCredentials); all of the record's changes apply, or
// none.
const RecordScramCredentials RecordType = "scram-credentials"

// ScramCredential is a user's stored SCRAM credential for one mechanism:
// the salt, the iteration count and the keys derived from the salted
// password (never the password).
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
	Iterations int32  `json:"iterations"`
}

// ScramChange is one change of a scram-credentials record: an upsert
// (Credential set) or a deletion of User's credential for Mechanism
// (SCRAM-SHA-256 or SCRAM-SHA-512).
type ScramChange struct {
	User       string           `json:"user"`
	Mechanism  string           `json:"mechanism"`
	Credential *ScramCredential `json:"credential,omitempty"`
}

// applyScram applies a scram-credentials record. Deleting a credential
// that does not exist is ErrConflict.
func (s *State) applyScram(r Record) error {
	if len(r.Scram) == 0 {
		return fmt.Errorf("%w: %s without changes", ErrBadRecord, r.Type)
	}
	// Check everything first so the record applies whole or not at all.
	exists := func(user, mech string) bool { _, ok := s.scram[user][mech]; return ok }
	pending := map[[2]string]bool{}
	for _, c := range r.Scram {
		if c.User == "" || c.Mechanism == "" {
			return fmt.Errorf("%w: SCRAM change without user or mechanism", ErrBadRecord)
		}
		k := [2]string{c.User, c.Mechanism}
		have, seen := pending[k]
		if !seen {
			have = exists(c.User, c.Mechanism)
		}
		if c.Credential == nil && !have {
			return fmt.Errorf("%w: no %s credential for user %q", ErrConflict, c.Mechanism, c.User)
		}
		pending[k] = c.Credential != nil
	}
	if s.scram == nil {
		s.scram = map[string]map[string]ScramCredential{}
	}
	for _, c := range r.Scram {
		if c.Credential == nil {
			delete(s.scram[c.User], c.Mechanism)
			if len(s.scram[c.User]) == 0 {
				delete(s.scram, c.User)
			}
			continue
		}
		if s.scram[c.User] == nil {
			s.scram[c.User] = map[string]ScramCredential{}
		}
		s.scram[c.User][c.Mechanism] = c.Credential.clone()
	}
	return nil
}

func (c ScramCredential) clone() ScramCredential {
	c.Salt = append([]byte(nil), c.Salt...)
	c.StoredKey = append([]byte(nil), c.StoredKey...)
	c.ServerKey = append([]byte(nil), c.ServerKey...)
	return c
}

// ScramCredential returns a copy of user's credential for mechanism.
func (s *State) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	c, ok := s.scram[user][mechanism]
	if !ok {
		return ScramCredential{}, false
	}
	return c.clone(), true
}

// ScramMechanisms returns the mechanisms user has credentials for, with
// their iteration counts, sorted by mechanism.
func (s *State) ScramMechanisms(user string) []ScramInfo {
	var out []ScramInfo
	for mech, c := range s.scram[user] {
		out = append(out, ScramInfo{Mechanism: mech, Iterations: c.Iterations})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mechanism < out[j].Mechanism })
	return out
}

// ScramInfo describes one credential without its secrets.
type ScramInfo struct {
	Mechanism  string
	Iterations int32
}

// ScramUsers returns the users with SCRAM credentials, sorted.
func (s *State) ScramUsers() []string {
	out := make([]string, 0, len(s.scram))
	for u := range s.scram {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func cloneScram(m map[string]map[string]ScramCredential) map[string]map[string]ScramCredential {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]map[string]ScramCredential, len(m))
	for u, mechs := range m {
		out[u] = make(map[string]ScramCredential, len(mechs))
		for mech, c := range mechs {
			out[u][mech] = c.clone()
		}
	}
	return out
}
