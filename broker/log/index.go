package log

import (
	"encoding/binary"
	"sort"
	"sync"
)

// Index file formats, as Kafka's:
//
//	.index      8-byte entries: int32 offset relative to the segment base, int32 file position
//	.timeindex 12-byte entries: int64 timestamp, int32 relative offset
//
// Gregor's offset entries point at the start of a batch and carry that
// batch's base offset; a time entry (T, O) says that the batches up to and
// including the one at base offset O have timestamps <= T, and that batch
// has max timestamp T. Both are sparse: one entry per index.interval.bytes.
const (
	offEntrySize  = 8
	timeEntrySize = 12
	// indexWriteBatch is how many in-memory entries are buffered before they
	// are appended to the index files.
	indexWriteBatch = 64
)

type offEntry struct{ rel, pos int32 }

type timeEntry struct {
	ts  int64
	rel int32
}

// segIndex is a segment's offset and time index held in memory. The active
// segment's is always loaded; a cold segment's is loaded with its file handle
// and dropped when the handle is closed.
type segIndex struct {
	mu  sync.RWMutex
	off []offEntry
	tim []timeEntry
	// written counts the entries already appended to the files (Log.mu).
	offWritten, timWritten int
	loaded                 bool
}

// lookup returns the position of the last indexed batch whose base offset is
// <= rel (0 if none).
func (x *segIndex) lookup(rel int64) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.off), func(i int) bool { return int64(x.off[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(x.off[i-1].pos)
}

// lookupTime returns the relative offset of the batch after which a record
// with timestamp >= ts can first appear: the last entry with timestamp < ts
// (ok=false: scan from the segment start).
func (x *segIndex) lookupTime(ts int64) (rel int32, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.tim), func(i int) bool { return x.tim[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return x.tim[i-1].rel, true
}

// addOffset appends an offset entry (caller holds Log.mu).
func (x *segIndex) addOffset(rel int32, pos int32) {
	x.mu.Lock()
	if n := len(x.off); n == 0 || x.off[n-1].rel < rel {
		x.off = append(x.off, offEntry{rel, pos})
	}
	x.mu.Unlock()
}

// addTime appends a time entry if ts is greater than the last one.
func (x *segIndex) addTime(ts int64, rel int32) {
	x.mu.Lock()
	if n := len(x.tim); n == 0 || x.tim[n-1].ts < ts {
		x.tim = append(x.tim, timeEntry{ts, rel})
	}
	x.mu.Unlock()
}

// set replaces all entries (nothing written yet).
func (x *segIndex) set(off []offEntry, tim []timeEntry) {
	x.mu.Lock()
	x.off, x.tim = off, tim
	x.offWritten, x.timWritten = 0, 0
	x.loaded = true
	x.mu.Unlock()
}

// drop forgets the entries of a cold segment.
func (x *segIndex) drop() {
	x.mu.Lock()
	x.off, x.tim = nil, nil
	x.loaded = false
	x.mu.Unlock()
}

// pendingBytes encodes the entries not yet written to the files, starting
// at their file offsets.
func (x *segIndex) pending() (offBytes []byte, offAt int64, timBytes []byte, timAt int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, e := range x.off[x.offWritten:] {
		offBytes = binary.BigEndian.AppendUint32(offBytes, uint32(e.rel))
		offBytes = binary.BigEndian.AppendUint32(offBytes, uint32(e.pos))
	}
	for _, e := range x.tim[x.timWritten:] {
		timBytes = binary.BigEndian.AppendUint64(timBytes, uint64(e.ts))
		timBytes = binary.BigEndian.AppendUint32(timBytes, uint32(e.rel))
	}
	return offBytes, int64(x.offWritten) * offEntrySize, timBytes, int64(x.timWritten) * timeEntrySize
}

func (x *segIndex) numPending() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.off) - x.offWritten + len(x.tim) - x.timWritten
}

func (x *segIndex) markWritten() {
	x.mu.Lock()
	x.offWritten, x.timWritten = len(x.off), len(x.tim)
	x.mu.Unlock()
}

func (x *segIndex) counts() (off, tim int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.off), len(x.tim)
}

// decodeOffsetIndex parses an offset index file, checking that entries are
// strictly increasing and point inside a segment of segSize bytes. ok=false
// means the file must be rebuilt.
func decodeOffsetIndex(b []byte, segSize int64) ([]offEntry, bool) {
	if len(b)%offEntrySize != 0 {
		return nil, false
	}
	out := make([]offEntry, 0, len(b)/offEntrySize)
	for i := 0; i < len(b); i += offEntrySize {
		e := offEntry{int32(binary.BigEndian.Uint32(b[i:])), int32(binary.BigEndian.Uint32(b[i+4:]))}
		if e.rel <= 0 || e.pos <= 0 || int64(e.pos) >= segSize {
			return nil, false
		}
		if n := len(out); n > 0 && (out[n-1].rel >= e.rel || out[n-1].pos >= e.pos) {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

// decodeTimeIndex parses a time index file; maxRel bounds the relative
// offsets (-1: unknown).
func decodeTimeIndex(b []byte, maxRel int64) ([]timeEntry, bool) {
	if len(b)%timeEntrySize != 0 {
		return nil, false
	}
	out := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{int64(binary.BigEndian.Uint64(b[i:])), int32(binary.BigEndian.Uint32(b[i+8:]))}
		if e.rel < 0 || (maxRel >= 0 && int64(e.rel) > maxRel) {
			return nil, false
		}
		if n := len(out); n > 0 && (out[n-1].ts >= e.ts || out[n-1].rel > e.rel) {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}
