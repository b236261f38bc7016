package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
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
	ConnectProtocolConfig            = "connect.protocol"
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
	Define(ConfigKey{Name: ScheduledRebalanceMaxDelayConfig, Type: ConfigInt, Default: "300000", Importance: Low, Validator: AtLeast(0), Doc: "The maximum delay that is scheduled in order to wait for the return of one or more departed workers before rebalancing and reassigning their connectors and tasks to the group (incremental cooperative protocols only)."}).
	Define(ConfigKey{Name: ConnectProtocolConfig, Type: ConfigString, Default: ConnectProtocolSessioned, Importance: Low, Validator: OneOf(ConnectProtocolEager, ConnectProtocolCompatible, ConnectProtocolSessioned), Doc: "Compatibility mode for Kafka Connect Protocol: eager stops all work on every rebalance; compatible and sessioned rebalance incrementally and cooperatively (sessioned is the newest version; Gregor has no internal endpoints for its session key to sign)."})

// Distributed is a herder that shares connectors and tasks with the other
// workers of its group (group.id): configurations, offsets and statuses
// live in compacted Kafka topics, the workers form a group with Kafka
// Connect's "connect" protocol, and REST writes are forwarded to the
// leader.
//
// With connect.protocol=sessioned or compatible (the default is
// sessioned) rebalancing is incremental and cooperative (KIP-415): a
// worker keeps running its connectors and tasks through a rebalance and
// stops only what the leader revokes; the work of a worker that leaves is
// reassigned after scheduled.rebalance.max.delay.ms, so a worker that
// comes back quickly gets it back. With connect.protocol=eager every
// worker stops all its work on every rebalance and starts what the leader
// assigns.
//
// Reads and the task runtime are those of the embedded Standalone; the
// write methods here only write the config topic, and every worker applies
// what it reads there to the work it owns.
type Distributed struct {
	*Standalone
	groupID          string
	protocol         string // connect.protocol
	sessionTimeout   time.Duration
	heartbeat        time.Duration
	rebalanceTimeout time.Duration
	cs               *KafkaConfigStore
	ss               *KafkaStatusStore
	client           *kgo.Client
	rejoin           chan struct{} // buffered(1): rejoin the group now
	changed          chan struct{} // buffered(1): the config topic changed

	// Owned by the run goroutine.
	assignor         *cooperativeAssignor // used while this worker leads
	owned            workSet              // what the last assignment left this worker
	lastCompletedGen int32
	configuredAt     map[string]int // connector -> task count at the last rebalance
	lastContact      time.Time      // the last successful SyncGroup or Heartbeat

	mu          sync.Mutex // guards the member state below
	url         string
	memberID    string
	generation  int32
	leaderURL   string
	isLeader    bool
	rebalancing bool
	started     bool
	owners      map[workItem]string // the leader's view: who runs what (REST URL)
	restarts    []restartRequest    // read from the config topic, not yet applied

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
	d := &Distributed{groupID: c.String(GroupIDConfig), rejoin: make(chan struct{}, 1), changed: make(chan struct{}, 1), done: make(chan struct{}),
		protocol:         strings.ToLower(strings.TrimSpace(c.String(ConnectProtocolConfig))),
		sessionTimeout:   time.Duration(c.Int(SessionTimeoutConfig)) * time.Millisecond,
		heartbeat:        time.Duration(c.Int(HeartbeatIntervalConfig)) * time.Millisecond,
		rebalanceTimeout: time.Duration(c.Int(RebalanceTimeoutConfig)) * time.Millisecond,
		assignor:         newCooperativeAssignor(time.Duration(c.Int(ScheduledRebalanceMaxDelayConfig)) * time.Millisecond),
		lastCompletedGen: -1}
	cs, err := OpenKafkaConfigStore(ctx, cfg, c.String(ConfigStorageTopicConfig), int16(c.Int(ConfigStorageRFConfig)), func(string) { signal(d.changed) })
	if err != nil {
		return nil, err
	}
	cs.onRestart = d.queueRestart
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
	d.lastContact = time.Now() // before the run goroutine starts
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

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (d *Distributed) setRebalancing(r bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rebalancing = r
}

func (d *Distributed) run(ctx context.Context) {
	defer close(d.done)
	defer d.leave()
	for attempt := 1; ctx.Err() == nil; {
		d.setRebalancing(true)
		if d.protocol == ConnectProtocolEager || d.member() == "" {
			// Eager: nothing runs through a rebalance. A worker that is
			// not (or no longer) a member owns nothing: its work may
			// already run elsewhere.
			d.owned = workSet{}
			d.converge(d.owned)
		}
		select { // changes seen from here on trigger another round
		case <-d.rejoin:
		default:
		}
		a, version, gen, err := d.joinAndSync(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("joining the connect group failed", "group", d.groupID, "err", err)
				d.expireIfSilent()
				retryBackoff(ctx, attempt)
				attempt++
			}
			continue
		}
		attempt = 1
		d.lastContact = time.Now()
		rctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
		if err := d.cs.Refresh(rctx); err != nil {
			d.log.Warn("reading the config topic failed", "err", err)
		}
		cancel()
		d.lastCompletedGen = gen
		d.setRebalancing(false)
		delay := d.apply(a, version)
		d.log.Info("rebalance done", "group", d.groupID, "generation", gen, "protocol_version", version, "leader", a.LeaderURL,
			"connectors", d.owned.Connectors, "tasks", len(d.owned.Tasks), "revoked", len(a.Revoked.Connectors)+len(a.Revoked.Tasks), "delay_ms", a.Delay)
		d.heartbeatUntilRejoin(ctx, delay)
	}
	d.converge(workSet{})
}

