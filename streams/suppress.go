package streams

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrBufferFull is returned (and stops the application) when a suppression buffer
// configured with ShutDownWhenFull outgrows its bounds, as Kafka Streams shuts down.
var ErrBufferFull = errors.New("streams: suppression buffer full")

// BufferConfig bounds the buffer of a Suppress (Kafka Streams' BufferConfig): by record
// count, by bytes (keys, values and timestamps) or not at all, and says what happens
// when it is full: emit the oldest records early, or stop the application.
type BufferConfig struct {
	maxRecords int64
	maxBytes   int64
	shutDown   bool
}

// BufferUnbounded is a buffer without bounds: it holds whatever it must, in memory and
// in its store.
func BufferUnbounded() BufferConfig {
	return BufferConfig{maxRecords: math.MaxInt64, maxBytes: math.MaxInt64, shutDown: true}
}

// BufferMaxRecords is a buffer of at most n records that emits its oldest records
// early when full (change with ShutDownWhenFull).
func BufferMaxRecords(n int64) BufferConfig {
	return BufferConfig{maxRecords: n, maxBytes: math.MaxInt64}
}

// BufferMaxBytes is a buffer of at most n bytes that emits its oldest records early
// when full (change with ShutDownWhenFull).
func BufferMaxBytes(n int64) BufferConfig {
	return BufferConfig{maxRecords: math.MaxInt64, maxBytes: n}
}

// WithMaxRecords bounds the buffer to n records too.
func (c BufferConfig) WithMaxRecords(n int64) BufferConfig { c.maxRecords = n; return c }

// WithMaxBytes bounds the buffer to n bytes too.
func (c BufferConfig) WithMaxBytes(n int64) BufferConfig { c.maxBytes = n; return c }

// EmitEarlyWhenFull emits the oldest buffered records when the buffer is full.
func (c BufferConfig) EmitEarlyWhenFull() BufferConfig { c.shutDown = false; return c }

// ShutDownWhenFull stops the application with ErrBufferFull when the buffer is full.
func (c BufferConfig) ShutDownWhenFull() BufferConfig { c.shutDown = true; return c }

// Suppressed says which updates of a table Suppress holds back (Kafka Streams'
// Suppressed).
type Suppressed struct {
	final bool
	wait  int64
	buf   BufferConfig
	err   error
}

// UntilWindowCloses holds back the updates of a windowed table until its window
// closes (stream time passes the window end plus the grace period of the windowed
// aggregation upstream), then emits the final result of each window once. The buffer
// must not emit early: use BufferUnbounded or a bound with ShutDownWhenFull.
func UntilWindowCloses(buf BufferConfig) Suppressed {
	s := Suppressed{final: true, buf: buf}
	if !buf.shutDown {
		s.err = fmt.Errorf("%w: suppress until window closes: the buffer must not emit early (use ShutDownWhenFull or BufferUnbounded)", ErrTopology)
	}
	return s
}

// UntilTimeLimit holds back each key's updates until stream time has moved d past the
// first update buffered for it, then emits the key's latest value (rate limiting).
func UntilTimeLimit(d time.Duration, buf BufferConfig) Suppressed {
	s := Suppressed{wait: d.Milliseconds(), buf: buf}
	if d < 0 {
		s.err = fmt.Errorf("%w: suppress: time limit %v must not be negative", ErrTopology, d)
	}
	return s
}

// windowedKey is implemented by Windowed[K]: Suppress reads window ends through it.
type windowedKey interface{ windowBounds() Window }

func (w Windowed[K]) windowBounds() Window { return w.Window }

// setGrace records the grace period of a windowed aggregation node.
func (b *Builder) setGrace(n *gnode, grace int64) {
	if b.windowGrace == nil {
		b.windowGrace = map[*gnode]int64{}
	}
	b.windowGrace[n] = grace
}

// graceOf returns the grace period of the nearest windowed aggregations upstream of n
// (the smallest when there are several), as Kafka Streams' GraphGraceSearchUtil.
func (b *Builder) graceOf(n *gnode) (int64, bool) {
	if g, ok := b.windowGrace[n]; ok {
		return g, true
	}
	best, found := int64(0), false
	for _, p := range n.parents {
		if g, ok := b.graceOf(p); ok && (!found || g < best) {
			best, found = g, true
		}
	}
	return best, found
}

