package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/gregorhq/gregor/state"
)

// Exactly-once (processing.guarantee=exactly_once_v2, KIP-447), as Kafka Streams' EOS v2
// but with one transactional producer per instance instead of one per stream thread:
//
//   - The App's client is transactional (transactional.id "<application.id>-<process
//     id>"), reads with read_committed, and fetches committed offsets with require_stable.
//     Everything the tasks produce — sink, repartition and changelog records — goes into
//     the open transaction.
//   - A commit holds every stream thread (a commitRequest with a hold): each flushes its
//     tasks' caches and changelogs and replies with its offsets, then waits. The
//     committer flushes the producer, adds the consumed offsets to the transaction
//     (AddOffsetsToTxn and TxnOffsetCommit with the member's generation, which fences
//     zombies), ends the transaction, begins the next one and releases the threads.
//     The transaction requests stay at the versions before KIP-890 part 2 (see
//     eosMaxVersions).
//   - A commit that fails aborts the transaction; the threads then close all their tasks
//     dirty, and the poll loop re-creates them from the committed offsets (stores without
//     a clean checkpoint are wiped and restored from the committed changelog, since
//     state.Task runs with ExactlyOnce). When the coordinator itself aborted the
//     transaction (it outlived the transaction timeout) the producer's epoch is gone
//     (INVALID_PRODUCER_EPOCH, PRODUCER_FENCED): the abort then replaces the producer
//     by a new client with the same transactional id (renewProducer), as Kafka
//     Streams resets its producer.
//   - Revoked tasks are committed with all others in one transaction and then closed
//     cleanly; lost tasks abort the transaction. Checkpoints are written only by a clean
//     close after the last commit.
//
// A stream thread restores a new task before it handles its next request, so a commit
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
func (c *committer) eosOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.TransactionalID(c.txnID),
		kgo.TransactionTimeout(c.a.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MaxVersions(eosMaxVersions()),
	}
}

// maxTxnVersion is the highest EndTxn and TxnOffsetCommit version the App sends: the
// last before KIP-890 part 2 (transaction.version 2).
const maxTxnVersion = 4

// eosMaxVersions returns kgo's default request versions with EndTxn and
// TxnOffsetCommit capped at maxTxnVersion, deliberately:
//
//   - The App builds its transaction's offset requests itself (AddOffsetsToTxn,
//     TxnOffsetCommit, and EndTxn for a transaction of offsets only, which kgo does
//     not end) while kgo's producer owns the producer id and epoch. From EndTxn v5
//     (KIP-890 part 2) every EndTxn bumps the producer epoch and returns the new
//     one, which only kgo's own EndTransaction takes up: after an EndTxn v5 sent
//     here, kgo would produce with a fenced epoch.
//   - TxnOffsetCommit v5 is part 2's too (it adds the group to the transaction
//     implicitly, which Kafka's producers rely on only together with EndTxn v5),
//     and v6 names topics by id instead of by name (KIP-1319).
//   - kgo opts into part 2 only when the cap allows EndTxn v5, so with this cap the
//     whole transaction, kgo's produces and EndTxn included, speaks the protocol
//     of transaction.version 1, as Kafka's Java producer does on a cluster below
//     transaction.version 2. Every Kafka broker since 2.5 (KIP-447) serves it,
//     those of Kafka 4 included.
func eosMaxVersions() *kversion.Versions {
	v := kversion.Stable() // kgo's default
	v.SetMaxKeyVersion(int16(kmsg.EndTxn), maxTxnVersion)
	v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), maxTxnVersion)
	return v
}

// checkEOSVersions fails with ErrConfig when Config.ClientOptions replaced the cap
// of eosMaxVersions by versions that allow EndTxn or TxnOffsetCommit above
// maxTxnVersion.
func checkEOSVersions(cl *kgo.Client) error {
	vs, _ := cl.OptValue(kgo.MaxVersions).(*kversion.Versions)
	for _, k := range []kmsg.Key{kmsg.EndTxn, kmsg.TxnOffsetCommit} {
		v, ok := int16(math.MaxInt16), true // a nil cap is no cap
		if vs != nil {
			v, ok = vs.LookupMaxKeyVersion(int16(k))
		}
		if ok && v > maxTxnVersion {
			return fmt.Errorf("%w: exactly_once_v2 needs %s at version %d or below; kgo.MaxVersions in ClientOptions allows %d",
				ErrConfig, kmsg.NameForKey(int16(k)), maxTxnVersion, v)
		}
	}
	return nil
}

