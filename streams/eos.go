package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/state"
)

// Exactly-once (processing.guarantee=exactly_once_v2, KIP-447), as Kafka Streams' EOS v2
// but with one transactional producer per instance instead of one per stream thread:
//
//   - The App's client is transactional (transactional.id "<application.id>-<process
//     id>"), reads with read_committed, and fetches committed offsets with require_stable.
//     Everything the tasks produce — sink, repartition and changelog records — goes into
//     the open transaction.
//   - A commit holds every stream thread (msgCommit with a hold): each flushes its tasks'
//     caches and changelogs and replies with its offsets, then waits. The App flushes the
//     producer, adds the consumed offsets to the transaction (AddOffsetsToTxn and
//     TxnOffsetCommit with the member's generation, which fences zombies), ends the
//     transaction, begins the next one and releases the threads.
//   - A commit that fails aborts the transaction; the threads then close all their tasks
//     dirty, and the poll loop re-creates them from the committed offsets (stores without
//     a clean checkpoint are wiped and restored from the committed changelog, since
//     state.Task runs with ExactlyOnce).
//   - Revoked tasks are committed with all others in one transaction and then closed
//     cleanly; lost tasks abort the transaction. Checkpoints are written only by a clean
//     close after the last commit.
//
// A stream thread restores a new task before it handles its next message, so a commit
// (and with it every other thread) waits while one thread restores; with one producer
// per instance the threads commit together, where Kafka Streams' threads commit apart.

// processIDFile names the file in "<state.dir>/<application.id>" that keeps the process
// id across restarts, as Kafka Streams' kafka-streams-process-metadata does; the App
// holds a lock on processIDFile+".lock" while it runs.
const processIDFile = "kafka-streams-process-metadata"

// acquireProcessID returns the stable process id of the application in stateDir,
// creating it on the first run, and locks it for this App: the transactional id is
// derived from it, and two running instances must not share one. An instance that finds
// the id locked by another (two instances on one state directory) runs with a fresh id
// of its own and says so. The returned release unlocks the id when the App stops.
func acquireProcessID(stateDir, appID string, logger *slog.Logger) (string, func(), error) {
	dir := filepath.Join(stateDir, appID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("streams: state directory: %w", err)
	}
	path := filepath.Join(dir, processIDFile)
	lock, err := state.LockFile(path + ".lock")
	if errors.Is(err, state.ErrTaskLocked) {
		id := uuid.NewString()
		logger.Warn("streams: another instance uses this state directory; running with a process id of its own", "dir", dir, "process_id", id)
		return id, func() {}, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("streams: lock process id: %w", err)
	}
	release := func() { _ = state.UnlockFile(lock) }
	var meta struct {
		Version   int    `json:"version"`
		ProcessID string `json:"processId"`
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if json.Unmarshal(data, &meta) != nil || uuid.Validate(meta.ProcessID) != nil {
			meta.ProcessID = "" // unreadable: replace it
		}
	case !errors.Is(err, os.ErrNotExist):
		release()
		return "", nil, fmt.Errorf("streams: read process id: %w", err)
	}
	if meta.ProcessID == "" {
		meta.Version, meta.ProcessID = 1, uuid.NewString()
		out, _ := json.Marshal(meta)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			release()
			return "", nil, fmt.Errorf("streams: write process id: %w", err)
		}
	}
	return meta.ProcessID, release, nil
}

// eosOpts returns the client options of exactly-once processing.
func (a *App) eosOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.TransactionalID(a.txnID),
		kgo.TransactionTimeout(a.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
	}
}

// heldWorker is a stream thread waiting on a hold.
type heldWorker struct {
	w     *worker
	after chan error
}

// holdWorkers sends every stream thread a msgCommit (commit) or msgHold and returns the
// threads that now wait on h, with the offsets they committed.
func (a *App) holdWorkers(ctx context.Context, h *hold, commit bool) ([]heldWorker, map[state.TopicPartition]int64, error) {
	kind := msgHold
	if commit {
		kind = msgCommit
	}
	var held []heldWorker
	offsets := map[state.TopicPartition]int64{}
	var errs []error
	for _, w := range a.workers {
		after := make(chan error, 1)
		r := w.request(wmsg{kind: kind, hold: h, after: after, ctx: ctx})
		if errors.Is(r.err, ErrClosed) {
			continue
		}
		held = append(held, heldWorker{w: w, after: after})
		if r.err != nil {
			errs = append(errs, r.err)
		}
		for tp, off := range r.offsets {
			offsets[tp] = off
		}
	}
	return held, offsets, errors.Join(errs...)
}