// Suppress holds back updates of t as s says (Kafka Streams' KTable.suppress). The
// buffer lives in memory and in a key-value store (As names it; by default
// "<Named>-store" or a generated KTABLE-SUPPRESS-STATE-STORE-…), logged to its
// changelog, so buffered updates survive restarts and moves to other instances.
func (t Table[K, V]) Suppress(s Suppressed, opts ...Option) Table[K, V] {
	o := collect(opts)
	b := t.b
	if s.err != nil {
		b.errs = append(b.errs, s.err)
	}
	storeName := o.store
	switch {
	case storeName != "":
	case o.name != "":
		storeName = o.name + "-store"
	default:
		storeName = b.newName("KTABLE-SUPPRESS-STATE-STORE-")
	}
	if t.ks == nil || t.vs == nil {
		b.fail("suppress into store %q needs the table's key and value serdes", storeName)
	}
	var grace int64
	if s.final {
		var zero K
		if _, ok := any(zero).(windowedKey); !ok {
			b.fail("suppress until window closes needs a windowed table, not one keyed by %T", zero)
		} else if g, ok := b.graceOf(t.n); ok {
			grace = g
		} else {
			b.fail("suppress until window closes: no windowed aggregation upstream of %s", t.n.name)
		}
	}
	b.addStore(newKVSpec(storeName, Bytes(), Bytes(), options{inMemory: o.inMemory, noLog: o.noLog, noCache: true}))
	n := b.addNode(kindProcessor, o.name, "KTABLE-SUPPRESS-", t.n)
	b.connect(n, storeName)
	wait := s.wait
	if s.final {
		wait = grace
	}
	ks, vs := t.ks, t.vs
	out := link([]*fanout[K, Change[V]]{t.out}, n, func(tc *task, fw forwarder[K, Change[V]]) (proc[K, Change[V]], error) {
		p := &suppressProc[K, V]{
			tc: tc, st: tc.stores[storeName].(*KeyValueStore[[]byte, []byte]), ks: ks, vs: vs,
			final: s.final, wait: wait, buf: s.buf, fw: fw, idx: map[string]*bufEntry{}, observed: -1,
		}
		if err := p.load(); err != nil {
			return nil, err
		}
		return p, nil
	})
	return Table[K, V]{b: b, n: n, out: out, ks: ks, vs: vs}
}

// bufEntry is one buffered key: its latest new value and the old value it had when
// first buffered. Entries are ordered by buffer time, then by serialized key, as in
// Kafka Streams' buffer; an update keeps the entry's place (non-resetting).
type bufEntry struct {
	key    string
	time   int64 // window end (final results) or timestamp of the first update
	recTs  int64 // timestamp of the latest update
	newV   []byte
	oldV   []byte
	hasNew bool
	hasOld bool
}

func (e *bufEntry) size() int64 { return int64(len(e.key)+len(e.newV)+len(e.oldV)) + 16 }

// bufHeader is the length of an encoded entry before its values.
const bufHeader = 8 + 8 + 1 + 4

// encode returns the entry's store value: buffer time and record timestamp (8 bytes
// each, big-endian), a flags byte (1: has new, 2: has old), the new value's length
// (4 bytes), the new value, then the old value.
func (e *bufEntry) encode() []byte {
	b := make([]byte, 0, bufHeader+len(e.newV)+len(e.oldV))
	b = binary.BigEndian.AppendUint64(b, uint64(e.time))
	b = binary.BigEndian.AppendUint64(b, uint64(e.recTs))
	var flags byte
	if e.hasNew {
		flags |= 1
	}
	if e.hasOld {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.newV)))
	b = append(b, e.newV...)
	return append(b, e.oldV...)
}

func decodeBufEntry(key, b []byte) (*bufEntry, error) {
	if len(b) < bufHeader {
		return nil, fmt.Errorf("%w: suppression buffer entry of %d bytes", ErrSerde, len(b))
	}
	e := &bufEntry{key: string(key), time: int64(binary.BigEndian.Uint64(b)),
		recTs: int64(binary.BigEndian.Uint64(b[8:])), hasNew: b[16]&1 != 0, hasOld: b[16]&2 != 0}
	n := int(binary.BigEndian.Uint32(b[17:]))
	if n > len(b)-bufHeader {
		return nil, fmt.Errorf("%w: suppression buffer entry: new value of %d bytes in %d", ErrSerde, n, len(b))
	}
	e.newV = append([]byte(nil), b[bufHeader:bufHeader+n]...)
	e.oldV = append([]byte(nil), b[bufHeader+n:]...)
	return e, nil
}

// bufHeap orders buffered entries by time, then serialized key.
type bufHeap []*bufEntry

