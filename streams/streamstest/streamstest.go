package streamstest

import (
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
)

// Driver runs a topology without a broker; see the package documentation.
type Driver struct {
	tb testing.TB
	h  *streams.Harness
}

// Option tunes a Driver.
type Option func(*streams.HarnessConfig)

// WithApplicationID sets the application.id (default "streamstest"), which prefixes
// internal topics.
func WithApplicationID(id string) Option {
	return func(c *streams.HarnessConfig) { c.ApplicationID = id }
}

// WithWallClock sets the initial mocked wall-clock time.
func WithWallClock(t time.Time) Option {
	return func(c *streams.HarnessConfig) { c.WallClock = t.UnixMilli() }
}

// WithDeserializationHandler sets the handler of records that fail to deserialize.
func WithDeserializationHandler(h streams.DeserializationHandler) Option {
	return func(c *streams.HarnessConfig) { c.DeserializationHandler = h }
}

// WithStateDir keeps the stores in dir instead of a temporary directory.
func WithStateDir(dir string) Option { return func(c *streams.HarnessConfig) { c.StateDir = dir } }

// New starts a driver for topo; it is closed when the test ends.
func New(tb testing.TB, topo *streams.Topology, opts ...Option) *Driver {
	tb.Helper()
	var cfg streams.HarnessConfig
	for _, o := range opts {
		o(&cfg)
	}
	h, err := streams.NewHarness(topo, cfg)
	if err != nil {
		tb.Fatalf("streamstest: %v", err)
	}
	d := &Driver{tb: tb, h: h}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("streamstest: close: %v", err)
		}
	})
	return d
}

// Harness returns the untyped harness under the driver.
func (d *Driver) Harness() *streams.Harness { return d.h }

// AdvanceWallClockTime moves the mocked wall clock forward by dur, firing the wall-clock
// punctuations that become due.
func (d *Driver) AdvanceWallClockTime(dur time.Duration) {
	d.tb.Helper()
	if err := d.h.AdvanceWallClock(dur); err != nil {
		d.tb.Fatalf("streamstest: advance wall clock: %v", err)
	}
}

// WallClock returns the mocked wall-clock time.
func (d *Driver) WallClock() time.Time { return time.UnixMilli(d.h.WallClock()) }

// DroppedRecords returns how many records the topology's processors skipped so far
// (Kafka Streams' dropped-records-total metric).
func (d *Driver) DroppedRecords() int64 { return d.h.DroppedRecords() }

// InternalTopic returns the full name of an internal topic: "<application.id>-<name>".
func (d *Driver) InternalTopic(name string) string { return d.h.ApplicationID() + "-" + name }

// KeyValueStore returns the store named name, as typed when it was built.
func KeyValueStore[K, V any](d *Driver, name string) *streams.KeyValueStore[K, V] {
	d.tb.Helper()
	s, err := streams.GetKeyValueStore[K, V](d.h, name)
	if err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	return s
}

// StoreContents returns every entry of the store named name.
func StoreContents[K comparable, V any](d *Driver, name string) map[K]V {
	d.tb.Helper()
	it, err := KeyValueStore[K, V](d, name).All()
	if err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	defer it.Close()
	out := map[K]V{}
	for it.Next() {
		out[it.Key()] = it.Value()
	}
	if err := it.Err(); err != nil {
		d.tb.Fatalf("streamstest: %v", err)
	}
	return out
}

// InputTopic pipes typed records into a topic.
type InputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    streams.Serde[K]
	vs    streams.Serde[V]
	ts    int64
}

// NewInputTopic returns an input for topic with the given serdes (nil: default serde).
// Records piped without a timestamp get the driver's wall-clock time at creation.
func NewInputTopic[K, V any](d *Driver, topic string, ks streams.Serde[K], vs streams.Serde[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, topic: topic, ks: orDefault(ks), vs: orDefault(vs), ts: d.h.WallClock()}
}

// Advance moves the input's default timestamp forward by dur.
func (in *InputTopic[K, V]) Advance(dur time.Duration) { in.ts += dur.Milliseconds() }

func (in *InputTopic[K, V]) pipe(kb, vb []byte, ts int64, headers []streams.Header) {
	in.d.tb.Helper()
	if err := in.d.h.Pipe(in.topic, kb, vb, ts, headers); err != nil {
		in.d.tb.Fatalf("streamstest: pipe into %s: %v", in.topic, err)
	}
}