// joinAndSync runs one JoinGroup/SyncGroup round; the leader computes the
// assignment from the config topic. It returns the assignment, the
// protocol version the group uses and the generation.
func (d *Distributed) joinAndSync(ctx context.Context) (workerAssignment, int16, int32, error) {
	for ctx.Err() == nil {
		d.mu.Lock()
		md := workerMetadata{URL: d.url, ConfigOffset: -1, Owned: d.owned}
		d.mu.Unlock()
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.MemberID, join.ProtocolType = d.groupID, d.member(), connectProtocolType
		join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = int32(d.sessionTimeout.Milliseconds()), int32(d.rebalanceTimeout.Milliseconds())
		for _, name := range offeredProtocols(d.protocol) {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = name, md.encode(protocolVersion(name))
			join.Protocols = append(join.Protocols, p)
		}
		resp, err := join.RequestWith(ctx, d.client)
		if err != nil {
			return workerAssignment{}, 0, 0, fmt.Errorf("join group: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			switch {
			case errors.Is(err, kerr.MemberIDRequired):
				d.setMember(resp.MemberID, -1)
				continue
			case errors.Is(err, kerr.UnknownMemberID):
				d.setMember("", -1)
				return workerAssignment{}, 0, 0, fmt.Errorf("join group: %w", err)
			}
			return workerAssignment{}, 0, 0, fmt.Errorf("join group: %w", err)
		}
		d.setMember(resp.MemberID, resp.Generation)
		protocol := protocolEager
		if resp.Protocol != nil {
			protocol = *resp.Protocol
		}
		version := protocolVersion(protocol)
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.Generation, sync.MemberID = d.groupID, resp.Generation, resp.MemberID
		pt := connectProtocolType
		sync.ProtocolType, sync.Protocol = &pt, &protocol
		if resp.LeaderID == resp.MemberID {
			assignments, err := d.assign(ctx, resp, version)
			if err != nil {
				return workerAssignment{}, 0, 0, err
			}
			sync.GroupAssignment = assignments
		}
		sresp, err := sync.RequestWith(ctx, d.client)
		if err != nil {
			return workerAssignment{}, 0, 0, fmt.Errorf("sync group: %w", err)
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			if errors.Is(err, kerr.RebalanceInProgress) {
				continue
			}
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				d.setMember("", -1)
			}
			return workerAssignment{}, 0, 0, fmt.Errorf("sync group: %w", err)
		}
		a, err := decodeWorkerAssignment(sresp.MemberAssignment)
		if err != nil {
			return workerAssignment{}, 0, 0, err
		}
		d.mu.Lock()
		d.leaderURL, d.isLeader = a.LeaderURL, resp.LeaderID == resp.MemberID
		if !d.isLeader {
			d.owners = nil
		}
		d.mu.Unlock()
		return a, version, resp.Generation, nil
	}
	return workerAssignment{}, 0, 0, ctx.Err()
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

