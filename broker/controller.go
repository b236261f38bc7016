package broker

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// controller is the active-controller side of a controller node: it takes
// broker registrations and heartbeats (Kafka's BrokerRegistration and
// BrokerHeartbeat), tracks each broker's session, and fences a broker that
// misses it. It acts only while this node is the quorum's ready leader;
// every decision it takes is a metadata record, so a new active controller
// carries on from the log.
//
// Lock order: controller.mu is a leaf; it is never held while proposing.
type controller struct {
	b *Broker

	mu          sync.Mutex
	active      bool
	lastContact map[int32]time.Time // broker -> last heartbeat, while active
	// catchUp is, for each fenced broker, the metadata offset it must
	// have applied before it is unfenced: the active controller's applied
	// offset at the broker's first heartbeat while fenced (see heartbeat).
	catchUp map[brokerKey]uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

func newController(b *Broker) *controller {
	return &controller{b: b, lastContact: map[int32]time.Time{}, catchUp: map[brokerKey]uint64{}, stop: make(chan struct{})}
}

// brokerKey names one registration of a broker.
type brokerKey struct {
	id    int32
	epoch int64
}

// onLeadership is the quorum's callback: a new active controller gives
// every broker a fresh session, as Kafka's does.
func (c *controller) onLeadership(active bool, term uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = active
	c.lastContact = map[int32]time.Time{}
	c.catchUp = map[brokerKey]uint64{}
	if active {
		c.b.logger.Info("this node is the active controller", "term", term)
	}
}

// brokersChanged is called after a broker record is applied.
func (c *controller) brokersChanged() {}

func (c *controller) isActive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// start runs the session checker.
func (c *controller) start() {
	c.wg.Add(1)
	go c.run()
}

func (c *controller) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

func (c *controller) run() {
	defer c.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	rebalanceEvery := time.Duration(c.b.brokerIntSetting("leader.imbalance.check.interval.seconds", 300)) * time.Second
	autoRebalance := c.b.cfg.Properties["auto.leader.rebalance.enable"] != "false"
	lastRebalance := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if !c.isActive() || !c.b.quorum.LeaderReady() {
			continue
		}
		c.ensureClusterID()
		c.fenceExpired()
		if autoRebalance && time.Since(lastRebalance) >= rebalanceEvery {
			lastRebalance = time.Now()
			c.electPreferred()
		}
	}
}

// ensureClusterID writes the cluster's ID once, from this node's
// meta.properties, when the metadata has none.
func (c *controller) ensureClusterID() {
	c.b.mu.RLock()
	have, local := c.b.meta.ClusterID(), c.b.localClusterID
	c.b.mu.RUnlock()
	if have != "" {
		return
	}
	c.proposeLocal(meta.Record{Type: meta.RecordClusterID, ClusterID: local})
}

// fenceExpired fences every unfenced broker whose session has run out.
func (c *controller) fenceExpired() {
	now := time.Now()
	timeout := c.b.cfg.Cluster.SessionTimeout
	c.b.mu.RLock()
	brokers := c.b.meta.Brokers()
	c.b.mu.RUnlock()
	var expired []meta.BrokerRegistration
	c.mu.Lock()
	for _, br := range brokers {
		last, ok := c.lastContact[br.ID]
		if !ok {
			c.lastContact[br.ID] = now // a session starts when we first see the broker
			continue
		}
		if !br.Fenced && now.Sub(last) > timeout {
			expired = append(expired, br)
		}
	}
	c.mu.Unlock()
	for _, br := range expired {
		c.b.logger.Warn("fencing broker that missed its session", "broker", br.ID, "epoch", br.Epoch, "session.timeout", timeout)
		c.proposeLocal(meta.Record{Type: meta.RecordFenceBroker, BrokerID: br.ID, BrokerEpoch: br.Epoch})
	}
}

// proposeLocal proposes a record on this node, which must lead.
func (c *controller) proposeLocal(rec meta.Record) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := c.b.quorum.Propose(ctx, data)
	if err != nil && !errors.Is(err, meta.ErrConflict) {
		c.b.logger.Debug("controller proposal failed", "type", rec.Type, "err", err)
	}
	return idx, err
}

// register handles a BrokerRegistration on the active controller.
func (c *controller) register(req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if !c.isActive() || !c.b.quorum.LeaderReady() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	c.ensureClusterID() // brokers join a named cluster
	c.b.mu.RLock()
	cluster := c.b.meta.ClusterID()
	cur, registered := c.b.meta.Broker(req.BrokerID)
	c.b.mu.RUnlock()
	if cluster != "" && req.ClusterID != cluster {
		resp.ErrorCode = kerr.InconsistentClusterID.Code
		return resp
	}
	if registered && cur.Incarnation == uuid.UUID(req.IncarnationID) {
		resp.BrokerEpoch = cur.Epoch // a retried registration
		return resp
	}
	reg := &meta.BrokerRegistration{ID: req.BrokerID, Incarnation: uuid.UUID(req.IncarnationID)}
	if req.Rack != nil {
		reg.Rack = *req.Rack
	}
	for _, l := range req.Listeners {
		reg.Endpoints = append(reg.Endpoints, meta.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port)})
	}
	idx, err := c.proposeLocal(meta.Record{Type: meta.RecordRegisterBroker, Broker: reg})
	if err != nil {
		resp.ErrorCode = kerr.RequestTimedOut.Code
		return resp
	}
	c.touch(req.BrokerID)
	c.b.logger.Info("registered broker", "broker", req.BrokerID, "epoch", idx, "rack", reg.Rack)
	resp.BrokerEpoch = int64(idx)
	return resp
}

