package broker

import (
	"net"
	"slices"
	"strconv"

	"github.com/gregorhq/gregor/broker/meta"
)

// What clients are told about the cluster: its brokers at the endpoints of
// the listener they came in on, and who answers as the controller.

// clientBroker is a broker as a client of one listener sees it.
type clientBroker struct {
	id     int32
	host   string
	port   int32
	rack   *string
	fenced bool
}

// clientBrokers lists the registered brokers at their endpoint for
// listener, sorted by ID: unfenced ones only unless withFenced. Before
// this broker has registered it lists itself, so a client that bootstraps
// from it always has an address.
func (b *Broker) clientBrokers(listener string, withFenced bool) []clientBroker {
	b.mu.RLock()
	regs := b.meta.Brokers()
	b.mu.RUnlock()
	var out []clientBroker
	self := false
	for _, r := range regs {
		if r.Fenced && !withFenced {
			continue
		}
		ep, ok := r.Endpoint(listener)
		if !ok {
			continue
		}
		cb := clientBroker{id: r.ID, host: ep.Host, port: ep.Port, fenced: r.Fenced}
		if r.Rack != "" {
			cb.rack = &r.Rack
		}
		self = self || r.ID == b.cfg.NodeID
		out = append(out, cb)
	}
	if !self && b.cfg.Cluster.IsBroker() {
		adv := b.advertised(listener)
		cb := clientBroker{id: b.cfg.NodeID, host: adv.Host, port: adv.Port, fenced: b.Fenced()}
		if b.cfg.Cluster.Rack != "" {
			rack := b.cfg.Cluster.Rack
			cb.rack = &rack
		}
		out = append(out, cb)
		slices.SortFunc(out, func(x, y clientBroker) int { return int(x.id) - int(y.id) })
	}
	return out
}

// brokerEndpoint returns a broker's endpoint for a listener.
func (b *Broker) brokerEndpoint(id int32, listener string) (meta.Endpoint, bool) {
	if id == b.cfg.NodeID {
		adv := b.advertised(listener)
		return meta.Endpoint{Name: listener, Host: adv.Host, Port: adv.Port}, true
	}
	b.mu.RLock()
	reg, ok := b.meta.Broker(id)
	b.mu.RUnlock()
	if !ok {
		return meta.Endpoint{}, false
	}
	return reg.Endpoint(listener)
}

// clientControllerID is the controller ID clients are told. As in KRaft,
// clients cannot reach the controllers, so they get the active controller
// when it is also a live broker, else the lowest live broker.
func (b *Broker) clientControllerID() int32 {
	leader := b.controllerNode()
	b.mu.RLock()
	live := b.meta.LiveBrokers()
	b.mu.RUnlock()
	for _, br := range live {
		if br.ID == leader {
			return leader
		}
	}
	if len(live) > 0 {
		return live[0].ID
	}
	return b.cfg.NodeID
}

// offlineReplicas lists the replicas on brokers that are fenced or gone.
func (b *Broker) offlineReplicas(replicas []int32) []int32 {
	out := []int32{}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, r := range replicas {
		if reg, ok := b.meta.Broker(r); !ok || reg.Fenced {
			out = append(out, r)
		}
	}
	return out
}

// controllerEndpoints lists the voters of the quorum at their controller
// addresses (a single node with no quorum settings: itself, at its first
// client listener).
func (b *Broker) controllerEndpoints() []clientBroker {
	var out []clientBroker
	if len(b.cfg.Cluster.Voters) == 0 {
		adv := b.advertised(b.cfg.Listeners[0].Name)
		return []clientBroker{{id: b.cfg.NodeID, host: adv.Host, port: adv.Port}}
	}
	for id, addr := range b.cfg.Cluster.Voters {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		p, _ := strconv.Atoi(port)
		out = append(out, clientBroker{id: id, host: host, port: int32(p)})
	}
	slices.SortFunc(out, func(x, y clientBroker) int { return int(x.id) - int(y.id) })
	return out
}

// leaderHint is KIP-951's answer to a request sent to the wrong broker:
// the partition's current leader, its epoch and, when the leader is known,
// its endpoint for the request's listener.
type leaderHint struct {
	leader   int32
	epoch    int32
	endpoint *clientBroker
}

// hintFor returns the leader hint for partition i of t (leader -1 when
// the topic or the leader is unknown).
func (b *Broker) hintFor(t *topic, i int32, listener string) leaderHint {
	h := leaderHint{leader: -1, epoch: -1}
	if t == nil {
		return h
	}
	ps := t.placementOf(i)
	if ps.Offline() {
		return h
	}
	h.leader, h.epoch = ps.Leader, ps.LeaderEpoch
	if ep, ok := b.brokerEndpoint(ps.Leader, listener); ok {
		h.endpoint = &clientBroker{id: ps.Leader, host: ep.Host, port: ep.Port}
	}
	return h
}
