package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Key prefixes of the config and status topics, as Kafka Connect writes
// them.
const (
	configConnectorPrefix = "connector-"
	configTaskPrefix      = "task-"
	configCommitPrefix    = "commit-"
	configTargetPrefix    = "target-state-"
	configRestartPrefix   = "restart-connector-"
	statusConnectorPrefix = "status-connector-"
	statusTaskPrefix      = "status-task-"
	statusTopicPrefix     = "status-topic-"
	kafkaStoreTimeout     = 30 * time.Second
)

// KafkaConfigStore keeps connector configurations in the config topic
// (config.storage.topic, exactly one partition) with Kafka Connect's keys
// and JSON values: connector-<name> {"properties": {...}}, task-<name>-<n>
// {"properties": {...}} made visible by commit-<name> {"tasks": n}, and
// target-state-<name> {"state": ..., "state.v2": ...}. Writes go to the
// topic and become visible once read back, so every worker sharing the
// topic applies them in the same order.
type KafkaConfigStore struct {
	log    *kafkaLog
	mem    *MemoryConfigStore
	mu     sync.Mutex                           // guards staged and targets
	staged map[string]map[int]map[string]string // task configs awaiting their commit record
	// targets are target states read before their connector's config
	// (PutConnector writes the target first, as Kafka Connect does).
	targets map[string]TargetState
	// OnChange, when set before use, is called (from the tailing
	// goroutine) with the connector a record was about.
	onChange func(connector string)
	// onRestart, when set before use, is told of every restart request
	// read after the store opened (older ones were served long ago).
	onRestart func(connector string, req RestartRequest)
	opened    atomic.Bool
}

// OpenKafkaConfigStore opens the config topic (creating it with one
// partition and replication factor rf) and reads it to the end. onChange
// (optional) is told which connector each applied record was about.
func OpenKafkaConfigStore(ctx context.Context, cfg WorkerConfig, topic string, rf int16, onChange func(connector string)) (*KafkaConfigStore, error) {
	s := &KafkaConfigStore{mem: NewMemoryConfigStore(), staged: map[string]map[int]map[string]string{}, targets: map[string]TargetState{}, onChange: onChange}
	log, err := openKafkaLog(ctx, cfg, topicSpec{name: topic, partitions: 1, rf: rf}, s.apply)
	if err != nil {
		return nil, err
	}
	s.log = log
	s.opened.Store(true)
	return s, nil
}

type propsValue struct {
	Properties map[string]string `json:"properties"`
}

type commitValue struct {
	Tasks int `json:"tasks"`
}

// restartValue is a restart request (KIP-745).
type restartValue struct {
	IncludeTasks bool `json:"include-tasks"`
	OnlyFailed   bool `json:"only-failed"`
}

type targetValue struct {
	State   string `json:"state"`
	StateV2 string `json:"state.v2,omitempty"`
}

