package log

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The cleaner compacts logs with cleanup.policy compact, as Kafka's
// LogCleaner does:
//
//   - The cleanable part of a log runs from the log start to the first
//     uncleanable offset: the active segment's base, the high watermark,
//     the first offset of a transaction still open, or the first segment
//     younger than min.compaction.lag.ms, whichever comes first. Only whole
//     non-active segments below it are cleaned.
//   - The dirty part starts at the cleaner checkpoint (the offset the last
//     cleaning reached). A log is cleaned when its dirty bytes make up more
//     than min.cleanable.dirty.ratio of the cleanable part, when its oldest
//     dirty record is older than max.compaction.lag.ms, or when a delete
//     horizon it wrote has passed.
//   - Phase 1 maps each key in the dirty part to its latest offset (a
//     bounded table of key hashes; if it fills, cleaning stops there and the
//     rest waits for the next round). Records of aborted transactions and
//     control batches are not mapped.
//   - Phase 2 rewrites the cleanable segments from the log start, in groups
//     that fit in segment.bytes: a record stays if it is past what the map
//     covers, or if it is the latest for its key; a tombstone (null value)
//     also needs its batch's delete horizon not to have passed. Records
//     without a key and aborted transactional records go. Offsets never
//     change: a rewritten batch keeps its base offset, last offset delta,
//     producer ID, epoch and base sequence, leader epoch, attributes and
//     codec. The first cleaning that keeps a tombstone (or a marker whose
//     transaction has no batches left) stamps its batch with a delete
//     horizon (KIP-534: attribute bit 6, base timestamp = now +
//     delete.retention.ms); a later cleaning past that time removes it.
//     The last batch of each producer stays, emptied if need be.
//   - Each group is written to <base>.log.cleaned (+ .index, .timeindex),
//     renamed to .swap and swapped in under the log's lock (cleaner_swap.go);
//     recovery finishes or rolls back a swap a crash interrupted.

// errCleanAborted: the log closed or the Manager stopped during cleaning.
var errCleanAborted = errors.New("cleaning aborted")

// CleanStats reports what one cleaning did.
type CleanStats struct {
	FirstDirty, End int64 // the key map covered offsets [FirstDirty, End)
	Segments        int   // segments rewritten
	Swapped         int   // cleaned segments swapped in
	BytesRead       int64
	BytesWritten    int64
	RecordsRead     int64
	RecordsRemoved  int64
	Duration        time.Duration
}

// cleaner is one cleaner thread's scratch space.
type cleaner struct {
	omap   *offsetMap
	bb     batchBuilder
	recs   []record
	out    []byte
	wbuf   []byte
	ioSize int
	stop   <-chan struct{}
}

func newCleaner(mapBudget int64, ioSize int, stop <-chan struct{}) *cleaner {
	return &cleaner{omap: newOffsetMap(mapBudget), ioSize: ioSize, stop: stop}
}

func (c *cleaner) stopped() bool {
	if c.stop == nil {
		return false
	}
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// cleanView is a snapshot of a log taken for cleaning.
type cleanView struct {
	segs                []*segment
	cfg                 Config
	leo, hw, logStart   int64
	firstDirty          int64 // clamped cleaner checkpoint
	uncleanable         int64 // first offset that may not be cleaned (before the transaction scan)
	n                   int   // segs[:n] are cleanable
	cleanBytes, dirties int64
}

// view snapshots the log and works out its cleanable and dirty parts.
func (l *Log) view(now time.Time) (cleanView, bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return cleanView{}, false
	}
	v := cleanView{
		segs: *l.segs.Load(), cfg: l.cfg, leo: l.leo.Load(), hw: l.hw.Load(), logStart: l.logStart.Load(),
	}
	maxTs := make([]int64, len(v.segs))
	for i, s := range v.segs {
		maxTs[i] = s.maxTs
	}
	l.mu.Unlock()
	v.firstDirty = l.cleanedTo.Load()
	if v.firstDirty < v.logStart || v.firstDirty > v.leo {
		v.firstDirty = v.logStart
	}
	v.uncleanable = min(v.segs[len(v.segs)-1].base, v.hw)
	if fu := l.FirstUnstableOffset(); fu >= 0 {
		v.uncleanable = min(v.uncleanable, fu)
	}
	nowMs := now.UnixMilli()
	for i := 0; i+1 < len(v.segs); i++ {
		s := v.segs[i]
		next := v.segs[i+1].base
		if next > v.uncleanable {
			break
		}
		if next > v.firstDirty && v.cfg.MinCompactionLagMs > 0 && maxTs[i] > nowMs-v.cfg.MinCompactionLagMs {
			v.uncleanable = s.base
			break
		}
		v.n = i + 1
		if next <= v.firstDirty {
			v.cleanBytes += s.size.Load()
		} else {
			v.dirties += s.size.Load()
		}
	}
	return v, true
}

