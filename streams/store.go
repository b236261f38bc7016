package streams

import (
	"errors"
	"fmt"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/memory"
)

// storeSpec describes a key-value store of the topology; each task opens its own.
type storeSpec struct {
	name     string
	inMemory bool
	caching  bool
	logging  bool
	users    []*gnode
	// wrap makes the typed store of one task over its raw (logged) store.
	wrap func(tc *task, raw state.KeyValueStore) any
	// windowed is set for window and session stores (see window_store.go).
	windowed *windowedSpec
	err      error // a bad configuration, reported by Builder.AddStore
}

func (s *storeSpec) factory() state.KeyValueFactory {
	if s.inMemory {
		return memory.KeyValueFactory()
	}
	return leveldb.KeyValueFactory(nil)
}

// StoreBuilder describes a state store for the Processor API; make one with
// KeyValueStoreBuilder, WindowStoreBuilder or SessionStoreBuilder and add it with
// Builder.AddStore.
type StoreBuilder struct{ spec *storeSpec }

// KeyValueStoreBuilder describes a key-value store named name with the given serdes
// (nil for the default serde of a basic type). Options: InMemory, WithCachingDisabled is
// the default here (use WithCaching to turn the cache on), WithLoggingDisabled.
func KeyValueStoreBuilder[K, V any](name string, ks Serde[K], vs Serde[V], opts ...Option) StoreBuilder {
	o := collect(opts)
	spec := newKVSpec(name, ks, vs, o)
	spec.caching = o.cacheOn
	return StoreBuilder{spec: spec}
}

// WithCaching turns on the record cache of a store added with Builder.AddStore.
func WithCaching() Option { return func(o *options) { o.cacheOn = true } }

func newKVSpec[K, V any](name string, ks Serde[K], vs Serde[V], o options) *storeSpec {
	ks, vs = orDefault(ks), orDefault(vs)
	spec := &storeSpec{name: name, inMemory: o.inMemory, caching: !o.noCache, logging: !o.noLog}
	spec.wrap = func(tc *task, raw state.KeyValueStore) any {
		s := &KeyValueStore[K, V]{name: name, ks: ks, vs: vs, raw: raw, tc: tc}
		if spec.caching {
			s.cache = newKVCache(raw, tc.cacheBytes)
			tc.caches = append(tc.caches, s.cache)
		}
		return s
	}
	return spec
}

// AddStore adds a state store for processors added with Process (see WithStores).
func (b *Builder) AddStore(sb StoreBuilder) {
	b.addStore(sb.spec)
}

func (b *Builder) addStore(spec *storeSpec) {
	if spec.name == "" {
		b.fail("store without a name")
		return
	}
	if spec.err != nil {
		b.errs = append(b.errs, spec.err)
		return
	}
	if _, dup := b.stores[spec.name]; dup || b.globalStore(spec.name) {
		b.fail("duplicate store name %q", spec.name)
		return
	}
	b.stores[spec.name] = spec
	b.order = append(b.order, spec.name)
}

// connect records that node n uses store name.
func (b *Builder) connect(n *gnode, name string) {
	spec, ok := b.stores[name]
	if !ok {
		b.fail("processor %s uses unknown store %q", n.name, name)
		return
	}
	spec.users = append(spec.users, n)
	n.stores = append(n.stores, name)
}

// KeyValueStore is a typed key-value state store of one task. Reads see the task's own
// writes at once; with caching on, writes reach the underlying store, its changelog and
// (for DSL tables) the downstream processors when the task commits or the cache fills.
type KeyValueStore[K, V any] struct {
	name  string
	ks    Serde[K]
	vs    Serde[V]
	raw   state.KeyValueStore
	cache *kvCache
	tc    *task
}

// Name returns the store's name.
func (s *KeyValueStore[K, V]) Name() string { return s.name }

func (s *KeyValueStore[K, V]) key(k K) ([]byte, error) {
	kb, err := serialize(s.ks, k)
	if err != nil {
		return nil, fmt.Errorf("store %s: key: %w", s.name, err)
	}
	return kb, nil
}