// release lets the held threads go on and waits until they closed what the hold names.
func (a *App) release(h *hold, held []heldWorker) error {
	close(h.ch)
	var errs []error
	for _, hw := range held {
		select {
		case err := <-hw.after:
			errs = append(errs, err)
		case <-hw.w.quit:
		}
	}
	a.mu.Lock()
	for _, w := range a.workers {
		for tk := range h.close {
			if tk.worker == w.id {
				w.count--
			}
		}
	}
	a.mu.Unlock()
	return errors.Join(errs...)
}

// commitEOS commits every task in one transaction and then closes the tasks of
// closing, cleanly if the transaction committed. A failed commit aborts the
// transaction and closes every task dirty; the poll loop re-creates them from the
// committed offsets. The caller holds commitMu.
func (a *App) commitEOS(ctx context.Context, closing []*task) error {
	h := newHold()
	for _, tk := range closing {
		h.close[tk] = true
	}
	// The threads flush without a deadline (a thread may be restoring a task first);
	// ending the transaction is bounded by the transaction timeout.
	held, offsets, err := a.holdWorkers(context.WithoutCancel(ctx), h, true)
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, a.cfg.TransactionTimeout)
		err = a.endTxn(tctx, offsets)
		cancel()
	}
	if err != nil {
		a.cfg.Logger.Warn("streams: aborting transaction", "err", err)
		if aerr := a.abortTxn(context.WithoutCancel(ctx)); aerr != nil {
			err = errors.Join(err, aerr)
		}
		h.abort = true
		a.beginAbort()
	}
	rerr := a.release(h, held)
	if h.abort {
		a.dropTasks()
	}
	if err != nil && a.recoverable(err) {
		a.cfg.Logger.Warn("streams: transaction aborted; tasks restart from the last commit", "err", err)
		return rerr
	}
	return errors.Join(err, rerr)
}

// recoverable reports whether a failed commit can be retried with tasks re-created from
// the committed state, as Kafka Streams recovers from a TaskMigratedException: the
// group moved on (a rebalance, an expired membership) or the transaction coordinator
// asked for an abort. Other failures (a record the broker refuses, a fenced producer)
// stop the application.
func (a *App) recoverable(err error) bool {
	if a.ctx.Err() != nil {
		return false
	}
	for _, e := range []error{kerr.IllegalGeneration, kerr.UnknownMemberID, kerr.RebalanceInProgress,
		kerr.FencedInstanceID, kerr.TransactionAbortable, kerr.ConcurrentTransactions,
		kerr.CoordinatorNotAvailable, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress,
		context.DeadlineExceeded, errInjected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errInjected is the failure tests inject into a commit (see App.failCommits).
var errInjected = errors.New("streams: injected commit failure")

// endTxn commits the open transaction with the consumed offsets and begins the next.
func (a *App) endTxn(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	if a.failCommits.Load() > 0 && a.failCommits.Add(-1) >= 0 {
		return errInjected
	}
	if err := a.sinks.seal().wait(ctx); err != nil {
		a.produceErr.CompareAndSwap(nil, &err)
		return err
	}
	if err := a.cl.Flush(ctx); err != nil {
		return fmt.Errorf("streams: flush producer: %w", err)
	}
	if p := a.produceErr.Load(); p != nil {
		return *p
	}
	changed := map[state.TopicPartition]int64{}
	for tp, off := range offsets {
		if prev, ok := a.txnCommitted[tp]; !ok || prev != off {
			changed[tp] = off
		}
	}
	produced := a.produced.Swap(0) > 0
	if len(changed) > 0 {
		if err := a.sendOffsetsToTxn(ctx, changed); err != nil {
			return err
		}
	}
	// kgo ends a transaction only when a record went into it; offsets alone are ended
	// with our own EndTxn.
	if err := a.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("streams: commit transaction: %w", err)
	}
	if !produced && a.offsetsInTxn {
		if err := a.rawEndTxn(ctx, true); err != nil {
			return err
		}
	}
	a.offsetsInTxn = false
	for tp, off := range changed {
		a.txnCommitted[tp] = off
	}
	if err := a.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("streams: begin transaction: %w", err)
	}
	if len(changed) > 0 && time.Since(a.lastPurge) >= a.cfg.RepartitionPurgeInterval {
		a.lastPurge = time.Now()
		a.purgeRepartition(ctx, a.txnCommitted)
	}
	return nil
}