func (h bufHeap) Len() int { return len(h) }
func (h bufHeap) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].key < h[j].key
}
func (h bufHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *bufHeap) Push(x any)   { *h = append(*h, x.(*bufEntry)) }
func (h *bufHeap) Pop() (x any) { old := *h; x = old[len(old)-1]; *h = old[:len(old)-1]; return x }

// suppressProc is the processor of a Suppress in one task. The in-memory index mirrors
// the store, which makes the buffer durable.
type suppressProc[K, V any] struct {
	tc       *task
	st       *KeyValueStore[[]byte, []byte]
	ks       Serde[K]
	vs       Serde[V]
	final    bool
	wait     int64
	buf      BufferConfig
	fw       forwarder[K, Change[V]]
	idx      map[string]*bufEntry
	h        bufHeap
	bytes    int64
	observed int64
}

// load rebuilds the buffer from its store (restored from the changelog if need be).
func (p *suppressProc[K, V]) load() error {
	it, err := p.st.All()
	if err != nil {
		return err
	}
	for it.Next() {
		e, err := decodeBufEntry(it.Key(), it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("store %s: %w", p.st.name, err)
		}
		p.idx[e.key] = e
		heap.Push(&p.h, e)
		p.bytes += e.size()
	}
	return errors.Join(it.Err(), it.Close())
}

func (p *suppressProc[K, V]) process(r Record[K, Change[V]]) error {
	p.observed = max(p.observed, r.Timestamp)
	kb, err := p.ks.Serialize(r.Key)
	if err != nil {
		return fmt.Errorf("suppress: key: %w", err)
	}
	e := p.idx[string(kb)]
	if e == nil {
		t := r.Timestamp
		if p.final {
			t = any(r.Key).(windowedKey).windowBounds().End
		}
		e = &bufEntry{key: string(kb), time: t, hasOld: r.Value.HasOld}
		if e.hasOld {
			if e.oldV, err = p.vs.Serialize(r.Value.Old); err != nil {
				return fmt.Errorf("suppress: value: %w", err)
			}
		}
		p.idx[e.key] = e
		heap.Push(&p.h, e)
	} else {
		p.bytes -= e.size()
	}
	e.recTs, e.hasNew, e.newV = r.Timestamp, r.Value.HasNew, nil
	if e.hasNew {
		if e.newV, err = p.vs.Serialize(r.Value.New); err != nil {
			return fmt.Errorf("suppress: value: %w", err)
		}
	}
	p.bytes += e.size()
	if err := p.st.Put(kb, e.encode()); err != nil {
		return err
	}
	return p.enforce()
}

// enforce emits what has waited long enough, then what does not fit.
func (p *suppressProc[K, V]) enforce() error {
	expiry := p.observed - p.wait
	for len(p.h) > 0 && p.h[0].time <= expiry {
		if err := p.emit(); err != nil {
			return err
		}
	}
	for p.full() {
		if p.buf.shutDown {
			return fmt.Errorf("%w: %d records, %d bytes (max %d records, %d bytes) in store %s",
				ErrBufferFull, len(p.h), p.bytes, p.buf.maxRecords, p.buf.maxBytes, p.st.name)
		}
		if err := p.emit(); err != nil {
			return err
		}
	}
	return nil
}

func (p *suppressProc[K, V]) full() bool {
	return int64(len(p.h)) > p.buf.maxRecords || p.bytes > p.buf.maxBytes
}

// emit removes the oldest entry and forwards it; final results drop deletions.
func (p *suppressProc[K, V]) emit() error {
	e := heap.Pop(&p.h).(*bufEntry)
	delete(p.idx, e.key)
	p.bytes -= e.size()
	if err := p.st.Delete([]byte(e.key)); err != nil {
		return err
	}
	if p.final && !e.hasNew {
		return nil
	}
	k, err := p.ks.Deserialize([]byte(e.key))
	if err != nil {
		return fmt.Errorf("suppress: key: %w", err)
	}
	var c Change[V]
	if c.HasNew = e.hasNew; c.HasNew {
		if c.New, err = p.vs.Deserialize(e.newV); err != nil {
			return fmt.Errorf("suppress: value: %w", err)
		}
	}
	if c.HasOld = e.hasOld; c.HasOld {
		if c.Old, err = p.vs.Deserialize(e.oldV); err != nil {
			return fmt.Errorf("suppress: value: %w", err)
		}
	}
	return p.fw.forward(Record[K, Change[V]]{Key: k, Value: c, Timestamp: e.recTs})
}
