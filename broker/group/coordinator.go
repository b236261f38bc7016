package group

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Storage is the coordinator's view of the __consumer_offsets topic.
type Storage interface {
	// Append writes records to a partition as one batch and returns once
	// they are as durable as the broker's flush policy promises and
	// visible to readers.
	Append(partition int32, recs []Record) error
	// AppendTxn is Append for a transactional producer's offset commits
	// (TxnOffsetCommit): one transactional batch carrying its producer ID
	// and epoch, which the transaction's marker later commits or aborts.
	AppendTxn(partition int32, producerID int64, epoch int16, recs []Record) error
	// Replay calls fn with the partition's bytes from its log start to its
	// log end (this broker has just become its leader: everything in its
	// log is, or is about to be, committed), in chunks of whole magic-v2
	// record batches.
	Replay(partition int32, fn func(batches []byte) error) error
}

// ErrClosed is returned for calls on a closed Coordinator.
var ErrClosed = errors.New("group coordinator closed")

// Coordinator runs the groups of this broker: it owns one Group state
// machine per group, does their I/O (records to Storage, timers, replies to
// waiting requests) and loads them back from __consumer_offsets.
//
// Lock order: a group's entry lock before Coordinator.mu (which only
// guards the maps and is never held while calling out), and a group's
// entry lock before anything Storage locks. Two entry locks are never held
// at once.
type Coordinator struct {
	cfg Config
	st  Storage

	mu       sync.Mutex
	groups   map[string]*entry
	active   bool
	numParts int32
	loaded   []bool
	loading  []bool   // a load of the partition is under way
	gens     []uint64 // bumped by Unload, so a load that raced it is dropped
	closed   bool
	// deletedWhileLoading holds, per partition still loading, the topics
	// deleted meanwhile, whose offsets the load drops (OnTopicsDeleted).
	deletedWhileLoading map[int32]map[string]bool

	stop   chan struct{}
	wg     sync.WaitGroup // loader, expiry loop and running timer callbacks
	tokens atomic.Uint64
}

// entry is one group with its I/O state, guarded by mu.
type entry struct {
	mu      sync.Mutex
	g       *Group
	part    int32
	timers  map[TimerKey]*timerHandle
	waiters map[Token]chan Reply
	gone    bool // removed from the coordinator
}

type timerHandle struct{ t *time.Timer }

// NewCoordinator returns a coordinator that is not yet active: every call
// answers COORDINATOR_NOT_AVAILABLE until Start.
func NewCoordinator(cfg Config, st Storage) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, st: st, groups: map[string]*entry{}, stop: make(chan struct{})}, nil
}

// Start activates the coordinator for a __consumer_offsets topic with
// numPartitions partitions. When load is set the partitions are read back
// in the background (their groups answer COORDINATOR_LOAD_IN_PROGRESS
// meanwhile); otherwise the topic is new, and the partitions this broker
// leads (Config.Owns) are empty; the others load if it comes to lead them.
// Later calls do nothing.
func (c *Coordinator) Start(numPartitions int32, load bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active || c.closed {
		return
	}
	c.active = true
	c.numParts = numPartitions
	c.loaded = make([]bool, numPartitions)
	c.loading = make([]bool, numPartitions)
	c.gens = make([]uint64, numPartitions)
	if load {
		for p := int32(0); p < numPartitions; p++ {
			// Partitions owned later load when a request first needs them.
			if c.cfg.Owns == nil || c.cfg.Owns(p) {
				c.startLoadLocked(p)
			}
		}
	} else {
		// The topic was just created: the partitions this broker leads
		// are empty. The others are not this broker's to mark: in a
		// cluster another broker leads them and writes there, and if
		// this one comes to lead one it must load what was written.
		for p := range c.loaded {
			c.loaded[p] = c.cfg.Owns == nil || c.cfg.Owns(int32(p))
		}
	}
	c.wg.Add(1)
	go c.expireLoop()
}

// Active reports whether Start has been called.
func (c *Coordinator) Active() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// Close stops the timers and background work and waits for them. Waiting
// JoinGroup and SyncGroup calls return COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.stop)
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		for _, h := range e.timers {
			h.t.Stop()
		}
		e.mu.Unlock()
	}
	c.wg.Wait()
}

func (c *Coordinator) now() int64 { return c.cfg.Now().UnixMilli() }

// PartitionFor returns the __consumer_offsets partition of a group.
func (c *Coordinator) PartitionFor(group string) int32 {
	c.mu.Lock()
	n := c.numParts
	c.mu.Unlock()
	if n == 0 {
		n = c.cfg.NumPartitions
	}
	return PartitionFor(group, n)
}

