package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
)

type storeKind int

const (
	kindKeyValue storeKind = iota
	kindWindow
	kindSession
)

// storeState is a Task's record of one registered store.
type storeState struct {
	t            *Task
	name         string
	kind         storeKind
	tp           TopicPartition
	dir          string
	open         func(dir string) (Store, error)
	inner        Store
	empty        bool  // the store held no data when opened
	wiped        bool  // the store was wiped since the task loaded the checkpoint
	offset       int64 // changelog offset the store's content reaches; -1 unknown
	checkpointed int64 // offset last written to the checkpoint file; -1 none
}

// openInner opens the backend store; a corrupt one is wiped and opened anew.
func (st *storeState) openInner() error {
	inner, err := st.open(st.dir)
	if errors.Is(err, ErrCorrupt) {
		st.t.cfg.Logger.Warn("state: store corrupt; wiping it to rebuild from the changelog", "store", st.name, "dir", st.dir, "err", err)
		if rerr := os.RemoveAll(st.dir); rerr != nil {
			return fmt.Errorf("state: wipe corrupt store %q: %w (after %w)", st.name, rerr, err)
		}
		st.offset, st.checkpointed, st.wiped = -1, -1, true
		inner, err = st.open(st.dir)
	}
	if err != nil {
		return fmt.Errorf("state: open store %q: %w", st.name, err)
	}
	st.inner = inner
	switch s := inner.(type) {
	case *windowStore:
		s.log = st.log
	case *sessionStore:
		s.log = st.log
	}
	if st.empty, err = isEmpty(inner); err != nil {
		_ = inner.Close()
		return fmt.Errorf("state: open store %q: %w", st.name, err)
	}
	return nil
}

func isEmpty(s Store) (bool, error) {
	var it interface {
		Next() bool
		Err() error
		Close() error
	}
	var err error
	switch s := s.(type) {
	case KeyValueStore:
		it, err = s.All()
	case WindowStore:
		it, err = s.All()
	case SessionStore:
		it, err = s.All()
	default:
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer it.Close()
	return !it.Next(), it.Err()
}

// wipe deletes the store's data and reopens it empty.
func (st *storeState) wipe(reason string) error {
	st.t.cfg.Logger.Warn("state: wiping store to restore it from the changelog", "store", st.name, "reason", reason)
	st.t.cache.drop(st)
	if err := st.inner.Close(); err != nil {
		return fmt.Errorf("state: wipe store %q: %w", st.name, err)
	}
	if err := os.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("state: wipe store %q: %w", st.name, err)
	}
	st.offset, st.checkpointed, st.wiped = -1, -1, true
	return st.openInner()
}

// log records a change for the changelog; key and value are owned by the callee.
func (st *storeState) log(key, value []byte) error {
	if st.t.cfg.Writer == nil {
		return nil
	}
	return st.t.cache.put(context.Background(), st, key, value)
}

func (st *storeState) send(ctx context.Context, key, value []byte) error {
	if err := st.t.cfg.Writer.Append(ctx, st.tp, ChangelogRecord{Key: key, Value: value}); err != nil {
		return changelogError(st.name, st.tp, "append", err)
	}
	return nil
}

// loggedKV is the key-value store a Task hands out: writes go to the backend and to the
// changelog (through the record cache).
type loggedKV struct{ st *storeState }

func (l *loggedKV) kv() KeyValueStore { return l.st.inner.(KeyValueStore) }

func (l *loggedKV) Name() string     { return l.st.name }
func (l *loggedKV) Persistent() bool { return l.st.inner.Persistent() }
func (l *loggedKV) Flush() error     { return l.kv().Flush() }

// Close is a no-op: the Task closes its stores.
func (l *loggedKV) Close() error                          { return nil }
func (l *loggedKV) Get(key []byte) ([]byte, error)        { return l.kv().Get(key) }
func (l *loggedKV) ApproximateNumEntries() (int64, error) { return l.kv().ApproximateNumEntries() }
func (l *loggedKV) All() (KeyValueIterator, error)        { return l.kv().All() }
func (l *loggedKV) ReverseAll() (KeyValueIterator, error) { return l.kv().ReverseAll() }
func (l *loggedKV) Range(from, to []byte) (KeyValueIterator, error) {
	return l.kv().Range(from, to)
}
func (l *loggedKV) ReverseRange(from, to []byte) (KeyValueIterator, error) {
	return l.kv().ReverseRange(from, to)
}
func (l *loggedKV) PrefixScan(prefix []byte) (KeyValueIterator, error) {
	return l.kv().PrefixScan(prefix)
}

