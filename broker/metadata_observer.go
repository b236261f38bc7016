package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregorhq/gregor/broker/quorum"
)

// metadataLog is this node's handle on the replicated metadata: a voter of
// the quorum (a controller, *quorum.Node) or an observer that follows the
// controllers (a broker-only node, as KRaft's brokers fetch the metadata
// log without voting).
type metadataLog interface {
	Propose(ctx context.Context, data []byte) (uint64, error)
	Barrier(ctx context.Context) error
	LeaderReady() bool
	Leader() uint64 // raft ID of the active controller, 0 when unknown
	Status() quorum.Status
	ServeConn(c net.Conn)
	Close() error
}

// metadataPollWait is how long the controller API holds a metadata poll
// that has nothing new.
const metadataPollWait = 2 * time.Second

// observer is the metadataLog of a broker-only node: it polls a controller
// for the metadata state whenever it changes and installs it.
type observer struct {
	b      *Broker
	client *controllerClient
	voters []int32
	leader atomic.Uint64

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newObserver(b *Broker) *observer {
	o := &observer{b: b, client: b.ctrlClient, stop: make(chan struct{})}
	for id := range b.cfg.Cluster.Voters {
		o.voters = append(o.voters, id)
	}
	o.wg.Add(1)
	go o.run()
	return o
}

func (o *observer) run() {
	defer o.wg.Done()
	next := 0
	for {
		node := nodeOf(o.leader.Load())
		if node < 0 {
			node = o.voters[next%len(o.voters)]
			next++
		}
		ctx, cancel := context.WithTimeout(context.Background(), metadataPollWait+5*time.Second)
		o.b.mu.RLock()
		after := o.b.meta.AppliedIndex()
		o.b.mu.RUnlock()
		res, err := o.client.metadata(ctx, node, after, false)
		cancel()
		if err == nil && res.Snapshot != nil && res.Applied > after {
			err = metaMachine{o.b}.Restore(res.Snapshot)
		}
		if err == nil {
			o.leader.Store(raftID(res.Leader))
		} else {
			o.leader.Store(0)
			o.b.logger.Debug("metadata poll failed", "controller", node, "err", err)
			select {
			case <-o.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		select {
		case <-o.stop:
			return
		default:
		}
	}
}

// Propose is refused: an observer forwards writes to the controller.
func (o *observer) Propose(context.Context, []byte) (uint64, error) { return 0, quorum.ErrNotLeader }

// Barrier waits until this node has installed the metadata the active
// controller had applied when Barrier was called.
func (o *observer) Barrier(ctx context.Context) error {
	node := nodeOf(o.leader.Load())
	if node < 0 {
		return fmt.Errorf("metadata barrier: %w", errNoController)
	}
	res, err := o.client.metadata(ctx, node, 0, true)
	if err != nil {
		return fmt.Errorf("metadata barrier: %w", err)
	}
	for {
		o.b.mu.RLock()
		applied := o.b.meta.AppliedIndex()
		o.b.mu.RUnlock()
		if applied >= res.Applied {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata barrier: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// LeaderReady is false: an observer never leads.
func (o *observer) LeaderReady() bool { return false }

// Leader is the active controller as last heard from a controller.
func (o *observer) Leader() uint64 { return o.leader.Load() }

// Status reports what an observer knows.
func (o *observer) Status() quorum.Status {
	o.b.mu.RLock()
	applied := o.b.meta.AppliedIndex()
	o.b.mu.RUnlock()
	return quorum.Status{ID: raftID(o.b.cfg.NodeID), Leader: o.leader.Load(), Applied: applied, Commit: applied}
}

// ServeConn closes the connection: an observer has no quorum traffic.
func (o *observer) ServeConn(c net.Conn) { c.Close() }

// Close stops polling.
func (o *observer) Close() error {
	o.closeOnce.Do(func() { close(o.stop) })
	o.wg.Wait()
	return nil
}

// metadataPoll is the controller API's answer to a metadata poll.
type metadataPoll struct {
	Leader   int32  `json:"leader"`
	Applied  uint64 `json:"applied"`
	Snapshot []byte `json:"snapshot,omitempty"`
}

// handleMetadata answers an observer: once the metadata has moved past
// ?after= (or metadataPollWait passed), the state and its index; with
// ?peek=1 only the index, at once.
func (s *controllerServer) handleMetadata(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	peek := r.URL.Query().Get("peek") == "1"
	deadline := time.NewTimer(metadataPollWait)
	defer deadline.Stop()
	b := s.b
	for {
		b.mu.RLock()
		applied, changed := b.meta.AppliedIndex(), b.metaChanged
		b.mu.RUnlock()
		if peek || applied > after {
			break
		}
		select {
		case <-changed:
		case <-deadline.C:
			peek = true
		case <-r.Context().Done():
			return
		}
	}
	res := metadataPoll{Leader: b.controllerNode()}
	b.mu.RLock()
	res.Applied = b.meta.AppliedIndex()
	if !peek {
		snap, err := b.meta.Snapshot()
		if err != nil {
			b.mu.RUnlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		res.Snapshot = snap
	}
	b.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// metadata polls node's controller API.
func (c *controllerClient) metadata(ctx context.Context, node int32, after uint64, peek bool) (metadataPoll, error) {
	var res metadataPoll
	u, ok := c.url(node, ctrlPathMetadata)
	if !ok {
		return res, errNoController
	}
	u += "?after=" + strconv.FormatUint(after, 10)
	if peek {
		u += "&peek=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return res, err
	}
	resp, err := c.poll.Do(req)
	if err != nil {
		return res, fmt.Errorf("controller %d: %w", node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("controller %d: %s", node, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, fmt.Errorf("controller %d: decode metadata: %w", node, err)
	}
	return res, nil
}
