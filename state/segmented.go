package state

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Segments is the storage in which a window or session store keeps its time segments,
// one key-value store per segment. Backends provide it (leveldb: one database directory
// per segment; memory: one in-memory store per segment). A segment is named by the first
// timestamp it covers.
type Segments interface {
	// OpenSegment opens, creating it if needed, the segment starting at start.
	OpenSegment(start int64) (KeyValueStore, error)
	// DropSegment deletes the data of the segment starting at start; the store handed out
	// for it has been closed.
	DropSegment(start int64) error
	// ListSegments returns the starts of the segments already in storage.
	ListSegments() ([]int64, error)
	// Persistent reports whether segments survive a restart.
	Persistent() bool
}

// segmented keeps the open segments of a window or session store and drops the ones that
// fall out of retention. Its mutex guards only the segment map and stream time; segment
// stores synchronise themselves, so no other lock is ever taken while holding it.
type segmented struct {
	name      string
	segs      Segments
	interval  int64
	retention int64

	mu         sync.Mutex
	streamTime int64 // largest timestamp written; -1 while unknown
	open       map[int64]KeyValueStore
	closed     bool
}

// newSegmented opens the segments already in storage. tsOf extracts the timestamp that
// segments are keyed by from a stored key; stream time is recovered from the newest segment.
func newSegmented(name string, segs Segments, retention, interval int64, tsOf func(raw []byte) (int64, error)) (*segmented, error) {
	if retention <= 0 || interval <= 0 {
		return nil, fmt.Errorf("%w: store %q: retention %d and segment interval %d must be positive", ErrBadConfig, name, retention, interval)
	}
	s := &segmented{name: name, segs: segs, interval: interval, retention: retention, streamTime: -1, open: map[int64]KeyValueStore{}}
	starts, err := segs.ListSegments()
	if err != nil {
		return nil, fmt.Errorf("state: store %q: list segments: %w", name, err)
	}
	for _, start := range starts {
		if start%interval != 0 {
			continue // written with another segment interval: ignore
		}
		kv, err := segs.OpenSegment(start)
		if err != nil {
			_ = s.close()
			return nil, fmt.Errorf("state: store %q: open segment %d: %w", name, start, err)
		}
		s.open[start/interval] = kv
	}
	if err := s.recoverStreamTime(tsOf); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// recoverStreamTime sets stream time to the largest timestamp in the newest segment, so
// that a reopened store keeps hiding what had expired.
func (s *segmented) recoverStreamTime(tsOf func(raw []byte) (int64, error)) error {
	newest := int64(-1)
	for id := range s.open {
		newest = max(newest, id)
	}
	if newest < 0 {
		return nil
	}
	it, err := s.open[newest].All()
	if err != nil {
		return fmt.Errorf("state: store %q: recover stream time: %w", s.name, err)
	}
	defer it.Close()
	for it.Next() {
		ts, err := tsOf(it.Key())
		if err != nil {
			return fmt.Errorf("state: store %q: recover stream time: %w", s.name, err)
		}
		s.streamTime = max(s.streamTime, ts)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("state: store %q: recover stream time: %w", s.name, err)
	}
	return s.dropExpiredLocked()
}

// minLive returns the smallest timestamp still within retention.
func (s *segmented) minLiveLocked() int64 {
	if s.streamTime < 0 {
		return 0
	}
	return max(0, s.streamTime-s.retention+1)
}

func (s *segmented) minLive() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minLiveLocked()
}

// forWrite returns the segment for ts, creating it, after advancing stream time and
// dropping expired segments. It returns nil when ts is already expired.
func (s *segmented) forWrite(ts int64) (KeyValueStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %s", ErrClosed, s.name)
	}
	if ts > s.streamTime {
		s.streamTime = ts
		if err := s.dropExpiredLocked(); err != nil {
			return nil, err
		}
	}
	if ts < s.minLiveLocked() {
		return nil, nil
	}
	id := ts / s.interval
	if kv, ok := s.open[id]; ok {
		return kv, nil
	}
	kv, err := s.segs.OpenSegment(id * s.interval)
	if err != nil {
		return nil, fmt.Errorf("state: store %q: open segment %d: %w", s.name, id*s.interval, err)
	}
	s.open[id] = kv
	return kv, nil
}

func (s *segmented) dropExpiredLocked() error {
	minID := s.minLiveLocked() / s.interval
	var errs []error
	for id, kv := range s.open {
		if id >= minID {
			continue
		}
		delete(s.open, id)
		if err := kv.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := s.segs.DropSegment(id * s.interval); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state: store %q: drop expired segments: %w", s.name, err)
	}
	return nil
}

// get returns the open segment holding ts, or nil.
func (s *segmented) get(ts int64) (KeyValueStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %s", ErrClosed, s.name)
	}
	return s.open[ts/s.interval], nil
}

// between returns the open segments covering [from, to], ascending or descending.
func (s *segmented) between(from, to int64, forward bool) ([]KeyValueStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %s", ErrClosed, s.name)
	}
	lo, hi := from/s.interval, to/s.interval
	ids := make([]int64, 0, len(s.open))
	for id := range s.open {
		if id >= lo && id <= hi {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if !forward {
		slices.Reverse(ids)
	}
	out := make([]KeyValueStore, len(ids))
	for i, id := range ids {
		out[i] = s.open[id]
	}
	return out, nil
}

// openers turns segments into lazily opened iterators; a segment dropped meanwhile reads
// as empty.
func openers(segs []KeyValueStore, open func(KeyValueStore) (KeyValueIterator, error)) []func() (KeyValueIterator, error) {
	fns := make([]func() (KeyValueIterator, error), len(segs))
	for i, kv := range segs {
		fns[i] = func() (KeyValueIterator, error) {
			it, err := open(kv)
			if errors.Is(err, ErrClosed) {
				return EmptyIterator[[]byte](), nil
			}
			return it, err
		}
	}
	return fns
}

func (s *segmented) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%w: %s", ErrClosed, s.name)
	}
	var errs []error
	for _, kv := range s.open {
		errs = append(errs, kv.Flush())
	}
	return errors.Join(errs...)
}

func (s *segmented) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, kv := range s.open {
		errs = append(errs, kv.Close())
	}
	s.open = nil
	return errors.Join(errs...)
}
