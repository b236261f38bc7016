package leveldb

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	ldb "github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/gregorhq/gregor/state"
)

// Options tunes the leveldb databases. The zero value (or nil) uses goleveldb's defaults
// with Kafka Streams' RocksDB settings where they apply: a 16 MiB write buffer, 16 KiB
// table blocks, and no compression.
type Options struct {
	// WriteBuffer is the memtable size in bytes; 0 means 16 MiB.
	WriteBuffer int
	// BlockSize is the uncompressed size of a table block in bytes; 0 means 16 KiB
	// (goleveldb writes a table a block per system call, so small blocks make memtable
	// flushes and compactions, restoration's background work, slower).
	BlockSize int
	// BlockCacheCapacity is the block cache size in bytes; 0 means goleveldb's 8 MiB.
	BlockCacheCapacity int
	// Compression turns on snappy compression of tables.
	Compression bool
}

func (o *Options) leveldb() *opt.Options {
	lo := &opt.Options{WriteBuffer: 16 << 20, BlockSize: 16 << 10, Compression: opt.NoCompression}
	if o == nil {
		return lo
	}
	if o.WriteBuffer > 0 {
		lo.WriteBuffer = o.WriteBuffer
	}
	if o.BlockSize > 0 {
		lo.BlockSize = o.BlockSize
	}
	lo.BlockCacheCapacity = o.BlockCacheCapacity
	if o.Compression {
		lo.Compression = opt.SnappyCompression
	}
	return lo
}

// flushKey is written (with its own current value) with a synced write to sync the journal.
var flushKey = []byte("\x00\xffgregor.state.leveldb.flush\xff\x00")

// KeyValueStore is a key-value store in one leveldb database. It is safe for concurrent
// use.
type KeyValueStore struct {
	name string
	dir  string

	mu     sync.RWMutex // guards closed against Close; leveldb synchronises the rest
	db     *ldb.DB
	closed bool

	restoreMu sync.Mutex // guards restoreB
	restoreB  *ldb.Batch // reused by RestoreBatch
}

var (
	_ state.KeyValueStore = (*KeyValueStore)(nil)
	_ state.Restorer      = (*KeyValueStore)(nil)
)

// Open opens, creating it if needed, the store named name in directory dir. Unreadable
// files give an error wrapping state.ErrCorrupt; the directory is left as it is.
func Open(name, dir string, o *Options) (*KeyValueStore, error) {
	db, err := ldb.OpenFile(dir, o.leveldb())
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("%w: leveldb store %q in %s: %w", state.ErrCorrupt, name, dir, err)
		}
		return nil, fmt.Errorf("state/leveldb: open store %q in %s: %w", name, dir, err)
	}
	return &KeyValueStore{name: name, dir: dir, db: db}, nil
}

// KeyValueFactory returns a factory for Task.KeyValueStore that opens leveldb stores.
func KeyValueFactory(o *Options) state.KeyValueFactory {
	return func(name, dir string) (state.KeyValueStore, error) { return Open(name, dir, o) }
}

// Name returns the store's name.
func (s *KeyValueStore) Name() string { return s.name }

// Dir returns the store's directory.
func (s *KeyValueStore) Dir() string { return s.dir }

// Persistent returns true.
func (s *KeyValueStore) Persistent() bool { return true }

func (s *KeyValueStore) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ldb.ErrClosed):
		return fmt.Errorf("%w: %s", state.ErrClosed, s.name)
	case lerrors.IsCorrupted(err):
		return fmt.Errorf("%w: leveldb store %q %s: %w", state.ErrCorrupt, s.name, op, err)
	}
	return fmt.Errorf("state/leveldb: store %q %s: %w", s.name, op, err)
}

// Flush syncs leveldb's journal, making every write so far durable.
func (s *KeyValueStore) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("%w: %s", state.ErrClosed, s.name)
	}
	b := new(ldb.Batch)
	switch v, err := s.db.Get(flushKey, nil); {
	case err == nil:
		b.Put(flushKey, v)
	case errors.Is(err, ldb.ErrNotFound):
		b.Put(flushKey, nil)
		b.Delete(flushKey)
	default:
		return s.wrap("flush", err)
	}
	return s.wrap("flush", s.db.Write(b, &opt.WriteOptions{Sync: true}))
}

// Close closes the database.
func (s *KeyValueStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.wrap("close", s.db.Close())
}

// Get returns the value of key or state.ErrNotFound.
func (s *KeyValueStore) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key, nil)
	if errors.Is(err, ldb.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s key %q", state.ErrNotFound, s.name, key)
	}
	return v, s.wrap("get", err)
}

