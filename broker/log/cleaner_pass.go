package log

import (
	"bytes"
	"math"
	"os"
)

// cleanPass is phase 2 of one cleaning: it rewrites groups of segments in
// offset order from the log start.
type cleanPass struct {
	l          *Log
	c          *cleaner
	cfg        Config
	nowMs      int64
	mapEnd     int64
	info       *txnInfo
	tracker    *txnTracker
	minHorizon int64 // earliest delete horizon left in the cleaned segments
	st         *CleanStats
	// abortIdx holds the log's aborted-transaction entries by marker
	// offset; kept collects those whose markers the current group keeps,
	// for its .txnindex.
	abortIdx map[int64]AbortedTxn
	kept     []AbortedTxn
}

// cleanGroup rewrites the segments of g (covering offsets up to end) into
// one cleaned segment and swaps it in. A single segment that comes out
// unchanged is left as it is.
func (p *cleanPass) cleanGroup(g []*segment, end int64) error {
	l := p.l
	out := newSegment(l.dir, g[0].base)
	files, err := createCleanedFiles(l.fs, out)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			files.discard(l.fs)
		}
	}()
	changed := len(g) > 1
	p.kept = p.kept[:0]
	var written int64
	w := p.c.wbuf[:0]
	flush := func() error {
		if len(w) == 0 {
			return nil
		}
		if _, err := files.log.WriteAt(w, written); err != nil {
			return storageErr("write cleaned segment", err)
		}
		written += int64(len(w))
		w = w[:0]
		return nil
	}
	for _, s := range g {
		if p.c.stopped() || l.isClosed.Load() {
			return errCleanAborted
		}
		f, err := l.cache.acquire(s, l)
		if err != nil {
			return err
		}
		p.st.Segments++
		p.st.BytesRead += s.size.Load()
		n := 0
		_, err = scanBatches(f, 0, s.size.Load(), 0, true, func(_ int64, h *BatchHeader, b []byte) error {
			if n++; n%512 == 0 && (p.c.stopped() || l.isClosed.Load()) {
				return errCleanAborted
			}
			nb, keep, mod, err := p.filterBatch(b, h)
			if err != nil {
				return err
			}
			changed = changed || mod
			if !keep {
				return nil
			}
			oh, err := ParseBatchHeader(nb)
			if err != nil {
				return err
			}
			out.noteBatch(written+int64(len(w)), len(nb), &oh, p.cfg.IndexIntervalBytes)
			w = append(w, nb...)
			if len(w) >= p.c.ioSize {
				return flush()
			}
			return nil
		})
		l.cache.release(s)
		if err != nil {
			p.c.wbuf = w
			return err
		}
	}
	err = flush()
	p.c.wbuf = w
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	out.finishIndex()
	out.size.Store(written)
	out.next = end
	p.st.BytesWritten += written
	if err := files.prepare(l.fs, out, end, p.kept); err != nil {
		return err
	}
	committed, err = l.swapIn(g, out, end, p.kept)
	if err != nil {
		return err
	}
	p.st.Swapped++
	return nil
}

// filterBatch decides what becomes of one batch: it returns the bytes to
// write (the original or a rebuilt batch), whether to keep it at all, and
// whether anything changed.
func (p *cleanPass) filterBatch(b []byte, h *BatchHeader) ([]byte, bool, bool, error) {
	hasHorizon := h.Attributes&AttrDeleteHorizon != 0
	horizon := int64(math.MaxInt64)
	if hasHorizon {
		horizon = h.BaseTimestamp
	}
	lastOfProducer := false
	if h.ProducerID >= 0 {
		last, ok := p.info.lastBatch[h.ProducerID]
		lastOfProducer = ok && last == h.LastOffset()
	}
	if h.IsControl() {
		typ, ok := controlType(b, h)
		canDiscard := p.tracker.onControl(h, typ, ok)
		if canDiscard && hasHorizon && horizon <= p.nowMs {
			return p.dropBatch(b, h, lastOfProducer)
		}
		if a, isAbort := p.abortIdx[h.BaseOffset]; isAbort && ok && typ == controlAbort {
			p.kept = append(p.kept, a)
		}
		if canDiscard && !hasHorizon {
			nb, err := p.rebuild(b, h, true, func(*record) bool { return true })
			return nb, true, true, err
		}
		if hasHorizon {
			p.minHorizon = min(p.minHorizon, horizon)
		}
		return b, true, false, nil
	}
	p.st.RecordsRead += int64(h.RecordCount)
	if p.tracker.onData(h) {
		p.st.RecordsRemoved += int64(h.RecordCount)
		return p.dropBatch(b, h, lastOfProducer)
	}
	recs, err := batchRecords(b, h)
	if err != nil {
		return nil, false, false, err
	}
	p.c.recs = p.c.recs[:0]
	kept, tombstones := 0, false
	err = forEachRecord(recs, h.RecordCount, func(r *record) error {
		p.c.recs = append(p.c.recs, *r)
		if p.retain(h, r, horizon) {
			kept++
			tombstones = tombstones || r.valueNull
		} else {
			p.c.recs[len(p.c.recs)-1].body = nil // marks it dropped
		}
		return nil
	})
	if err != nil {
		return nil, false, false, err
	}
	p.st.RecordsRemoved += int64(int(h.RecordCount) - kept)
	if kept == 0 {
		return p.dropBatch(b, h, lastOfProducer)
	}
	if hasHorizon && tombstones {
		p.minHorizon = min(p.minHorizon, horizon)
	}
	needHorizon := tombstones && !hasHorizon
	if kept == int(h.RecordCount) && !needHorizon {
		return b, true, false, nil
	}
	nb, err := p.rebuildKept(b, h, needHorizon)
	return nb, true, true, err
}