func (s *KafkaConfigStore) apply(k, v []byte) {
	key := string(k)
	var name string
	switch {
	case strings.HasPrefix(key, configConnectorPrefix):
		name = strings.TrimPrefix(key, configConnectorPrefix)
		s.mu.Lock()
		early, hasEarly := s.targets[name]
		delete(s.targets, name)
		s.mu.Unlock()
		if v == nil {
			_ = s.mem.RemoveConnector(context.Background(), name)
			break
		}
		var pv propsValue
		if json.Unmarshal(v, &pv) != nil {
			return
		}
		target := TargetStarted
		if hasEarly {
			target = early
		}
		tasks := []map[string]string(nil)
		if cur, ok := s.mem.Connector(context.Background(), name); ok {
			target, tasks = cur.Target, cur.Tasks
			if hasEarly {
				target = early
			}
		}
		_ = s.mem.PutConnector(context.Background(), name, pv.Properties, target)
		_ = s.mem.PutTaskConfigs(context.Background(), name, tasks)
	case strings.HasPrefix(key, configRestartPrefix):
		var rv restartValue
		if v == nil || json.Unmarshal(v, &rv) != nil || s.onRestart == nil || !s.opened.Load() {
			return
		}
		s.onRestart(strings.TrimPrefix(key, configRestartPrefix), RestartRequest(rv))
		return
	case strings.HasPrefix(key, configTargetPrefix):
		name = strings.TrimPrefix(key, configTargetPrefix)
		var tv targetValue
		if v == nil || json.Unmarshal(v, &tv) != nil {
			return
		}
		st := tv.StateV2
		if st == "" {
			st = tv.State
		}
		if _, ok := s.mem.Connector(context.Background(), name); !ok {
			s.mu.Lock()
			s.targets[name] = TargetState(st)
			s.mu.Unlock()
			return
		}
		_ = s.mem.PutTargetState(context.Background(), name, TargetState(st))
	case strings.HasPrefix(key, configTaskPrefix):
		rest := strings.TrimPrefix(key, configTaskPrefix)
		i := strings.LastIndexByte(rest, '-')
		n, err := strconv.Atoi(rest[i+1:])
		if i < 0 || err != nil || v == nil {
			return
		}
		var pv propsValue
		if json.Unmarshal(v, &pv) != nil {
			return
		}
		name = rest[:i]
		s.mu.Lock()
		if s.staged[name] == nil {
			s.staged[name] = map[int]map[string]string{}
		}
		s.staged[name][n] = pv.Properties
		s.mu.Unlock()
		return
	case strings.HasPrefix(key, configCommitPrefix):
		name = strings.TrimPrefix(key, configCommitPrefix)
		var cv commitValue
		if v == nil || json.Unmarshal(v, &cv) != nil {
			return
		}
		s.mu.Lock()
		staged := s.staged[name]
		delete(s.staged, name)
		s.mu.Unlock()
		tasks := make([]map[string]string, cv.Tasks)
		for i := range tasks {
			tasks[i] = staged[i]
		}
		_ = s.mem.PutTaskConfigs(context.Background(), name, tasks)
	default:
		return
	}
	if s.onChange != nil {
		s.onChange(name)
	}
}