// lookup finds (or, with create, makes) a group's entry. It returns nil
// when the group does not exist, and an error while the coordinator is
// unavailable or the group's partition is loading.
func (c *Coordinator) lookup(id string, create bool) (*entry, *kerr.Error) {
	if c.cfg.Owns != nil && !c.cfg.Owns(c.PartitionFor(id)) {
		return nil, kerr.NotCoordinator
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !c.active {
		return nil, kerr.CoordinatorNotAvailable
	}
	p := PartitionFor(id, c.numParts)
	if !c.loaded[p] {
		c.startLoadLocked(p)
		return nil, kerr.CoordinatorLoadInProgress
	}
	e := c.groups[id]
	if e == nil && create {
		e = c.newEntry(NewGroup(&c.cfg, id, c.now()), p)
		c.groups[id] = e
	}
	return e, nil
}

func (c *Coordinator) newEntry(g *Group, p int32) *entry {
	return &entry{g: g, part: p, timers: map[TimerKey]*timerHandle{}, waiters: map[Token]chan Reply{}}
}

// lockGroup looks a group up and locks it, retrying when it was removed
// between the lookup and the lock. A nil entry means no such group.
func (c *Coordinator) lockGroup(id string, create bool) (*entry, *kerr.Error) {
	for {
		e, err := c.lookup(id, create)
		if err != nil || e == nil {
			return nil, err
		}
		e.mu.Lock()
		if !e.gone {
			return e, nil
		}
		e.mu.Unlock()
	}
}

// apply carries out an Output for e (locked): persist, then answer, then
// arm timers; a StoreAck output reports back to the state machine.
func (c *Coordinator) apply(e *entry, out Output) {
	for {
		var storeErr *kerr.Error
		if len(out.Records) > 0 {
			if err := c.st.Append(e.part, out.Records); err != nil {
				c.cfg.Logger.Error("writing group records failed", "group", e.g.id, "partition", e.part, "err", err)
				storeErr = kerr.CoordinatorNotAvailable
			}
		}
		for _, r := range out.Replies {
			if ch, ok := e.waiters[r.To]; ok {
				ch <- r
				delete(e.waiters, r.To)
			}
		}
		for _, t := range out.Timers {
			c.arm(e, t)
		}
		if !out.StoreAck {
			break
		}
		out = e.g.Stored(c.now(), storeErr)
	}
	if e.g.State() == Dead && !e.gone {
		c.remove(e)
	}
}

// remove drops a Dead group (e locked).
func (c *Coordinator) remove(e *entry) {
	e.gone = true
	for _, h := range e.timers {
		h.t.Stop()
	}
	clear(e.timers)
	for tok, ch := range e.waiters {
		r := Reply{To: tok, Join: joinErr("", kerr.CoordinatorNotAvailable), Sync: &SyncResult{Err: kerr.CoordinatorNotAvailable}}
		ch <- r
		delete(e.waiters, tok)
	}
	c.mu.Lock()
	if c.groups[e.g.id] == e {
		delete(c.groups, e.g.id)
	}
	c.mu.Unlock()
}

// arm (re)arms a timer of e (locked).
func (c *Coordinator) arm(e *entry, t Timer) {
	if old := e.timers[t.Key]; old != nil {
		old.t.Stop()
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed || e.gone {
		return
	}
	h := &timerHandle{}
	e.timers[t.Key] = h
	delay := time.Duration(t.At-c.now()) * time.Millisecond
	key := t.Key
	h.t = time.AfterFunc(max(delay, 0), func() { c.fire(e, key, h) })
}

func (c *Coordinator) fire(e *entry, key TimerKey, h *timerHandle) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone || e.timers[key] != h {
		return
	}
	delete(e.timers, key)
	c.apply(e, e.g.OnTimer(c.now(), key))
}

// wait registers a waiter on e (locked) and returns its token and channel.
func (c *Coordinator) wait(e *entry) (Token, chan Reply) {
	tok := Token(c.tokens.Add(1))
	ch := make(chan Reply, 1)
	e.waiters[tok] = ch
	return tok, ch
}

// await waits for a reply, the caller giving up (done), or Close.
func (c *Coordinator) await(e *entry, tok Token, ch chan Reply, done <-chan struct{}) (Reply, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-done:
	case <-c.stop:
	}
	e.mu.Lock()
	delete(e.waiters, tok)
	e.mu.Unlock()
	select {
	case r := <-ch: // answered meanwhile
		return r, true
	default:
		return Reply{}, false
	}
}

