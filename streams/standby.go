package streams

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gregorhq/gregor/state"
)

// standbyInterval is how often standby tasks catch up with their changelogs.
const standbyInterval = time.Second

// standbys keeps an App's standby tasks (num.standby.replicas) warm: copies of other
// instances' task stores, brought up to the changelogs' ends every standbyInterval and
// checkpointed, so that an instance taking a task over restores only what was written
// since the last round. A round opens each standby task's state directory, restores
// it, and closes it cleanly (writing the checkpoint); between rounds the directory is
// free, and a task that becomes active here is dropped from the set before the active
// task opens it. One goroutine runs the rounds; update changes the set.
type standbys struct {
	a        *App
	mu       sync.Mutex // held by a round and by update
	set      []TaskID
	interval time.Duration

	roundMu     sync.Mutex // guards cancelRound
	cancelRound context.CancelFunc

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newStandbys(a *App) *standbys {
	return &standbys{a: a, interval: standbyInterval, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// held returns the standby tasks kept now.
func (s *standbys) held() []TaskID {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.set)
}

// update replaces the set of standby tasks. It interrupts a round in progress and
// returns once no standby task holds a state directory, so that tasks becoming active
// can open theirs.
func (s *standbys) update(ids []TaskID) {
	if s == nil {
		return
	}
	s.roundMu.Lock()
	if s.cancelRound != nil {
		s.cancelRound()
	}
	s.roundMu.Unlock()
	s.mu.Lock()
	s.set = slices.Clone(ids)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *standbys) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
		s.round()
	}
}

// round brings every standby task up to its changelogs' ends.
func (s *standbys) round() {
	ctx, cancel := context.WithCancel(s.a.ctx)
	defer cancel()
	s.roundMu.Lock()
	s.cancelRound = cancel
	s.roundMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.set {
		if ctx.Err() != nil {
			return
		}
		s.catchUp(ctx, id)
	}
}

// catchUp restores one standby task's persistent logged stores and checkpoints them.
func (s *standbys) catchUp(ctx context.Context, id TaskID) {
	a := s.a
	rd := a.rd // set by Start before the rounds begin
	if rd == nil {
		return // no client yet: the next round
	}
	if id.Subtopology < 0 || id.Subtopology >= len(a.topo.subs) || !warmable(a.topo.subs[id.Subtopology]) {
		return
	}
	tk := newTask(taskConfig{
		id: id, app: a.cfg.ApplicationID, topo: a.topo, stateDir: a.cfg.StateDir,
		writer: readOnlyWriter{}, reader: rd, out: a.commits, handler: a.cfg.DeserializationHandler,
		tsx: a.cfg.TimestampExtractor, cacheBytes: a.cfg.CacheMaxBytes, logger: a.cfg.Logger,
		now: func() int64 { return time.Now().UnixMilli() }, standby: true, eos: a.eos,
	})
	err := tk.init(ctx)
	if _, cerr := tk.close(context.WithoutCancel(ctx), err == nil); err == nil {
		err = cerr
	}
	switch {
	case err == nil, ctx.Err() != nil:
	case errors.Is(err, state.ErrTaskLocked):
		a.cfg.Logger.Debug("streams: standby task busy; next round", "task", id.String())
	default:
		a.cfg.Logger.Warn("streams: standby task could not catch up", "task", id.String(), "err", err)
	}
}

// warmable reports whether a sub-topology has a store a standby can keep: a logged,
// persistent one (an in-memory store would be lost when the round closes it).
func warmable(sub *subtopology) bool {
	for _, spec := range sub.stores {
		if spec.logging && !spec.inMemory {
			return true
		}
	}
	return false
}

// close stops the rounds.
func (s *standbys) close() {
	if s == nil {
		return
	}
	close(s.stop)
	s.update(nil)
	<-s.done
}

// readOnlyWriter is the changelog writer of standby tasks, which never process
// records and so never write.
type readOnlyWriter struct{}

func (readOnlyWriter) Append(context.Context, state.TopicPartition, state.ChangelogRecord) error {
	return errors.New("streams: a standby task does not write to changelogs")
}

func (readOnlyWriter) Flush(context.Context) (map[state.TopicPartition]int64, error) { return nil, nil }