func (s *KafkaConfigStore) write(ctx context.Context, kvs map[string][]byte, order []string) error {
	ctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
	defer cancel()
	if err := s.log.send(ctx, kvs, order); err != nil {
		return err
	}
	return s.log.readToEnd(ctx)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func targetJSON(t TargetState) []byte {
	v := targetValue{State: string(t)}
	if t == TargetStopped {
		// Workers that predate STOPPED read "state" and pause.
		v.State, v.StateV2 = string(TargetPaused), string(TargetStopped)
	}
	return mustJSON(v)
}

// PutConnector implements ConfigStore.
func (s *KafkaConfigStore) PutConnector(ctx context.Context, name string, config map[string]string, target TargetState) error {
	tk, ck := configTargetPrefix+name, configConnectorPrefix+name
	return s.write(ctx, map[string][]byte{tk: targetJSON(target), ck: mustJSON(propsValue{Properties: config})}, []string{tk, ck})
}

// RemoveConnector implements ConfigStore.
func (s *KafkaConfigStore) RemoveConnector(ctx context.Context, name string) error {
	tk, ck := configTargetPrefix+name, configConnectorPrefix+name
	return s.write(ctx, map[string][]byte{ck: nil, tk: nil}, []string{ck, tk})
}

// PutTaskConfigs implements ConfigStore.
func (s *KafkaConfigStore) PutTaskConfigs(ctx context.Context, name string, tasks []map[string]string) error {
	kvs := map[string][]byte{}
	var order []string
	for i, t := range tasks {
		k := fmt.Sprintf("%s%s-%d", configTaskPrefix, name, i)
		kvs[k] = mustJSON(propsValue{Properties: t})
		order = append(order, k)
	}
	ck := configCommitPrefix + name
	kvs[ck] = mustJSON(commitValue{Tasks: len(tasks)})
	order = append(order, ck)
	return s.write(ctx, kvs, order)
}

// PutRestartRequest writes a restart request for a connector; every
// worker restarts the parts of it that it runs.
func (s *KafkaConfigStore) PutRestartRequest(ctx context.Context, name string, req RestartRequest) error {
	k := configRestartPrefix + name
	return s.write(ctx, map[string][]byte{k: mustJSON(restartValue(req))}, []string{k})
}

// PutTargetState implements ConfigStore.
func (s *KafkaConfigStore) PutTargetState(ctx context.Context, name string, target TargetState) error {
	k := configTargetPrefix + name
	return s.write(ctx, map[string][]byte{k: targetJSON(target)}, []string{k})
}

// Connector implements ConfigStore.
func (s *KafkaConfigStore) Connector(ctx context.Context, name string) (ConnectorConfigState, bool) {
	return s.mem.Connector(ctx, name)
}

// Connectors implements ConfigStore.
func (s *KafkaConfigStore) Connectors(ctx context.Context) []string { return s.mem.Connectors(ctx) }

// Refresh reads the topic to the end.
func (s *KafkaConfigStore) Refresh(ctx context.Context) error { return s.log.readToEnd(ctx) }

// Close stops tailing the topic.
func (s *KafkaConfigStore) Close() error {
	s.log.close()
	return nil
}

// KafkaStatusStore keeps statuses in the status topic
// (status.storage.topic) with Kafka Connect's keys and values:
// status-connector-<name> and status-task-<name>-<n> {"state": ...,
// "trace": ..., "worker_id": ..., "generation": n}, and
// status-topic-<topic>:connector-<name> for the topics a connector used.
// Status writes are acknowledged by Kafka before they return.
type KafkaStatusStore struct {
	log *kafkaLog
	mem *MemoryStatusStore
}

// OpenKafkaStatusStore opens the status topic (creating it with
// partitions and replication factor rf) and reads it to the end.
func OpenKafkaStatusStore(ctx context.Context, cfg WorkerConfig, topic string, partitions int32, rf int16) (*KafkaStatusStore, error) {
	s := &KafkaStatusStore{mem: NewMemoryStatusStore()}
	log, err := openKafkaLog(ctx, cfg, topicSpec{name: topic, partitions: partitions, rf: rf}, s.apply)
	if err != nil {
		return nil, err
	}
	s.log = log
	return s, nil
}

type statusValue struct {
	State      string  `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int     `json:"generation"`
}

type topicStatusValue struct {
	Topic struct {
		Name              string `json:"name"`
		Connector         string `json:"connector"`
		Task              int    `json:"task"`
		DiscoverTimestamp int64  `json:"discoverTimestamp"`
	} `json:"topic"`
}

func (s *KafkaStatusStore) apply(k, v []byte) {
	key := string(k)
	switch {
	case strings.HasPrefix(key, statusConnectorPrefix):
		name := strings.TrimPrefix(key, statusConnectorPrefix)
		var sv statusValue
		if v == nil {
			_ = s.mem.Remove(context.Background(), name)
		} else if json.Unmarshal(v, &sv) == nil {
			_ = s.mem.PutConnector(context.Background(), name, sv.status())
		}
	case strings.HasPrefix(key, statusTaskPrefix):
		rest := strings.TrimPrefix(key, statusTaskPrefix)
		i := strings.LastIndexByte(rest, '-')
		n, err := strconv.Atoi(rest[i+1:])
		var sv statusValue
		if i < 0 || err != nil {
			return
		}
		if v == nil {
			s.mem.removeTask(TaskID{Connector: rest[:i], Task: n})
			return
		}
		if json.Unmarshal(v, &sv) != nil {
			return
		}
		_ = s.mem.PutTask(context.Background(), TaskID{Connector: rest[:i], Task: n}, sv.status())
	case strings.HasPrefix(key, statusTopicPrefix):
		topic, conn, ok := strings.Cut(strings.TrimPrefix(key, statusTopicPrefix), ":"+configConnectorPrefix)
		if !ok {
			return
		}
		if v == nil {
			_ = s.mem.removeTopic(context.Background(), conn, topic)
		} else {
			_ = s.mem.AddTopic(context.Background(), conn, topic)
		}
	}
}

func (sv statusValue) status() Status {
	st := Status{State: State(sv.State), WorkerID: sv.WorkerID}
	if sv.Trace != nil {
		st.Trace = *sv.Trace
	}
	return st
}

func statusJSON(st Status) []byte {
	v := statusValue{State: string(st.State), WorkerID: st.WorkerID}
	if st.Trace != "" {
		v.Trace = &st.Trace
	}
	return mustJSON(v)
}

func (s *KafkaStatusStore) write(ctx context.Context, kvs map[string][]byte, order []string) error {
	ctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
	defer cancel()
	if err := s.log.send(ctx, kvs, order); err != nil {
		return err
	}
	for _, k := range order {
		s.apply([]byte(k), kvs[k])
	}
	return nil
}

// PutConnector implements StatusStore.
func (s *KafkaStatusStore) PutConnector(ctx context.Context, name string, st Status) error {
	k := statusConnectorPrefix + name
	return s.write(ctx, map[string][]byte{k: statusJSON(st)}, []string{k})
}

// PutTask implements StatusStore.
func (s *KafkaStatusStore) PutTask(ctx context.Context, id TaskID, st Status) error {
	k := fmt.Sprintf("%s%s-%d", statusTaskPrefix, id.Connector, id.Task)
	return s.write(ctx, map[string][]byte{k: statusJSON(st)}, []string{k})
}

// Connector implements StatusStore.
func (s *KafkaStatusStore) Connector(ctx context.Context, name string) (Status, bool) {
	return s.mem.Connector(ctx, name)
}

// Tasks implements StatusStore.
func (s *KafkaStatusStore) Tasks(ctx context.Context, name string) map[int]Status {
	return s.mem.Tasks(ctx, name)
}

// RemoveTasks implements StatusStore.
func (s *KafkaStatusStore) RemoveTasks(ctx context.Context, name string) error {
	kvs := map[string][]byte{}
	var order []string
	for n := range s.mem.Tasks(ctx, name) {
		k := fmt.Sprintf("%s%s-%d", statusTaskPrefix, name, n)
		kvs[k] = nil
		order = append(order, k)
	}
	if len(order) > 0 {
		if err := s.write(ctx, kvs, order); err != nil {
			return err
		}
	}
	return s.mem.RemoveTasks(ctx, name)
}

// Remove implements StatusStore.
func (s *KafkaStatusStore) Remove(ctx context.Context, name string) error {
	if err := s.RemoveTasks(ctx, name); err != nil {
		return err
	}
	if err := s.ResetTopics(ctx, name); err != nil {
		return err
	}
	k := statusConnectorPrefix + name
	return s.write(ctx, map[string][]byte{k: nil}, []string{k})
}

// AddTopic implements StatusStore.
func (s *KafkaStatusStore) AddTopic(ctx context.Context, name, topic string) error {
	k := statusTopicPrefix + topic + ":" + configConnectorPrefix + name
	var v topicStatusValue
	v.Topic.Name, v.Topic.Connector, v.Topic.DiscoverTimestamp = topic, name, time.Now().UnixMilli()
	return s.write(ctx, map[string][]byte{k: mustJSON(v)}, []string{k})
}

// Topics implements StatusStore.
func (s *KafkaStatusStore) Topics(ctx context.Context, name string) []string {
	return s.mem.Topics(ctx, name)
}

// ResetTopics implements StatusStore.
func (s *KafkaStatusStore) ResetTopics(ctx context.Context, name string) error {
	kvs := map[string][]byte{}
	var order []string
	for _, t := range s.mem.Topics(ctx, name) {
		k := statusTopicPrefix + t + ":" + configConnectorPrefix + name
		kvs[k] = nil
		order = append(order, k)
	}
	if len(order) == 0 {
		return nil
	}
	return s.write(ctx, kvs, order)
}

// Close stops tailing the topic.
func (s *KafkaStatusStore) Close() error {
	s.log.close()
	return nil
}
