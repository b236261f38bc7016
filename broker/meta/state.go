package meta

import (
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/google/uuid"
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
}

// State is the metadata as of the last applied record. It does no locking:
// its owner serialises Apply and reads.
type State struct {
	topics         map[string]*Topic
	byID           map[uuid.UUID]*Topic
	nextProducerID int64
	brokerConfigs  map[string]map[string]string // scope -> configs
}

// NewState returns empty metadata.
func NewState() *State {
	return &State{topics: map[string]*Topic{}, byID: map[uuid.UUID]*Topic{}, brokerConfigs: map[string]map[string]string{}}
}

// Apply changes the state by one record. Records that no longer fit the
// state (a delete of an unknown topic, say) are errors and change nothing.
func (s *State) Apply(r Record) error {
	switch r.Type {
	case RecordCreateTopic:
		if r.Topic == nil {
			return fmt.Errorf("meta: %s without topic", r.Type)
		}
		if _, ok := s.topics[r.Topic.Name]; ok {
			return fmt.Errorf("meta: topic %q exists", r.Topic.Name)
		}
		t := cloneTopic(r.Topic)
		s.topics[t.Name] = t
		s.byID[t.ID] = t
	case RecordDeleteTopic:
		t, ok := s.byID[r.Topic.ID]
		if !ok {
			return fmt.Errorf("meta: delete of unknown topic %s", r.Topic.ID)
		}
		delete(s.topics, t.Name)
		delete(s.byID, t.ID)
	case RecordAlterConfigs:
		t, ok := s.topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("meta: alter configs of unknown topic %q", r.Topic.Name)
		}
		t.Configs = cloneMap(r.Topic.Configs)
	case RecordAddPartitions:
		t, ok := s.topics[r.Topic.Name]
		if !ok {
			return fmt.Errorf("meta: add partitions to unknown topic %q", r.Topic.Name)
		}
		if r.Topic.Partitions <= t.Partitions {
			return fmt.Errorf("meta: partition count of %q can only grow", t.Name)
		}
		t.Partitions = r.Topic.Partitions
	case RecordProducerIDBlock:
		if r.NextProducerID > s.nextProducerID {
			s.nextProducerID = r.NextProducerID
		}
	case RecordBrokerConfigs:
		s.brokerConfigs[r.BrokerScope] = cloneMap(r.BrokerConfigs)
	default:
		return fmt.Errorf("meta: unknown record type %q", r.Type)
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
	return &c
}

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
