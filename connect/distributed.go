package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Distributed-mode worker property names (Kafka Connect's).
const (
	GroupIDConfig                    = "group.id"
	ConfigStorageTopicConfig         = "config.storage.topic"
	OffsetStorageTopicConfig         = "offset.storage.topic"
	StatusStorageTopicConfig         = "status.storage.topic"
	ConfigStorageRFConfig            = "config.storage.replication.factor"
	OffsetStorageRFConfig            = "offset.storage.replication.factor"
	StatusStorageRFConfig            = "status.storage.replication.factor"
	OffsetStoragePartitionsConfig    = "offset.storage.partitions"
	StatusStoragePartitionsConfig    = "status.storage.partitions"
	SessionTimeoutConfig             = "session.timeout.ms"
	HeartbeatIntervalConfig          = "heartbeat.interval.ms"
	RebalanceTimeoutConfig           = "rebalance.timeout.ms"
	ScheduledRebalanceMaxDelayConfig = "scheduled.rebalance.max.delay.ms"
)

// ErrRebalancing is returned (wrapped) while the workers rebalance; the
// REST API answers 409.
var ErrRebalancing = errors.New("rebalance in progress")

var distributedDef = NewConfigDef().
	Define(ConfigKey{Name: GroupIDConfig, Type: ConfigString, Required: true, Importance: High, Validator: NonEmptyString, Doc: "A unique string that identifies the Connect cluster group this worker belongs to."}).
	Define(ConfigKey{Name: ConfigStorageTopicConfig, Type: ConfigString, Required: true, Importance: High, Validator: NonEmptyString, Doc: "The name of the Kafka topic where connector configurations are stored."}).
	Define(ConfigKey{Name: OffsetStorageTopicConfig, Type: ConfigString, Required: true, Importance: High, Validator: NonEmptyString, Doc: "The name of the Kafka topic where source connector offsets are stored."}).
	Define(ConfigKey{Name: StatusStorageTopicConfig, Type: ConfigString, Required: true, Importance: High, Validator: NonEmptyString, Doc: "The name of the Kafka topic where connector and task status are stored."}).
	Define(ConfigKey{Name: ConfigStorageRFConfig, Type: ConfigShort, Default: "1", Importance: Low, Doc: "Replication factor used when creating the configuration storage topic (Gregor's single-node default: 1; -1 = broker default)."}).
	Define(ConfigKey{Name: OffsetStorageRFConfig, Type: ConfigShort, Default: "1", Importance: Low, Doc: "Replication factor used when creating the offset storage topic."}).
	Define(ConfigKey{Name: StatusStorageRFConfig, Type: ConfigShort, Default: "1", Importance: Low, Doc: "Replication factor used when creating the status storage topic."}).
	Define(ConfigKey{Name: OffsetStoragePartitionsConfig, Type: ConfigInt, Default: "25", Importance: Low, Validator: AtLeast(1), Doc: "The number of partitions used when creating the offset storage topic."}).
	Define(ConfigKey{Name: StatusStoragePartitionsConfig, Type: ConfigInt, Default: "5", Importance: Low, Validator: AtLeast(1), Doc: "The number of partitions used when creating the status storage topic."}).
	Define(ConfigKey{Name: SessionTimeoutConfig, Type: ConfigInt, Default: "10000", Importance: High, Validator: AtLeast(1), Doc: "The timeout used to detect worker failures."}).
	Define(ConfigKey{Name: HeartbeatIntervalConfig, Type: ConfigInt, Default: "3000", Importance: High, Validator: AtLeast(1), Doc: "The expected time between heartbeats to the group coordinator."}).
	Define(ConfigKey{Name: RebalanceTimeoutConfig, Type: ConfigInt, Default: "60000", Importance: High, Validator: AtLeast(1), Doc: "The maximum allowed time for each worker to join the group once a rebalance has begun."}).
	Define(ConfigKey{Name: ScheduledRebalanceMaxDelayConfig, Type: ConfigInt, Default: "300000", Importance: Low, Validator: AtLeast(0), Doc: "Accepted for compatibility; Gregor's eager protocol reassigns a vanished worker's work as soon as its session times out."})

// Distributed is a herder that shares connectors and tasks with the other
// workers of its group (group.id): configurations, offsets and statuses
// live in compacted Kafka topics, the workers form a group with Kafka
// Connect's "connect" protocol (the eager "default" version: on every
// rebalance each worker stops its work and starts what the leader
// assigned), and REST writes are forwarded to the leader.
//
// Reads and the task runtime are those of the embedded Standalone; the
// write methods here only write the config topic, and the rebalance that
// follows starts and stops the work.
type Distributed struct {
	*Standalone
	groupID          string
	sessionTimeout   time.Duration
	heartbeat        time.Duration
	rebalanceTimeout time.Duration
	cs               *KafkaConfigStore
	ss               *KafkaStatusStore
	client           *kgo.Client
	rejoin           chan struct{} // buffered(1): config changed or restart asked

	mu          sync.Mutex // guards the member state below
	url         string
	memberID    string
	generation  int32
	leaderURL   string
	isLeader    bool
	rebalancing bool
	started     bool

	cancel context.CancelFunc
	done   chan struct{}
}

// NewDistributed opens (creating on first start) the config, offset and
// status topics and returns a herder that joins its group once Start is
// called. Close stops it.
func NewDistributed(ctx context.Context, cfg WorkerConfig, opts Options) (*Distributed, error) {
	c, err := distributedDef.Parse(cfg.Props)
	if err != nil {
		return nil, fmt.Errorf("connect: distributed worker config: %w", err)
	}
	d := &Distributed{groupID: c.String(GroupIDConfig), rejoin: make(chan struct{}, 1), done: make(chan struct{}),
		sessionTimeout:   time.Duration(c.Int(SessionTimeoutConfig)) * time.Millisecond,
		heartbeat:        time.Duration(c.Int(HeartbeatIntervalConfig)) * time.Millisecond,
		rebalanceTimeout: time.Duration(c.Int(RebalanceTimeoutConfig)) * time.Millisecond}
	cs, err := OpenKafkaConfigStore(ctx, cfg, c.String(ConfigStorageTopicConfig), int16(c.Int(ConfigStorageRFConfig)), func(string) { d.requestRejoin() })
	if err != nil {
		return nil, err
	}
	ss, err := OpenKafkaStatusStore(ctx, cfg, c.String(StatusStorageTopicConfig), int32(c.Int(StatusStoragePartitionsConfig)), int16(c.Int(StatusStorageRFConfig)))
	if err != nil {
		cs.Close()
		return nil, err
	}
	os, err := OpenKafkaOffsetStore(ctx, cfg, c.String(OffsetStorageTopicConfig), int32(c.Int(OffsetStoragePartitionsConfig)), int16(c.Int(OffsetStorageRFConfig)))
	if err != nil {
		cs.Close()
		ss.Close()
		return nil, err
	}
	opts.Configs, opts.Statuses, opts.Offsets = cs, ss, os
	h, err := NewStandalone(cfg, opts)
	if err != nil {
		cs.Close()
		ss.Close()
		os.Close()
		return nil, err
	}
	h.distributed = true
	d.Standalone, d.cs, d.ss = h, cs, ss
	d.client, err = kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ClientID(cfg.ClientID+"-"+d.groupID))
	if err != nil {
		_ = h.Close()
		cs.Close()
		ss.Close()
		return nil, fmt.Errorf("connect: group client: %w", err)
	}
	return d, nil
}