// getRaw returns the serialized value of kb, or nil when absent.
func (s *KeyValueStore[K, V]) getRaw(kb []byte) ([]byte, error) {
	if s.cache != nil {
		return s.cache.get(kb)
	}
	vb, err := s.raw.Get(kb)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return vb, err
}

// Get returns the value stored under k and whether there is one.
func (s *KeyValueStore[K, V]) Get(k K) (V, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, false, err
	}
	vb, err := s.getRaw(kb)
	if err != nil || vb == nil {
		return zero, false, err
	}
	v, err := s.vs.Deserialize(vb)
	if err != nil {
		return zero, false, fmt.Errorf("store %s: value: %w", s.name, err)
	}
	return v, true, nil
}

// Put stores v under k.
func (s *KeyValueStore[K, V]) Put(k K, v V) error {
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
	return s.putRaw(kb, vb)
}

func (s *KeyValueStore[K, V]) putRaw(kb, vb []byte) error {
	if s.cache != nil {
		return s.cache.put(kb, vb, s.tc.timestamp())
	}
	return s.raw.Put(kb, vb)
}

// Delete removes k.
func (s *KeyValueStore[K, V]) Delete(k K) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.putRaw(kb, nil)
}

// All iterates every entry in the order of the serialized keys. With caching on it
// first flushes the cache.
func (s *KeyValueStore[K, V]) All() (*KeyValueIterator[K, V], error) {
	return s.iter(func() (state.KeyValueIterator, error) { return s.raw.All() })
}

// Range iterates the entries whose serialized keys lie in [from, to].
func (s *KeyValueStore[K, V]) Range(from, to K) (*KeyValueIterator[K, V], error) {
	fb, err := s.key(from)
	if err != nil {
		return nil, err
	}
	tb, err := s.key(to)
	if err != nil {
		return nil, err
	}
	return s.iter(func() (state.KeyValueIterator, error) { return s.raw.Range(fb, tb) })
}

func (s *KeyValueStore[K, V]) iter(open func() (state.KeyValueIterator, error)) (*KeyValueIterator[K, V], error) {
	if s.cache != nil {
		if err := s.cache.flush(); err != nil {
			return nil, err
		}
	}
	it, err := open()
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	return &KeyValueIterator[K, V]{s: s, it: it}, nil
}

// ApproximateNumEntries estimates the number of entries.
func (s *KeyValueStore[K, V]) ApproximateNumEntries() (int64, error) {
	if s.cache != nil {
		if err := s.cache.flush(); err != nil {
			return 0, err
		}
	}
	return s.raw.ApproximateNumEntries()
}

// KeyValueIterator walks the entries of a KeyValueStore. Close it when done.
type KeyValueIterator[K, V any] struct {
	s   *KeyValueStore[K, V]
	it  state.KeyValueIterator
	k   K
	v   V
	err error
}

// Next advances to the next entry and reports whether there is one.
func (it *KeyValueIterator[K, V]) Next() bool {
	if it.err != nil || !it.it.Next() {
		return false
	}
	if it.k, it.err = it.s.ks.Deserialize(it.it.Key()); it.err != nil {
		return false
	}
	it.v, it.err = it.s.vs.Deserialize(it.it.Value())
	return it.err == nil
}

// Key returns the current key.
func (it *KeyValueIterator[K, V]) Key() K { return it.k }

// Value returns the current value.
func (it *KeyValueIterator[K, V]) Value() V { return it.v }

// Err returns the first error met.
func (it *KeyValueIterator[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.it.Err()
}

// Close releases the iterator.
func (it *KeyValueIterator[K, V]) Close() error { return it.it.Close() }

// StoreProvider gives access to the state stores of a task; ProcessorContext
// implements it.
type StoreProvider interface {
	stateStore(name string) (any, error)
}

// GetKeyValueStore returns the key-value store named name, which the processor must be
// connected to (WithStores), with the types it was built with.
func GetKeyValueStore[K, V any](p StoreProvider, name string) (*KeyValueStore[K, V], error) {
	s, err := p.stateStore(name)
	if err != nil {
		return nil, err
	}
	kv, ok := s.(*KeyValueStore[K, V])
	if !ok {
		return nil, fmt.Errorf("%w: store %q is a %T", ErrUnknownStore, name, s)
	}
	return kv, nil
}
