package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// Defaults of TaskConfig.
const (
	// DefaultCacheMaxBytes is Kafka Streams' default statestore.cache.max.bytes (10 MiB).
	DefaultCacheMaxBytes = 10 << 20
	// DefaultCheckpointDelta is how far (in offsets) a store's changelog must move before a
	// commit rewrites the checkpoint, Kafka Streams' 10,000.
	DefaultCheckpointDelta = 10_000
	// LockFileName is the name of the lock file inside a task directory.
	LockFileName = ".lock"
)

// TaskConfig configures a Task.
type TaskConfig struct {
	// ApplicationID names the streams application; it prefixes changelog topics.
	ApplicationID string
	// TaskID names the task, such as "0_3"; it names the task directory.
	TaskID string
	// Partition is the changelog partition of the task's stores (the input partition).
	Partition int32
	// StateDir is the state directory; the task directory is StateDir/ApplicationID/TaskID.
	StateDir string
	// Writer sends changes to changelogs. Nil disables changelogging: stores are then
	// neither logged nor restored.
	Writer ChangelogWriter
	// Reader reads changelogs for Restore. Required when Writer is set.
	Reader ChangelogReader
	// ExactlyOnce selects exactly-once rules: the checkpoint file is deleted once loaded
	// and rewritten only on clean close, so stores of a crashed task are wiped and
	// restored in full.
	ExactlyOnce bool
	// CacheMaxBytes bounds the record cache; 0 means DefaultCacheMaxBytes and a negative
	// value disables caching (every write is appended at once).
	CacheMaxBytes int64
	// CheckpointDelta is the offset distance after which a commit rewrites the checkpoint
	// (at-least-once only); 0 means DefaultCheckpointDelta.
	CheckpointDelta int64
	// RestoreListener, if set, is told about restoration progress.
	RestoreListener RestoreListener
	// Logger receives warnings (wiped stores, bad checkpoints); nil means slog.Default().
	Logger *slog.Logger
}

func (c *TaskConfig) validate() error {
	switch {
	case c.ApplicationID == "" || c.TaskID == "" || c.StateDir == "":
		return fmt.Errorf("%w: ApplicationID, TaskID and StateDir are required", ErrBadConfig)
	case c.Partition < 0:
		return fmt.Errorf("%w: negative partition %d", ErrBadConfig, c.Partition)
	case c.Writer != nil && c.Reader == nil:
		return fmt.Errorf("%w: a Reader is required to restore logged stores", ErrBadConfig)
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if c.CheckpointDelta <= 0 {
		c.CheckpointDelta = DefaultCheckpointDelta
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Task owns the stores of one stream task: it locks the task directory, loads and writes
// the checkpoint, restores the stores from their changelogs and logs their writes.
//
// A Task is driven by one goroutine (the stream thread): register stores, Restore, then
// write, Commit and finally Close. Reads of the returned stores may come from other
// goroutines once Restore has returned.
type Task struct {
	cfg      TaskConfig
	dir      string
	lock     *os.File
	cache    *recordCache
	loaded   map[TopicPartition]int64 // checkpoint as loaded
	badCkpt  bool
	mu       sync.Mutex // guards stores and closed
	stores   []*storeState
	byName   map[string]*storeState
	restored bool
	closed   bool
}

// OpenTask creates and locks the task directory and loads its checkpoint. Under
// exactly-once the checkpoint file is deleted once loaded. It fails with ErrTaskLocked when
// another instance owns the directory.
func OpenTask(cfg TaskConfig) (*Task, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.StateDir, cfg.ApplicationID, cfg.TaskID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: task directory: %w", err)
	}
	lock, err := LockFile(filepath.Join(dir, LockFileName))
	if err != nil {
		return nil, err
	}
	t := &Task{cfg: cfg, dir: dir, lock: lock, cache: newRecordCache(cfg.CacheMaxBytes), byName: map[string]*storeState{}}
	ckpt := t.checkpointPath()
	t.loaded, err = ReadCheckpoint(ckpt)
	if errors.Is(err, ErrBadCheckpoint) {
		cfg.Logger.Warn("state: ignoring malformed checkpoint; persistent stores will be wiped and restored", "task", cfg.TaskID, "err", err)
		t.loaded, t.badCkpt = map[TopicPartition]int64{}, true
		err = nil
	}
	if err == nil && (cfg.ExactlyOnce || t.badCkpt) {
		if rerr := os.Remove(ckpt); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("state: delete checkpoint: %w", rerr)
		} else if rerr == nil {
			err = fsutil.SyncDir(dir)
		}
	}
	if err != nil {
		_ = UnlockFile(lock)
		return nil, err
	}
	return t, nil
}

// Dir returns the task directory.
func (t *Task) Dir() string { return t.dir }

// StoreDir returns the directory of the store named name: <task dir>/leveldb/<name>.
func (t *Task) StoreDir(name string) string { return filepath.Join(t.dir, "leveldb", name) }

func (t *Task) checkpointPath() string { return filepath.Join(t.dir, CheckpointFileName) }

// Changelog returns the changelog partition of the store named name.
func (t *Task) Changelog(name string) TopicPartition {
	return TopicPartition{Topic: ChangelogTopic(t.cfg.ApplicationID, name), Partition: t.cfg.Partition}
}

// KeyValueStore opens the key-value store named name with factory and registers it with
// the task. The returned store logs every write to its changelog.
func (t *Task) KeyValueStore(name string, factory KeyValueFactory) (KeyValueStore, error) {
	st, err := t.register(name, kindKeyValue, func(dir string) (Store, error) { return factory(name, dir) })
	if err != nil {
		return nil, err
	}
	return &loggedKV{st: st}, nil
}

// WindowStore opens the window store named name, its segments made by segs.
func (t *Task) WindowStore(name string, segs SegmentsFactory, cfg WindowConfig) (WindowStore, error) {
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	st, err := t.register(name, kindWindow, func(dir string) (Store, error) {
		s, err := segs(name, dir)
		if err != nil {
			return nil, err
		}
		return NewWindowStore(name, s, cfg)
	})
	if err != nil {
		return nil, err
	}
	return &loggedWindow{st: st}, nil
}

// SessionStore opens the session store named name, its segments made by segs.
func (t *Task) SessionStore(name string, segs SegmentsFactory, cfg SessionConfig) (SessionStore, error) {
	st, err := t.register(name, kindSession, func(dir string) (Store, error) {
		s, err := segs(name, dir)
		if err != nil {
			return nil, err
		}
		return NewSessionStore(name, s, cfg)
	})
	if err != nil {
		return nil, err
	}
	return &loggedSession{st: st}, nil
}

func (t *Task) register(name string, kind storeKind, open func(dir string) (Store, error)) (*storeState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("%w: task %s", ErrClosed, t.cfg.TaskID)
	}
	if _, dup := t.byName[name]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateStore, name)
	}
	st := &storeState{t: t, name: name, kind: kind, tp: t.Changelog(name), dir: t.StoreDir(name), open: open, offset: -1, checkpointed: -1}
	if err := st.openInner(); err != nil {
		return nil, err
	}
	if st.inner.Persistent() && t.cfg.Writer != nil {
		off, ok := t.loaded[st.tp]
		switch {
		case ok && !st.wiped:
			st.offset, st.checkpointed = off, off
		case !ok && !st.empty:
			// No checkpoint: a crash (or, under exactly-once, any unclean stop) left the
			// store at an unknown point. Rebuild it from the changelog.
			if err := st.wipe("no checkpoint for an existing store"); err != nil {
				return nil, err
			}
		}
	}
	t.stores = append(t.stores, st)
	t.byName[name] = st
	return st, nil
}