// Start joins the group. url is this worker's REST URL
// (http://host:port) that other workers forward requests to; empty means
// the one the worker properties give (rest.advertised.host.name and
// rest.advertised.port, else the first listener). The URL also names the
// worker in statuses; Start may run while the REST API already serves.
func (d *Distributed) Start(url string) {
	if url == "" {
		url = "http://" + d.Standalone.WorkerID()
	}
	id := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	d.Standalone.workerID.Store(&id)
	d.mu.Lock()
	d.url, d.started, d.rebalancing = url, true, true
	d.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.run(ctx)
}

// Close leaves the group, stops every connector and task of this worker
// and closes the stores.
func (d *Distributed) Close() error {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if started {
		d.cancel()
		<-d.done
	}
	err := d.Standalone.Close()
	d.client.Close()
	d.cs.Close()
	d.ss.Close()
	return err
}

// Leader reports the leader's REST URL, whether this worker is the leader
// and whether a rebalance is in progress; the REST API forwards writes
// and answers 409 with it.
func (d *Distributed) Leader() (url string, self, rebalancing bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leaderURL, d.isLeader, d.rebalancing || d.leaderURL == ""
}

func (d *Distributed) requestRejoin() {
	select {
	case d.rejoin <- struct{}{}:
	default:
	}
}