// commitEOS commits every task in one transaction and then closes the tasks of
// closing, cleanly if the transaction committed. A failed commit aborts the
// transaction and closes every task dirty; the poll loop re-creates them from the
// committed offsets. The caller holds c.mu.
func (c *committer) commitEOS(ctx context.Context, closing []*task) error {
	h := newHold()
	for _, tk := range closing {
		h.close[tk] = true
	}
	// The threads flush without a deadline (a thread may be restoring a task first);
	// ending the transaction is bounded by the transaction timeout.
	held, offsets, err := c.tm.holdWorkers(context.WithoutCancel(ctx), h, true)
	if err == nil {
		tctx, cancel := context.WithTimeout(ctx, c.a.cfg.TransactionTimeout)
		err = c.endTxn(tctx, offsets)
		cancel()
	}
	if err != nil {
		c.a.cfg.Logger.Warn("streams: aborting transaction", "err", err)
		if aerr := c.abortTxn(context.WithoutCancel(ctx)); aerr != nil {
			err = errors.Join(err, aerr)
		}
		h.abort = true
		c.tm.beginAbort()
	}
	rerr := c.tm.release(h, held)
	if h.abort {
		c.dropTasks()
	}
	if err == nil {
		c.transientSince = time.Time{}
	}
	if err != nil && c.recoverable(err) {
		c.a.cfg.Logger.Warn("streams: transaction aborted; tasks restart from the last commit", "err", err)
		return rerr
	}
	return errors.Join(err, rerr)
}

// transientTimeout bounds how long commits may keep failing on transient errors
// before the application stops: Kafka Streams' task.timeout.ms default.
const transientTimeout = 5 * time.Minute

// transient reports whether a failed commit's error is one a later attempt may
// not meet: a broker's retriable error code, or an error with no broker code at
// all, from the client's side of a produce (a partition leader that left the
// metadata, which franz-go reports as "unknown broker" and which leaves a
// transactional producer unusable; a dial; a record timeout). A broker's
// non-retriable code (a record too large, say) is not.
func transient(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	return true
}

// recoverTransient reports whether a commit that failed on a transient error is
// retried (the transaction aborted, the producer replaced if it cannot abort, the
// tasks re-created), as Kafka Streams retries a task that timed out: for up to
// transientTimeout after the first such failure since the last successful commit.
func (c *committer) recoverTransient(err error) bool {
	if !transient(err) {
		return false
	}
	if c.transientSince.IsZero() {
		c.transientSince = time.Now()
	}
	return time.Since(c.transientSince) < transientTimeout
}

// recoverable reports whether a failed commit can be retried with tasks re-created from
// the committed state, as Kafka Streams recovers from a TaskMigratedException: the
// group moved on (a rebalance, an expired membership), the transaction coordinator
// asked for an abort, or it aborted the transaction itself and bumped the producer's
// epoch (a transaction that outlived the transaction timeout), which the broker
// reports as INVALID_PRODUCER_EPOCH or PRODUCER_FENCED (see fenced); so can a
// transient failure for a while (recoverTransient: a partition leader gone from the
// client's metadata during a broker's failover, say). Other failures (a record the
// broker refuses) stop the application.
func (c *committer) recoverable(err error) bool {
	if c.a.ctx.Err() != nil {
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
	return fenced(err) || c.recoverTransient(err)
}

// fenced reports whether err says the producer's epoch is gone: INVALID_PRODUCER_EPOCH
// on a produce, PRODUCER_FENCED from the coordinator. Kafka Streams treats both as a
// TaskMigratedException under exactly_once_v2 and resets its producer; so does the
// App (abortTxn). The transactional id is the instance's own (acquireProcessID), so
// a second live producer with it is no concern here.
//
// INVALID_TXN_STATE counts too: a broker that verifies transactions (KIP-890, as
// franz-go's kfake does) answers the old epoch's produce with it once the coordinator
// has aborted the transaction. Aborting and re-creating the tasks is safe whatever the
// cause: the transaction's work is discarded and redone from the last commit.
func fenced(err error) bool {
	return errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.InvalidTxnState)
}

