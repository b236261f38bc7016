package state

import (
	"bytes"
	"fmt"
	"math"
	"sync/atomic"
)

// WindowConfig configures a window store. Durations are in milliseconds.
type WindowConfig struct {
	// Retention is how long windows are kept, measured back from the largest window start
	// written. It must be at least WindowSize.
	Retention int64
	// WindowSize is the size of the windows; a window's end is its start plus WindowSize.
	WindowSize int64
	// SegmentInterval is the time span of one segment; 0 means max(Retention/2, 60s), as
	// in Kafka Streams.
	SegmentInterval int64
	// RetainDuplicates keeps every value put for the same key and window (for joins)
	// instead of overwriting.
	RetainDuplicates bool
}

func (c *WindowConfig) validate(name string) error {
	if c.SegmentInterval == 0 {
		c.SegmentInterval = max(c.Retention/2, 60_000)
	}
	if c.WindowSize <= 0 || c.Retention < c.WindowSize {
		return fmt.Errorf("%w: window store %q: window size %d must be positive and at most retention %d", ErrBadConfig, name, c.WindowSize, c.Retention)
	}
	return nil
}

// windowStore is the WindowStore of every backend, built over time segments.
type windowStore struct {
	name string
	seg  *segmented
	cfg  WindowConfig
	seq  atomic.Uint32
	log  func(raw, value []byte) error // set by a Task to changelog writes
}

// NewWindowStore returns a window store named name that keeps its segments in segs.
// Backends wrap it (leveldb.NewWindowStore, memory.NewWindowStore).
func NewWindowStore(name string, segs Segments, cfg WindowConfig) (WindowStore, error) {
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	seg, err := newSegmented(name, segs, cfg.Retention, cfg.SegmentInterval, func(raw []byte) (int64, error) {
		_, ts, _, err := DecodeWindowKey(raw)
		return ts, err
	})
	if err != nil {
		return nil, err
	}
	return &windowStore{name: name, seg: seg, cfg: cfg}, nil
}

func (w *windowStore) Name() string     { return w.name }
func (w *windowStore) Persistent() bool { return w.seg.segs.Persistent() }
func (w *windowStore) Flush() error     { return w.seg.flush() }
func (w *windowStore) Close() error     { return w.seg.close() }

func (w *windowStore) Put(key, value []byte, windowStart int64) error {
	if key == nil {
		return ErrNilKey
	}
	if windowStart < 0 {
		return fmt.Errorf("%w: window start %d", ErrInvalidTimestamp, windowStart)
	}
	var seq uint32
	if w.cfg.RetainDuplicates {
		if value == nil {
			return nil
		}
		seq = w.seq.Add(1)
	}
	raw := EncodeWindowKey(key, windowStart, seq)
	logged, err := w.putRaw(raw, windowStart, value)
	if err == nil && logged && w.log != nil {
		return w.log(raw, value)
	}
	return err
}

// putRaw writes one binary window key; it reports false when the window was expired.
func (w *windowStore) putRaw(raw []byte, ts int64, value []byte) (bool, error) {
	kv, err := w.seg.forWrite(ts)
	if err != nil || kv == nil {
		return false, err
	}
	if err := kv.Put(raw, value); err != nil {
		return false, fmt.Errorf("state: window store %q: %w", w.name, err)
	}
	return true, nil
}

// RestoreBatch applies changelog records (binary window keys) in order.
func (w *windowStore) RestoreBatch(records []KeyValue) error {
	for _, r := range records {
		_, ts, seq, err := DecodeWindowKey(r.Key)
		if err != nil {
			return fmt.Errorf("state: window store %q restore: %w", w.name, err)
		}
		for cur := w.seq.Load(); seq > cur && !w.seq.CompareAndSwap(cur, seq); cur = w.seq.Load() {
		}
		if _, err := w.putRaw(r.Key, ts, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func (w *windowStore) Fetch(key []byte, windowStart int64) ([]byte, error) {
	it, err := w.FetchRange(key, windowStart, windowStart)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if it.Next() {
		return it.Value(), nil
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: window store %q key %q at %d", ErrNotFound, w.name, key, windowStart)
}

func (w *windowStore) FetchRange(key []byte, timeFrom, timeTo int64) (WindowIterator, error) {
	return w.fetchKey(key, timeFrom, timeTo, true)
}

func (w *windowStore) BackwardFetchRange(key []byte, timeFrom, timeTo int64) (WindowIterator, error) {
	return w.fetchKey(key, timeFrom, timeTo, false)
}

func (w *windowStore) fetchKey(key []byte, from, to int64, forward bool) (WindowIterator, error) {
	if key == nil {
		return nil, ErrNilKey
	}
	from = max(from, w.seg.minLive())
	if from > to {
		return EmptyIterator[Windowed](), nil
	}
	segs, err := w.seg.between(from, to, forward)
	if err != nil {
		return nil, err
	}
	lo, hi := EncodeWindowKey(key, from, 0), EncodeWindowKey(key, to, math.MaxUint32)
	open := func(kv KeyValueStore) (KeyValueIterator, error) {
		if forward {
			return kv.Range(lo, hi)
		}
		return kv.ReverseRange(lo, hi)
	}
	return &windowedIter{open: openers(segs, open), decode: w.decoder(key, from, to)}, nil
}

// decoder returns a filter keeping entries of key (all keys when key is nil) whose window
// start is in [from, to].
func (w *windowStore) decoder(key []byte, from, to int64) func([]byte) (Windowed, bool, error) {
	return func(raw []byte) (Windowed, bool, error) {
		k, ts, _, err := DecodeWindowKey(raw)
		if err != nil {
			return Windowed{}, false, fmt.Errorf("state: window store %q: %w", w.name, err)
		}
		if (key != nil && !bytes.Equal(k, key)) || ts < from || ts > to {
			return Windowed{}, false, nil
		}
		return Windowed{Key: k, Window: Window{Start: ts, End: ts + w.cfg.WindowSize}}, true, nil
	}
}

func (w *windowStore) FetchAll(timeFrom, timeTo int64) (WindowIterator, error) {
	timeFrom = max(timeFrom, w.seg.minLive())
	if timeFrom > timeTo {
		return EmptyIterator[Windowed](), nil
	}
	segs, err := w.seg.between(timeFrom, timeTo, true)
	if err != nil {
		return nil, err
	}
	all := func(kv KeyValueStore) (KeyValueIterator, error) { return kv.All() }
	return &windowedIter{open: openers(segs, all), decode: w.decoder(nil, timeFrom, timeTo)}, nil
}

func (w *windowStore) All() (WindowIterator, error) {
	return w.FetchAll(0, math.MaxInt64)
}
