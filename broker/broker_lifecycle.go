package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker side of a node's life in the cluster, as Kafka's
// BrokerLifecycleManager: register this incarnation with the active
// controller, then heartbeat. A broker starts fenced; the controller
// unfences it once it has applied the metadata up to its registration, and
// fences it again when its heartbeats stop for broker.session.timeout.ms.

// WaitReady blocks until this broker has registered with the active
// controller and been unfenced, or ctx ends.
func (b *Broker) WaitReady(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker %d not ready (no active controller reached, or not unfenced): %w", b.cfg.NodeID, ctx.Err())
	case <-b.closing:
		return errors.New("broker closed")
	}
}

// Fenced reports whether the controller has this broker fenced.
func (b *Broker) Fenced() bool { return b.fenced.Load() }

// lifecycleLoop registers and heartbeats until the broker closes.
func (b *Broker) lifecycleLoop() {
	defer b.wg.Done()
	var epoch int64
	readyOnce := false
	for {
		wait := b.cfg.Cluster.HeartbeatInterval
		ctx, cancel := b.controllerCallCtx(5 * time.Second)
		if epoch == 0 {
			e, err := b.registerBroker(ctx)
			if err != nil {
				b.logger.Debug("broker registration failed; retrying", "err", err)
				wait = 200 * time.Millisecond
			} else {
				b.lastControllerContact.Store(time.Now().UnixNano())
				epoch = e
				b.brokerEpoch.Store(e)
				wait = 0
			}
		} else {
			resp, err := b.heartbeat(ctx, epoch)
			if err == nil {
				b.lastControllerContact.Store(time.Now().UnixNano())
			}
			switch {
			case err != nil && errors.Is(context.Cause(ctx), errControllerMoved):
				b.logger.Debug("the active controller changed during a heartbeat; sending it to the new one", "err", err)
				wait = 0
			case err != nil:
				b.logger.Debug("broker heartbeat failed; retrying", "err", err)
				wait = 200 * time.Millisecond
			case resp.ErrorCode == kerr.StaleBrokerEpoch.Code:
				b.logger.Warn("the controller no longer knows this broker's epoch; registering again", "epoch", epoch)
				epoch = 0
				wait = 0
			case resp.ErrorCode != 0:
				wait = 200 * time.Millisecond
			default:
				if resp.ShouldShutdown {
					b.shutdownOnce.Do(func() { close(b.shutdownAck) })
				}
				if b.fenced.Swap(resp.IsFenced) != resp.IsFenced {
					b.logger.Info("broker fencing changed", "fenced", resp.IsFenced, "epoch", epoch)
				}
				if resp.IsFenced {
					wait = 200 * time.Millisecond // catching up: ask again soon
				} else if !readyOnce {
					readyOnce = true
					close(b.ready)
				}
			}
		}
		cancel()
		if b.shuttingDown.Load() {
			wait = min(wait, 200*time.Millisecond)
		}
		select {
		case <-b.closing:
			return
		case <-b.lifecycleWake:
		case <-time.After(wait):
		}
	}
}

// leadershipInDoubt reports whether this node of a cluster has gone half
// a broker session (broker.session.timeout.ms / 2) without an answer from
// the active controller: cut off from the quorum, it may have been fenced
// and its partitions' leadership moved without its knowing (its metadata
// stops with the cut). So is a node the controller still answers as
// fenced: back from such a cut, it is catching up with the changes made
// meanwhile, and until then its metadata may name it the leader of
// partitions that moved. A single node never is.
func (b *Broker) leadershipInDoubt() bool {
	if len(b.cfg.Cluster.Voters) <= 1 {
		return false
	}
	if b.fenced.Load() {
		return true
	}
	last := time.Unix(0, b.lastControllerContact.Load())
	return time.Since(last) > b.cfg.Cluster.SessionTimeout/2
}

// errControllerMoved cancels a call to a controller that the quorum no
// longer names as its leader.
var errControllerMoved = errors.New("the active controller changed")

// controllerCallCtx bounds one registration or heartbeat: timeout, and no
// longer than the quorum names the controller it goes to. Without the
// second bound a heartbeat in flight to a controller that lost its
// leadership (cut off from the quorum, say) hangs until its timeout, and
// the new active controller, which gives every broker a fresh session
// when it takes over, fences this broker before it hears from it. The
// returned cancel stops the watch and waits for it.
func (b *Broker) controllerCallCtx(timeout time.Duration) (context.Context, context.CancelFunc) {
	target := b.controllerNode()
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(controllerWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if b.controllerNode() != target {
					cancel(errControllerMoved)
					return
				}
			}
		}
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
		cancelTimeout()
	}
}