// abortTxn aborts the open transaction (its records and offsets) and begins the next.
func (a *App) abortTxn(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.TransactionTimeout)
	defer cancel()
	var errs []error
	if err := a.cl.AbortBufferedRecords(ctx); err != nil {
		errs = append(errs, fmt.Errorf("streams: abort buffered records: %w", err))
	}
	produced := a.produced.Swap(0) > 0
	if err := a.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		errs = append(errs, fmt.Errorf("streams: abort transaction: %w", err))
	}
	if !produced && a.offsetsInTxn {
		if err := a.rawEndTxn(ctx, false); err != nil {
			errs = append(errs, err)
		}
	}
	a.offsetsInTxn = false
	a.sinks.init()
	a.produceErr.Store(nil)
	if err := a.cl.BeginTransaction(); err != nil {
		errs = append(errs, fmt.Errorf("streams: begin transaction: %w", err))
	}
	return errors.Join(errs...)
}

// retryTxn runs fn until it succeeds or fails with an error other than
// CONCURRENT_TRANSACTIONS or a retriable coordinator error.
func retryTxn(ctx context.Context, fn func() error) error {
	return retryOn(ctx, fn, kerr.ConcurrentTransactions, kerr.CoordinatorLoadInProgress,
		kerr.CoordinatorNotAvailable, kerr.NotCoordinator)
}

