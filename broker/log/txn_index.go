package log

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"

	"github.com/gregorhq/gregor/broker/txn"
)

// Aborted-transaction index: each segment may have <base>.txnindex, a list
// of fixed 34-byte entries in Kafka's format (i16 version 0, i64 producer
// ID, i64 first offset, i64 last offset = the abort marker, i64 last stable
// offset after the abort), one per transaction aborted by a marker in that
// segment. read_committed fetches return the entries that overlap them, so
// consumers can drop aborted records. Entries are kept in memory too
// (Log.aborted, guarded by Log.mu) and rebuilt from the markers on replay.
const txnEntrySize = 34

// AbortedTxn is one aborted transaction on a partition.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func (s *segment) txnPath() string { return filepath.Join(s.dir, segFileName(s.base, ".txnindex")) }

func encodeTxnEntry(a AbortedTxn) []byte {
	b := make([]byte, 0, txnEntrySize)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.LastStableOffset))
}

// decodeTxnIndex reads whole entries; a torn tail or unknown version ends it.
func decodeTxnIndex(b []byte) []AbortedTxn {
	var out []AbortedTxn
	for len(b) >= txnEntrySize {
		if binary.BigEndian.Uint16(b) != 0 {
			break
		}
		out = append(out, AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		})
		b = b[txnEntrySize:]
	}
	return out
}

// loadTxnIndex reads the aborted-transaction entries of every segment,
// dropping entries past the log end (a truncated tail) and rewriting any
// file that held such entries (caller owns l during open).
func (l *Log) loadTxnIndex() {
	leo := l.leo.Load()
	l.aborted = l.aborted[:0]
	for _, s := range *l.segs.Load() {
		data, err := readFile(l.fs, s.txnPath())
		if err != nil {
			continue
		}
		all := decodeTxnIndex(data)
		keep := all[:0]
		for _, a := range all {
			if a.LastOffset < leo && a.LastOffset >= s.base {
				keep = append(keep, a)
			}
		}
		if len(keep)*txnEntrySize != len(data) {
			l.rewriteTxnIndex(s, keep)
		}
		l.aborted = append(l.aborted, keep...)
	}
	sort.Slice(l.aborted, func(i, j int) bool { return l.aborted[i].LastOffset < l.aborted[j].LastOffset })
}

func (l *Log) rewriteTxnIndex(s *segment, entries []AbortedTxn) {
	var buf []byte
	for _, a := range entries {
		buf = append(buf, encodeTxnEntry(a)...)
	}
	f, err := l.fs.OpenFile(s.txnPath(), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		l.logger.Warn("rewrite txn index", "segment", s.base, "err", err)
		return
	}
	if _, err := f.Write(buf); err == nil {
		f.Sync()
	}
	f.Close()
}

// appendTxnEntry adds an aborted transaction to segment s's index file and
// to memory, unless an entry for the same marker is already there.
func (l *Log) appendTxnEntry(s *segment, a AbortedTxn) {
	if n := len(l.aborted); n > 0 && l.aborted[n-1].LastOffset >= a.LastOffset {
		i := sort.Search(n, func(i int) bool { return l.aborted[i].LastOffset >= a.LastOffset })
		if i < n && l.aborted[i].LastOffset == a.LastOffset {
			return
		}
	}
	f, err := l.fs.OpenFile(s.txnPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		// Aborts are rare: sync each entry, so a snapshot taken later never
		// covers a marker whose entry was lost.
		if _, werr := f.Write(encodeTxnEntry(a)); werr != nil {
			l.logger.Warn("append txn index", "segment", s.base, "err", werr)
		} else if serr := f.Sync(); serr != nil {
			l.logger.Warn("sync txn index", "segment", s.base, "err", serr)
		}
		f.Close()
		l.dirDirty = true
	} else {
		l.logger.Warn("open txn index", "segment", s.base, "err", err)
	}
	l.aborted = append(l.aborted, a)
	sort.Slice(l.aborted, func(i, j int) bool { return l.aborted[i].LastOffset < l.aborted[j].LastOffset })
}

// recordProducerBatch updates the producer state for an appended (or
// replayed) batch in segment s; for an abort marker it also indexes the
// aborted transaction. marker is the control type, or -1 (caller holds mu).
func (l *Log) recordProducerBatch(s *segment, pb txn.Batch, marker int16) {
	first := int64(-1)
	if pb.Control {
		first = l.pst.TxnFirstOffset(pb.ProducerID)
	}
	l.pst.Record(pb)
	if pb.Transactional || pb.Control {
		l.firstUnstable.Store(l.pst.FirstUnstableOffset())
	}
	if pb.Control && marker == ControlAbort && first >= 0 {
		lso := l.pst.FirstUnstableOffset()
		if lso < 0 {
			lso = pb.LastOffset + 1
		}
		l.appendTxnEntry(s, AbortedTxn{ProducerID: pb.ProducerID, FirstOffset: first, LastOffset: pb.LastOffset, LastStableOffset: lso})
	}
}

// FirstUnstableOffset is the first offset of the oldest transaction still
// open on this partition, or -1 when none is: the last stable offset is the
// smaller of it and the high watermark.
func (l *Log) FirstUnstableOffset() int64 { return l.firstUnstable.Load() }

// AbortedTransactions lists the aborted transactions that overlap the
// offsets [from, upto), for a read_committed fetch.
func (l *Log) AbortedTransactions(from, upto int64) []AbortedTxn {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.aborted), func(i int) bool { return l.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for ; i < len(l.aborted); i++ {
		if a := l.aborted[i]; a.FirstOffset < upto {
			out = append(out, a)
		}
	}
	return out
}

// HasOngoingTxn reports whether the producer has a transaction open on this
// partition at epoch (its batches need no further verification, KIP-890).
func (l *Log) HasOngoingTxn(producerID int64, epoch int16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pst.OngoingTxn(producerID, epoch)
}

// OngoingProducers lists what DescribeProducers reports for this partition.
func (l *Log) OngoingProducers() []txn.ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pst.Producers()
}
