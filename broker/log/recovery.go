package log

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// openState is what the data directory knows about a log: its checkpointed
// log start offset and recovery point (-1: unknown) and whether the last
// shutdown was clean.
type openState struct {
	logStart, recoveryPoint int64
	clean                   bool
	cleanedTo               int64 // cleaner checkpoint, -1 if none
}

func parseSegmentName(name string) (int64, string, bool) {
	ext := filepath.Ext(name)
	o, err := strconv.ParseInt(strings.TrimSuffix(name, ext), 10, 64)
	if err != nil || o < 0 || len(name)-len(ext) != 20 {
		return 0, "", false
	}
	return o, ext, true
}

// openLog loads or creates the log in dir. Without a clean shutdown it
// validates every batch from the segment holding the recovery point on,
// truncating a torn or corrupt tail and dropping the segments after it.
func openLog(dir, topic string, part int32, cfg Config, opts Options, cache *handleCache, mgr *Manager, st openState) (*Log, error) {
	l := newLog(dir, topic, part, cfg, opts, cache, mgr)
	fs := l.fs
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, storageErr("create "+dir, err)
	}
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, storageErr("sync "+filepath.Dir(dir), err)
	}
	if err := recoverSwaps(fs, dir, l.logger); err != nil {
		return nil, err
	}
	l.cleanedTo.Store(st.cleanedTo)
	found, err := l.scanDir()
	if err != nil {
		return nil, err
	}
	segs, err := l.initialSegments(found, st)
	if err != nil {
		return nil, err
	}
	recoverFrom := len(segs)
	if !st.clean {
		rp := max(st.recoveryPoint, 0)
		recoverFrom = 0
		for i, s := range segs {
			if s.base <= rp {
				recoverFrom = i
			}
		}
	}
	if segs, err = l.recoverSegments(segs, recoverFrom, found.idxFiles); err != nil {
		return nil, err
	}
	active := segs[len(segs)-1]
	l.active = active
	if err := l.openActiveFiles(active); err != nil {
		return nil, err
	}
	if active.size.Load() > 0 {
		active.rollAtMs = opts.Now().UnixMilli()
	}
	l.leo.Store(active.next)
	if segs, err = l.adoptLogStart(segs, max(st.logStart, segs[0].base)); err != nil {
		return nil, err
	}
	if err := l.finishOpen(st, segs, recoverFrom, found.snaps); err != nil {
		return nil, err
	}
	return l, nil
}

// dirScan is what a log directory holds: segment base offsets (sorted) with
// their sizes, producer snapshot offsets, and the index files present.
type dirScan struct {
	bases, snaps []int64
	sizes        map[int64]int64
	idxFiles     map[string]bool
}

// scanDir lists the log directory, removing leftovers of interrupted
// deletions, cleanings and swaps, and index files without their segment.
func (l *Log) scanDir() (dirScan, error) {
	fs, dir := l.fs, l.dir
	found := dirScan{sizes: map[int64]int64{}, idxFiles: map[string]bool{}}
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return found, storageErr("list "+dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".deleted"), strings.HasSuffix(name, ".tmp"),
			strings.HasSuffix(name, ".cleaned"), strings.HasSuffix(name, ".swap"):
			fs.Remove(filepath.Join(dir, name))
			continue
		}
		if o, ok := parseSnapshotName(name); ok {
			found.snaps = append(found.snaps, o)
			continue
		}
		o, ext, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		switch ext {
		case ".log":
			found.bases = append(found.bases, o)
			if info, err := e.Info(); err == nil {
				found.sizes[o] = info.Size()
			}
		case ".index", ".timeindex", ".txnindex":
			found.idxFiles[name] = true
		}
	}
	sort.Slice(found.bases, func(i, j int) bool { return found.bases[i] < found.bases[j] })
	for name := range found.idxFiles {
		o, _, _ := parseSegmentName(name)
		if _, ok := found.sizes[o]; !ok {
			fs.Remove(filepath.Join(dir, name))
		}
	}
	return found, nil
}

// initialSegments makes the segment list from the files found, or one
// empty segment at the log start when there are none.
func (l *Log) initialSegments(found dirScan, st openState) ([]*segment, error) {
	segs := make([]*segment, 0, len(found.bases)+1)
	for _, b := range found.bases {
		s := newSegment(l.dir, b)
		s.size.Store(found.sizes[b])
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		s := newSegment(l.dir, max(st.logStart, 0))
		f, err := l.fs.OpenFile(s.logPath(), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, storageErr("create segment", err)
		}
		f.Close()
		segs = append(segs, s)
		l.dirDirty = true
	}
	l.setSegs(segs)
	return segs, nil
}

