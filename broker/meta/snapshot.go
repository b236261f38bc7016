package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/quota"
)

// snapshot is the serialized form of a State: everything Apply built,
// in a stable order (topics and brokers sorted), so equal states encode to
// equal bytes.
type snapshot struct {
	Version        int                          `json:"version"`
	Applied        uint64                       `json:"applied"`
	ClusterID      string                       `json:"clusterId,omitempty"`
	Topics         []Topic                      `json:"topics"`
	NextProducerID int64                        `json:"nextProducerId"`
	BrokerConfigs  map[string]map[string]string `json:"brokerConfigs,omitempty"`
	Brokers        []BrokerRegistration         `json:"brokers,omitempty"`
	// Scram holds the SCRAM credentials: user -> mechanism -> credential.
	Scram map[string]map[string]ScramCredential `json:"scram,omitempty"`
	// ACLs holds the ACL bindings, sorted.
	ACLs []acl.Binding `json:"acls,omitempty"`
	// Quotas holds the client quotas, sorted by entity.
	Quotas []quota.Config `json:"quotas,omitempty"`
}

// Snapshot encodes the whole state. Restore(Snapshot()) gives an equal state.
func (s *State) Snapshot() ([]byte, error) {
	snap := snapshot{
		Version:        1,
		Applied:        s.applied,
		ClusterID:      s.clusterID,
		Topics:         s.Topics(),
		NextProducerID: s.nextProducerID,
		BrokerConfigs:  s.brokerConfigs,
		Brokers:        s.Brokers(),
		Scram:          cloneScram(s.scram),
		ACLs:           s.ACLs(),
		Quotas:         s.ClientQuotas(),
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("meta: encode snapshot: %w", err)
	}
	return data, nil
}

// RestoreState decodes a state written by Snapshot. Empty data is an empty
// state.
func RestoreState(data []byte) (*State, error) {
	st := NewState()
	if len(data) == 0 {
		return st, nil
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrBadRecord, err)
	}
	if snap.Version != 1 {
		return nil, fmt.Errorf("%w: snapshot version %d", ErrBadRecord, snap.Version)
	}
	st.applied = snap.Applied
	st.clusterID = snap.ClusterID
	st.nextProducerID = snap.NextProducerID
	for i := range snap.Topics {
		t := cloneTopic(&snap.Topics[i])
		if _, dup := st.topics[t.Name]; dup {
			return nil, fmt.Errorf("%w: snapshot lists topic %q twice", ErrBadRecord, t.Name)
		}
		st.topics[t.Name] = t
		st.byID[t.ID] = t
	}
	for scope, m := range snap.BrokerConfigs {
		st.brokerConfigs[scope] = cloneMap(m)
	}
	st.scram = cloneScram(snap.Scram)
	st.acls = aclSet(snap.ACLs)
	st.restoreQuotas(snap.Quotas)
	for i := range snap.Brokers {
		b := snap.Brokers[i]
		st.brokers[b.ID] = &b
	}
	return st, nil
}

// Hash is a digest of the state's content (not of the index it was applied
// to), equal on every node that applied the same records.
func (s *State) Hash() string {
	applied := s.applied
	s.applied = 0
	data, err := s.Snapshot()
	s.applied = applied
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
