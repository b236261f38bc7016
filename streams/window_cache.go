package streams

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/gregorhq/gregor/state"
)

// windowCache is the record cache in front of a window or session store, as Kafka
// Streams' CachingWindowStore and CachingSessionStore: a kvCache over the store's binary
// keys (key | start | sequence 0 for windows, key | end | start for sessions), plus an
// index of the binary keys cached per record key, so that range reads of one key merge
// the cached windows with the stored ones. Only the task's goroutine uses it.
type windowCache struct {
	c         *kvCache
	session   bool
	byKey     map[string]map[string]struct{} // record key -> binary keys put through the cache
	retention int64
	maxTime   int64 // the largest window start (session end) put, -1 before any
}

func newWindowCache(back cacheBacking, session bool, retention, max int64) *windowCache {
	wc := &windowCache{c: newKVCache(back, max), session: session, byKey: map[string]map[string]struct{}{}, retention: retention, maxTime: -1}
	wc.c.onClear = func() { clear(wc.byKey) }
	return wc
}

// timeOf returns the time segments are kept by: a window's start, a session's end.
func (wc *windowCache) timeOf(raw []byte) int64 {
	if wc.session {
		if _, w, err := state.DecodeSessionKey(raw); err == nil {
			return w.End
		}
		return -1
	}
	_, start, _, _ := state.DecodeWindowKey(raw)
	return start
}

// expired reports whether raw is older than the retention behind the newest time put:
// the store drops it once the cache has flushed, so reads must not return it before.
func (wc *windowCache) expired(raw []byte) bool {
	return wc.maxTime >= 0 && wc.timeOf(raw) <= wc.maxTime-wc.retention
}

// suffix returns the length of the window part of a binary key.
func (wc *windowCache) suffix() int {
	if wc.session {
		return 16
	}
	return 12
}

func (wc *windowCache) get(raw []byte) ([]byte, error) {
	if wc.expired(raw) {
		return nil, nil
	}
	return wc.c.get(raw)
}

func (wc *windowCache) put(raw, value []byte, ts int64) error {
	k := string(raw[:len(raw)-wc.suffix()])
	set := wc.byKey[k]
	if set == nil {
		set = map[string]struct{}{}
		wc.byKey[k] = set
	}
	set[string(raw)] = struct{}{}
	wc.maxTime = max(wc.maxTime, wc.timeOf(raw))
	return wc.c.put(raw, value, ts)
}

// merge returns the entries of one key's stored iterator it overlaid with the cached
// entries of key kb that keep (given the binary key) accepts, in binary key order
// (window start for windows; end, then start for sessions), reversed unless forward.
func (wc *windowCache) merge(kb []byte, it state.WindowIterator, keep func(raw []byte) bool, encode func(kb []byte, w state.Window) []byte, forward bool) ([]rawEntry, error) {
	byRaw := map[string][]byte{}
	for it.Next() {
		raw := encode(kb, it.Key().Window)
		if !wc.expired(raw) {
			byRaw[string(raw)] = bytes.Clone(it.Value())
		}
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return nil, err
	}
	for raw := range wc.byKey[string(kb)] {
		e, ok := wc.c.m[raw]
		if !ok || !keep([]byte(raw)) || wc.expired([]byte(raw)) {
			continue // flushed since: the store has it
		}
		if e.value == nil {
			delete(byRaw, raw)
		} else {
			byRaw[raw] = e.value
		}
	}
	out := make([]rawEntry, 0, len(byRaw))
	for raw, v := range byRaw {
		out = append(out, rawEntry{raw: []byte(raw), value: v})
	}
	slices.SortFunc(out, func(a, b rawEntry) int { return bytes.Compare(a.raw, b.raw) })
	if !forward {
		slices.Reverse(out)
	}
	return out, nil
}

// rawEntry is one entry of a merged range read.
type rawEntry struct {
	raw   []byte
	value []byte
}

// entriesIter serves merged entries as a state.WindowIterator.
type entriesIter struct {
	entries []rawEntry
	decode  func(raw []byte) (state.Windowed, error)
	i       int
	cur     state.Windowed
	err     error
}

func (it *entriesIter) Next() bool {
	if it.err != nil || it.i >= len(it.entries) {
		return false
	}
	it.cur, it.err = it.decode(it.entries[it.i].raw)
	it.i++
	return it.err == nil
}
func (it *entriesIter) Key() state.Windowed { return it.cur }
func (it *entriesIter) Value() []byte       { return it.entries[it.i-1].value }
func (it *entriesIter) Err() error          { return it.err }
func (it *entriesIter) Close() error        { it.entries = nil; return nil }

// windowBacking is a window store seen by binary window keys, under a windowCache.
type windowBacking struct{ ws state.WindowStore }

func (b windowBacking) Get(raw []byte) ([]byte, error) {
	k, start, _, err := state.DecodeWindowKey(raw)
	if err != nil {
		return nil, err
	}
	return b.ws.Fetch(k, start)
}

func (b windowBacking) Put(raw, value []byte) error {
	k, start, _, err := state.DecodeWindowKey(raw)
	if err != nil {
		return err
	}
	return b.ws.Put(k, value, start)
}

// sessionBacking is a session store seen by binary session keys, under a windowCache.
type sessionBacking struct{ ss state.SessionStore }

