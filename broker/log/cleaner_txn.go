package log

import (
	"math"
	"sort"
)

// txnRange is an aborted transaction of one producer: its first offset and
// the offset of its ABORT marker.
type txnRange struct{ first, last int64 }

// txnInfo is what the cleaner learns about transactions from a header scan
// of the whole log (Gregor keeps no .txnindex: the scan stands in for it).
type txnInfo struct {
	aborted map[int64][]txnRange // by producer ID, ascending
	// lastBatch is the last offset of each producer's last data batch (or,
	// for a producer with none left, of its last marker): that batch is
	// kept (emptied if need be) so that producer state rebuilt from the
	// log keeps the producer's epoch and sequence, as Kafka does.
	lastBatch map[int64]int64
	// firstUnstable is the first offset of the earliest transaction that
	// has no marker yet (MaxInt64 if none): nothing from there on may be
	// cleaned, since its fate is unknown.
	firstUnstable int64
}

// isAborted reports whether the transactional batch of producer pid at
// offset belongs to an aborted transaction.
func (t *txnInfo) isAborted(pid, offset int64) bool {
	rs := t.aborted[pid]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last >= offset })
	return i < len(rs) && rs[i].first <= offset
}

// scanTxns reads the batch headers of segs below upto (and the records of
// control batches) to find aborted and open transactions and each
// producer's last batch.
func (l *Log) scanTxns(segs []*segment, upto int64, stop func() bool) (*txnInfo, error) {
	info := &txnInfo{
		aborted:       make(map[int64][]txnRange),
		lastBatch:     make(map[int64]int64),
		firstUnstable: math.MaxInt64,
	}
	open := make(map[int64]int64) // producer ID -> first offset of its open transaction
	lastCtl := make(map[int64]int64)
	var ctl []byte
	for _, s := range segs {
		if s.base >= upto {
			break
		}
		if stop() {
			return nil, errCleanAborted
		}
		f, err := l.cache.acquire(s, l)
		if err != nil {
			return nil, err
		}
		_, err = scanBatches(f, 0, s.size.Load(), 0, false, func(pos int64, h *BatchHeader, _ []byte) error {
			if h.BaseOffset >= upto {
				return errStopScan
			}
			if h.ProducerID < 0 {
				return nil
			}
			if h.IsControl() {
				lastCtl[h.ProducerID] = h.LastOffset()
			} else {
				info.lastBatch[h.ProducerID] = h.LastOffset()
			}
			switch {
			case h.IsControl():
				if cap(ctl) < h.Size() {
					ctl = make([]byte, h.Size())
				}
				ctl = ctl[:h.Size()]
				if _, err := readFull(f, ctl, pos); err != nil {
					return err
				}
				first, isOpen := open[h.ProducerID]
				delete(open, h.ProducerID)
				if typ, ok := controlType(ctl, h); ok && typ == controlAbort && isOpen {
					info.aborted[h.ProducerID] = append(info.aborted[h.ProducerID], txnRange{first, h.BaseOffset})
				}
			case h.IsTransactional():
				if _, ok := open[h.ProducerID]; !ok {
					open[h.ProducerID] = h.BaseOffset
				}
			}
			return nil
		})
		l.cache.release(s)
		if err != nil && err != errStopScan {
			return nil, err
		}
	}
	for _, first := range open {
		info.firstUnstable = min(info.firstUnstable, first)
	}
	for pid, o := range lastCtl {
		if _, ok := info.lastBatch[pid]; !ok {
			info.lastBatch[pid] = o
		}
	}
	return info, nil
}

// txnTracker follows transactions through one cleaning pass from the log
// start, as Kafka's CleanedTransactionMetadata does: it says which
// transactional batches are aborted (their records go) and which markers
// no longer guard any batch (they may go after delete.retention.ms).
type txnTracker struct {
	info      *txnInfo
	aborted   map[int64]bool // producer -> a batch of its aborted transaction was seen
	committed map[int64]bool // producer -> a batch of its committed transaction was seen
}

func newTxnTracker(info *txnInfo) *txnTracker {
	return &txnTracker{info: info, aborted: map[int64]bool{}, committed: map[int64]bool{}}
}

// onData is called for each data batch in order; it reports whether the
// batch's records must all be discarded (an aborted transaction).
func (t *txnTracker) onData(h *BatchHeader) bool {
	if !h.IsTransactional() || h.ProducerID < 0 {
		return false
	}
	if t.info.isAborted(h.ProducerID, h.BaseOffset) {
		t.aborted[h.ProducerID] = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// onControl is called for each control batch in order (typ, ok from
// controlType); it reports whether the marker no longer guards any batch
// of its transaction, so that it may be discarded once its delete horizon
// has passed.
func (t *txnTracker) onControl(h *BatchHeader, typ int16, ok bool) bool {
	if !ok {
		return true // an empty control batch was cleaned already
	}
	switch typ {
	case controlAbort:
		seen := t.aborted[h.ProducerID]
		delete(t.aborted, h.ProducerID)
		return !seen
	case controlCommit:
		seen := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !seen
	}
	return false
}
