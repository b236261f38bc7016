package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gregorhq/gregor/broker/meta"
	"github.com/gregorhq/gregor/broker/quorum"
)

// The metadata quorum: every change to the cluster metadata is one
// meta.Record, proposed to the active controller (the raft leader of
// broker/quorum), committed by a majority of controllers, and applied in
// log order on every node by metaMachine.Apply, which also brings the live
// topics and partitions of this node in line with the new state.

// quorumDir is where the quorum keeps its write-ahead log and snapshots.
func quorumDir(dataDir string) string { return filepath.Join(metadataDir(dataDir), "quorum") }

// openQuorum opens this node's metadata quorum member, replays what it
// holds, and brings the live topics in line with the metadata.
func (b *Broker) openQuorum() error {
	cc := b.cfg.Cluster
	voters := map[uint64]string{}
	for id, addr := range cc.Voters {
		voters[raftID(id)] = addr
	}
	if len(voters) == 0 {
		voters[raftID(b.cfg.NodeID)] = "" // a single node: its own one-voter quorum
	}
	ticks := int(cc.ElectionTimeout / (100 * time.Millisecond))
	if ticks < 3 {
		ticks = 3
	}
	b.meta = meta.NewState()
	if !cc.IsController() {
		b.quorum = newObserver(b) // metadata_observer.go
		b.pids.init(0)
		return nil
	}
	b.replaying = true
	node, err := quorum.Open(quorum.Config{
		NodeID:         raftID(b.cfg.NodeID),
		Voters:         voters,
		Dir:            quorumDir(b.cfg.DataDir),
		TickInterval:   100 * time.Millisecond,
		ElectionTicks:  ticks,
		HeartbeatTicks: 1,
		Bootstrap:      b.bootstrapMetadata,
		OnLeadership:   b.ctrl.onLeadership,
		Dial:           b.controllerDial(), // controller_security.go
		Logger:         b.logger.With("component", "quorum"),
	}, metaMachine{b})
	if err != nil {
		return fmt.Errorf("open metadata quorum: %w", err)
	}
	b.quorum = node
	b.mu.Lock()
	b.replaying = false
	_, err = b.reconcileAllLocked()
	b.mu.Unlock()
	if err != nil {
		return err
	}
	b.pids.init(b.meta.NextProducerID())
	return nil
}

// raftID is a node's ID in the quorum: node.id plus one, since Kafka
// allows node.id 0 and raft reserves 0 for "none".
func raftID(node int32) uint64 { return uint64(node) + 1 }

// nodeOf is the node.id of a raft ID; -1 for none.
func nodeOf(id uint64) int32 { return int32(id) - 1 }

// controllerNode is the node.id of the active controller as this node
// knows it, or -1.
func (b *Broker) controllerNode() int32 { return nodeOf(b.quorum.Leader()) }