// retryOn runs fn, backing off from 10ms to 500ms, until it succeeds, fails
// with an error that is none of retriable, or ctx ends.
func retryOn(ctx context.Context, fn func() error, retriable ...error) error {
	backoff := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil || !slices.ContainsFunc(retriable, func(r error) bool { return errors.Is(err, r) }) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// sendOffsetsToTxn adds the group's offsets to the transaction (KIP-447: with the
// member id and generation, so that a member that left the group cannot commit).
func (a *App) sendOffsetsToTxn(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	id, epoch, err := a.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("streams: producer id: %w", err)
	}
	if !a.offsetsInTxn {
		err := retryTxn(ctx, func() error {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = a.txnID, id, epoch, a.cfg.ApplicationID
			resp, err := req.RequestWith(ctx, a.cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		if err != nil {
			return fmt.Errorf("streams: add offsets to transaction: %w", err)
		}
		a.offsetsInTxn = true
	}
	member, gen := a.cl.GroupMetadata()
	return retryTxn(ctx, func() error {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = a.txnID, a.cfg.ApplicationID, id, epoch
		req.MemberID, req.Generation = member, gen
		byTopic := map[string]int{}
		for tp, off := range offsets {
			i, ok := byTopic[tp.Topic]
			if !ok {
				t := kmsg.NewTxnOffsetCommitRequestTopic()
				t.Topic = tp.Topic
				req.Topics = append(req.Topics, t)
				i = len(req.Topics) - 1
				byTopic[tp.Topic] = i
			}
			p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, off, -1
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
		}
		resp, err := req.RequestWith(ctx, a.cl)
		if err != nil {
			return fmt.Errorf("streams: commit offsets in transaction: %w", err)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("streams: commit offsets in transaction: %s-%d: %w", t.Topic, p.Partition, err)
				}
			}
		}
		return nil
	})
}

// rawEndTxn ends a transaction that holds offsets but no records, which kgo does not end.
func (a *App) rawEndTxn(ctx context.Context, commit bool) error {
	id, epoch, err := a.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("streams: producer id: %w", err)
	}
	err = retryTxn(ctx, func() error {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = a.txnID, id, epoch, commit
		resp, err := req.RequestWith(ctx, a.cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	if err != nil {
		return fmt.Errorf("streams: end transaction: %w", err)
	}
	return nil
}

// dropTasks forgets every task after an abort (the threads closed them) and asks the
// poll loop to re-create the owned ones from the committed offsets.
func (a *App) dropTasks() {
	a.mu.Lock()
	a.aborting = false
	clear(a.tasks)
	clear(a.byTP)
	for _, w := range a.workers {
		w.count = 0
	}
	clear(a.txnCommitted)
	a.reinit = !a.stopping && len(a.owned) > 0
	a.mu.Unlock()
	if f := a.wake.Load(); f != nil {
		(*f)()
	}
}

// beginAbort marks the tasks made so far stale, while the threads are still held by
// the aborting commit: a thread that finds one's init message after the release does
// not open it. Until dropTasks, onAssigned makes no task. The caller holds commitMu.
func (a *App) beginAbort() {
	a.mu.Lock()
	a.aborting = true
	a.abortGen.Add(1)
	a.mu.Unlock()
}

// reinitTasks re-creates the tasks of the owned partitions after an abort, positioned
// at the committed offsets. The poll loop calls it while rebalances are blocked, after
// handing out the records it polled, so that no record polled before the rewind reaches
// the new tasks.
func (a *App) reinitTasks(ctx context.Context) error {
	a.mu.Lock()
	if !a.reinit || a.stopping {
		a.mu.Unlock()
		return nil
	}
	a.reinit = false
	// Only partitions without a task are rewound: another abort may have asked for a
	// re-creation while an earlier one was under way, and rewinding the partitions of
	// the tasks that one made would hand them their input a second time.
	owned := map[string][]int32{}
	var topics []string
	for tp := range a.owned {
		if a.byTP[tp] != nil {
			continue
		}
		if owned[tp.Topic] == nil {
			topics = append(topics, tp.Topic)
		}
		owned[tp.Topic] = append(owned[tp.Topic], tp.Partition)
	}
	a.mu.Unlock()
	if len(owned) == 0 {
		return nil
	}
	committed, err := a.stableOffsets(ctx)
	if err != nil {
		return fmt.Errorf("streams: fetch committed offsets: %w", err)
	}
	starts, err := a.adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("streams: list start offsets: %w", err)
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for topic, parts := range owned {
		set[topic] = map[int32]kgo.EpochOffset{}
		for _, p := range parts {
			off := int64(-1)
			if c, ok := committed.Lookup(topic, p); ok && c.At >= 0 {
				off = c.At
			} else if s, ok := starts.Lookup(topic, p); ok {
				off = s.Offset
			}
			if off >= 0 {
				set[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: off}
			}
		}
	}
	a.cl.SetOffsets(set)
	a.onAssigned(ctx, a.cl, owned)
	return nil
}

// stableOffsets fetches the group's committed offsets with require_stable
// (KIP-447), waiting out offsets still pending in a transaction that is
// being committed: without it the offsets of the last commit could read
// as the ones before it (its markers not written yet) while the restored
// stores already hold its results, and its input would count twice.
func (a *App) stableOffsets(ctx context.Context) (kadm.OffsetResponses, error) {
	var committed kadm.OffsetResponses
	err := retryOn(ctx, func() error {
		var err error
		if committed, err = a.adm.FetchOffsets(kadm.RequireStable(ctx), a.cfg.ApplicationID); err == nil {
			err = committed.Error()
		}
		return err
	}, kerr.UnstableOffsetCommit)
	return committed, err
}

// abortAll aborts the open transaction and closes every task dirty; the poll loop
// re-creates the owned ones. The caller holds commitMu.
func (a *App) abortAll(ctx context.Context) error {
	h := newHold()
	h.abort = true
	held, _, _ := a.holdWorkers(ctx, h, false)
	err := a.abortTxn(context.WithoutCancel(ctx))
	a.beginAbort()
	if rerr := a.release(h, held); rerr != nil {
		a.cfg.Logger.Warn("streams: closing tasks dirty", "err", rerr)
	}
	a.dropTasks()
	return err
}