// dirtyRatio is the dirty share of the cleanable part.
func (v *cleanView) dirtyRatio() float64 {
	if v.dirties == 0 {
		return 0
	}
	return float64(v.dirties) / float64(v.dirties+v.cleanBytes)
}

// cleaningDue reports whether the Manager's cleaner should clean the log
// now, and how dirty it is.
func (l *Log) cleaningDue(now time.Time) (bool, float64) {
	if !l.Config().Compact() {
		return false, 0
	}
	v, ok := l.view(now)
	if !ok {
		return false, 0
	}
	r := v.dirtyRatio()
	if h := l.nextHorizon.Load(); h > 0 && h <= now.UnixMilli() && v.n > 0 {
		return true, r
	}
	if v.dirties == 0 {
		return false, 0
	}
	if r > v.cfg.MinCleanableDirtyRatio || (v.cfg.MinCleanableDirtyRatio == 0 && r > 0) {
		return true, r
	}
	if v.cfg.MaxCompactionLagMs != math.MaxInt64 {
		if ts, ok := l.firstDirtyTimestamp(v); ok && ts < now.UnixMilli()-v.cfg.MaxCompactionLagMs {
			return true, r
		}
	}
	return false, r
}

// firstDirtyTimestamp returns the max timestamp of the first dirty batch.
func (l *Log) firstDirtyTimestamp(v cleanView) (int64, bool) {
	for i := 0; i < v.n; i++ {
		s := v.segs[i]
		if v.segs[i+1].base <= v.firstDirty {
			continue
		}
		f, err := l.cache.acquire(s, l)
		if err != nil {
			return 0, false
		}
		defer l.cache.release(s)
		var ts int64
		found := false
		_, err = scanBatches(f, 0, s.size.Load(), 0, false, func(_ int64, h *BatchHeader, _ []byte) error {
			if h.LastOffset() < v.firstDirty {
				return nil
			}
			ts, found = h.MaxTimestamp, true
			return errStopScan
		})
		return ts, found && (err == nil || err == errStopScan)
	}
	return 0, false
}

// Clean compacts the log now, whatever its dirty ratio (a log whose
// cleanup.policy does not include compact is left alone). A Manager's
// cleaner threads call it when a log is due; it is exported for standalone
// logs and tests. Cleanings of one log are serialized.
func (l *Log) Clean(now time.Time) (CleanStats, error) {
	return l.clean(newCleaner(l.opts.CleanerDedupeBufferSize, l.opts.CleanerIOBufferSize, nil), now)
}

