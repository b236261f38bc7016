package streams

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a record flowing through a topology: a typed key and value with the
// timestamp (milliseconds since the epoch) and the headers of the record it came from.
//
// Tombstone marks a record whose value is null in Kafka terms: a sink writes it with a
// nil value, and Value holds V's zero value. Sources set it for records with a nil value
// and table streams for deletions; MapValues and FlatMapValues pass tombstones through
// without calling their function; Map and FlatMap produce regular records.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp int64
	Headers   []Header
	Tombstone bool
	nullKey   bool // the key was null on the wire and no operation replaced it
}

// WithValue returns a copy of r with value v (and Tombstone cleared).
func (r Record[K, V]) WithValue(v V) Record[K, V] {
	r.Value, r.Tombstone = v, false
	return r
}

// NullKey reports whether the record's key was null in the topic it came from (Key
// then holds K's zero value) and no operation has set a key since. Sinks write such
// keys as null and grouping operations skip such records, as Kafka Streams does.
func (r Record[K, V]) NullKey() bool { return r.nullKey }

// WithTimestamp returns a copy of r with timestamp ts.
func (r Record[K, V]) WithTimestamp(ts int64) Record[K, V] {
	r.Timestamp = ts
	return r
}

// withKV builds a record of other types that keeps r's timestamp and headers.
func withKV[K, V, K2, V2 any](r Record[K, V], k K2, v V2) Record[K2, V2] {
	return Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers}
}

// Change is an update of a table row, as table operations pass it downstream: the new
// value and the value it replaced. HasNew is false for a deletion, HasOld false for an
// insertion.
type Change[V any] struct {
	New    V
	Old    V
	HasNew bool
	HasOld bool
}

// KeyValue is a key and a value, as returned by FlatMap and test drivers.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// KV returns a KeyValue.
func KV[K, V any](k K, v V) KeyValue[K, V] { return KeyValue[K, V]{Key: k, Value: v} }