// Put stores value under key; a nil value deletes the key.
func (s *KeyValueStore) Put(key, value []byte) error {
	if key == nil {
		return state.ErrNilKey
	}
	if value == nil {
		return s.wrap("delete", s.db.Delete(key, nil))
	}
	return s.wrap("put", s.db.Put(key, value, nil))
}

// PutIfAbsent stores value when key is absent and returns the value already there, if
// any. It is atomic only against writers that use PutIfAbsent too.
func (s *KeyValueStore) PutIfAbsent(key, value []byte) ([]byte, error) {
	if key == nil {
		return nil, state.ErrNilKey
	}
	s.mu.Lock() // serialise PutIfAbsent calls
	defer s.mu.Unlock()
	v, err := s.db.Get(key, nil)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ldb.ErrNotFound) {
		return nil, s.wrap("get", err)
	}
	return nil, s.Put(key, value)
}

// Delete removes key.
func (s *KeyValueStore) Delete(key []byte) error { return s.Put(key, nil) }

// PutAll applies entries in order in one atomic batch.
func (s *KeyValueStore) PutAll(entries []state.KeyValue) error {
	b := new(ldb.Batch)
	for _, e := range entries {
		if e.Key == nil {
			return state.ErrNilKey
		}
		if e.Value == nil {
			b.Delete(e.Key)
		} else {
			b.Put(e.Key, e.Value)
		}
	}
	return s.wrap("write batch", s.db.Write(b, nil))
}

// restoreWrite writes restored batches: unsynced (restoration syncs once with Flush at
// its end, and a crash before that restores again) and unmerged (there is one writer).
var restoreWrite = &opt.WriteOptions{NoWriteMerge: true}

// RestoreBatch applies changelog records in order as one leveldb batch, reusing the
// batch's memory from call to call. The write is not synced: the task flushes the store
// (Flush) before it checkpoints the restored offset.
func (s *KeyValueStore) RestoreBatch(records []state.KeyValue) error {
	s.restoreMu.Lock()
	defer s.restoreMu.Unlock()
	b := s.restoreB
	if b == nil {
		b = new(ldb.Batch)
		s.restoreB = b
	}
	defer b.Reset()
	for _, e := range records {
		if e.Key == nil {
			return state.ErrNilKey
		}
		if e.Value == nil {
			b.Delete(e.Key)
		} else {
			b.Put(e.Key, e.Value)
		}
	}
	return s.wrap("restore batch", s.db.Write(b, restoreWrite))
}

// ApproximateNumEntries counts the keys by walking them: exact, but linear in the store's
// size.
func (s *KeyValueStore) ApproximateNumEntries() (int64, error) {
	it := s.db.NewIterator(nil, &opt.ReadOptions{DontFillCache: true})
	defer it.Release()
	var n int64
	for it.Next() {
		n++
	}
	return n, s.wrap("count", it.Error())
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
	return s.open(util.BytesPrefix(prefix), true)
}

// All iterates every key ascending.
func (s *KeyValueStore) All() (state.KeyValueIterator, error) { return s.open(nil, true) }

// ReverseAll iterates every key descending.
func (s *KeyValueStore) ReverseAll() (state.KeyValueIterator, error) { return s.open(nil, false) }

func (s *KeyValueStore) iter(from, to []byte, forward bool) (state.KeyValueIterator, error) {
	if state.EmptyRange(from, to) {
		return state.EmptyIterator[[]byte](), nil
	}
	r := &util.Range{Start: from}
	if to != nil {
		r.Limit = append(bytes.Clone(to), 0) // the smallest key after to
	}
	return s.open(r, forward)
}

func (s *KeyValueStore) open(r *util.Range, forward bool) (state.KeyValueIterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %s", state.ErrClosed, s.name)
	}
	return &iter{s: s, it: s.db.NewIterator(r, nil), forward: forward}, nil
}

// iter adapts a leveldb iterator, which reads from a snapshot taken when it was opened.
type iter struct {
	s       *KeyValueStore
	it      iterator.Iterator
	forward bool
	started bool
	closed  bool
}

func (i *iter) Next() bool {
	if i.closed {
		return false
	}
	var ok bool
	switch {
	case i.forward:
		ok = i.it.Next()
	case !i.started:
		ok = i.it.Last()
	default:
		ok = i.it.Prev()
	}
	i.started = true
	return ok
}

func (i *iter) Key() []byte   { return i.it.Key() }
func (i *iter) Value() []byte { return i.it.Value() }
func (i *iter) Err() error    { return i.s.wrap("iterate", i.it.Error()) }
func (i *iter) Close() error {
	if !i.closed {
		i.closed = true
		i.it.Release()
	}
	return nil
}
