package streams

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// windowedSpec is the part of a storeSpec particular to window and session stores.
type windowedSpec struct {
	session bool
	window  state.WindowConfig  // window stores
	sess    state.SessionConfig // session stores
	// wrap makes the typed store of one task over its raw store (a state.WindowStore or
	// a state.SessionStore).
	wrap func(tc *task, raw any) any
}

// retention returns the store's retention in milliseconds.
func (w *windowedSpec) retention() int64 {
	if w.session {
		return w.sess.Retention
	}
	return w.window.Retention
}

// changelogConfigs returns the configs of the changelog topic of spec: "compact" for
// key-value stores, "compact,delete" with the retention plus a day for windowed ones.
func (s *storeSpec) changelogConfigs() map[string]string {
	if s.windowed == nil {
		return state.ChangelogTopicConfigs(false, 0)
	}
	return state.ChangelogTopicConfigs(true, s.windowed.retention())
}

func (s *storeSpec) segments() state.SegmentsFactory {
	if s.inMemory {
		return func(name, _ string) (state.Segments, error) { return memory.Segments(name), nil }
	}
	return leveldb.SegmentsFactory(nil)
}

// openWindowed opens the window or session store of spec in task t: through st (logged
// to its changelog) unless logging is off.
func (t *task) openWindowed(spec *storeSpec, st *state.Task) (any, error) {
	w := spec.windowed
	var raw any
	var err error
	switch {
	case w.session && spec.logging:
		raw, err = st.SessionStore(spec.name, spec.segments(), w.sess)
	case !w.session && spec.logging:
		raw, err = st.WindowStore(spec.name, spec.segments(), w.window)
	default:
		var segs state.Segments
		if segs, err = spec.segments()(spec.name, st.StoreDir(spec.name)); err != nil {
			break
		}
		var s state.Store
		if w.session {
			s, err = state.NewSessionStore(spec.name, segs, w.sess)
		} else {
			s, err = state.NewWindowStore(spec.name, segs, w.window)
		}
		if err == nil {
			t.unlogged = append(t.unlogged, s)
			raw = s
		}
	}
	if err != nil {
		return nil, err
	}
	return w.wrap(t, raw), nil
}

// WindowStoreBuilder describes a window store named name for the Processor API (Kafka
// Streams' Stores.windowStoreBuilder): values of keys ks and values vs (nil: default
// serdes) per fixed-size window of windowSize, kept for retention (at least
// windowSize) after the newest window start written. retainDuplicates keeps every value
// put for a key and window instead of the last (stream-stream joins use it). Options:
// InMemory, WithLoggingDisabled, WithCaching (not with retainDuplicates). Its changelog
// topic is compacted and deleted after retention plus one day, as in Kafka Streams.
func WindowStoreBuilder[K, V any](name string, ks Serde[K], vs Serde[V], retention, windowSize time.Duration, retainDuplicates bool, opts ...Option) StoreBuilder {
	o := collect(opts)
	spec := newWindowSpec(name, ks, vs, windowSize.Milliseconds(), o, false)
	spec.windowed.window.Retention = retention.Milliseconds()
	spec.windowed.window.RetainDuplicates = retainDuplicates
	spec.caching = o.cacheOn && !retainDuplicates
	if err := checkWindowConfig(name, spec.windowed.window); err != nil {
		spec.err = err
	}
	return StoreBuilder{spec: spec}
}

func checkWindowConfig(name string, c state.WindowConfig) error {
	if c.WindowSize <= 0 || c.Retention < c.WindowSize {
		return fmt.Errorf("%w: window store %q: window size %dms must be positive and at most the retention %dms", ErrTopology, name, c.WindowSize, c.Retention)
	}
	return nil
}

// newWindowSpec returns the spec of a window store of windows of size ms; timestamped
// stores prefix values with a timestamp (the DSL's windowed aggregations).
func newWindowSpec[K, V any](name string, ks Serde[K], vs Serde[V], size int64, o options, ts bool) *storeSpec {
	ks, vs = orDefault(ks), orDefault(vs)
	spec := &storeSpec{name: name, inMemory: o.inMemory, logging: !o.noLog, caching: ts && !o.noCache}
	spec.windowed = &windowedSpec{window: state.WindowConfig{WindowSize: size}}
	spec.windowed.wrap = func(tc *task, raw any) any {
		s := &WindowStore[K, V]{name: name, ks: ks, vs: vs, raw: raw.(state.WindowStore), size: size, ts: ts, tc: tc}
		if spec.caching {
			s.cache = newWindowCache(windowBacking{s.raw}, false, spec.windowed.window.Retention, tc.cacheBytes)
			tc.caches = append(tc.caches, s.cache.c)
		}
		return s
	}
	return spec
}

