package group

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// JoinGroup handles a JoinGroup and waits for its answer: until the
// rebalance completes, done is closed (the connection went away), or the
// coordinator closes.
func (c *Coordinator) JoinGroup(done <-chan struct{}, group string, req JoinRequest) JoinResult {
	if group == "" {
		return *joinErr(req.MemberID, kerr.InvalidGroupID)
	}
	e, err := c.lockGroup(group, req.MemberID == "")
	if err != nil {
		return *joinErr(req.MemberID, err)
	}
	if e == nil {
		return *joinErr(req.MemberID, kerr.UnknownMemberID)
	}
	tok, ch := c.wait(e)
	c.apply(e, e.g.Join(c.now(), req, tok))
	e.mu.Unlock()
	r, ok := c.await(e, tok, ch, done)
	if !ok || r.Join == nil {
		return *joinErr(req.MemberID, kerr.CoordinatorNotAvailable)
	}
	return *r.Join
}

// SyncGroup handles a SyncGroup and waits for its answer (the leader's
// assignment), done, or Close.
func (c *Coordinator) SyncGroup(done <-chan struct{}, group string, req SyncRequest) SyncResult {
	if group == "" {
		return SyncResult{Err: kerr.InvalidGroupID}
	}
	e, err := c.lockGroup(group, false)
	if err != nil {
		return SyncResult{Err: err}
	}
	if e == nil {
		return SyncResult{Err: kerr.UnknownMemberID}
	}
	tok, ch := c.wait(e)
	c.apply(e, e.g.Sync(c.now(), req, tok))
	e.mu.Unlock()
	r, ok := c.await(e, tok, ch, done)
	if !ok || r.Sync == nil {
		return SyncResult{Err: kerr.CoordinatorNotAvailable}
	}
	return *r.Sync
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(group, memberID, instanceID string, generation int32) *kerr.Error {
	if group == "" {
		return kerr.InvalidGroupID
	}
	e, err := c.lockGroup(group, false)
	if err != nil {
		return err
	}
	if e == nil {
		return kerr.UnknownMemberID
	}
	defer e.mu.Unlock()
	herr, out := e.g.Heartbeat(c.now(), memberID, instanceID, generation)
	c.apply(e, out)
	return herr
}

// LeaveGroup handles a LeaveGroup: the group-level error, then each
// member's.
func (c *Coordinator) LeaveGroup(group string, members []LeaveMember) (*kerr.Error, []*kerr.Error) {
	errs := make([]*kerr.Error, len(members))
	if group == "" {
		return kerr.InvalidGroupID, errs
	}
	e, err := c.lockGroup(group, false)
	if err != nil {
		return err, errs
	}
	if e == nil {
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return nil, errs
	}
	defer e.mu.Unlock()
	errs, out := e.g.Leave(c.now(), members)
	c.apply(e, out)
	return nil, errs
}

// CommitOffsets handles an OffsetCommit and returns each offset's error,
// in order. Offsets whose metadata exceeds offset.metadata.max.bytes get
// OFFSET_METADATA_TOO_LARGE; the others are persisted together, and are
// visible once the write succeeded. groupNotFound is the error for a
// positive generation on a group that does not exist: GROUP_ID_NOT_FOUND
// from OffsetCommit v9, ILLEGAL_GENERATION before.
func (c *Coordinator) CommitOffsets(group string, req CommitRequest, offsets []CommitOffset, groupNotFound *kerr.Error) []*kerr.Error {
	errs := make([]*kerr.Error, len(offsets))
	fill := func(err *kerr.Error) []*kerr.Error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	e, err := c.lockGroup(group, req.Generation < 0)
	if err != nil {
		return fill(err)
	}
	if e == nil {
		return fill(groupNotFound)
	}
	defer e.mu.Unlock()
	if err := e.g.ValidateCommit(req); err != nil {
		c.apply(e, Output{}) // a group created for nothing stays until it expires
		return fill(err)
	}
	var ok []CommitOffset
	var idx []int
	for i, o := range offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataSize {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		ok = append(ok, o)
		idx = append(idx, i)
	}
	recs, vals, out := e.g.CommitRecords(c.now(), req, ok)
	if len(recs) > 0 {
		if err := c.st.Append(e.part, recs); err != nil {
			c.cfg.Logger.Error("writing offset commit failed", "group", group, "partition", e.part, "err", err)
			for _, i := range idx {
				errs[i] = storageError(err)
			}
			c.apply(e, out)
			return errs
		}
		e.g.ApplyCommit(ok, vals)
	}
	c.apply(e, out)
	return errs
}

// ErrStorageFull may be wrapped by a Storage to say a write failed for
// lack of space or a disk error (answered NOT_COORDINATOR, as Kafka maps
// KAFKA_STORAGE_ERROR); other failures are COORDINATOR_NOT_AVAILABLE.
var ErrStorageFull = errors.New("offsets storage failed")

func storageError(err error) *kerr.Error {
	if errors.Is(err, ErrStorageFull) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// FetchedOffset is one answer of FetchOffsets.
type FetchedOffset struct {
	TopicPartition
	Offset
	Found bool // false: nothing committed (answered as offset -1)
}

// FetchOffsets returns a group's committed offsets: the given partitions,
// or all of them when tps is nil. A group that does not exist has none.
func (c *Coordinator) FetchOffsets(group string, tps []TopicPartition) ([]FetchedOffset, *kerr.Error) {
	e, err := c.lockGroup(group, false)
	if err != nil {
		return nil, err
	}
	var out []FetchedOffset
	if tps == nil {
		if e == nil {
			return nil, nil
		}
		defer e.mu.Unlock()
		all, os := e.g.CommittedOffsets()
		for i, tp := range all {
			out = append(out, FetchedOffset{TopicPartition: tp, Offset: os[i], Found: true})
		}
		return out, nil
	}
	if e != nil {
		defer e.mu.Unlock()
	}
	for _, tp := range tps {
		f := FetchedOffset{TopicPartition: tp, Offset: Offset{Offset: -1, LeaderEpoch: -1, ExpireTimestamp: -1}}
		if e != nil {
			if o, ok := e.g.CommittedOffset(tp); ok {
				f.Offset, f.Found = o, true
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// DescribeGroup describes a group. A group that does not exist comes back
// Dead with GROUP_ID_NOT_FOUND (which DescribeGroups before v6 reports as
// no error).
func (c *Coordinator) DescribeGroup(group string) (Description, *kerr.Error) {
	e, err := c.lockGroup(group, false)
	if err != nil {
		return Description{Group: group, State: Dead}, err
	}
	if e == nil {
		return Description{Group: group, State: Dead}, kerr.GroupIDNotFound
	}
	defer e.mu.Unlock()
	return e.g.Describe(), nil
}

// ListGroups lists the groups this broker coordinates: those of the
// __consumer_offsets partitions it leads (Config.Owns), every group on a
// single node. While one of those partitions is still loading it lists
// what is loaded and returns COORDINATOR_LOAD_IN_PROGRESS (and starts
// loading a partition that is owned but not yet loading); the partitions
// other brokers lead are theirs to list, as in Kafka.
func (c *Coordinator) ListGroups() ([]Listing, *kerr.Error) {
	c.mu.Lock()
	if c.closed || !c.active {
		c.mu.Unlock()
		return nil, kerr.CoordinatorNotAvailable
	}
	n := len(c.loaded)
	c.mu.Unlock()
	// Owns reaches into the broker: ask it without holding c.mu.
	owned := make([]bool, n)
	for p := range owned {
		owned[p] = c.cfg.Owns == nil || c.cfg.Owns(int32(p))
	}
	c.mu.Lock()
	if c.closed || !c.active {
		c.mu.Unlock()
		return nil, kerr.CoordinatorNotAvailable
	}
	var lerr *kerr.Error
	for p, l := range c.loaded {
		if !l && owned[p] {
			lerr = kerr.CoordinatorLoadInProgress
			c.startLoadLocked(int32(p))
		}
	}
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	out := make([]Listing, 0, len(es))
	for _, e := range es {
		e.mu.Lock()
		if !e.gone && e.g.State() != Dead {
			out = append(out, e.g.Listing())
		}
		e.mu.Unlock()
	}
	return out, lerr
}

// DeleteGroup deletes an Empty group with its offsets.
func (c *Coordinator) DeleteGroup(group string) *kerr.Error {
	e, err := c.lockGroup(group, false)
	if err != nil {
		return err
	}
	if e == nil {
		return kerr.GroupIDNotFound
	}
	defer e.mu.Unlock()
	derr, out := e.g.Delete(c.now())
	if derr != nil {
		return derr
	}
	if err := c.st.Append(e.part, out.Records); err != nil {
		c.cfg.Logger.Error("writing group tombstones failed", "group", group, "err", err)
		derr = storageError(err)
	}
	out.Records = nil
	c.apply(e, out)
	return derr
}

// DeleteOffsets handles an OffsetDelete: the group-level error and each
// partition's.
func (c *Coordinator) DeleteOffsets(group string, tps []TopicPartition) (*kerr.Error, []*kerr.Error) {
	e, err := c.lockGroup(group, false)
	if err != nil {
		return err, make([]*kerr.Error, len(tps))
	}
	if e == nil {
		return kerr.GroupIDNotFound, make([]*kerr.Error, len(tps))
	}
	defer e.mu.Unlock()
	gerr, errs, out := e.g.DeleteOffsets(tps)
	if len(out.Records) > 0 {
		if err := c.st.Append(e.part, out.Records); err != nil {
			c.cfg.Logger.Error("writing offset tombstones failed", "group", group, "err", err)
			return storageError(err), errs
		}
	}
	out.Records = nil
	c.apply(e, out)
	return gerr, errs
}

// OffsetsRetention is offsets.retention.minutes, for the explicit expiry
// of OffsetCommit v1-v4.
func (c *Coordinator) OffsetsRetention() time.Duration { return c.cfg.OffsetsRetention }

// GroupOffsets is one group's committed offsets and member count, as
// AllCommittedOffsets reports them.
type GroupOffsets struct {
	Group   string
	Members int
	Offsets []FetchedOffset
}

// AllCommittedOffsets returns the committed offsets of every group this
// coordinator has loaded (nothing while it is inactive or closed), for
// metrics: it takes each group's lock in turn, never two at once, and
// never Coordinator.mu while holding one.
func (c *Coordinator) AllCommittedOffsets() []GroupOffsets {
	c.mu.Lock()
	if c.closed || !c.active {
		c.mu.Unlock()
		return nil
	}
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	var out []GroupOffsets
	for _, e := range es {
		e.mu.Lock()
		if e.gone || e.g.State() == Dead {
			e.mu.Unlock()
			continue
		}
		g := GroupOffsets{Group: e.g.ID(), Members: len(e.g.Describe().Members)}
		tps, os := e.g.CommittedOffsets()
		for i, tp := range tps {
			g.Offsets = append(g.Offsets, FetchedOffset{TopicPartition: tp, Offset: os[i], Found: true})
		}
		e.mu.Unlock()
		out = append(out, g)
	}
	return out
}