// retain applies Kafka's record retention rule to a record of a data batch.
func (p *cleanPass) retain(h *BatchHeader, r *record, horizon int64) bool {
	o := h.BaseOffset + r.offDelta
	if o >= p.mapEnd {
		return true // not looked at yet
	}
	if r.keyNull {
		return false
	}
	if latest := p.c.omap.get(r.key); latest > o {
		return false
	}
	return !r.valueNull || p.nowMs < horizon
}

// dropBatch removes a batch whose records all go, keeping an empty batch
// if it is its producer's last.
func (p *cleanPass) dropBatch(b []byte, h *BatchHeader, lastOfProducer bool) ([]byte, bool, bool, error) {
	if !lastOfProducer {
		return nil, false, true, nil
	}
	if h.RecordCount == 0 {
		return b, true, false, nil
	}
	attrs := h.Attributes &^ (AttrCompressionMask | AttrDeleteHorizon)
	nb, err := p.c.bb.encodeBatch(b, nil, 0, attrs, h.MaxTimestamp, h.MaxTimestamp, false)
	return nb, true, true, err
}

// rebuild re-encodes a batch with the records keep accepts.
func (p *cleanPass) rebuild(b []byte, h *BatchHeader, setHorizon bool, keep func(*record) bool) ([]byte, error) {
	recs, err := batchRecords(b, h)
	if err != nil {
		return nil, err
	}
	p.c.recs = p.c.recs[:0]
	err = forEachRecord(recs, h.RecordCount, func(r *record) error {
		if !keep(r) {
			r.body = nil
		}
		p.c.recs = append(p.c.recs, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p.rebuildKept(b, h, setHorizon)
}

// rebuildKept encodes the records of p.c.recs that are not marked dropped
// into a batch with b's header fields, stamping a new delete horizon if
// setHorizon.
func (p *cleanPass) rebuildKept(b []byte, h *BatchHeader, setHorizon bool) ([]byte, error) {
	attrs := h.Attributes
	baseTs := h.BaseTimestamp
	if setHorizon {
		attrs |= AttrDeleteHorizon
		baseTs = math.MaxInt64
		if p.cfg.DeleteRetentionMs < math.MaxInt64-p.nowMs {
			baseTs = p.nowMs + p.cfg.DeleteRetentionMs
		}
		p.minHorizon = min(p.minHorizon, baseTs)
	}
	logAppend := h.Attributes&AttrLogAppendTime != 0
	maxTs := int64(math.MinInt64)
	n := int32(0)
	out := p.c.out[:0]
	for i := range p.c.recs {
		r := &p.c.recs[i]
		if r.body == nil {
			continue
		}
		ts := h.BaseTimestamp + r.tsDelta
		maxTs = max(maxTs, ts)
		out = appendRecord(out, r, ts-baseTs)
		n++
	}
	p.c.out = out
	if logAppend || n == 0 {
		maxTs = h.MaxTimestamp
	}
	xerial := h.Compression() == CompressionSnappy && bytes.HasPrefix(b[BatchHeaderSize:h.Size()], xerialMagic)
	return p.c.bb.encodeBatch(b, out, n, attrs, baseTs, maxTs, xerial)
}

// cleanedFiles are the files a cleaned segment is written to.
type cleanedFiles struct {
	log File
	seg *segment
}

func cleanedPath(p string) string { return p + ".cleaned" }
func swapPath(p string) string    { return p + ".swap" }

// endPath is <base>.end: it holds the end offset of the segments a swap
// replaces (in .cleaned and .swap form only).
func (s *segment) endPath() string { return s.logPath()[:len(s.logPath())-len(".log")] + ".end" }

func createCleanedFiles(fs FS, s *segment) (*cleanedFiles, error) {
	f, err := fs.OpenFile(cleanedPath(s.logPath()), os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return nil, storageErr("create cleaned segment", err)
	}
	return &cleanedFiles{log: f, seg: s}, nil
}

// discard removes the files of a cleaning that did not commit.
func (cf *cleanedFiles) discard(fs FS) {
	if cf.log != nil {
		cf.log.Close()
		cf.log = nil
	}
	s := cf.seg
	for _, p := range []string{s.logPath(), s.indexPath(), s.timePath(), s.txnPath(), s.endPath()} {
		fs.Remove(cleanedPath(p))
		fs.Remove(swapPath(p))
	}
}