func (b sessionBacking) Get(raw []byte) ([]byte, error) {
	k, w, err := state.DecodeSessionKey(raw)
	if err != nil {
		return nil, err
	}
	return b.ss.FetchSession(k, w)
}

func (b sessionBacking) Put(raw, value []byte) error {
	k, w, err := state.DecodeSessionKey(raw)
	if err != nil {
		return err
	}
	return b.ss.Put(k, w, value)
}

// windowRange reads kb's windows starting in [from, to] through the cache, if any.
func (s *WindowStore[K, V]) windowRange(kb []byte, from, to int64, forward bool) (state.WindowIterator, error) {
	var it state.WindowIterator
	var err error
	if forward || s.cache != nil {
		it, err = s.raw.FetchRange(kb, from, to)
	} else {
		it, err = s.raw.BackwardFetchRange(kb, from, to)
	}
	if err != nil || s.cache == nil {
		return it, err
	}
	keep := func(raw []byte) bool {
		_, start, _, err := state.DecodeWindowKey(raw)
		return err == nil && start >= from && start <= to
	}
	encode := func(kb []byte, w state.Window) []byte { return state.EncodeWindowKey(kb, w.Start, 0) }
	entries, err := s.cache.merge(kb, it, keep, encode, forward)
	if err != nil {
		return nil, err
	}
	size := s.size
	return &entriesIter{entries: entries, decode: func(raw []byte) (state.Windowed, error) {
		k, start, _, err := state.DecodeWindowKey(raw)
		return state.Windowed{Key: k, Window: state.Window{Start: start, End: start + size}}, err
	}}, nil
}

// findSessions reads kb's sessions ending at or after earliestEnd and starting at or
// before latestStart through the cache, if any.
func (s *SessionStore[K, V]) findSessions(kb []byte, earliestEnd, latestStart int64) (state.WindowIterator, error) {
	it, err := s.raw.FindSessions(kb, earliestEnd, latestStart)
	if err != nil || s.cache == nil {
		return it, err
	}
	keep := func(raw []byte) bool {
		_, w, err := state.DecodeSessionKey(raw)
		return err == nil && w.End >= earliestEnd && w.Start <= latestStart
	}
	entries, err := s.cache.merge(kb, it, keep, state.EncodeSessionKey, true)
	if err != nil {
		return nil, err
	}
	return &entriesIter{entries: entries, decode: func(raw []byte) (state.Windowed, error) {
		k, w, err := state.DecodeSessionKey(raw)
		return state.Windowed{Key: k, Window: w}, err
	}}, nil
}

// flush writes the cached updates to the store (before reads over every key).
func (wc *windowCache) flush() error {
	if wc == nil {
		return nil
	}
	return wc.c.flush()
}

// forwardFlushes makes the cache forward the updates it flushes to fw, as table
// changes: the record timestamp is the one kept with the value (aggregation stores), or
// the one of the update.
func (s *WindowStore[K, V]) forwardFlushes(fw forwarder[Windowed[K], Change[V]]) {
	s.cache.c.listener = func(raw, nb, ob []byte, ts int64) error {
		kb, start, _, err := state.DecodeWindowKey(raw)
		if err != nil {
			return err
		}
		k, err := s.ks.Deserialize(kb)
		if err != nil {
			return fmt.Errorf("store %s: key: %w", s.name, err)
		}
		c, vts, err := decodeChange(nb, ob, s.decode)
		if err != nil {
			return err
		}
		if vts >= 0 {
			ts = vts
		}
		w := Window{Start: start, End: start + s.size}
		return fw.forward(Record[Windowed[K], Change[V]]{Key: Windowed[K]{Key: k, Window: w}, Value: c, Timestamp: ts})
	}
}

// forwardFlushes makes the cache forward the updates it flushes to fw, timestamped with
// the session's end.
func (s *SessionStore[K, V]) forwardFlushes(fw forwarder[Windowed[K], Change[V]]) {
	s.cache.c.listener = func(raw, nb, ob []byte, _ int64) error {
		kb, sw, err := state.DecodeSessionKey(raw)
		if err != nil {
			return err
		}
		k, err := s.ks.Deserialize(kb)
		if err != nil {
			return fmt.Errorf("store %s: key: %w", s.name, err)
		}
		c, _, err := decodeChange(nb, ob, s.decode)
		if err != nil {
			return err
		}
		w := Window{Start: sw.Start, End: sw.End}
		return fw.forward(Record[Windowed[K], Change[V]]{Key: Windowed[K]{Key: k, Window: w}, Value: c, Timestamp: w.End})
	}
}

// decodeChange decodes the new and old values of a flushed entry (nil: absent) and
// returns the timestamp kept with the new value, else with the old one (-1: none).
func decodeChange[V any](nb, ob []byte, decode func([]byte) (V, int64, error)) (Change[V], int64, error) {
	var c Change[V]
	ts := int64(-1)
	var err error
	if nb != nil {
		if c.New, ts, err = decode(nb); err != nil {
			return c, -1, err
		}
		c.HasNew = true
	}
	if ob != nil {
		var ots int64
		if c.Old, ots, err = decode(ob); err != nil {
			return c, -1, err
		}
		c.HasOld = true
		if !c.HasNew {
			ts = ots
		}
	}
	return c, ts, nil
}
