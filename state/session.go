package state

import (
	"bytes"
	"fmt"
	"math"
)

// SessionConfig configures a session store. Durations are in milliseconds.
type SessionConfig struct {
	// Retention is how long sessions are kept, measured by session end back from the
	// largest session end written.
	Retention int64
	// SegmentInterval is the time span of one segment; 0 means max(Retention/2, 60s).
	SegmentInterval int64
}

// sessionStore is the SessionStore of every backend, built over time segments keyed by
// session end.
type sessionStore struct {
	name string
	seg  *segmented
	log  func(raw, value []byte) error // set by a Task to changelog writes
}

// NewSessionStore returns a session store named name that keeps its segments in segs.
// Backends wrap it (leveldb.NewSessionStore, memory.NewSessionStore).
func NewSessionStore(name string, segs Segments, cfg SessionConfig) (SessionStore, error) {
	if cfg.SegmentInterval == 0 {
		cfg.SegmentInterval = max(cfg.Retention/2, 60_000)
	}
	seg, err := newSegmented(name, segs, cfg.Retention, cfg.SegmentInterval, func(raw []byte) (int64, error) {
		_, w, err := DecodeSessionKey(raw)
		return w.End, err
	})
	if err != nil {
		return nil, err
	}
	return &sessionStore{name: name, seg: seg}, nil
}

func (s *sessionStore) Name() string     { return s.name }
func (s *sessionStore) Persistent() bool { return s.seg.segs.Persistent() }
func (s *sessionStore) Flush() error     { return s.seg.flush() }
func (s *sessionStore) Close() error     { return s.seg.close() }

func (s *sessionStore) Put(key []byte, w Window, value []byte) error {
	if key == nil {
		return ErrNilKey
	}
	if err := checkSession(w); err != nil {
		return err
	}
	raw := EncodeSessionKey(key, w)
	logged, err := s.putRaw(raw, w.End, value)
	if err == nil && logged && s.log != nil {
		return s.log(raw, value)
	}
	return err
}

func (s *sessionStore) putRaw(raw []byte, end int64, value []byte) (bool, error) {
	kv, err := s.seg.forWrite(end)
	if err != nil || kv == nil {
		return false, err
	}
	if err := kv.Put(raw, value); err != nil {
		return false, fmt.Errorf("state: session store %q: %w", s.name, err)
	}
	return true, nil
}

// RestoreBatch applies changelog records (binary session keys) in order.
func (s *sessionStore) RestoreBatch(records []KeyValue) error {
	for _, r := range records {
		_, w, err := DecodeSessionKey(r.Key)
		if err != nil {
			return fmt.Errorf("state: session store %q restore: %w", s.name, err)
		}
		if _, err := s.putRaw(r.Key, w.End, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func (s *sessionStore) Remove(key []byte, w Window) error { return s.Put(key, w, nil) }

func (s *sessionStore) FetchSession(key []byte, w Window) ([]byte, error) {
	if key == nil {
		return nil, ErrNilKey
	}
	if err := checkSession(w); err != nil {
		return nil, err
	}
	if w.End >= s.seg.minLive() {
		kv, err := s.seg.get(w.End)
		if err != nil {
			return nil, err
		}
		if kv != nil {
			return kv.Get(EncodeSessionKey(key, w))
		}
	}
	return nil, fmt.Errorf("%w: session store %q key %q session [%d, %d]", ErrNotFound, s.name, key, w.Start, w.End)
}

func (s *sessionStore) FindSessions(key []byte, earliestSessionEnd, latestSessionStart int64) (WindowIterator, error) {
	if key == nil {
		return nil, ErrNilKey
	}
	from := max(earliestSessionEnd, s.seg.minLive(), 0)
	segs, err := s.seg.between(from, math.MaxInt64, true)
	if err != nil {
		return nil, err
	}
	lo := EncodeSessionKey(key, Window{Start: 0, End: from})
	hi := EncodeSessionKey(key, Window{Start: math.MaxInt64, End: math.MaxInt64})
	rng := func(kv KeyValueStore) (KeyValueIterator, error) { return kv.Range(lo, hi) }
	return &windowedIter{open: openers(segs, rng), decode: s.decoder(key, from, latestSessionStart)}, nil
}

func (s *sessionStore) decoder(key []byte, earliestEnd, latestStart int64) func([]byte) (Windowed, bool, error) {
	return func(raw []byte) (Windowed, bool, error) {
		k, w, err := DecodeSessionKey(raw)
		if err != nil {
			return Windowed{}, false, fmt.Errorf("state: session store %q: %w", s.name, err)
		}
		if (key != nil && !bytes.Equal(k, key)) || w.End < earliestEnd || w.Start > latestStart {
			return Windowed{}, false, nil
		}
		return Windowed{Key: k, Window: w}, true, nil
	}
}

func (s *sessionStore) FindSessionsByEnd(earliestSessionEnd, latestSessionEnd int64) (WindowIterator, error) {
	from := max(earliestSessionEnd, s.seg.minLive(), 0)
	if from > latestSessionEnd {
		return EmptyIterator[Windowed](), nil
	}
	segs, err := s.seg.between(from, latestSessionEnd, true)
	if err != nil {
		return nil, err
	}
	all := func(kv KeyValueStore) (KeyValueIterator, error) { return kv.All() }
	decode := s.decoder(nil, from, math.MaxInt64)
	return &windowedIter{open: openers(segs, all), decode: func(raw []byte) (Windowed, bool, error) {
		w, ok, err := decode(raw)
		return w, ok && w.Window.End <= latestSessionEnd, err
	}}, nil
}

func (s *sessionStore) Fetch(key []byte) (WindowIterator, error) {
	return s.FindSessions(key, 0, math.MaxInt64)
}

func (s *sessionStore) All() (WindowIterator, error) {
	from := s.seg.minLive()
	segs, err := s.seg.between(from, math.MaxInt64, true)
	if err != nil {
		return nil, err
	}
	all := func(kv KeyValueStore) (KeyValueIterator, error) { return kv.All() }
	return &windowedIter{open: openers(segs, all), decode: s.decoder(nil, from, math.MaxInt64)}, nil
}
