package connect

import (
	"maps"
	"slices"
	"sort"
	"sync"
)

// State is the state of a connector or task, as the REST API reports it.
type State string

// Connector and task states.
const (
	StateUnassigned State = "UNASSIGNED"
	StateRunning    State = "RUNNING"
	StatePaused     State = "PAUSED"
	StateStopped    State = "STOPPED"
	StateFailed     State = "FAILED"
	StateRestarting State = "RESTARTING"
)

// TargetState is the state a user asked a connector to be in.
type TargetState string

// Target states.
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// TaskID names a task of a connector.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// Status is the status of a connector or task.
type Status struct {
	State    State
	Trace    string
	WorkerID string
}

// ConnectorConfigState is what a ConfigStore holds for one connector.
type ConnectorConfigState struct {
	Config map[string]string
	Target TargetState
	Tasks  []map[string]string
}

// ConfigStore keeps connector configurations, their target states and task
// configurations. Standalone workers keep them in memory; distributed
// workers in the connect-configs topic.
type ConfigStore interface {
	PutConnector(name string, config map[string]string, target TargetState) error
	RemoveConnector(name string) error
	PutTaskConfigs(name string, tasks []map[string]string) error
	PutTargetState(name string, target TargetState) error
	// Connector returns a copy of a connector's state.
	Connector(name string) (ConnectorConfigState, bool)
	// Connectors lists connector names, sorted.
	Connectors() []string
}

// StatusStore keeps connector and task statuses and the topics each
// connector has used. Standalone workers keep them in memory; distributed
// workers in the connect-status topic.
type StatusStore interface {
	PutConnector(name string, s Status) error
	PutTask(id TaskID, s Status) error
	Connector(name string) (Status, bool)
	Tasks(name string) map[int]Status
	// RemoveTasks forgets the statuses of a connector's tasks.
	RemoveTasks(name string) error
	// Remove forgets a connector, its tasks and topics.
	Remove(name string) error
	AddTopic(name, topic string) error
	Topics(name string) []string
	ResetTopics(name string) error
}

// MemoryConfigStore is a ConfigStore in memory.
type MemoryConfigStore struct {
	mu sync.Mutex
	m  map[string]*ConnectorConfigState
}

// NewMemoryConfigStore returns an empty store.
func NewMemoryConfigStore() *MemoryConfigStore {
	return &MemoryConfigStore{m: map[string]*ConnectorConfigState{}}
}

// PutConnector implements ConfigStore.
func (s *MemoryConfigStore) PutConnector(name string, config map[string]string, target TargetState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[name]
	if !ok {
		c = &ConnectorConfigState{}
		s.m[name] = c
	}
	c.Config, c.Target = maps.Clone(config), target
	return nil
}

// RemoveConnector implements ConfigStore.
func (s *MemoryConfigStore) RemoveConnector(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

// PutTaskConfigs implements ConfigStore.
func (s *MemoryConfigStore) PutTaskConfigs(name string, tasks []map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[name]; ok {
		c.Tasks = cloneTasks(tasks)
	}
	return nil
}

// PutTargetState implements ConfigStore.
func (s *MemoryConfigStore) PutTargetState(name string, target TargetState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[name]; ok {
		c.Target = target
	}
	return nil
}

// Connector implements ConfigStore.
func (s *MemoryConfigStore) Connector(name string) (ConnectorConfigState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[name]
	if !ok {
		return ConnectorConfigState{}, false
	}
	return ConnectorConfigState{Config: maps.Clone(c.Config), Target: c.Target, Tasks: cloneTasks(c.Tasks)}, true
}

// Connectors implements ConfigStore.
func (s *MemoryConfigStore) Connectors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m))
}

func cloneTasks(ts []map[string]string) []map[string]string {
	out := make([]map[string]string, len(ts))
	for i, t := range ts {
		out[i] = maps.Clone(t)
	}
	return out
}

// MemoryStatusStore is a StatusStore in memory.
type MemoryStatusStore struct {
	mu         sync.Mutex
	connectors map[string]Status
	tasks      map[string]map[int]Status
	topics     map[string]map[string]bool
}

// NewMemoryStatusStore returns an empty store.
func NewMemoryStatusStore() *MemoryStatusStore {
	return &MemoryStatusStore{connectors: map[string]Status{}, tasks: map[string]map[int]Status{}, topics: map[string]map[string]bool{}}
}

// PutConnector implements StatusStore.
func (s *MemoryStatusStore) PutConnector(name string, st Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectors[name] = st
	return nil
}

// PutTask implements StatusStore.
func (s *MemoryStatusStore) PutTask(id TaskID, st Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks[id.Connector] == nil {
		s.tasks[id.Connector] = map[int]Status{}
	}
	s.tasks[id.Connector][id.Task] = st
	return nil
}

// Connector implements StatusStore.
func (s *MemoryStatusStore) Connector(name string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.connectors[name]
	return st, ok
}

// Tasks implements StatusStore.
func (s *MemoryStatusStore) Tasks(name string) map[int]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.tasks[name])
}

// RemoveTasks implements StatusStore.
func (s *MemoryStatusStore) RemoveTasks(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tasks, name)
	return nil
}

// Remove implements StatusStore.
func (s *MemoryStatusStore) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.connectors, name)
	delete(s.tasks, name)
	delete(s.topics, name)
	return nil
}

// AddTopic implements StatusStore.
func (s *MemoryStatusStore) AddTopic(name, topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics[name] == nil {
		s.topics[name] = map[string]bool{}
	}
	s.topics[name][topic] = true
	return nil
}

// Topics implements StatusStore.
func (s *MemoryStatusStore) Topics(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.topics[name]))
	for t := range s.topics[name] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ResetTopics implements StatusStore.
func (s *MemoryStatusStore) ResetTopics(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, name)
	return nil
}

// removeTopic forgets one topic of a connector.
func (s *MemoryStatusStore) removeTopic(name, topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics[name], topic)
	return nil
}