// SessionStoreBuilder describes a session store named name for the Processor API
// (Kafka Streams' Stores.sessionStoreBuilder): one value per key and session, kept for
// retention after the newest session end written. Options: InMemory,
// WithLoggingDisabled, WithCaching.
func SessionStoreBuilder[K, V any](name string, ks Serde[K], vs Serde[V], retention time.Duration, opts ...Option) StoreBuilder {
	o := collect(opts)
	spec := newSessionSpec(name, ks, vs, o)
	spec.caching = o.cacheOn
	spec.windowed.sess.Retention = retention.Milliseconds()
	if spec.windowed.sess.Retention <= 0 {
		spec.err = fmt.Errorf("%w: session store %q: retention %v must be positive", ErrTopology, name, retention)
	}
	return StoreBuilder{spec: spec}
}

func newSessionSpec[K, V any](name string, ks Serde[K], vs Serde[V], o options) *storeSpec {
	ks, vs = orDefault(ks), orDefault(vs)
	spec := &storeSpec{name: name, inMemory: o.inMemory, logging: !o.noLog, caching: !o.noCache}
	spec.windowed = &windowedSpec{session: true}
	spec.windowed.wrap = func(tc *task, raw any) any {
		s := &SessionStore[K, V]{name: name, ks: ks, vs: vs, raw: raw.(state.SessionStore), tc: tc}
		if spec.caching {
			s.cache = newWindowCache(sessionBacking{s.raw}, true, spec.windowed.sess.Retention, tc.cacheBytes)
			tc.caches = append(tc.caches, s.cache.c)
		}
		return s
	}
	return spec
}

// WindowStore is a typed window store of one task: values per key and fixed-size window,
// identified by the window start (milliseconds). Windows older than the retention
// (measured back from the newest window start written) are dropped a segment at a time.
// The stores of windowed aggregations also keep, with each value, the timestamp of the
// record that last updated it (see WindowIterator.Timestamp).
type WindowStore[K, V any] struct {
	name  string
	ks    Serde[K]
	vs    Serde[V]
	raw   state.WindowStore
	size  int64
	ts    bool // values are prefixed with a timestamp
	tc    *task
	cache *windowCache // nil: no caching
}

// Name returns the store's name.
func (s *WindowStore[K, V]) Name() string { return s.name }

// WindowSize returns the size of the store's windows in milliseconds.
func (s *WindowStore[K, V]) WindowSize() int64 { return s.size }

func (s *WindowStore[K, V]) key(k K) ([]byte, error) {
	kb, err := serialize(s.ks, k)
	if err != nil {
		return nil, fmt.Errorf("store %s: key: %w", s.name, err)
	}
	if kb == nil {
		kb = []byte{}
	}
	return kb, nil
}

// Put stores v for k in the window starting at windowStart. A write to a window that
// has expired is dropped.
func (s *WindowStore[K, V]) Put(k K, v V, windowStart int64) error {
	return s.put(k, v, windowStart, s.tc.timestamp())
}

func (s *WindowStore[K, V]) put(k K, v V, windowStart, ts int64) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	vb, err := s.vs.Serialize(v)
	if err != nil {
		return fmt.Errorf("store %s: value: %w", s.name, err)
	}
	if vb == nil {
		vb = []byte{}
	}
	if s.ts {
		vb = timestamped(ts, vb)
	}
	return s.putRaw(kb, vb, windowStart, ts)
}

func (s *WindowStore[K, V]) putRaw(kb, vb []byte, windowStart, ts int64) error {
	if windowStart < 0 {
		return fmt.Errorf("store %s: %w: window start %d", s.name, state.ErrInvalidTimestamp, windowStart)
	}
	var err error
	if s.cache != nil {
		err = s.cache.put(state.EncodeWindowKey(kb, windowStart, 0), vb, ts)
	} else {
		err = s.raw.Put(kb, vb, windowStart)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	return nil
}

// Delete removes k's window starting at windowStart (ignored by stores that retain
// duplicates).
func (s *WindowStore[K, V]) Delete(k K, windowStart int64) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.putRaw(kb, nil, windowStart, s.tc.timestamp())
}

// Fetch returns k's value in the window starting at windowStart and whether there is
// one.
func (s *WindowStore[K, V]) Fetch(k K, windowStart int64) (V, bool, error) {
	v, _, ok, err := s.fetch(k, windowStart)
	return v, ok, err
}