// Commit sends the cached changes to the changelogs, waits for them to be acknowledged,
// flushes the stores and, under at-least-once, rewrites the checkpoint when some store's
// changelog moved at least CheckpointDelta offsets since it was last written. Under
// exactly-once the caller commits its transaction after Commit returns.
func (t *Task) Commit(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("%w: task %s", ErrClosed, t.cfg.TaskID)
	}
	if err := t.flushLocked(ctx); err != nil {
		return err
	}
	if t.cfg.ExactlyOnce {
		return nil
	}
	for _, st := range t.stores {
		if st.inner.Persistent() && st.offset >= 0 && st.offset-st.checkpointed >= t.cfg.CheckpointDelta {
			return t.checkpointLocked()
		}
	}
	return nil
}

func (t *Task) flushLocked(ctx context.Context) error {
	if t.cfg.Writer != nil {
		if err := t.cache.flush(ctx); err != nil {
			return err
		}
		offsets, err := t.cfg.Writer.Flush(ctx)
		if err != nil {
			return fmt.Errorf("state: task %s: flush changelogs: %w", t.cfg.TaskID, err)
		}
		for _, st := range t.stores {
			if off, ok := offsets[st.tp]; ok && off+1 > st.offset {
				st.offset = off + 1
			}
		}
	}
	var errs []error
	for _, st := range t.stores {
		if err := st.inner.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("state: flush store %q: %w", st.name, err))
		}
	}
	return errors.Join(errs...)
}

// checkpointLocked writes the offsets of all persistent, logged stores.
func (t *Task) checkpointLocked() error {
	offsets := map[TopicPartition]int64{}
	for _, st := range t.stores {
		if st.inner.Persistent() && st.offset >= 0 && t.cfg.Writer != nil {
			offsets[st.tp] = st.offset
		}
	}
	if err := WriteCheckpoint(t.checkpointPath(), offsets); err != nil {
		return err
	}
	for _, st := range t.stores {
		if _, ok := offsets[st.tp]; ok {
			st.checkpointed = st.offset
		}
	}
	return nil
}

// Close closes the task's stores and unlocks the task directory. A clean close first
// commits (see Commit) and writes the checkpoint; under exactly-once, call it only after
// the last transaction committed. An unclean close (clean false, after an error) writes
// nothing, so that under exactly-once the stores are wiped and restored on the next start.
func (t *Task) Close(ctx context.Context, clean bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	var errs []error
	if clean {
		if err := t.flushLocked(ctx); err != nil {
			errs = append(errs, err)
		} else if t.cfg.Writer != nil {
			errs = append(errs, t.checkpointLocked())
		}
	}
	t.closed = true
	for _, st := range t.stores {
		t.cache.drop(st)
		if err := st.inner.Close(); err != nil {
			errs = append(errs, fmt.Errorf("state: close store %q: %w", st.name, err))
		}
	}
	if err := UnlockFile(t.lock); err != nil {
		errs = append(errs, fmt.Errorf("state: unlock task directory: %w", err))
	}
	return errors.Join(errs...)
}

// Offsets returns, per store changelog, the offset the store's content reaches: restoring
// would continue from there. Stores with no known offset are left out.
func (t *Task) Offsets() map[TopicPartition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[TopicPartition]int64{}
	for _, st := range t.stores {
		if st.offset >= 0 {
			out[st.tp] = st.offset
		}
	}
	return out
}