func (in *InputTopic[K, V]) ser(k K, v V) ([]byte, []byte) {
	in.d.tb.Helper()
	kb, err := in.ks.Serialize(k)
	if err != nil {
		in.d.tb.Fatalf("streamstest: serialize key: %v", err)
	}
	vb, err := in.vs.Serialize(v)
	if err != nil {
		in.d.tb.Fatalf("streamstest: serialize value: %v", err)
	}
	return nonNil(kb), nonNil(vb)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Pipe writes one record with the input's current timestamp.
func (in *InputTopic[K, V]) Pipe(k K, v V) { in.d.tb.Helper(); in.PipeAt(k, v, in.ts) }

// PipeAt writes one record with timestamp ts (milliseconds).
func (in *InputTopic[K, V]) PipeAt(k K, v V, ts int64) {
	in.d.tb.Helper()
	kb, vb := in.ser(k, v)
	in.pipe(kb, vb, ts, nil)
}

// PipeRecord writes r with its timestamp, headers and tombstone flag.
func (in *InputTopic[K, V]) PipeRecord(r streams.Record[K, V]) {
	in.d.tb.Helper()
	kb, vb := in.ser(r.Key, r.Value)
	if r.Tombstone {
		vb = nil
	}
	in.pipe(kb, vb, r.Timestamp, r.Headers)
}

// PipeValue writes a record with a null key.
func (in *InputTopic[K, V]) PipeValue(v V) {
	in.d.tb.Helper()
	var k K
	_, vb := in.ser(k, v)
	in.pipe(nil, vb, in.ts, nil)
}

// PipeTombstone writes a record with key k and a null value.
func (in *InputTopic[K, V]) PipeTombstone(k K) {
	in.d.tb.Helper()
	var v V
	kb, _ := in.ser(k, v)
	in.pipe(kb, nil, in.ts, nil)
}

// PipeRaw writes raw bytes (to test deserialization errors).
func (in *InputTopic[K, V]) PipeRaw(key, value []byte) {
	in.d.tb.Helper()
	in.pipe(key, value, in.ts, nil)
}

// PipeValues writes records with null keys and the given values.
func (in *InputTopic[K, V]) PipeValues(vs ...V) {
	in.d.tb.Helper()
	for _, v := range vs {
		in.PipeValue(v)
	}
}

// OutputTopic reads the typed records written to a topic.
type OutputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    streams.Serde[K]
	vs    streams.Serde[V]
	buf   []streams.ProducedRecord
}

// NewOutputTopic returns a reader of topic with the given serdes (nil: default serde).
func NewOutputTopic[K, V any](d *Driver, topic string, ks streams.Serde[K], vs streams.Serde[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, topic: topic, ks: orDefault(ks), vs: orDefault(vs)}
}

func (o *OutputTopic[K, V]) fill() {
	o.buf = append(o.buf, o.d.h.Output(o.topic)...)
}

// IsEmpty reports whether every record written so far was read.
func (o *OutputTopic[K, V]) IsEmpty() bool { o.fill(); return len(o.buf) == 0 }

// ReadRecord returns the next record; it fails the test when there is none.
func (o *OutputTopic[K, V]) ReadRecord() streams.Record[K, V] {
	o.d.tb.Helper()
	o.fill()
	if len(o.buf) == 0 {
		o.d.tb.Fatalf("streamstest: no record in %s", o.topic)
	}
	p := o.buf[0]
	o.buf = o.buf[1:]
	r := streams.Record[K, V]{Timestamp: p.Timestamp, Headers: p.Headers, Tombstone: p.Value == nil}
	var err error
	if p.Key != nil {
		if r.Key, err = o.ks.Deserialize(p.Key); err != nil {
			o.d.tb.Fatalf("streamstest: %s: key: %v", o.topic, err)
		}
	}
	if p.Value != nil {
		if r.Value, err = o.vs.Deserialize(p.Value); err != nil {
			o.d.tb.Fatalf("streamstest: %s: value: %v", o.topic, err)
		}
	}
	return r
}

// ReadRecords returns every unread record.
func (o *OutputTopic[K, V]) ReadRecords() []streams.Record[K, V] {
	o.d.tb.Helper()
	var out []streams.Record[K, V]
	for !o.IsEmpty() {
		out = append(out, o.ReadRecord())
	}
	return out
}

// ReadKeyValue returns the next record's key and value.
func (o *OutputTopic[K, V]) ReadKeyValue() streams.KeyValue[K, V] {
	o.d.tb.Helper()
	r := o.ReadRecord()
	return streams.KV(r.Key, r.Value)
}

// ReadKeyValues returns the keys and values of every unread record.
func (o *OutputTopic[K, V]) ReadKeyValues() []streams.KeyValue[K, V] {
	o.d.tb.Helper()
	var out []streams.KeyValue[K, V]
	for !o.IsEmpty() {
		out = append(out, o.ReadKeyValue())
	}
	return out
}

// ReadKeyValuesToMap reads every unread record into a map of each key's last value; a
// tombstone removes the key.
func ReadKeyValuesToMap[K comparable, V any](o *OutputTopic[K, V]) map[K]V {
	o.d.tb.Helper()
	out := map[K]V{}
	for _, r := range o.ReadRecords() {
		if r.Tombstone {
			delete(out, r.Key)
		} else {
			out[r.Key] = r.Value
		}
	}
	return out
}

func orDefault[T any](s streams.Serde[T]) streams.Serde[T] {
	if s != nil {
		return s
	}
	var z T
	var d any
	switch any(z).(type) {
	case string:
		d = streams.String()
	case []byte:
		d = streams.Bytes()
	case int64:
		d = streams.Int64()
	case int32:
		d = streams.Int32()
	case float64:
		d = streams.Float64()
	default:
		panic("streamstest: no default serde for this type; pass one")
	}
	return d.(streams.Serde[T])
}