// fetch also returns the timestamp kept with the value (-1 for plain stores).
func (s *WindowStore[K, V]) fetch(k K, windowStart int64) (V, int64, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, -1, false, err
	}
	var vb []byte
	if s.cache != nil {
		if vb, err = s.cache.get(state.EncodeWindowKey(kb, windowStart, 0)); err == nil && vb == nil {
			return zero, -1, false, nil
		}
	} else {
		vb, err = s.raw.Fetch(kb, windowStart)
	}
	if errors.Is(err, state.ErrNotFound) {
		return zero, -1, false, nil
	}
	if err != nil {
		return zero, -1, false, fmt.Errorf("store %s: %w", s.name, err)
	}
	v, ts, err := s.decode(vb)
	return v, ts, err == nil, err
}

func (s *WindowStore[K, V]) decode(vb []byte) (V, int64, error) {
	ts := int64(-1)
	if s.ts {
		var err error
		if ts, vb, err = untimestamped(vb); err != nil {
			var zero V
			return zero, -1, fmt.Errorf("store %s: %w", s.name, err)
		}
	}
	v, err := s.vs.Deserialize(vb)
	if err != nil {
		return v, -1, fmt.Errorf("store %s: value: %w", s.name, err)
	}
	return v, ts, nil
}

// FetchRange iterates k's windows whose start lies in [timeFrom, timeTo], oldest first
// (Kafka Streams' WindowStore.fetch(key, timeFrom, timeTo)).
func (s *WindowStore[K, V]) FetchRange(k K, timeFrom, timeTo int64) (*WindowIterator[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	return s.iter(s.windowRange(kb, max(timeFrom, 0), timeTo, true))
}

// BackwardFetchRange is FetchRange newest first.
func (s *WindowStore[K, V]) BackwardFetchRange(k K, timeFrom, timeTo int64) (*WindowIterator[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	return s.iter(s.windowRange(kb, max(timeFrom, 0), timeTo, false))
}

// FetchAll iterates the windows of every key whose start lies in [timeFrom, timeTo].
// With caching on it first flushes the cache.
func (s *WindowStore[K, V]) FetchAll(timeFrom, timeTo int64) (*WindowIterator[K, V], error) {
	if err := s.cache.flush(); err != nil {
		return nil, err
	}
	return s.iter(s.raw.FetchAll(max(timeFrom, 0), timeTo))
}

// All iterates every window still within retention. With caching on it first flushes
// the cache.
func (s *WindowStore[K, V]) All() (*WindowIterator[K, V], error) {
	return s.FetchAll(0, math.MaxInt64)
}

func (s *WindowStore[K, V]) iter(it state.WindowIterator, err error) (*WindowIterator[K, V], error) {
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	return &WindowIterator[K, V]{it: it, ks: s.ks, decode: s.decode, size: s.size}, nil
}

// WindowIterator walks the entries of a WindowStore or a SessionStore. Close it when
// done.
type WindowIterator[K, V any] struct {
	it     state.WindowIterator
	ks     Serde[K]
	decode func([]byte) (V, int64, error)
	size   int64 // window stores: the window size; 0 for sessions (end is stored)
	k      Windowed[K]
	v      V
	ts     int64
	err    error
}

// Next advances to the next entry and reports whether there is one.
func (it *WindowIterator[K, V]) Next() bool {
	if it.err != nil || !it.it.Next() {
		return false
	}
	wk := it.it.Key()
	k, err := it.ks.Deserialize(wk.Key)
	if err != nil {
		it.err = fmt.Errorf("key: %w", err)
		return false
	}
	w := Window{Start: wk.Window.Start, End: wk.Window.End}
	it.k = Windowed[K]{Key: k, Window: w}
	it.v, it.ts, it.err = it.decode(it.it.Value())
	return it.err == nil
}

// Key returns the current key and its window.
func (it *WindowIterator[K, V]) Key() Windowed[K] { return it.k }

// Value returns the current value.
func (it *WindowIterator[K, V]) Value() V { return it.v }

// Timestamp returns the timestamp kept with the current value by the stores of
// windowed aggregations (the largest timestamp of the records aggregated), -1 for other
// stores.
func (it *WindowIterator[K, V]) Timestamp() int64 { return it.ts }

// Err returns the first error met.
func (it *WindowIterator[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.it.Err()
}

// Close releases the iterator.
func (it *WindowIterator[K, V]) Close() error { return it.it.Close() }

// SessionStore is a typed session store of one task: one value per key and session
// window [Start, End] (both inclusive). Sessions whose end is older than the retention
// (measured back from the newest session end written) are dropped.
type SessionStore[K, V any] struct {
	name  string
	ks    Serde[K]
	vs    Serde[V]
	raw   state.SessionStore
	tc    *task
	cache *windowCache // nil: no caching
}

// Name returns the store's name.
func (s *SessionStore[K, V]) Name() string { return s.name }

func (s *SessionStore[K, V]) key(k K) ([]byte, error) {
	kb, err := serialize(s.ks, k)
	if err != nil {
		return nil, fmt.Errorf("store %s: key: %w", s.name, err)
	}
	if kb == nil {
		kb = []byte{}
	}
	return kb, nil
}

func (s *SessionStore[K, V]) decode(vb []byte) (V, int64, error) {
	v, err := s.vs.Deserialize(vb)
	if err != nil {
		return v, -1, fmt.Errorf("store %s: value: %w", s.name, err)
	}
	return v, -1, nil
}

// Put stores v for k's session w.
func (s *SessionStore[K, V]) Put(k K, w Window, v V) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	vb, err := s.vs.Serialize(v)
	if err != nil {
		return fmt.Errorf("store %s: value: %w", s.name, err)
	}
	if vb == nil {
		vb = []byte{}
	}
	return s.putRaw(kb, w, vb)
}

func (s *SessionStore[K, V]) putRaw(kb []byte, w Window, vb []byte) error {
	sw := state.Window{Start: w.Start, End: w.End}
	if w.Start < 0 || w.End < w.Start {
		return fmt.Errorf("store %s: %w: session %v", s.name, state.ErrInvalidTimestamp, w)
	}
	var err error
	if s.cache != nil {
		err = s.cache.put(state.EncodeSessionKey(kb, sw), vb, s.tc.timestamp())
	} else {
		err = s.raw.Put(kb, sw, vb)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	return nil
}

// Remove deletes k's session w.
func (s *SessionStore[K, V]) Remove(k K, w Window) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.putRaw(kb, w, nil)
}

// FetchSession returns the value of k's session w and whether there is one.
func (s *SessionStore[K, V]) FetchSession(k K, w Window) (V, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, false, err
	}
	var vb []byte
	sw := state.Window{Start: w.Start, End: w.End}
	if s.cache != nil && w.Start >= 0 && w.End >= w.Start {
		if vb, err = s.cache.get(state.EncodeSessionKey(kb, sw)); err == nil && vb == nil {
			return zero, false, nil
		}
	} else {
		vb, err = s.raw.FetchSession(kb, sw)
	}
	if errors.Is(err, state.ErrNotFound) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, fmt.Errorf("store %s: %w", s.name, err)
	}
	v, _, err := s.decode(vb)
	return v, err == nil, err
}

