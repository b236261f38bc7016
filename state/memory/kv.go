package memory

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/gregorhq/gregor/state"
)

// chunk is how many entries an iterator copies out of the store under one read lock.
const chunk = 256

// KeyValueStore is an ordered in-memory key-value store, safe for concurrent use.
type KeyValueStore struct {
	name   string
	mu     sync.RWMutex
	list   *skiplist
	closed bool
}

var (
	_ state.KeyValueStore = (*KeyValueStore)(nil)
	_ state.Restorer      = (*KeyValueStore)(nil)
)

// NewKeyValueStore returns an empty store named name.
func NewKeyValueStore(name string) *KeyValueStore {
	return &KeyValueStore{name: name, list: newSkiplist()}
}

// KeyValueFactory returns a factory for Task.KeyValueStore that makes in-memory stores.
func KeyValueFactory() state.KeyValueFactory {
	return func(name, _ string) (state.KeyValueStore, error) { return NewKeyValueStore(name), nil }
}

// Name returns the store's name.
func (s *KeyValueStore) Name() string { return s.name }

// Persistent returns false.
func (s *KeyValueStore) Persistent() bool { return false }

// Flush does nothing but report a closed store.
func (s *KeyValueStore) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkLocked()
}

// Close drops the store's data.
func (s *KeyValueStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.list = newSkiplist()
	return nil
}

func (s *KeyValueStore) checkLocked() error {
	if s.closed {
		return fmt.Errorf("%w: %s", state.ErrClosed, s.name)
	}
	return nil
}

// Get returns the value of key or state.ErrNotFound.
func (s *KeyValueStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkLocked(); err != nil {
		return nil, err
	}
	if n, ok := s.list.get(key); ok {
		return n.value, nil
	}
	return nil, fmt.Errorf("%w: %s key %q", state.ErrNotFound, s.name, key)
}

// Put stores a copy of value under key; a nil value deletes the key.
func (s *KeyValueStore) Put(key, value []byte) error {
	if key == nil {
		return state.ErrNilKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocked(); err != nil {
		return err
	}
	s.putLocked(key, value)
	return nil
}

func (s *KeyValueStore) putLocked(key, value []byte) {
	if value == nil {
		s.list.delete(key)
		return
	}
	s.list.set(key, bytes.Clone(value))
}

// PutIfAbsent stores value when key is absent and returns the value already there, if any.
func (s *KeyValueStore) PutIfAbsent(key, value []byte) ([]byte, error) {
	if key == nil {
		return nil, state.ErrNilKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocked(); err != nil {
		return nil, err
	}
	if n, ok := s.list.get(key); ok {
		return n.value, nil
	}
	s.putLocked(key, value)
	return nil, nil
}

// Delete removes key.
func (s *KeyValueStore) Delete(key []byte) error { return s.Put(key, nil) }

// PutAll applies entries in order, atomically with respect to readers.
func (s *KeyValueStore) PutAll(entries []state.KeyValue) error {
	for _, e := range entries {
		if e.Key == nil {
			return state.ErrNilKey
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocked(); err != nil {
		return err
	}
	var f finger // entries sorted by key (as restored batches are) are found fast
	for _, e := range entries {
		n := s.list.findGEFrom(e.Key, &f)
		if e.Value == nil {
			s.list.deleteAt(e.Key, f.update[:], n)
		} else {
			s.list.setAt(e.Key, bytes.Clone(e.Value), f.update[:], n)
		}
	}
	return nil
}

// RestoreBatch applies changelog records; it is PutAll.
func (s *KeyValueStore) RestoreBatch(records []state.KeyValue) error { return s.PutAll(records) }

// ApproximateNumEntries returns the exact number of keys.
func (s *KeyValueStore) ApproximateNumEntries() (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkLocked(); err != nil {
		return 0, err
	}
	return s.list.n, nil
}

// Range iterates [from, to] ascending.
func (s *KeyValueStore) Range(from, to []byte) (state.KeyValueIterator, error) {
	return s.iter(from, to, true)
}

// ReverseRange iterates [from, to] descending.
func (s *KeyValueStore) ReverseRange(from, to []byte) (state.KeyValueIterator, error) {
	return s.iter(from, to, false)
}

// PrefixScan iterates the keys starting with prefix.
func (s *KeyValueStore) PrefixScan(prefix []byte) (state.KeyValueIterator, error) {
	it, err := s.iter(prefix, nil, true)
	if err != nil {
		return nil, err
	}
	it.(*iterator).prefix = bytes.Clone(prefix)
	return it, nil
}

// All iterates every key ascending.
func (s *KeyValueStore) All() (state.KeyValueIterator, error) { return s.iter(nil, nil, true) }

// ReverseAll iterates every key descending.
func (s *KeyValueStore) ReverseAll() (state.KeyValueIterator, error) { return s.iter(nil, nil, false) }

func (s *KeyValueStore) iter(from, to []byte, forward bool) (state.KeyValueIterator, error) {
	s.mu.RLock()
	err := s.checkLocked()
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if state.EmptyRange(from, to) {
		return state.EmptyIterator[[]byte](), nil
	}
	return &iterator{s: s, from: bytes.Clone(from), to: bytes.Clone(to), forward: forward, i: -1}, nil
}

// iterator reads the store in chunks so that it holds no lock between calls.
type iterator struct {
	s        *KeyValueStore
	from, to []byte
	prefix   []byte
	forward  bool
	last     []byte // key of the last entry handed out; nil before the first
	started  bool
	done     bool
	buf      []state.KeyValue
	i        int
	err      error
}

func (it *iterator) Next() bool {
	if it.i+1 < len(it.buf) {
		it.i++
		return true
	}
	if it.done || it.err != nil {
		return false
	}
	it.fill()
	if len(it.buf) == 0 {
		return false
	}
	it.i = 0
	return true
}

func (it *iterator) fill() {
	it.buf, it.i = it.buf[:0], -1
	s := it.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkLocked(); err != nil {
		it.err = err
		return
	}
	var n *node
	switch {
	case it.forward && !it.started:
		if it.from == nil {
			n = s.list.first()
		} else {
			n = s.list.findGE(it.from, nil)
		}
	case it.forward:
		n = s.list.findGT(it.last)
	case !it.started:
		if it.to == nil {
			n = s.list.tail
		} else {
			n = s.list.findLE(it.to)
		}
	default:
		n = s.list.findLT(it.last)
	}
	it.started = true
	for ; n != nil && len(it.buf) < chunk; it.advance(&n) {
		if it.forward && it.to != nil && bytes.Compare(n.key, it.to) > 0 ||
			!it.forward && it.from != nil && bytes.Compare(n.key, it.from) < 0 ||
			it.prefix != nil && !bytes.HasPrefix(n.key, it.prefix) {
			n = nil
			break
		}
		it.buf = append(it.buf, state.KeyValue{Key: n.key, Value: n.value})
	}
	if n == nil {
		it.done = true
	}
	if len(it.buf) > 0 {
		it.last = it.buf[len(it.buf)-1].Key
	}
}

func (it *iterator) advance(n **node) {
	if it.forward {
		*n = (*n).next[0]
	} else {
		*n = (*n).prev
	}
}

func (it *iterator) Key() []byte   { return it.buf[it.i].Key }
func (it *iterator) Value() []byte { return it.buf[it.i].Value }
func (it *iterator) Err() error    { return it.err }
func (it *iterator) Close() error {
	it.done, it.buf, it.i = true, nil, -1
	return nil
}