func (d *Distributed) run(ctx context.Context) {
	defer close(d.done)
	defer d.leave()
	for attempt := 1; ctx.Err() == nil; {
		d.mu.Lock()
		d.rebalancing = true
		d.mu.Unlock()
		d.stopAll()
		select { // changes seen from here on trigger another round
		case <-d.rejoin:
		default:
		}
		a, err := d.joinAndSync(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("joining the connect group failed", "group", d.groupID, "err", err)
				retryBackoff(ctx, attempt)
				attempt++
			}
			continue
		}
		attempt = 1
		rctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
		if err := d.cs.Refresh(rctx); err != nil {
			d.log.Warn("reading the config topic failed", "err", err)
		}
		cancel()
		d.mu.Lock()
		d.rebalancing = false
		d.mu.Unlock()
		d.log.Info("rebalance done", "group", d.groupID, "leader", a.LeaderURL, "connectors", a.Connectors, "tasks", len(a.Tasks))
		d.startAssigned(a)
		d.heartbeatUntilRejoin(ctx)
	}
	d.stopAll()
}

// joinAndSync runs one JoinGroup/SyncGroup round; the leader computes the
// assignment from the config topic.
func (d *Distributed) joinAndSync(ctx context.Context) (workerAssignment, error) {
	d.mu.Lock()
	meta := workerMetadata{URL: d.url, ConfigOffset: -1}.encode()
	d.mu.Unlock()
	for ctx.Err() == nil {
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.MemberID, join.ProtocolType = d.groupID, d.member(), connectProtocolType
		join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = int32(d.sessionTimeout.Milliseconds()), int32(d.rebalanceTimeout.Milliseconds())
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = connectProtocolName, meta
		join.Protocols = append(join.Protocols, p)
		resp, err := join.RequestWith(ctx, d.client)
		if err != nil {
			return workerAssignment{}, fmt.Errorf("join group: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			switch {
			case errors.Is(err, kerr.MemberIDRequired):
				d.setMember(resp.MemberID, -1)
				continue
			case errors.Is(err, kerr.UnknownMemberID):
				d.setMember("", -1)
				continue
			}
			return workerAssignment{}, fmt.Errorf("join group: %w", err)
		}
		d.setMember(resp.MemberID, resp.Generation)
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = d.groupID, resp.Generation, resp.MemberID
		pt, pn := connectProtocolType, connectProtocolName
		sync.ProtocolType, sync.Protocol = &pt, &pn
		if resp.LeaderID == resp.MemberID {
			assignments, err := d.assign(ctx, resp)
			if err != nil {
				return workerAssignment{}, err
			}
			sync.GroupAssignment = assignments
		}
		sresp, err := sync.RequestWith(ctx, d.client)
		if err != nil {
			return workerAssignment{}, fmt.Errorf("sync group: %w", err)
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			if errors.Is(err, kerr.RebalanceInProgress) {
				continue
			}
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				d.setMember("", -1)
				continue
			}
			return workerAssignment{}, fmt.Errorf("sync group: %w", err)
		}
		a, err := decodeWorkerAssignment(sresp.MemberAssignment)
		if err != nil {
			return workerAssignment{}, err
		}
		d.mu.Lock()
		d.leaderURL, d.isLeader = a.LeaderURL, resp.LeaderID == resp.MemberID
		d.mu.Unlock()
		return a, nil
	}
	return workerAssignment{}, ctx.Err()
}

func (d *Distributed) member() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.memberID
}

func (d *Distributed) setMember(id string, gen int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.memberID, d.generation = id, gen
}

// assign is the leader's work: every connector and every task of the
// config topic, spread over the members.
func (d *Distributed) assign(ctx context.Context, resp *kmsg.JoinGroupResponse) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	rctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
	defer cancel()
	if err := d.cs.Refresh(rctx); err != nil {
		return nil, err
	}
	var members []string
	var leaderURL string
	for _, m := range resp.Members {
		md, err := decodeWorkerMetadata(m.ProtocolMetadata)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.MemberID, err)
		}
		members = append(members, m.MemberID)
		if m.MemberID == resp.LeaderID {
			leaderURL = md.URL
		}
	}
	conns := map[string]int{}
	for _, n := range d.cs.Connectors() {
		st, _ := d.cs.Connector(n)
		conns[n] = len(st.Tasks)
	}
	var out []kmsg.SyncGroupRequestGroupAssignment
	for m, a := range assignWork(members, conns) {
		a.Leader, a.LeaderURL, a.ConfigOffset = resp.LeaderID, leaderURL, -1
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = m, a.encode()
		out = append(out, sa)
	}
	return out, nil
}