// recoverSegments loads every segment: from recoverFrom on by validating
// each batch (a corrupt or torn tail is cut, and the segments after it
// deleted), before it from the indexes on disk. It returns the segments
// that remain.
func (l *Log) recoverSegments(segs []*segment, recoverFrom int, idxFiles map[string]bool) ([]*segment, error) {
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		last := i == len(segs)-1
		if i > 0 {
			s.next = max(s.next, segs[i-1].next)
		}
		if i >= recoverFrom {
			cut, err := l.recoverSegment(s)
			if err != nil {
				return nil, err
			}
			if cut && !last {
				for _, d := range segs[i+1:] {
					l.logger.Warn("deleting segment after corrupt tail", "segment", d.base)
					removeSegmentFiles(l.fs, d)
				}
				segs = segs[:i+1]
				l.setSegs(segs)
				last = true
			}
		} else if last {
			if err := l.loadActive(s); err != nil {
				return nil, err
			}
		} else if err := l.loadCold(s, segs[i+1].base, idxFiles); err != nil {
			return nil, err
		}
	}
	return segs, nil
}

// adoptLogStart sets the log start and drops the segments wholly below it.
// When the log ends below it (data below the checkpointed log start was lost
// unflushed), the log starts afresh there rather than reuse offsets.
func (l *Log) adoptLogStart(segs []*segment, logStart int64) ([]*segment, error) {
	if end := l.active.next; logStart > end {
		l.logger.Warn("log end below log start, starting empty", "logEnd", end, "logStart", logStart)
		for _, s := range segs {
			l.cache.markDeleted(s)
			closeActiveIndexFiles(s)
			removeSegmentFiles(l.fs, s)
		}
		s := newSegment(l.dir, logStart)
		segs = []*segment{s}
		l.setSegs(segs)
		l.active = s
		if err := l.openActiveFiles(s); err != nil {
			return nil, err
		}
		l.leo.Store(logStart)
		l.dirDirty = true
	}
	l.logStart.Store(logStart)
	for len(segs) > 1 && segs[1].base <= logStart {
		l.cache.markDeleted(segs[0])
		removeSegmentFiles(l.fs, segs[0])
		segs = segs[1:]
	}
	l.setSegs(segs)
	return segs, nil
}

// finishOpen loads the transaction index, producer state and leader
// epochs, and sets the recovery point: the log end after a clean shutdown;
// otherwise what recovery validated, made durable first.
func (l *Log) finishOpen(st openState, segs []*segment, recoverFrom int, snaps []int64) error {
	l.hw.Store(l.leo.Load())
	l.loadTxnIndex()
	if err := l.loadProducerState(snaps); err != nil {
		l.closeFiles()
		return err
	}
	l.firstUnstable.Store(l.pst.FirstUnstableOffset())
	l.loadEpochs()
	if st.clean {
		l.recoveryPoint.Store(l.leo.Load())
		return nil
	}
	rp := min(max(st.recoveryPoint, 0), l.leo.Load())
	if recoverFrom < len(segs) {
		rp = min(rp, segs[min(recoverFrom, len(segs)-1)].base)
	}
	l.recoveryPoint.Store(rp)
	// Make what recovery kept durable, so the recovery point can move.
	if err := l.Flush(); err != nil {
		l.closeFiles()
		return err
	}
	return nil
}