// controllerWatchInterval is how often controllerCallCtx looks at who
// leads the quorum.
const controllerWatchInterval = 50 * time.Millisecond

// controllerCall sends a BrokerRegistration or BrokerHeartbeat to the
// active controller: this node's own when it leads, else over the
// controller API.
func (b *Broker) controllerCall(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if b.quorum.LeaderReady() {
		switch r := req.(type) {
		case *kmsg.BrokerRegistrationRequest:
			return b.ctrl.register(r), nil
		case *kmsg.BrokerHeartbeatRequest:
			return b.ctrl.heartbeat(r), nil
		}
	}
	leader := b.controllerNode()
	if leader < 0 {
		return nil, errNoController
	}
	return b.ctrlClient.kafka(ctx, leader, req)
}

func (b *Broker) registerBroker(ctx context.Context) (int64, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.SetVersion(3)
	req.BrokerID = b.cfg.NodeID
	b.mu.RLock()
	req.ClusterID = b.meta.ClusterID()
	b.mu.RUnlock()
	if req.ClusterID == "" {
		// The active controller names the cluster first; wait to learn it.
		return 0, errors.New("the metadata does not name the cluster yet")
	}
	req.IncarnationID = [16]byte(b.incarnation)
	if b.cfg.Cluster.Rack != "" {
		req.Rack = kmsg.StringPtr(b.cfg.Cluster.Rack)
	}
	req.PreviousBrokerEpoch = -1
	for _, l := range b.cfg.clientListeners() {
		adv := b.advertised(l.Name)
		rl := kmsg.NewBrokerRegistrationRequestListener()
		rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = l.Name, adv.Host, uint16(adv.Port), 0
		req.Listeners = append(req.Listeners, rl)
	}
	resp, err := b.controllerCall(ctx, req)
	if err != nil {
		return 0, err
	}
	r := resp.(*kmsg.BrokerRegistrationResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		if r.ErrorCode == kerr.InconsistentClusterID.Code {
			b.logger.Error("this node's cluster.id differs from the cluster's; it cannot join", "cluster.id", b.ClusterID())
		}
		return 0, fmt.Errorf("register broker: %w", err)
	}
	b.logger.Info("registered with the controller", "epoch", r.BrokerEpoch)
	return r.BrokerEpoch, nil
}

func (b *Broker) heartbeat(ctx context.Context, epoch int64) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(1)
	req.BrokerID = b.cfg.NodeID
	req.BrokerEpoch = epoch
	req.WantShutdown = b.shuttingDown.Load()
	b.mu.RLock()
	req.CurrentMetadataOffset = int64(b.meta.AppliedIndex())
	b.mu.RUnlock()
	resp, err := b.controllerCall(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.BrokerHeartbeatResponse), nil
}

// controlledShutdown asks the controller to move leadership off this
// broker before it stops (Kafka's controlled shutdown): heartbeats carry
// WantShutdown, the controller fences the broker (its partitions' leaders
// move to other in-sync replicas, and it leaves their ISRs) and answers
// ShouldShutdown. A single node, or a broker that never registered, stops
// at once. A broker that its metadata shows as the last live one (the
// others stopped or fenced: no one can take its leaderships, and with a
// whole cluster stopping there may be no quorum left to answer it) waits
// one heartbeat interval for the answer, then stops. After timeout any
// broker stops anyway.
func (b *Broker) controlledShutdown(timeout time.Duration) {
	if len(b.cfg.Cluster.Voters) == 0 || !b.cfg.Cluster.IsBroker() || b.brokerEpoch.Load() == 0 {
		return
	}
	b.shuttingDown.Store(true)
	select {
	case b.lifecycleWake <- struct{}{}:
	default:
	}
	began := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-b.shutdownAck:
			b.logger.Info("controlled shutdown: the controller moved leadership off this broker")
			return
		case <-poll.C:
			if time.Since(began) >= b.cfg.Cluster.HeartbeatInterval && b.lastLiveBroker() {
				b.logger.Info("controlled shutdown: no other live broker to take over; stopping")
				return
			}
		case <-deadline.C:
			b.logger.Warn("controlled shutdown: no answer from the controller; stopping anyway", "waited", timeout)
			return
		}
	}
}

// lastLiveBroker reports whether this node's metadata has no unfenced
// broker but this one.
func (b *Broker) lastLiveBroker() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, br := range b.meta.LiveBrokers() {
		if br.ID != b.cfg.NodeID {
			return false
		}
	}
	return true
}
