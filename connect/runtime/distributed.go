package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/gregorhq/gregor/connect"
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
	RetryBackoffConfig               = "retry.backoff.ms"
	RetryBackoffMaxConfig            = "retry.backoff.max.ms"
)

// ErrRebalancing is returned (wrapped) while the workers rebalance; the
// REST API answers 409.
var ErrRebalancing = errors.New("rebalance in progress")

var distributedDef = connect.NewConfigDef().
	Define(connect.ConfigKey{Name: GroupIDConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "A unique string that identifies the Connect cluster group this worker belongs to."}).
	Define(connect.ConfigKey{Name: ConfigStorageTopicConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "The name of the Kafka topic where connector configurations are stored."}).
	Define(connect.ConfigKey{Name: OffsetStorageTopicConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "The name of the Kafka topic where source connector offsets are stored."}).
	Define(connect.ConfigKey{Name: StatusStorageTopicConfig, Type: connect.ConfigString, Required: true, Importance: connect.High, Validator: connect.NonEmptyString, Doc: "The name of the Kafka topic where connector and task status are stored."}).
	Define(connect.ConfigKey{Name: ConfigStorageRFConfig, Type: connect.ConfigShort, Default: "1", Importance: connect.Low, Doc: "Replication factor used when creating the configuration storage topic (Gregor's single-node default: 1; -1 = broker default)."}).
	Define(connect.ConfigKey{Name: OffsetStorageRFConfig, Type: connect.ConfigShort, Default: "1", Importance: connect.Low, Doc: "Replication factor used when creating the offset storage topic."}).
	Define(connect.ConfigKey{Name: StatusStorageRFConfig, Type: connect.ConfigShort, Default: "1", Importance: connect.Low, Doc: "Replication factor used when creating the status storage topic."}).
	Define(connect.ConfigKey{Name: OffsetStoragePartitionsConfig, Type: connect.ConfigInt, Default: "25", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "The number of partitions used when creating the offset storage topic."}).
	Define(connect.ConfigKey{Name: StatusStoragePartitionsConfig, Type: connect.ConfigInt, Default: "5", Importance: connect.Low, Validator: connect.AtLeast(1), Doc: "The number of partitions used when creating the status storage topic."}).
	Define(connect.ConfigKey{Name: SessionTimeoutConfig, Type: connect.ConfigInt, Default: "10000", Importance: connect.High, Validator: connect.AtLeast(1), Doc: "The timeout used to detect worker failures."}).
	Define(connect.ConfigKey{Name: HeartbeatIntervalConfig, Type: connect.ConfigInt, Default: "3000", Importance: connect.High, Validator: connect.AtLeast(1), Doc: "The expected time between heartbeats to the group coordinator."}).
	Define(connect.ConfigKey{Name: RebalanceTimeoutConfig, Type: connect.ConfigInt, Default: "60000", Importance: connect.High, Validator: connect.AtLeast(1), Doc: "The maximum allowed time for each worker to join the group once a rebalance has begun."}).
	Define(connect.ConfigKey{Name: ScheduledRebalanceMaxDelayConfig, Type: connect.ConfigInt, Default: "300000", Importance: connect.Low, Validator: connect.AtLeast(0), Doc: "The maximum delay that is scheduled in order to wait for the return of one or more departed workers before rebalancing and reassigning their connectors and tasks to the group (incremental cooperative protocols only)."}).
	Define(connect.ConfigKey{Name: ConnectProtocolConfig, Type: connect.ConfigString, Default: ConnectProtocolSessioned, Importance: connect.Low, Validator: connect.OneOf(ConnectProtocolEager, ConnectProtocolCompatible, ConnectProtocolSessioned), Doc: "Compatibility mode for Kafka Connect Protocol: eager stops all work on every rebalance; compatible and sessioned rebalance incrementally and cooperatively (sessioned is the newest version; Gregor has no internal endpoints for its session key to sign)."}).
	Define(connect.ConfigKey{Name: RetryBackoffConfig, Type: connect.ConfigLong, Default: "100", Importance: connect.Low, Validator: connect.AtLeast(0), Doc: "The amount of time to wait before attempting to retry a failed request to a given topic partition or coordinator; it grows exponentially up to retry.backoff.max.ms on failures in a row."}).
	Define(connect.ConfigKey{Name: RetryBackoffMaxConfig, Type: connect.ConfigLong, Default: "1000", Importance: connect.Low, Validator: connect.AtLeast(0), Doc: "The maximum amount of time to wait when retrying a request to the broker that has repeatedly failed."})

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
// Reads and the task runtime are those of the embedded Worker, shared with
// Standalone; the write methods here only write the config topic, and
// every worker applies what it reads there to the work it owns.
type Distributed struct {
	*Worker
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
	assignedFrom     map[string]int // the configured work this worker's last assignment was computed from; nil unless it led the round
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
	h, err := newWorker(cfg, opts)
	if err != nil {
		cs.Close()
		ss.Close()
		os.Close()
		return nil, err
	}
	h.distributed = true
	d.Worker, d.cs, d.ss = h, cs, ss
	// The group client retries as Kafka's clients do (retry.backoff.ms
	// growing to retry.backoff.max.ms), not with kgo's longer default
	// backoff: after its coordinator dies, a worker must reach the new
	// one well within session.timeout.ms.
	backoff := kafkaBackoff(time.Duration(c.Int(RetryBackoffConfig))*time.Millisecond, time.Duration(c.Int(RetryBackoffMaxConfig))*time.Millisecond)
	d.client, err = kgo.NewClient(kgo.SeedBrokers(cfg.BootstrapServers...), kgo.ClientID(cfg.ClientID+"-"+d.groupID), kgo.RetryBackoffFn(backoff))
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
		url = "http://" + d.Worker.WorkerID()
	}
	id := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	d.Worker.workerID.Store(&id)
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
	err := d.Worker.Close()
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
		// kgo picks the versions of the group requests (JoinGroup up to v9, SyncGroup
		// v5, Heartbeat v4, LeaveGroup v5): every field of those is set here or keeps
		// a default that means what we want (no instance id, since the workers are
		// not static members, so JoinGroup v9's SkipAssignment never comes back; no
		// leave reason). Tests run the group on kfake, which serves them all.
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
		d.assignedFrom = nil
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
	for _, n := range d.cs.Connectors(context.Background()) {
		st, _ := d.cs.Connector(context.Background(), n)
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
	d.assignedFrom = conns
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