// bootstrapMetadata is the quorum's initial state when its directory is
// empty: empty for a new node, or the topics of a metadata journal written
// by a single-node Gregor before the quorum existed, placed on this node.
func (b *Broker) bootstrapMetadata() ([]byte, error) {
	path := filepath.Join(metadataDir(b.cfg.DataDir), meta.JournalFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	j, recs, err := meta.OpenJournal(metadataDir(b.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	j.Close()
	st := meta.NewState()
	for _, r := range recs {
		if err := st.Apply(r); err != nil {
			b.logger.Warn("skipping metadata journal record that does not apply", "type", r.Type, "err", err)
		}
	}
	topics := st.Topics()
	if len(topics) > 0 && len(b.cfg.Cluster.Voters) > 1 {
		return nil, fmt.Errorf("%w: %s holds a single-node metadata journal with %d topic(s); migrate it by starting this node alone first (no controller.quorum.voters)", ErrBadConfig, path, len(topics))
	}
	// Place every partition of the old journal on this node.
	for _, t := range topics {
		as := make([]meta.PartitionState, t.Partitions)
		for i := range as {
			as[i] = meta.NewPartitionState([]int32{b.cfg.NodeID})
		}
		del := meta.Record{Type: meta.RecordDeleteTopic, Topic: &meta.Topic{ID: t.ID}}
		t.Assignments = as
		create := meta.Record{Type: meta.RecordCreateTopic, Topic: &t}
		if err := errors.Join(st.Apply(del), st.Apply(create)); err != nil {
			return nil, fmt.Errorf("migrate topic %s: %w", t.Name, err)
		}
	}
	b.logger.Info("migrating the single-node metadata journal into the metadata quorum", "topics", len(topics), "journal", path)
	return st.Snapshot()
}

// metaMachine is the quorum's state machine: b.meta plus the live topics.
type metaMachine struct{ b *Broker }

// Apply applies one committed record.
func (m metaMachine) Apply(index uint64, data []byte) error {
	var rec meta.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("%w: %w", meta.ErrBadRecord, err)
	}
	return m.b.applyMetadata(index, rec)
}

// Snapshot encodes the metadata state.
func (m metaMachine) Snapshot() ([]byte, error) {
	m.b.mu.RLock()
	defer m.b.mu.RUnlock()
	return m.b.meta.Snapshot()
}

// Restore replaces the metadata state with a snapshot's.
func (m metaMachine) Restore(data []byte) error {
	st, err := meta.RestoreState(data)
	if err != nil {
		return err
	}
	b := m.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.meta = st
	b.notifyMetaLocked()
	if b.replaying {
		return nil
	}
	removed, err := b.reconcileAllLocked()
	b.mu.Unlock()
	for _, t := range removed {
		b.deleteTopicOffsets(t.name)
	}
	b.mu.Lock()
	return err
}

// errNoController is returned by propose when no active controller could be
// reached before the context ended.
var errNoController = errors.New("no active controller")

// propose writes one metadata record through the active controller and
// returns once this node has applied it, with the error the record's
// application gave (meta's sentinel errors). Callers must not hold b.mu.
func (b *Broker) propose(ctx context.Context, rec meta.Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode metadata record: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	for {
		var applyErr error
		retry := false
		if b.quorum.LeaderReady() {
			_, err := b.quorum.Propose(ctx, data)
			switch {
			case errors.Is(err, quorum.ErrNotLeader):
				retry = true
			case err != nil && !isApplyError(err):
				return fmt.Errorf("propose %s: %w", rec.Type, err)
			default:
				applyErr = err
			}
		} else {
			applyErr, retry = b.ctrlClient.propose(ctx, b.controllerNode(), data)
		}
		if !retry {
			if applyErr != nil {
				return applyErr
			}
			// Read our own write: wait until this node has applied it.
			if err := b.quorum.Barrier(ctx); err != nil {
				return fmt.Errorf("wait for metadata: %w", err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errNoController, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyErrors are the errors a record's application returns; anything else
// from Propose is about the quorum itself.
var applyErrors = []error{meta.ErrTopicExists, meta.ErrUnknownTopic, meta.ErrUnknownBroker, meta.ErrStaleBroker,
	meta.ErrConflict, meta.ErrBadRecord, meta.ErrStalePartition}

func isApplyError(err error) bool {
	for _, e := range applyErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// applyErrorKind names an apply error for the controller API ("" if none).
func applyErrorKind(err error) string {
	for _, e := range applyErrors {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return ""
}

// applyErrorFromKind rebuilds an apply error sent by the controller API.
func applyErrorFromKind(kind, msg string) error {
	for _, e := range applyErrors {
		if e.Error() == kind {
			return fmt.Errorf("%w: %s", e, msg)
		}
	}
	return errors.New(msg)
}

// applyMetadata applies a committed record to the metadata and to the live
// state of this node. During the quorum's replay at startup only the
// metadata changes; openQuorum reconciles once at the end.
func (b *Broker) applyMetadata(index uint64, rec meta.Record) error {
	b.mu.Lock()
	var old *topic
	if rec.Type == meta.RecordDeleteTopic && rec.Topic != nil {
		old = b.byID[rec.Topic.ID]
	}
	if err := b.meta.ApplyAt(index, rec); err != nil {
		b.mu.Unlock()
		return err
	}
	b.notifyMetaLocked()
	if b.replaying {
		b.mu.Unlock()
		return nil
	}
	var err error
	switch rec.Type {
	case meta.RecordCreateTopic, meta.RecordAddPartitions:
		if mt, ok := b.meta.Topic(rec.Topic.Name); ok {
			err = b.reconcileTopicLocked(mt)
		}
	case meta.RecordDeleteTopic:
		if old != nil {
			delete(b.topics, old.name)
			delete(b.byID, old.id)
		}
	case meta.RecordAlterConfigs:
		if t := b.topics[rec.Topic.Name]; t != nil {
			t.dynamic = rec.Topic.Configs
			b.refreshTopicSettings(t)
		}
	case meta.RecordBrokerConfigs:
		b.loadDynamicBrokerConfigsLocked()
		for _, t := range b.topics {
			b.refreshTopicSettings(t)
		}
	case meta.RecordRegisterBroker, meta.RecordFenceBroker, meta.RecordUnfenceBroker, meta.RecordPartitionChange:
		_, err = b.reconcileAllLocked()
	case meta.RecordClusterID:
		b.adoptClusterIDLocked(rec.ClusterID)
	case meta.RecordClientQuotas:
		b.loadQuotasLocked()
	}
	b.mu.Unlock()
	if old != nil {
		b.removeTopicData(old)
		b.deleteTopicOffsets(old.name) // every node's coordinator, for the groups it runs
	}
	switch rec.Type {
	case meta.RecordRegisterBroker, meta.RecordFenceBroker, meta.RecordUnfenceBroker:
		b.ctrl.brokersChanged()
	}
	return err
}

// adoptClusterIDLocked makes the cluster's ID this node's: a node that
// joined with another cluster.id in meta.properties takes the cluster's
// (the quorum decides which cluster a node is in). Callers hold b.mu.
func (b *Broker) adoptClusterIDLocked(id string) {
	if id == "" || id == b.localClusterID {
		return
	}
	props, err := readMetaProperties(b.cfg.DataDir)
	if err != nil {
		b.logger.Warn("cannot read meta.properties to record the cluster ID", "err", err)
		return
	}
	props.ClusterID = id
	if err := writeMetaProperties(b.cfg.DataDir, props); err != nil {
		b.logger.Warn("cannot record the cluster ID in meta.properties", "err", err)
		return
	}
	b.logger.Info("joined cluster", "cluster.id", id, "was", b.localClusterID)
	b.localClusterID = id
}

// notifyMetaLocked wakes whoever waits for the metadata to change.
// Callers hold b.mu.
func (b *Broker) notifyMetaLocked() {
	b.refreshAuthorizerLocked() // authorize.go
	close(b.metaChanged)
	b.metaChanged = make(chan struct{})
}

// loadDynamicBrokerConfigsLocked installs the dynamic broker configs of
// the metadata. Callers hold b.mu.
func (b *Broker) loadDynamicBrokerConfigsLocked() {
	b.dynBroker.Store(&dynamicBrokerConfigs{
		perBroker:      b.meta.BrokerConfigs(strconv.Itoa(int(b.cfg.NodeID))),
		clusterDefault: b.meta.BrokerConfigs(""),
	})
}