// FindSessions iterates k's sessions that end at or after earliestSessionEnd and start
// at or before latestSessionStart, ordered by end: the sessions a record at time t
// merges with when called with (t-gap, t+gap).
func (s *SessionStore[K, V]) FindSessions(k K, earliestSessionEnd, latestSessionStart int64) (*WindowIterator[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	return s.iter(s.findSessions(kb, earliestSessionEnd, latestSessionStart))
}

// Fetch iterates every session of k.
func (s *SessionStore[K, V]) Fetch(k K) (*WindowIterator[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	return s.iter(s.findSessions(kb, 0, math.MaxInt64))
}

// FindSessionsByEnd iterates the sessions of every key that end in
// [earliestSessionEnd, latestSessionEnd], oldest segment first. With caching on it first
// flushes the cache.
func (s *SessionStore[K, V]) FindSessionsByEnd(earliestSessionEnd, latestSessionEnd int64) (*WindowIterator[K, V], error) {
	if err := s.cache.flush(); err != nil {
		return nil, err
	}
	return s.iter(s.raw.FindSessionsByEnd(earliestSessionEnd, latestSessionEnd))
}

// All iterates every session still within retention. With caching on it first flushes
// the cache.
func (s *SessionStore[K, V]) All() (*WindowIterator[K, V], error) {
	if err := s.cache.flush(); err != nil {
		return nil, err
	}
	return s.iter(s.raw.All())
}

func (s *SessionStore[K, V]) iter(it state.WindowIterator, err error) (*WindowIterator[K, V], error) {
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	return &WindowIterator[K, V]{it: it, ks: s.ks, decode: s.decode}, nil
}

// GetWindowStore returns the window store named name, which the processor must be
// connected to (WithStores), with the types it was built with.
func GetWindowStore[K, V any](p StoreProvider, name string) (*WindowStore[K, V], error) {
	return getStore[*WindowStore[K, V]](p, name)
}

// GetSessionStore returns the session store named name, which the processor must be
// connected to (WithStores), with the types it was built with.
func GetSessionStore[K, V any](p StoreProvider, name string) (*SessionStore[K, V], error) {
	return getStore[*SessionStore[K, V]](p, name)
}

func getStore[S any](p StoreProvider, name string) (S, error) {
	var zero S
	s, err := p.stateStore(name)
	if err != nil {
		return zero, err
	}
	typed, ok := s.(S)
	if !ok {
		return zero, fmt.Errorf("%w: store %q is a %T, not a %T", ErrUnknownStore, name, s, zero)
	}
	return typed, nil
}