// expireLoop runs the offsets retention check every
// offsets.retention.check.interval.ms.
func (c *Coordinator) expireLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

// ExpireOffsets runs one offsets retention pass over every group now.
func (c *Coordinator) ExpireOffsets() {
	c.mu.Lock()
	es := make([]*entry, 0, len(c.groups))
	for _, e := range c.groups {
		es = append(es, e)
	}
	c.mu.Unlock()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	for _, e := range es {
		e.mu.Lock()
		if !e.gone {
			c.apply(e, e.g.ExpireOffsets(c.now(), retention))
		}
		e.mu.Unlock()
	}
}

// Unload drops the groups of a __consumer_offsets partition this broker
// stopped leading (Kafka's onResignation): their waiting requests end with
// COORDINATOR_NOT_AVAILABLE, later ones get NOT_COORDINATOR, and the
// partition is read back from its log when this broker leads it again
// (the new leader may have changed it meanwhile).
func (c *Coordinator) Unload(p int32) {
	c.mu.Lock()
	if !c.active || p < 0 || int(p) >= len(c.loaded) {
		c.mu.Unlock()
		return
	}
	c.gens[p]++
	c.loaded[p], c.loading[p] = false, false
	delete(c.deletedWhileLoading, p) // the next load reads what the next leaders wrote
	var es []*entry
	for _, e := range c.groups {
		if e.part == p {
			es = append(es, e)
		}
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		if !e.gone {
			c.remove(e)
		}
		e.mu.Unlock()
	}
	if len(es) > 0 {
		c.cfg.Logger.Info("unloaded groups: no longer the partition's leader", "partition", p, "groups", len(es))
	}
}

// Load starts reading back a __consumer_offsets partition this broker now
// leads (Kafka's onElection); its groups answer COORDINATOR_LOAD_IN_PROGRESS
// until it is done.
func (c *Coordinator) Load(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active && p >= 0 && int(p) < len(c.loaded) {
		c.startLoadLocked(p)
	}
}

// startLoadLocked reads partition p back in the background unless it is
// loaded or loading. Callers hold c.mu.
func (c *Coordinator) startLoadLocked(p int32) {
	if c.loaded[p] || c.loading[p] || c.closed {
		return
	}
	c.loading[p] = true
	c.wg.Add(1)
	go c.loadWithRetry(p)
}

// loadWithRetry loads one partition, retrying every second until it
// succeeds or the coordinator closes.
func (c *Coordinator) loadWithRetry(p int32) {
	defer c.wg.Done()
	for {
		if c.cfg.Owns != nil && !c.cfg.Owns(p) {
			c.mu.Lock()
			c.loading[p] = false // leadership moved before the load: the next owner loads
			c.mu.Unlock()
			return
		}
		err := c.loadPartition(p)
		if err == nil {
			return
		}
		c.cfg.Logger.Error("loading __consumer_offsets partition failed; retrying", "partition", p, "err", err)
		select {
		case <-c.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

func (c *Coordinator) loadPartition(p int32) error {
	c.mu.Lock()
	gen := c.gens[p]
	c.mu.Unlock()
	l := newLoader(&c.cfg, c.now())
	err := c.st.Replay(p, func(b []byte) error {
		for len(b) > 0 {
			n, err := l.applyBatch(b)
			if err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay partition %d: %w", p, err)
	}
	groups := l.result()
	es := make([]*entry, 0, len(groups))
	outs := make([]Output, 0, len(groups))
	c.mu.Lock()
	if c.gens[p] != gen || c.closed {
		// Unloaded while loading (leadership moved): what was read is stale.
		c.mu.Unlock()
		return nil
	}
	deleted := c.deletedWhileLoading[p]
	delete(c.deletedWhileLoading, p)
	for id, g := range groups {
		e := c.newEntry(g, p)
		c.groups[id] = e
		es = append(es, e)
		outs = append(outs, g.RemoveTopicOffsets(deleted)) // no I/O: only state
	}
	c.loaded[p] = true
	c.mu.Unlock()
	for i, e := range es {
		e.mu.Lock()
		out := outs[i]
		out.merge(e.g.Loaded(c.now()))
		c.apply(e, out)
		e.mu.Unlock()
	}
	if len(groups) > 0 {
		c.cfg.Logger.Info("loaded groups", "partition", p, "groups", len(groups))
	}
	return nil
}
