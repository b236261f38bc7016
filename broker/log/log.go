package log

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregorhq/gregor/broker/txn"
)

// Log is one partition's log, kept in its own directory <topic>-<partition>/.
// It is safe for concurrent use.
//
// Lock order: Manager.mu before Log.mu, never the other way (the Log calls
// back into its Manager only without holding mu). Log.syncMu is taken
// before Log.mu. Readers take no Log lock for I/O: they snapshot the segment
// list and hold a reference on the segment file they read.
type Log struct {
	dir    string
	name   string // topic-partition, for logs and checkpoints
	topic  string
	part   int32
	fs     FS
	opts   Options
	logger *slog.Logger
	cache  *handleCache
	mgr    *Manager // nil for a standalone log

	mu     sync.Mutex
	cfg    Config
	segs   atomic.Pointer[[]*segment] // copy-on-write under mu, oldest first
	active *segment
	pst    *txn.ProducerStateTable
	// aborted lists the aborted transactions, by marker offset (txn_index.go).
	aborted []AbortedTxn
	// firstUnstable is the first offset of the oldest open transaction, -1 if none.
	firstUnstable atomic.Int64
	epochs        []epochEntry
	sig           chan struct{}
	closed        bool
	dirDirty      bool // files created since the last SyncDir
	// unflushed counts records appended since the last flush; lastFlush is
	// when the last flush finished (flush.messages, flush.ms).
	unflushed int64
	lastFlush time.Time
	snapshots []int64 // producer snapshot offsets on disk, ascending

	isClosed      atomic.Bool
	interval      atomic.Int32 // cfg.IndexIntervalBytes, for lock-free index rebuilds
	leo           atomic.Int64
	logStart      atomic.Int64
	hw            atomic.Int64
	recoveryPoint atomic.Int64

	// Compaction (cleaner.go). cleanMu serializes cleanings of this log and
	// is taken before mu. cleanedTo is the cleaner checkpoint (-1: none),
	// nextHorizon the earliest delete horizon the cleaner left (0: none).
	cleanMu     sync.Mutex
	cleanedTo   atomic.Int64
	nextHorizon atomic.Int64
	// truncating counts truncations waiting for or holding cleanMu: a
	// cleaning in progress aborts (truncate.go).
	truncating atomic.Int32

	// Group commit: one flusher at a time, the others wait on syncCond.
	syncMu   sync.Mutex
	syncCond *sync.Cond
	syncing  bool
}

// Open opens (creating or recovering) a standalone log in dir, one that no
// Manager owns. It keeps its log start offset, recovery point and
// clean-shutdown marker in dir itself, in Kafka's checkpoint format.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	topic, part := parseTopicPartition(filepath.Base(dir))
	st := openState{logStart: -1, recoveryPoint: -1}
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", ErrStorage, dir, err)
	}
	key := topicPartition{topic, part}
	if m, err := readCheckpoint(fs, filepath.Join(dir, logStartCheckpoint)); err == nil {
		if v, ok := m[key]; ok {
			st.logStart = v
		}
	}
	if m, err := readCheckpoint(fs, filepath.Join(dir, recoveryPointCheckpoint)); err == nil {
		if v, ok := m[key]; ok {
			st.recoveryPoint = v
		}
	}
	st.cleanedTo = -1
	if m, err := readCheckpoint(fs, filepath.Join(dir, cleanerCheckpoint)); err == nil {
		if v, ok := m[key]; ok {
			st.cleanedTo = v
		}
	}
	marker := filepath.Join(dir, cleanShutdownFile)
	if _, err := fs.Stat(marker); err == nil {
		st.clean = true
		if err := fs.Remove(marker); err != nil {
			return nil, fmt.Errorf("%w: remove clean-shutdown marker: %w", ErrStorage, err)
		}
		if err := fs.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	return openLog(dir, topic, part, cfg, opts, newHandleCache(fs, opts.MaxOpenSegments), nil, st)
}

func newLog(dir, topic string, part int32, cfg Config, opts Options, cache *handleCache, mgr *Manager) *Log {
	l := &Log{
		dir: dir, name: fmt.Sprintf("%s-%d", topic, part), topic: topic, part: part,
		fs: opts.FS, opts: opts, cache: cache, mgr: mgr, cfg: cfg.normalized(),
		pst: txn.NewProducerStateTable(),
	}
	l.logger = opts.Logger.With("log", l.name)
	l.cleanedTo.Store(-1)
	l.interval.Store(l.cfg.IndexIntervalBytes)
	l.syncCond = sync.NewCond(&l.syncMu)
	l.lastFlush = opts.Now()
	return l
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset returns the first offset that may be read.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset returns the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark returns the high watermark. It is kept apart from the log
// end offset and starts at the log end offset found when the log was opened.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark sets the high watermark, clamped to [log start, log end].
func (l *Log) SetHighWatermark(o int64) {
	l.mu.Lock()
	o = max(min(o, l.leo.Load()), l.logStart.Load())
	l.hw.Store(o)
	l.mu.Unlock()
}

// RecoveryPoint returns the offset below which everything is fsynced.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// AppendSignal returns a channel that is closed at the next successful
// append (for Fetch long polls).
func (l *Log) AppendSignal() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sig == nil {
		l.sig = make(chan struct{})
	}
	return l.sig
}