// taskFailed takes a stream thread's processing error that a fenced producer caused
// (a record or changelog append refused with INVALID_PRODUCER_EPOCH or
// PRODUCER_FENCED) under exactly-once: the next commit fails with it, aborts the
// transaction and re-creates the tasks, as it does for a failed produce. It reports
// whether it took err; the thread stops the application with any other.
func (c *committer) taskFailed(err error) bool {
	if !c.eos || !fenced(err) || c.a.ctx.Err() != nil {
		return false
	}
	if c.produceErr.CompareAndSwap(nil, &err) {
		c.a.cfg.Logger.Warn("streams: producer fenced; the next commit aborts the transaction", "err", err)
	}
	return true
}

// errInjected is the failure tests inject into a commit (see committer.failCommits).
var errInjected = errors.New("streams: injected commit failure")

// endTxn commits the open transaction with the consumed offsets and begins the next.
func (c *committer) endTxn(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	if c.failCommits.Load() > 0 && c.failCommits.Add(-1) >= 0 {
		return errInjected
	}
	if acked, err := c.sinks.flush(ctx); err != nil {
		if acked { // a produce failure; a wait cut short by ctx only fails this attempt
			c.produceErr.CompareAndSwap(nil, &err)
		}
		return err
	}
	if err := c.producer().Flush(ctx); err != nil {
		return fmt.Errorf("streams: flush producer: %w", err)
	}
	if p := c.produceErr.Load(); p != nil {
		return *p
	}
	changed := map[state.TopicPartition]int64{}
	for tp, off := range offsets {
		if prev, ok := c.txnCommitted[tp]; !ok || prev != off {
			changed[tp] = off
		}
	}
	produced := c.produced.Swap(0) > 0
	if len(changed) > 0 {
		if err := c.sendOffsetsToTxn(ctx, changed); err != nil {
			return err
		}
	}
	// kgo ends a transaction only when a record went into it; offsets alone are ended
	// with our own EndTxn.
	if err := c.producer().EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("streams: commit transaction: %w", err)
	}
	if !produced && c.offsetsInTxn {
		if err := c.rawEndTxn(ctx, true); err != nil {
			return err
		}
	}
	c.offsetsInTxn = false
	for tp, off := range changed {
		c.txnCommitted[tp] = off
	}
	if err := c.producer().BeginTransaction(); err != nil {
		return fmt.Errorf("streams: begin transaction: %w", err)
	}
	if len(changed) > 0 && time.Since(c.lastPurge) >= c.a.cfg.RepartitionPurgeInterval {
		c.lastPurge = time.Now()
		c.a.purgeRepartition(ctx, c.txnCommitted)
	}
	return nil
}

// abortTxn aborts the open transaction (its records and offsets) and begins the next.
// A producer that cannot abort (the coordinator aborted the transaction when it timed
// out and bumped the epoch, or fenced the producer: kgo then refuses it for good) is
// replaced by a new one, as Kafka Streams resets its producer after a
// TaskMigratedException: the new producer's InitProducerId aborts whatever the old
// epoch left open.
func (c *committer) abortTxn(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.a.cfg.TransactionTimeout)
	defer cancel()
	var errs []error
	p := c.producer()
	if err := p.AbortBufferedRecords(ctx); err != nil {
		errs = append(errs, fmt.Errorf("streams: abort buffered records: %w", err))
	}
	produced := c.produced.Swap(0) > 0
	if err := p.EndTransaction(ctx, kgo.TryAbort); err != nil {
		errs = append(errs, fmt.Errorf("streams: abort transaction: %w", err))
	}
	if !produced && c.offsetsInTxn {
		if err := c.rawEndTxn(ctx, false); err != nil {
			errs = append(errs, err)
		}
	}
	c.offsetsInTxn = false
	c.sinks.init()
	c.produceErr.Store(nil)
	if len(errs) == 0 {
		if err := p.BeginTransaction(); err != nil {
			errs = append(errs, fmt.Errorf("streams: begin transaction: %w", err))
		}
	}
	if len(errs) == 0 || ctx.Err() != nil {
		return errors.Join(errs...)
	}
	c.a.cfg.Logger.Warn("streams: the producer cannot abort; replacing it", "err", errors.Join(errs...))
	return c.renewProducer(ctx)
}

