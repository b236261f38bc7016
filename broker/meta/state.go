package meta

import (
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/gregorhq/gregor/broker/acl"
	"github.com/gregorhq/gregor/broker/quota"
)

// RecordType names what a metadata record changes.
type RecordType string

// Metadata record types.
const (
	RecordCreateTopic     RecordType = "create-topic"
	RecordDeleteTopic     RecordType = "delete-topic"
	RecordAlterConfigs    RecordType = "alter-configs"
	RecordAddPartitions   RecordType = "add-partitions"
	RecordProducerIDBlock RecordType = "producer-id-block"
	RecordBrokerConfigs   RecordType = "broker-configs"
)

// Topic is a topic's metadata.
type Topic struct {
	Name       string            `json:"name"`
	ID         uuid.UUID         `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // dynamic topic configs only
	Internal   bool              `json:"internal,omitempty"`
	// Assignments holds each partition's placement and leadership, by
	// partition index. In an add-partitions record it holds the new
	// partitions only. Journals written before clusters have none.
	Assignments []PartitionState `json:"assignments,omitempty"`
}

// Record is one change to the metadata.
type Record struct {
	Type RecordType `json:"type"`
	// Topic is set for create-topic (the whole topic), delete-topic (ID and
	// name), alter-configs (name and the full new dynamic config set) and
	// add-partitions (name and the new partition count).
	Topic *Topic `json:"topic,omitempty"`
	// NextProducerID is set for producer-id-block: IDs below it are taken.
	NextProducerID int64 `json:"nextProducerId,omitempty"`
	// BrokerConfigs is set for broker-configs: the full dynamic broker
	// config set of one scope.
	BrokerConfigs map[string]string `json:"brokerConfigs,omitempty"`
	// BrokerScope is the broker-configs scope: "" for the cluster-wide
	// default, or a node ID.
	BrokerScope string `json:"brokerScope,omitempty"`
	// ExpectNextProducerID, when set on a producer-id-block record, is the
	// first free producer ID the block was computed from; the record does
	// not apply if another block was reserved since.
	ExpectNextProducerID *int64 `json:"expectNextProducerId,omitempty"`
	// Broker is set for register-broker.
	Broker *BrokerRegistration `json:"broker,omitempty"`
	// BrokerID and BrokerEpoch name the broker of fence-broker and
	// unfence-broker (an epoch of 0 matches any incarnation).
	BrokerID    int32 `json:"brokerId,omitempty"`
	BrokerEpoch int64 `json:"brokerEpoch,omitempty"`
	// Partition is set for partition-change.
	Partition *PartitionChange `json:"partition,omitempty"`
	// ClusterID is set for cluster-id.
	ClusterID string `json:"clusterId,omitempty"`
	// Scram is set for scram-credentials (scram.go).
	Scram []ScramChange `json:"scram,omitempty"`
	// ACLs is set for create-acls and delete-acls (acls.go).
	ACLs []acl.Binding `json:"acls,omitempty"`
	// Quotas is set for client-quotas (quotas.go).
	Quotas []QuotaChange `json:"quotas,omitempty"`
}

// State is the metadata as of the last applied record. It does no locking:
// its owner serialises Apply and reads.
type State struct {
	topics         map[string]*Topic
	byID           map[uuid.UUID]*Topic
	nextProducerID int64
	brokerConfigs  map[string]map[string]string // scope -> configs
	brokers        map[int32]*BrokerRegistration
	applied        uint64 // index of the last record applied with ApplyAt
	clusterID      string
	scram          map[string]map[string]ScramCredential // user -> mechanism -> credential
	acls           map[acl.Binding]struct{}              // acls.go
	aclGen         uint64
	quotas         map[string]*quota.Config // entity key -> client quotas
}

// NewState returns empty metadata.
func NewState() *State {
	return &State{topics: map[string]*Topic{}, byID: map[uuid.UUID]*Topic{}, brokerConfigs: map[string]map[string]string{}, brokers: map[int32]*BrokerRegistration{}}
}

// Apply changes the state by one record. Records that no longer fit the
// state (a delete of an unknown topic, say) are errors and change nothing.
func (s *State) Apply(r Record) error { return s.ApplyAt(s.applied, r) }

// ApplyAt applies the record found at index of the metadata log (the
// index becomes the epoch of a broker registration).
func (s *State) ApplyAt(index uint64, r Record) error {
	if index > s.applied {
		s.applied = index
	}
	switch r.Type {
	case RecordCreateTopic:
		if r.Topic == nil {
			return fmt.Errorf("%w: %s without topic", ErrBadRecord, r.Type)
		}
		if _, ok := s.topics[r.Topic.Name]; ok {
			return fmt.Errorf("%w: %q", ErrTopicExists, r.Topic.Name)
		}
		if n := len(r.Topic.Assignments); n != 0 && n != int(r.Topic.Partitions) {
			return fmt.Errorf("%w: topic %q has %d partitions and %d assignments", ErrBadRecord, r.Topic.Name, r.Topic.Partitions, n)
		}
		t := cloneTopic(r.Topic)
		s.topics[t.Name] = t
		s.byID[t.ID] = t
	case RecordDeleteTopic:
		if r.Topic == nil {
			return fmt.Errorf("%w: %s without topic", ErrBadRecord, r.Type)
		}
		t, ok := s.byID[r.Topic.ID]
		if !ok {
			return fmt.Errorf("%w: delete of %s", ErrUnknownTopic, r.Topic.ID)
		}
		delete(s.topics, t.Name)
		delete(s.byID, t.ID)
	case RecordAlterConfigs:
		if r.Topic == nil {
			return fmt.Errorf("%w: %s without topic", ErrBadRecord, r.Type)
		}
		t, ok := s.topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("%w: alter configs of %q", ErrUnknownTopic, r.Topic.Name)
		}
		t.Configs = cloneMap(r.Topic.Configs)
	case RecordAddPartitions:
		if r.Topic == nil {
			return fmt.Errorf("%w: %s without topic", ErrBadRecord, r.Type)
		}
		t, ok := s.topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("%w: add partitions to %q", ErrUnknownTopic, r.Topic.Name)
		}
		if r.Topic.Partitions <= t.Partitions {
			return fmt.Errorf("%w: partition count of %q can only grow", ErrConflict, t.Name)
		}
		if n := len(r.Topic.Assignments); n != 0 && int32(n) != r.Topic.Partitions-t.Partitions {
			return fmt.Errorf("%w: %d new partitions with %d assignments", ErrBadRecord, r.Topic.Partitions-t.Partitions, n)
		}
		for _, a := range r.Topic.Assignments {
			t.Assignments = append(t.Assignments, a.clone())
		}
		t.Partitions = r.Topic.Partitions
	case RecordProducerIDBlock:
		if e := r.ExpectNextProducerID; e != nil && *e != s.nextProducerID {
			return fmt.Errorf("%w: producer IDs from %d were reserved, the block expects %d", ErrConflict, s.nextProducerID, *e)
		}
		if r.NextProducerID > s.nextProducerID {
			s.nextProducerID = r.NextProducerID
		}
	case RecordBrokerConfigs:
		s.brokerConfigs[r.BrokerScope] = cloneMap(r.BrokerConfigs)
	case RecordRegisterBroker:
		return s.applyRegister(index, r)
	case RecordFenceBroker, RecordUnfenceBroker:
		return s.applyFence(r, r.Type == RecordFenceBroker)
	case RecordPartitionChange:
		return s.applyPartitionChange(r)
	case RecordClusterID:
		if r.ClusterID == "" {
			return fmt.Errorf("%w: empty cluster ID", ErrBadRecord)
		}
		if s.clusterID != "" && s.clusterID != r.ClusterID {
			return fmt.Errorf("%w: the cluster is %s already", ErrConflict, s.clusterID)
		}
		s.clusterID = r.ClusterID
	case RecordScramCredentials:
		return s.applyScram(r)
	case RecordCreateACLs, RecordDeleteACLs:
		return s.applyACLs(r)
	case RecordClientQuotas:
		return s.applyQuotas(r)
	default:
		return fmt.Errorf("%w: unknown record type %q", ErrBadRecord, r.Type)
	}
	return nil
}

// Topic returns a copy of the named topic.
func (s *State) Topic(name string) (Topic, bool) {
	t, ok := s.topics[name]
	if !ok {
		return Topic{}, false
	}
	return *cloneTopic(t), true
}

// TopicByID returns a copy of the topic with the given ID.
func (s *State) TopicByID(id uuid.UUID) (Topic, bool) {
	t, ok := s.byID[id]
	if !ok {
		return Topic{}, false
	}
	return *cloneTopic(t), true
}

// Topics returns copies of all topics sorted by name.
func (s *State) Topics() []Topic {
	out := make([]Topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, *cloneTopic(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NextProducerID is the first producer ID not yet handed out in a block.
func (s *State) NextProducerID() int64 { return s.nextProducerID }

// BrokerConfigs returns a copy of the dynamic broker configs of a scope
// ("" for the cluster-wide default, or a node ID).
func (s *State) BrokerConfigs(scope string) map[string]string {
	return cloneMap(s.brokerConfigs[scope])
}

func cloneTopic(t *Topic) *Topic {
	c := *t
	c.Configs = cloneMap(t.Configs)
	if t.Assignments != nil {
		c.Assignments = make([]PartitionState, len(t.Assignments))
		for i, a := range t.Assignments {
			c.Assignments[i] = a.clone()
		}
	}
	return &c
}

// ClusterID is the cluster's ID, "" until a cluster-id record is applied.
func (s *State) ClusterID() string { return s.clusterID }

// AppliedIndex is the index of the last record applied with ApplyAt.
func (s *State) AppliedIndex() uint64 { return s.applied }

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TopicIDString renders a topic ID the way Kafka does (URL-safe base64
// without padding), as kcat and the Java tools show it.
func TopicIDString(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}
