package state

// Store is what every state store has in common.
type Store interface {
	// Name returns the store's name, unique within its task.
	Name() string
	// Persistent reports whether the store keeps its data on disk across restarts.
	Persistent() bool
	// Flush makes every write so far durable in the store's own storage.
	Flush() error
	// Close releases the store. Iterators still open become invalid.
	Close() error
}

// KeyValue is one entry of a key-value store. A nil Value in a write deletes the key.
type KeyValue struct {
	Key   []byte
	Value []byte
}

// Iterator walks entries of a store in order. It must be closed when no longer needed,
// whether or not it was read to the end; an unclosed iterator may pin memory, files or
// snapshots. Key and Value are valid until the next call to Next and must not be modified.
//
//	it, err := store.Range(from, to)
//	if err != nil { ... }
//	defer it.Close()
//	for it.Next() {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
type Iterator[K any] interface {
	// Next advances to the next entry and reports whether there is one.
	Next() bool
	// Key returns the current entry's key.
	Key() K
	// Value returns the current entry's value.
	Value() []byte
	// Err returns the first error met while iterating, if any.
	Err() error
	// Close releases the iterator. It is safe to call more than once.
	Close() error
}

// KeyValueIterator iterates over the entries of a key-value store.
type KeyValueIterator = Iterator[[]byte]

// KeyValueStore is an ordered store of byte keys and byte values. Keys are ordered as
// unsigned bytes. Values returned by Get and iterators must not be modified.
type KeyValueStore interface {
	Store
	// Get returns the value of key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Put stores value under key; a nil value deletes the key.
	Put(key, value []byte) error
	// PutIfAbsent stores value only if key is absent. It returns the value already stored,
	// or nil when it stored the new value.
	PutIfAbsent(key, value []byte) ([]byte, error)
	// Delete removes key. Deleting an absent key is not an error.
	Delete(key []byte) error
	// PutAll applies all entries in order (nil values delete), atomically where the
	// backend allows it.
	PutAll(entries []KeyValue) error
	// Range iterates keys in [from, to] in ascending order. A nil bound is open. When
	// from > to the iterator is empty.
	Range(from, to []byte) (KeyValueIterator, error)
	// ReverseRange iterates keys in [from, to] in descending order.
	ReverseRange(from, to []byte) (KeyValueIterator, error)
	// PrefixScan iterates, in ascending order, the keys starting with prefix.
	PrefixScan(prefix []byte) (KeyValueIterator, error)
	// All iterates every key in ascending order.
	All() (KeyValueIterator, error)
	// ReverseAll iterates every key in descending order.
	ReverseAll() (KeyValueIterator, error)
	// ApproximateNumEntries estimates the number of keys. It may be expensive on disk
	// backends.
	ApproximateNumEntries() (int64, error)
}

// Window is a time interval [Start, End] in milliseconds since the epoch. For fixed-size
// windows End is Start plus the window size; for sessions both ends are inclusive event
// times.
type Window struct {
	Start int64
	End   int64
}

// Windowed is a key together with the window (or session) it belongs to.
type Windowed struct {
	Key    []byte
	Window Window
}

// WindowIterator iterates over windowed entries.
type WindowIterator = Iterator[Windowed]

// WindowStore keeps values per key and fixed-size window. Data older than the store's
// retention period (relative to the largest window start seen) is dropped a segment at a
// time and no longer returned.
type WindowStore interface {
	Store
	// Put stores value for key in the window starting at windowStart; a nil value deletes
	// it (and is ignored when the store retains duplicates). Writes to expired windows are
	// dropped silently.
	Put(key, value []byte, windowStart int64) error
	// Fetch returns the value of key in the window starting at windowStart, or ErrNotFound.
	Fetch(key []byte, windowStart int64) ([]byte, error)
	// FetchRange iterates the windows of key whose start lies in [timeFrom, timeTo], in
	// ascending start order.
	FetchRange(key []byte, timeFrom, timeTo int64) (WindowIterator, error)
	// BackwardFetchRange is FetchRange in descending start order.
	BackwardFetchRange(key []byte, timeFrom, timeTo int64) (WindowIterator, error)
	// FetchAll iterates all keys' windows whose start lies in [timeFrom, timeTo], ordered
	// by segment, then key, then start.
	FetchAll(timeFrom, timeTo int64) (WindowIterator, error)
	// All iterates every live window.
	All() (WindowIterator, error)
}

// SessionStore keeps one value per key and session window. Sessions are merged by the
// caller: FindSessions returns the sessions a new event at time t with inactivity gap g
// touches when called with (t-g, t+g).
type SessionStore interface {
	Store
	// Put stores value for key's session w; a nil value removes the session.
	Put(key []byte, w Window, value []byte) error
	// Remove deletes key's session w.
	Remove(key []byte, w Window) error
	// FetchSession returns the value of key's session w, or ErrNotFound.
	FetchSession(key []byte, w Window) ([]byte, error)
	// FindSessions iterates key's sessions that end at or after earliestSessionEnd and
	// start at or before latestSessionStart, ordered by end then start.
	FindSessions(key []byte, earliestSessionEnd, latestSessionStart int64) (WindowIterator, error)
	// FindSessionsByEnd iterates the sessions of every key that end in
	// [earliestSessionEnd, latestSessionEnd], segment by segment (Kafka Streams'
	// findSessions by end times, for emitting closed sessions).
	FindSessionsByEnd(earliestSessionEnd, latestSessionEnd int64) (WindowIterator, error)
	// Fetch iterates all live sessions of key.
	Fetch(key []byte) (WindowIterator, error)
	// All iterates every live session.
	All() (WindowIterator, error)
}

// Restorer is implemented by stores that can apply a batch of changelog records during
// restoration. Keys are in the store's changelog format; a nil value is a tombstone.
// Key-value stores get each batch sorted by key, stably (records of one key in changelog
// order); window and session stores get changelog order. The batch's keys and values
// point into fetch buffers: a store copies what it keeps.
type Restorer interface {
	RestoreBatch(records []KeyValue) error
}