func (l *loggedKV) Put(key, value []byte) error {
	if err := l.kv().Put(key, value); err != nil {
		return err
	}
	return l.st.log(bytes.Clone(key), bytes.Clone(value))
}

func (l *loggedKV) PutIfAbsent(key, value []byte) ([]byte, error) {
	old, err := l.kv().PutIfAbsent(key, value)
	if err != nil || old != nil {
		return old, err
	}
	return nil, l.st.log(bytes.Clone(key), bytes.Clone(value))
}

func (l *loggedKV) Delete(key []byte) error { return l.Put(key, nil) }

func (l *loggedKV) PutAll(entries []KeyValue) error {
	if err := l.kv().PutAll(entries); err != nil {
		return err
	}
	for _, e := range entries {
		if err := l.st.log(bytes.Clone(e.Key), bytes.Clone(e.Value)); err != nil {
			return err
		}
	}
	return nil
}

// loggedWindow is the window store a Task hands out; the backend logs its own writes.
type loggedWindow struct{ st *storeState }

func (l *loggedWindow) ws() WindowStore              { return l.st.inner.(WindowStore) }
func (l *loggedWindow) Name() string                 { return l.st.name }
func (l *loggedWindow) Persistent() bool             { return l.st.inner.Persistent() }
func (l *loggedWindow) Flush() error                 { return l.ws().Flush() }
func (l *loggedWindow) Close() error                 { return nil }
func (l *loggedWindow) All() (WindowIterator, error) { return l.ws().All() }
func (l *loggedWindow) Put(key, value []byte, windowStart int64) error {
	return l.ws().Put(key, bytes.Clone(value), windowStart)
}
func (l *loggedWindow) Fetch(key []byte, windowStart int64) ([]byte, error) {
	return l.ws().Fetch(key, windowStart)
}
func (l *loggedWindow) FetchRange(key []byte, from, to int64) (WindowIterator, error) {
	return l.ws().FetchRange(key, from, to)
}
func (l *loggedWindow) BackwardFetchRange(key []byte, from, to int64) (WindowIterator, error) {
	return l.ws().BackwardFetchRange(key, from, to)
}
func (l *loggedWindow) FetchAll(from, to int64) (WindowIterator, error) {
	return l.ws().FetchAll(from, to)
}

// loggedSession is the session store a Task hands out; the backend logs its own writes.
type loggedSession struct{ st *storeState }

func (l *loggedSession) ss() SessionStore             { return l.st.inner.(SessionStore) }
func (l *loggedSession) Name() string                 { return l.st.name }
func (l *loggedSession) Persistent() bool             { return l.st.inner.Persistent() }
func (l *loggedSession) Flush() error                 { return l.ss().Flush() }
func (l *loggedSession) Close() error                 { return nil }
func (l *loggedSession) All() (WindowIterator, error) { return l.ss().All() }
func (l *loggedSession) Put(key []byte, w Window, value []byte) error {
	return l.ss().Put(key, w, bytes.Clone(value))
}
func (l *loggedSession) Remove(key []byte, w Window) error { return l.ss().Remove(key, w) }
func (l *loggedSession) FetchSession(key []byte, w Window) ([]byte, error) {
	return l.ss().FetchSession(key, w)
}
func (l *loggedSession) FindSessions(key []byte, earliestEnd, latestStart int64) (WindowIterator, error) {
	return l.ss().FindSessions(key, earliestEnd, latestStart)
}
func (l *loggedSession) Fetch(key []byte) (WindowIterator, error) { return l.ss().Fetch(key) }
func (l *loggedSession) FindSessionsByEnd(earliestEnd, latestEnd int64) (WindowIterator, error) {
	return l.ss().FindSessionsByEnd(earliestEnd, latestEnd)
}