// renewProducer replaces the transactional producer by a new client with the same
// transactional id, waits for its producer id (InitProducerId bumps the epoch and
// aborts the old epoch's transaction) and begins a transaction. The App's group
// client goes on consuming; from now on it produces nothing. The caller holds c.mu
// and the stream threads are held.
func (c *committer) renewProducer(ctx context.Context) error {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.a.cfg.Brokers...)}, c.eosOpts()...)
	cl, err := kgo.NewClient(append(opts, c.a.cfg.ClientOptions...)...)
	if err != nil {
		return fmt.Errorf("streams: new producer: %w", err)
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return fmt.Errorf("streams: new producer: init producer id: %w", err)
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return fmt.Errorf("streams: new producer: begin transaction: %w", err)
	}
	if old := c.prod.Swap(cl); old != nil {
		old.Close()
	}
	return nil
}

// producer returns the client that produces: the App's own, or the one that replaced
// its producer (renewProducer).
func (c *committer) producer() *kgo.Client {
	if p := c.prod.Load(); p != nil {
		return p
	}
	return c.a.cl
}

// closeProducer closes the producer that renewProducer made, if any.
func (c *committer) closeProducer() {
	if p := c.prod.Swap(nil); p != nil {
		p.Close()
	}
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
func (c *committer) sendOffsetsToTxn(ctx context.Context, offsets map[state.TopicPartition]int64) error {
	id, epoch, err := c.producer().ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("streams: producer id: %w", err)
	}
	if !c.offsetsInTxn {
		err := retryTxn(ctx, func() error {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = c.txnID, id, epoch, c.a.cfg.ApplicationID
			resp, err := req.RequestWith(ctx, c.producer())
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		if err != nil {
			return fmt.Errorf("streams: add offsets to transaction: %w", err)
		}
		c.offsetsInTxn = true
	}
	member, gen := c.a.cl.GroupMetadata()
	return retryTxn(ctx, func() error {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = c.txnID, c.a.cfg.ApplicationID, id, epoch
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
		resp, err := req.RequestWith(ctx, c.producer())
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
func (c *committer) rawEndTxn(ctx context.Context, commit bool) error {
	id, epoch, err := c.producer().ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("streams: producer id: %w", err)
	}
	err = retryTxn(ctx, func() error {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = c.txnID, id, epoch, commit
		resp, err := req.RequestWith(ctx, c.producer())
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

// abortAll aborts the open transaction and closes every task dirty; the poll loop
// re-creates the owned ones. The caller holds c.mu.
func (c *committer) abortAll(ctx context.Context) error {
	h := newHold()
	h.abort = true
	held, _, _ := c.tm.holdWorkers(ctx, h, false)
	err := c.abortTxn(context.WithoutCancel(ctx))
	c.tm.beginAbort()
	if rerr := c.tm.release(h, held); rerr != nil {
		c.a.cfg.Logger.Warn("streams: closing tasks dirty", "err", rerr)
	}
	c.dropTasks()
	return err
}

// dropTasks forgets the offsets committed in transactions and has the task manager
// drop every task after an abort (the threads closed them) and re-create the owned
// ones from the committed offsets. The caller holds c.mu.
func (c *committer) dropTasks() {
	clear(c.txnCommitted)
	c.tm.dropTasks()
}