func (l *Log) clean(c *cleaner, now time.Time) (CleanStats, error) {
	start := time.Now()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	var st CleanStats
	v, ok := l.view(now)
	if !ok {
		return st, ErrClosed
	}
	if !v.cfg.Compact() || v.n == 0 {
		return st, nil
	}
	stop := func() bool { return c.stopped() || l.isClosed.Load() || l.truncating.Load() > 0 }
	info, err := l.scanTxns(v.segs, v.leo, stop)
	if err != nil {
		return st, fmt.Errorf("log %s: transaction scan: %w", l.name, err)
	}
	for v.n > 0 && v.segs[v.n].base > info.firstUnstable {
		v.n--
	}
	if v.n == 0 {
		return st, nil
	}
	cleanEnd := v.segs[v.n].base
	firstDirty := min(v.firstDirty, cleanEnd)
	nowMs := now.UnixMilli()
	horizonDue := l.nextHorizon.Load() > 0 && l.nextHorizon.Load() <= nowMs
	if firstDirty >= cleanEnd && !horizonDue {
		return st, nil
	}
	mapEnd, err := l.buildOffsetMap(c, v, firstDirty, cleanEnd, info, stop)
	if err != nil {
		return st, fmt.Errorf("log %s: build offset map: %w", l.name, err)
	}
	if mapEnd == firstDirty && firstDirty < cleanEnd {
		return st, fmt.Errorf("log %s: dedupe buffer too small for one record batch", l.name)
	}
	st.FirstDirty, st.End = firstDirty, mapEnd
	p := &cleanPass{
		l: l, c: c, cfg: v.cfg, nowMs: nowMs, mapEnd: mapEnd,
		tracker: newTxnTracker(info), info: info, minHorizon: math.MaxInt64, st: &st,
		abortIdx: make(map[int64]AbortedTxn),
	}
	for _, a := range l.AbortedTransactions(0, mapEnd) {
		p.abortIdx[a.LastOffset] = a
	}
	k := 0 // segments with base < mapEnd (at least one of them holds dirty or expiring data)
	for k < v.n && v.segs[k].base < mapEnd {
		k++
	}
	for _, g := range groupSegments(v.segs[:k], v.segs[k].base, v.cfg) {
		if err := p.cleanGroup(g.segs, g.end); err != nil {
			return st, fmt.Errorf("log %s: clean segments %d-%d: %w", l.name, g.segs[0].base, g.end, err)
		}
	}
	if p.minHorizon == math.MaxInt64 {
		l.nextHorizon.Store(0)
	} else {
		l.nextHorizon.Store(p.minHorizon)
	}
	if mapEnd != l.cleanedTo.Load() {
		l.cleanedTo.Store(mapEnd)
		if err := l.persistCleanerCheckpoint(); err != nil {
			return st, err
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}

// segGroup is consecutive segments cleaned into one, covering offsets up to end.
type segGroup struct {
	segs []*segment
	end  int64
}

// groupSegments splits segs (followed by a segment at base end) into runs
// whose total size fits in segment.bytes and whose offsets fit the index's
// 32-bit relative offsets.
func groupSegments(segs []*segment, end int64, cfg Config) []segGroup {
	var out []segGroup
	for i := 0; i < len(segs); {
		j := i + 1
		size := segs[i].size.Load()
		for j < len(segs) {
			next := end
			if j+1 < len(segs) {
				next = segs[j+1].base
			}
			if size+segs[j].size.Load() > cfg.SegmentBytes || next-1-segs[i].base > math.MaxInt32 {
				break
			}
			size += segs[j].size.Load()
			j++
		}
		g := segGroup{segs: segs[i:j], end: end}
		if j < len(segs) {
			g.end = segs[j].base
		}
		out = append(out, g)
		i = j
	}
	return out
}

// buildOffsetMap maps the keys of the dirty records in [firstDirty,
// cleanEnd) to their latest offsets. It returns the offset the map covers
// up to: cleanEnd, or the first record that did not fit.
func (l *Log) buildOffsetMap(c *cleaner, v cleanView, firstDirty, cleanEnd int64, info *txnInfo, stop func() bool) (int64, error) {
	c.omap.reset()
	for i := 0; i < v.n; i++ {
		s := v.segs[i]
		if v.segs[i+1].base <= firstDirty {
			continue
		}
		if stop() {
			return 0, errCleanAborted
		}
		f, err := l.cache.acquire(s, l)
		if err != nil {
			return 0, err
		}
		pos := int64(0)
		if firstDirty > s.base {
			pos = s.idx.lookup(firstDirty - s.base)
		}
		full := int64(-1)
		nb := 0
		_, err = scanBatches(f, pos, s.size.Load(), 0, true, func(_ int64, h *BatchHeader, b []byte) error {
			if nb++; nb%512 == 0 && stop() {
				return errCleanAborted
			}
			if h.LastOffset() < firstDirty || h.IsControl() {
				return nil
			}
			if h.IsTransactional() && info.isAborted(h.ProducerID, h.BaseOffset) {
				return nil
			}
			recs, err := batchRecords(b, h)
			if err != nil {
				return err
			}
			return forEachRecord(recs, h.RecordCount, func(r *record) error {
				o := h.BaseOffset + r.offDelta
				if r.keyNull || o < firstDirty {
					return nil
				}
				if !c.omap.put(r.key, o) {
					full = o
					return errStopScan
				}
				return nil
			})
		})
		l.cache.release(s)
		if full >= 0 {
			return full, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return cleanEnd, nil
}