// heartbeatUntilRejoin heartbeats until the group rebalances, the config
// changes (or a restart is asked) or ctx ends.
func (d *Distributed) heartbeatUntilRejoin(ctx context.Context) {
	t := time.NewTicker(d.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.rejoin:
			return
		case <-t.C:
		}
		d.mu.Lock()
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = d.groupID, d.generation, d.memberID
		d.mu.Unlock()
		resp, err := hb.RequestWith(ctx, d.client)
		if err != nil {
			continue // transient; the session timeout decides
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				d.setMember("", -1)
			}
			return
		}
	}
}

func (d *Distributed) leave() {
	id := d.member()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = d.groupID, id
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = id
	req.Members = append(req.Members, m)
	if _, err := req.RequestWith(ctx, d.client); err != nil {
		d.log.Warn("leaving the connect group failed", "err", err)
	}
}

// stopAll stops every local connector and task (eager rebalancing).
func (d *Distributed) stopAll() {
	h := d.Standalone
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(h.conns)) {
		h.stopConnectorLocked(h.conns[name])
		delete(h.conns, name)
	}
}

// startAssigned starts this worker's connectors (writing their task
// configurations to the config topic when they change, which triggers the
// next rebalance) and tasks.
func (d *Distributed) startAssigned(a workerAssignment) {
	h := d.Standalone
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, name := range a.Connectors {
		st, ok := h.configs.Connector(name)
		if !ok {
			continue
		}
		rt := &connRuntime{name: name, tasks: map[int]*taskRunner{}, typ: h.pluginType(st.Config)}
		h.conns[name] = rt
		if st.Target == TargetStopped {
			h.putConnStatus(name, Status{State: StateStopped})
			continue
		}
		h.startConnectorInstanceOnlyLocked(rt)
		if rt.conn == nil {
			continue
		}
		h.publishTaskConfigsLocked(rt)
	}
	for _, id := range a.Tasks {
		st, ok := h.configs.Connector(id.Connector)
		if !ok || id.Task >= len(st.Tasks) || st.Target == TargetStopped {
			continue
		}
		conn, err := h.reg.NewConnector(st.Config[ConnectorClassConfig])
		if err != nil {
			h.putTaskStatus(id, Status{State: StateFailed, Trace: err.Error()})
			continue
		}
		rt := h.conns[id.Connector]
		if rt == nil {
			rt = &connRuntime{name: id.Connector, tasks: map[int]*taskRunner{}, typ: h.pluginType(st.Config)}
			h.conns[id.Connector] = rt
		}
		r, err := h.newTaskRunner(&connRuntime{name: id.Connector, conn: conn}, id, st.Config, st.Tasks[id.Task])
		if err != nil {
			h.putTaskStatus(id, Status{State: StateFailed, Trace: err.Error()})
			continue
		}
		rt.tasks[id.Task] = r
		r.start(st.Target == TargetPaused)
	}
}

// publishTaskConfigsLocked asks a running connector for its task
// configurations and writes them to the config store when they changed
// (which, in distributed mode, triggers a rebalance). h.mu must be held.
func (h *Standalone) publishTaskConfigsLocked(rt *connRuntime) {
	st, _ := h.configs.Connector(rt.name)
	maxTasks, _ := strconv.Atoi(st.Config[TasksMaxConfig])
	var tasks []map[string]string
	err := safeCall(func() error {
		var err error
		tasks, err = rt.conn.TaskConfigs(max(maxTasks, 1))
		return err
	})
	if err != nil {
		h.failConnector(rt.name, fmt.Errorf("connector %s task configurations: %w", rt.name, err))
		return
	}
	if len(tasks) > max(maxTasks, 1) {
		h.failConnector(rt.name, fmt.Errorf("connector %s returned %d task configurations, more than tasks.max=%d", rt.name, len(tasks), maxTasks))
		return
	}
	if len(tasks) != len(st.Tasks) || !reflect.DeepEqual(tasks, st.Tasks) {
		if err := h.configs.PutTaskConfigs(rt.name, tasks); err != nil {
			h.log.Warn("writing task configurations failed", "connector", rt.name, "err", err)
		}
	}
}