// configuredWork returns every connector of the config topic and its task
// count.
func (d *Distributed) configuredWork() map[string]int {
	conns := map[string]int{}
	for _, n := range d.cs.Connectors() {
		st, _ := d.cs.Connector(n)
		conns[n] = len(st.Tasks)
	}
	return conns
}

// assign is the leader's work: every connector and every task of the
// config topic, spread over the members, eagerly (version 0) or
// incrementally.
func (d *Distributed) assign(ctx context.Context, resp *kmsg.JoinGroupResponse, version int16) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	rctx, cancel := context.WithTimeout(ctx, kafkaStoreTimeout)
	defer cancel()
	if err := d.cs.Refresh(rctx); err != nil {
		return nil, err
	}
	var members []memberWork
	var ids []string
	urls := map[string]string{}
	for _, m := range resp.Members {
		md, err := decodeWorkerMetadata(m.ProtocolMetadata)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", m.MemberID, err)
		}
		members = append(members, memberWork{ID: m.MemberID, Owned: md.Owned})
		ids = append(ids, m.MemberID)
		urls[m.MemberID] = md.URL
	}
	conns := d.configuredWork()
	var plan map[string]*workerAssignment
	if version == 0 {
		plan = assignWork(ids, conns)
	} else {
		plan = d.assignor.assign(time.Now(), resp.Generation, d.lastCompletedGen, members, conns)
	}
	owners := map[workItem]string{}
	var out []kmsg.SyncGroupRequestGroupAssignment
	for _, m := range members {
		a := plan[m.ID]
		a.Version, a.Leader, a.LeaderURL, a.ConfigOffset = version, resp.LeaderID, urls[resp.LeaderID], -1
		keep := itemsOf(workSet{Connectors: a.Connectors, Tasks: a.Tasks})
		if version > 0 {
			revoked := itemsOf(a.Revoked)
			for it := range itemsOf(m.Owned) {
				if !revoked[it] {
					keep[it] = true
				}
			}
		}
		for it := range keep {
			owners[it] = urls[m.ID]
		}
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = m.ID, a.encode()
		out = append(out, sa)
	}
	d.mu.Lock()
	d.owners = owners
	d.mu.Unlock()
	return out, nil
}

// heartbeatUntilRejoin heartbeats until the group rebalances, a rejoin is
// asked (a revocation to complete, a change in the set of connectors or
// tasks), the delay the leader set runs out (delay > 0) or ctx ends.
// Other config changes and restart requests are applied here, to the work
// this worker owns, without a rebalance.
func (d *Distributed) heartbeatUntilRejoin(ctx context.Context, delay time.Duration) {
	t := time.NewTicker(d.heartbeat)
	defer t.Stop()
	var delayed <-chan time.Time
	if delay > 0 {
		dt := time.NewTimer(delay)
		defer dt.Stop()
		delayed = dt.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.rejoin:
			return
		case <-delayed:
			return
		case <-d.changed:
			d.applyRestarts()
			d.converge(d.owned)
			if !maps.Equal(d.configuredWork(), d.configuredAt) {
				return
			}
			continue
		case <-t.C:
		}
		d.mu.Lock()
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.Generation, hb.MemberID = d.groupID, d.generation, d.memberID
		d.mu.Unlock()
		resp, err := hb.RequestWith(ctx, d.client)
		if err != nil {
			if d.expireIfSilent() {
				return
			}
			continue // transient, unless it lasts past the session timeout
		}
		d.lastContact = time.Now()
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				d.setMember("", -1)
			}
			return
		}
	}
}

// expireIfSilent drops this worker's membership and stops its work once
// it has not reached the group coordinator for a session timeout: the
// coordinator has expelled it by then, and the leader will hand its work
// to others. It reports whether it did.
func (d *Distributed) expireIfSilent() bool {
	if d.member() == "" || time.Since(d.lastContact) < d.sessionTimeout {
		return false
	}
	d.log.Warn("the group coordinator was unreachable for longer than the session timeout: stopping this worker's connectors and tasks",
		"group", d.groupID, "session_timeout", d.sessionTimeout)
	d.setMember("", -1)
	d.owned = workSet{}
	d.converge(d.owned)
	return true
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