func (c *controller) touch(id int32) {
	c.mu.Lock()
	c.lastContact[id] = time.Now()
	c.mu.Unlock()
}

// catchUpTarget returns the metadata offset a fenced broker must reach
// before it is unfenced, fixing it at the controller's applied offset on
// the first call for that registration. A fenced broker
// cut off from the quorum for a while (fenced for a missed session) may
// still hold the metadata from before the cut, naming it the leader of
// partitions that moved; unfenced on its registration offset alone, it
// would answer as their leader until it caught up (a consumer reading from
// it takes its short log for the truth). Applied at least this far, it
// has seen every change made while it was away.
func (c *controller) catchUpTarget(k brokerKey) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.catchUp[k]; ok {
		return t
	}
	c.b.mu.RLock()
	t := c.b.meta.AppliedIndex()
	c.b.mu.RUnlock()
	c.catchUp[k] = t
	return t
}

// fencedCaughtUp reports whether a fenced broker whose metadata is applied
// up to offset may be unfenced: past its registration (the broker epoch
// is the registration's offset, as in Kafka) and past its catch-up target.
func (c *controller) fencedCaughtUp(k brokerKey, offset int64) bool {
	return offset >= k.epoch && offset >= 0 && uint64(offset) >= c.catchUpTarget(k)
}

// caughtUp clears a broker's catch-up target once it is unfenced.
func (c *controller) caughtUp(k brokerKey) {
	c.mu.Lock()
	delete(c.catchUp, k)
	c.mu.Unlock()
}

// heartbeat handles a BrokerHeartbeat on the active controller: it renews
// the broker's session and unfences it once it has caught up with the
// metadata up to its own registration, and, when fenced, up to where the
// metadata stood at its first heartbeat while fenced (catchUpTarget).
func (c *controller) heartbeat(req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	resp.IsFenced = true
	if !c.isActive() || !c.b.quorum.LeaderReady() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	c.b.mu.RLock()
	cur, ok := c.b.meta.Broker(req.BrokerID)
	c.b.mu.RUnlock()
	if !ok || cur.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp
	}
	c.touch(req.BrokerID)
	key := brokerKey{cur.ID, cur.Epoch}
	caughtUp := req.CurrentMetadataOffset >= cur.Epoch
	if cur.Fenced && !req.WantShutdown && !req.WantFence {
		caughtUp = c.fencedCaughtUp(key, req.CurrentMetadataOffset)
	}
	resp.IsCaughtUp = caughtUp
	switch {
	case req.WantShutdown:
		if !cur.Fenced {
			c.proposeLocal(meta.Record{Type: meta.RecordFenceBroker, BrokerID: cur.ID, BrokerEpoch: cur.Epoch})
		}
		resp.ShouldShutdown = true
	case req.WantFence:
		if !cur.Fenced {
			c.proposeLocal(meta.Record{Type: meta.RecordFenceBroker, BrokerID: cur.ID, BrokerEpoch: cur.Epoch})
		}
	case cur.Fenced && caughtUp:
		if _, err := c.proposeLocal(meta.Record{Type: meta.RecordUnfenceBroker, BrokerID: cur.ID, BrokerEpoch: cur.Epoch}); err == nil {
			c.b.logger.Info("unfenced broker", "broker", cur.ID, "epoch", cur.Epoch)
			c.caughtUp(key)
			resp.IsFenced = false
		}
	default:
		resp.IsFenced = cur.Fenced
	}
	return resp
}

// electPreferred moves leadership back to each partition's preferred (first)
// replica where it is live and in sync but does not lead
// (auto.leader.rebalance.enable, every leader.imbalance.check.interval.seconds).
func (c *controller) electPreferred() {
	c.b.mu.RLock()
	live := map[int32]bool{}
	for _, br := range c.b.meta.LiveBrokers() {
		live[br.ID] = true
	}
	var changes []meta.PartitionChange
	for _, t := range c.b.meta.Topics() {
		for i, ps := range t.Assignments {
			if len(ps.Replicas) == 0 {
				continue
			}
			pref := ps.Replicas[0]
			if ps.Leader == pref || !live[pref] || !slices.Contains(ps.ISR, pref) {
				continue
			}
			next := ps
			next.Leader = pref
			changes = append(changes, meta.PartitionChange{Topic: t.ID, Partition: int32(i), ExpectEpoch: ps.PartitionEpoch, State: next})
		}
	}
	c.b.mu.RUnlock()
	for i := range changes {
		if _, err := c.proposeLocal(meta.Record{Type: meta.RecordPartitionChange, Partition: &changes[i]}); err == nil {
			c.b.logger.Info("moved leadership back to the preferred replica", "topic", changes[i].Topic, "partition", changes[i].Partition, "leader", changes[i].State.Leader)
		}
	}
}