// SetConfig changes the log's topic configuration.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg.normalized()
	l.interval.Store(l.cfg.IndexIntervalBytes)
	l.mu.Unlock()
}

// Config returns the log's topic configuration.
func (l *Log) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Size returns the bytes of all segments.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range *l.segs.Load() {
		n += s.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int { return len(*l.segs.Load()) }

func (l *Log) setSegs(s []*segment) { l.segs.Store(&s) }

// storageErr wraps a filesystem error as ErrStorage.
func storageErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrStorage, what, err)
}

// openActiveFiles opens the active segment's files for appending.
func (l *Log) openActiveFiles(s *segment) error {
	f, err := l.fs.OpenFile(s.logPath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return storageErr("open segment", err)
	}
	idxF, err := l.fs.OpenFile(s.indexPath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		f.Close()
		return storageErr("open index", err)
	}
	timF, err := l.fs.OpenFile(s.timePath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		f.Close()
		idxF.Close()
		return storageErr("open time index", err)
	}
	l.cache.forget(s)
	s.hmu.Lock()
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.pinned, s.closing = f, true, false
	s.hmu.Unlock()
	s.idxF, s.timF = idxF, timF
	return nil
}

// writeIndexes appends the segment's unwritten index entries to its files
// (caller holds mu). On failure the files are cut back and the entries stay
// pending.
func (l *Log) writeIndexes(s *segment) error {
	if s.idx.numPending() == 0 {
		return nil
	}
	ob, oat, tb, tat := s.idx.pending()
	idxF, timF := s.idxF, s.timF
	closeAfter := false
	if idxF == nil {
		var err error
		if idxF, err = l.fs.OpenFile(s.indexPath(), os.O_CREATE|os.O_RDWR, 0o644); err != nil {
			return storageErr("open index", err)
		}
		if timF, err = l.fs.OpenFile(s.timePath(), os.O_CREATE|os.O_RDWR, 0o644); err != nil {
			idxF.Close()
			return storageErr("open time index", err)
		}
		closeAfter = true
	}
	if closeAfter {
		defer idxF.Close()
		defer timF.Close()
	}
	if len(ob) > 0 {
		if _, err := idxF.WriteAt(ob, oat); err != nil {
			idxF.Truncate(oat)
			return storageErr("write index", err)
		}
	}
	if len(tb) > 0 {
		if _, err := timF.WriteAt(tb, tat); err != nil {
			idxF.Truncate(oat)
			timF.Truncate(tat)
			return storageErr("write time index", err)
		}
	}
	s.idx.markWritten()
	s.indexDirty = true
	return nil
}

// loadIndex loads a cold segment's index files (caller holds s.hmu),
// rebuilding them from the segment if they are missing or damaged.
func (l *Log) loadIndex(s *segment, f File) {
	size := s.size.Load()
	ib, err1 := readFile(l.fs, s.indexPath())
	tb, err2 := readFile(l.fs, s.timePath())
	if err1 == nil && err2 == nil {
		off, ok1 := decodeOffsetIndex(ib, size)
		tim, ok2 := decodeTimeIndex(tb, math.MaxInt32)
		if ok1 && ok2 {
			s.idx.set(off, tim)
			s.idx.markWritten()
			return
		}
	}
	l.logger.Info("rebuilding index", "segment", s.base)
	off, tim := buildIndex(f, s.dir, s.base, size, l.interval.Load())
	s.idx.set(off, tim)
	// Best effort: a failed rewrite only costs another rebuild later.
	if writeIndexFiles(l.fs, s, off, tim) == nil {
		s.idx.markWritten()
	}
}

// encodeIndex encodes index entries in the file formats.
func encodeIndex(off []offEntry, tim []timeEntry) (ob, tb []byte) {
	ob = make([]byte, 0, len(off)*offEntrySize)
	for _, e := range off {
		ob = binary.BigEndian.AppendUint32(ob, uint32(e.rel))
		ob = binary.BigEndian.AppendUint32(ob, uint32(e.pos))
	}
	tb = make([]byte, 0, len(tim)*timeEntrySize)
	for _, e := range tim {
		tb = binary.BigEndian.AppendUint64(tb, uint64(e.ts))
		tb = binary.BigEndian.AppendUint32(tb, uint32(e.rel))
	}
	return ob, tb
}

// writeIndexFiles replaces a segment's index files with the given entries.
func writeIndexFiles(fs FS, s *segment, off []offEntry, tim []timeEntry) error {
	ob, tb := encodeIndex(off, tim)
	for _, w := range []struct {
		path string
		b    []byte
	}{{s.indexPath(), ob}, {s.timePath(), tb}} {
		f, err := fs.OpenFile(w.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
		if err != nil {
			return storageErr("rewrite index", err)
		}
		_, err = f.Write(w.b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return storageErr("rewrite index", err)
		}
	}
	return nil
}