func (d *Distributed) checkStable() error {
	if _, _, reb := d.Leader(); reb {
		return fmt.Errorf("Cannot complete request because of a conflicting operation (e.g. worker rebalance): %w", ErrRebalancing)
	}
	return nil
}

// PutConnectorConfig implements Herder: it validates and writes the
// configuration; the rebalance that follows starts the connector.
func (d *Distributed) PutConnectorConfig(ctx context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error) {
	if err := d.checkStable(); err != nil {
		return ConnectorInfo{}, false, err
	}
	name, config, err := d.validConnectorConfig(ctx, name, config)
	if err != nil {
		return ConnectorInfo{}, false, err
	}
	old, exists := d.cs.Connector(name)
	if exists && !allowReplace {
		return ConnectorInfo{}, false, fmt.Errorf("Connector %s already exists: %w", name, ErrAlreadyExists)
	}
	target := initial
	if target == "" {
		target = TargetStarted
	}
	if exists {
		target = old.Target
	}
	if err := d.cs.PutConnector(name, config, target); err != nil {
		return ConnectorInfo{}, false, fmt.Errorf("connect: store config: %w", err)
	}
	info, err := d.ConnectorInfo(name)
	return info, !exists, err
}

// PatchConnectorConfig implements Herder.
func (d *Distributed) PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (ConnectorInfo, error) {
	cur, err := d.ConnectorConfig(name)
	if err != nil {
		return ConnectorInfo{}, err
	}
	applyConfigPatch(cur, patch)
	info, _, err := d.PutConnectorConfig(ctx, name, cur, true, "")
	return info, err
}

// DeleteConnector implements Herder.
func (d *Distributed) DeleteConnector(_ context.Context, name string) error {
	if err := d.checkStable(); err != nil {
		return err
	}
	if _, ok := d.cs.Connector(name); !ok {
		return d.notFound(name)
	}
	if err := d.cs.RemoveConnector(name); err != nil {
		return fmt.Errorf("connect: remove config: %w", err)
	}
	if err := d.ss.Remove(name); err != nil {
		return fmt.Errorf("connect: remove status: %w", err)
	}
	return nil
}

func (d *Distributed) setTarget(name string, t TargetState) error {
	if err := d.checkStable(); err != nil {
		return err
	}
	st, ok := d.cs.Connector(name)
	if !ok {
		return d.notFound(name)
	}
	if t == TargetPaused && st.Target == TargetStopped {
		return nil
	}
	if err := d.cs.PutTargetState(name, t); err != nil {
		return fmt.Errorf("connect: store target state: %w", err)
	}
	if t == TargetStopped {
		if err := d.cs.PutTaskConfigs(name, nil); err != nil {
			return fmt.Errorf("connect: store task configs: %w", err)
		}
	}
	return nil
}

// PauseConnector implements Herder.
func (d *Distributed) PauseConnector(_ context.Context, name string) error {
	return d.setTarget(name, TargetPaused)
}

// ResumeConnector implements Herder.
func (d *Distributed) ResumeConnector(_ context.Context, name string) error {
	return d.setTarget(name, TargetStarted)
}

// StopConnector implements Herder.
func (d *Distributed) StopConnector(_ context.Context, name string) error {
	return d.setTarget(name, TargetStopped)
}

// RestartConnector implements Herder. With the eager protocol a restart
// is a rebalance: every worker restarts its connectors and tasks.
func (d *Distributed) RestartConnector(_ context.Context, name string, _ RestartRequest) (*ConnectorStatus, error) {
	if _, ok := d.cs.Connector(name); !ok {
		return nil, d.notFound(name)
	}
	d.requestRejoin()
	return nil, nil
}

// RestartTask implements Herder (as a rebalance, like RestartConnector).
func (d *Distributed) RestartTask(_ context.Context, id TaskID) error {
	st, ok := d.cs.Connector(id.Connector)
	if !ok {
		return d.notFound(id.Connector)
	}
	if id.Task < 0 || id.Task >= len(st.Tasks) {
		return fmt.Errorf("Task %s-%d not found: %w", id.Connector, id.Task, ErrNotFound)
	}
	d.requestRejoin()
	return nil
}