// recoverSegment validates every batch of s, truncating at the first bad
// one and rebuilding its indexes. It reports whether it cut anything.
func (l *Log) recoverSegment(s *segment) (bool, error) {
	f, err := l.fs.OpenFile(s.logPath(), os.O_RDWR, 0)
	if err != nil {
		return false, storageErr("open segment", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, storageErr("stat segment", err)
	}
	size := st.Size()
	s.size.Store(size)
	s.idx.set(nil, nil)
	valid, why := scanInto(s, f, 0, size, l.interval.Load(), true)
	if why != nil && errors.Is(why, ErrStorage) {
		return false, why
	}
	cut := valid < size
	if cut {
		l.logger.Warn("truncating corrupt or torn segment tail", "segment", s.base, "at", valid, "size", size, "reason", why)
		if err := f.Truncate(valid); err != nil {
			return false, storageErr("truncate segment", err)
		}
		s.size.Store(valid)
	}
	if err := writeIndexFiles(l.fs, s, s.idx.off, s.idx.tim); err != nil {
		return false, err
	}
	s.idx.markWritten()
	s.indexDirty = true
	return cut, nil
}

// loadActive loads the last segment after a clean shutdown (or below the
// recovery point): its index, then the headers after the last index entry.
func (l *Log) loadActive(s *segment) error {
	f, err := l.fs.OpenFile(s.logPath(), os.O_RDWR, 0)
	if err != nil {
		return storageErr("open segment", err)
	}
	defer f.Close()
	size := s.size.Load()
	ib, err1 := readFile(l.fs, s.indexPath())
	tb, err2 := readFile(l.fs, s.timePath())
	off, ok1 := decodeOffsetIndex(ib, size)
	tim, ok2 := decodeTimeIndex(tb, -1)
	from := int64(0)
	if err1 == nil && err2 == nil && ok1 && ok2 {
		s.idx.set(off, tim)
		s.idx.markWritten()
		if n := len(off); n > 0 {
			from = int64(off[n-1].pos)
			s.next = s.base + int64(off[n-1].rel)
		}
		if n := len(tim); n > 0 {
			s.maxTs, s.maxTsOff = tim[n-1].ts, s.base+int64(tim[n-1].rel)
		}
	} else {
		l.logger.Info("rebuilding index", "segment", s.base)
		s.idx.set(nil, nil)
		s.indexDirty = true
	}
	valid, why := scanInto(s, f, from, size, l.interval.Load(), false)
	if why != nil && errors.Is(why, ErrStorage) {
		return why
	}
	if valid < size {
		l.logger.Warn("truncating bad segment tail", "segment", s.base, "at", valid, "reason", why)
		if err := f.Truncate(valid); err != nil {
			return storageErr("truncate segment", err)
		}
		s.size.Store(valid)
	}
	if s.indexDirty {
		if err := writeIndexFiles(l.fs, s, s.idx.off, s.idx.tim); err != nil {
			return err
		}
		s.idx.markWritten()
	}
	return nil
}

// loadCold sets up a segment that needs no recovery: its max timestamp from
// the last time index entry, rebuilding index files that are missing or
// damaged.
func (l *Log) loadCold(s *segment, next int64, idxFiles map[string]bool) error {
	s.next = next
	tb, err := readTail(l.fs, s.timePath(), timeEntrySize)
	_, ok := decodeTimeIndex(tb, -1)
	if err == nil && ok && idxFiles[filepath.Base(s.indexPath())] {
		if st, err := l.fs.Stat(s.indexPath()); err == nil && st.Size()%offEntrySize == 0 {
			if len(tb) == timeEntrySize {
				s.maxTs = int64(binary.BigEndian.Uint64(tb))
				s.maxTsOff = s.base + int64(binary.BigEndian.Uint32(tb[8:]))
			}
			return nil
		}
	}
	l.logger.Info("rebuilding index", "segment", s.base)
	f, err := l.fs.OpenFile(s.logPath(), os.O_RDONLY, 0)
	if err != nil {
		return storageErr("open segment", err)
	}
	defer f.Close()
	tmp := newSegment(s.dir, s.base)
	scanInto(tmp, f, 0, s.size.Load(), l.interval.Load(), false)
	tmp.finishIndex()
	s.maxTs, s.maxTsOff = tmp.maxTs, tmp.maxTsOff
	if err := writeIndexFiles(l.fs, s, tmp.idx.off, tmp.idx.tim); err != nil {
		return err
	}
	s.indexDirty = true
	return nil
}

// readTail reads the last n bytes of a file (all of it if smaller than n,
// nothing if its size is not a multiple of n: the caller then rebuilds).
func readTail(fs FS, path string, n int64) ([]byte, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size()%n != 0 {
		return []byte{0}, nil
	}
	if st.Size() == 0 {
		return nil, nil
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, st.Size()-n); err != nil {
		return nil, err
	}
	return b, nil
}

func removeSegmentFiles(fs FS, s *segment) {
	for _, p := range []string{s.logPath(), s.indexPath(), s.timePath(), s.txnPath()} {
		fs.Remove(p) // best effort: a leftover file is only re-read as a segment

	}
}

func closeActiveIndexFiles(s *segment) {
	if s.idxF != nil {
		s.idxF.Close()
		s.idxF = nil
	}
	if s.timF != nil {
		s.timF.Close()
		s.timF = nil
	}
}
