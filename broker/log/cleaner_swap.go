package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Swapping a cleaned segment in, step by step. B is the base offset of the
// first replaced segment (and of the cleaned one), X the base of the
// segment after the replaced ones.
//
//  1. write B.log.cleaned, B.index.cleaned, B.timeindex.cleaned,
//     B.txnindex.cleaned (always, maybe empty) and B.end.cleaned (holding
//     X), fsync each;
//  2. rename all but the last to .swap, fsync the directory;
//  3. under the log's lock: check that the replaced segments are still
//     there, rename B.end.cleaned to B.end.swap and fsync the directory —
//     the commit point;
//  4. still under the lock: retire the old segments in memory, remove the
//     files of the segments in (B, X), rename the .swap files over B's,
//     publish the new segment list;
//  5. fsync the directory, remove B.end.swap, fsync the directory.
//
// Recovery (recoverSwaps, before a log is loaded): a B.end.swap means the
// swap committed, so it redoes 4 and 5 from the files (idempotent); every
// other .cleaned or .swap file belongs to a swap that did not commit and is
// removed, leaving the old segments as they were.

// errCleanStale: the segments being cleaned were deleted or replaced
// meanwhile (retention, DeleteRecords); the cleaned copy is thrown away.
var errCleanStale = errors.New("cleaned segments changed meanwhile")

// prepare performs steps 1 and 2 for the cleaned segment s.
func (cf *cleanedFiles) prepare(fs FS, s *segment, end int64, aborted []AbortedTxn) error {
	if err := cf.log.Sync(); err != nil {
		return storageErr("fsync cleaned segment", err)
	}
	if err := cf.log.Close(); err != nil {
		return storageErr("close cleaned segment", err)
	}
	cf.log = nil
	ob, tb := encodeIndex(s.idx.off, s.idx.tim)
	var xb []byte
	for _, a := range aborted {
		xb = append(xb, encodeTxnEntry(a)...)
	}
	for _, w := range []struct {
		path string
		data []byte
	}{
		{cleanedPath(s.indexPath()), ob},
		{cleanedPath(s.timePath()), tb},
		{cleanedPath(s.txnPath()), xb},
		{cleanedPath(s.endPath()), []byte(strconv.FormatInt(end, 10) + "\n")},
	} {
		if err := writeSynced(fs, w.path, w.data); err != nil {
			return storageErr("write "+filepath.Base(w.path), err)
		}
	}
	for _, p := range []string{s.logPath(), s.indexPath(), s.timePath(), s.txnPath()} {
		if err := fs.Rename(cleanedPath(p), swapPath(p)); err != nil {
			return storageErr("rename cleaned file", err)
		}
	}
	if err := fs.SyncDir(s.dir); err != nil {
		return storageErr("fsync dir", err)
	}
	return nil
}

// writeSynced creates path with data and fsyncs it.
func writeSynced(fs FS, path string, data []byte) error {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// swapIn performs steps 3 to 5: it replaces the segments g (ending at end)
// with the prepared segment out. committed reports whether step 3 was
// reached: until then the caller removes the cleaned files.
func (l *Log) swapIn(g []*segment, out *segment, end int64, aborted []AbortedTxn) (committed bool, err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, errCleanAborted
	}
	segs := *l.segs.Load()
	i := 0
	for i < len(segs) && segs[i] != g[0] {
		i++
	}
	j := i + len(g)
	stale := j >= len(segs) || segs[j].base != end
	for k := 0; !stale && k < len(g); k++ {
		stale = segs[i+k] != g[k]
	}
	if stale {
		l.mu.Unlock()
		return false, errCleanStale
	}
	if err := l.fs.Rename(cleanedPath(out.endPath()), swapPath(out.endPath())); err != nil {
		l.mu.Unlock()
		return false, storageErr("commit swap", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		l.mu.Unlock()
		return false, storageErr("commit swap", err)
	}
	// Committed: retire the old segments first, so that no reader opens
	// the new files through them, then move the files, then publish.
	for _, s := range g {
		l.cache.markDeleted(s)
		closeActiveIndexFiles(s)
	}
	err = moveSwapFiles(l.fs, l.dir, out.base, end)
	next := make([]*segment, 0, len(segs)-len(g)+1)
	next = append(next, segs[:i]...)
	next = append(next, out)
	next = append(next, segs[j:]...)
	l.setSegs(next)
	// Forget the aborted transactions whose markers went.
	keep := make(map[int64]bool, len(aborted))
	for _, a := range aborted {
		keep[a.LastOffset] = true
	}
	ab := l.aborted[:0]
	for _, a := range l.aborted {
		if a.LastOffset < out.base || a.LastOffset >= end || keep[a.LastOffset] {
			ab = append(ab, a)
		}
	}
	l.aborted = ab
	l.mu.Unlock()
	if err != nil {
		return true, err
	}
	return true, finishSwap(l.fs, l.dir, out.base)
}

// moveSwapFiles is step 4 on disk: remove the segments in (base, end) and
// rename base's .swap files into place.
func moveSwapFiles(fs FS, dir string, base, end int64) error {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return storageErr("list "+dir, err)
	}
	for _, e := range entries {
		o, ext, ok := parseSegmentName(e.Name())
		if !ok || o <= base || o >= end {
			continue
		}
		switch ext {
		case ".log", ".index", ".timeindex", ".txnindex":
			if err := fs.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return storageErr("remove replaced segment", err)
			}
		}
	}
	s := newSegment(dir, base)
	// The indexes first: the .log rename is the last, so that a .log.swap
	// left over always means the renames are not done.
	for _, p := range []string{s.txnPath(), s.indexPath(), s.timePath(), s.logPath()} {
		err := fs.Rename(swapPath(p), p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return storageErr("rename swap file", err)
		}
	}
	return nil
}

// finishSwap is step 5. An empty B.txnindex goes too (Kafka creates them
// only when needed).
func finishSwap(fs FS, dir string, base int64) error {
	if err := fs.SyncDir(dir); err != nil {
		return storageErr("fsync dir", err)
	}
	s := newSegment(dir, base)
	if st, err := fs.Stat(s.txnPath()); err == nil && st.Size() == 0 {
		fs.Remove(s.txnPath())
	}
	if err := fs.Remove(swapPath(newSegment(dir, base).endPath())); err != nil && !errors.Is(err, os.ErrNotExist) {
		return storageErr("remove swap marker", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return storageErr("fsync dir", err)
	}
	return nil
}

// parseSwapEnd decodes a <base>.end file: the end offset in decimal and a
// newline.
func parseSwapEnd(b []byte) (int64, error) {
	s := strings.TrimSuffix(string(b), "\n")
	o, err := strconv.ParseInt(s, 10, 64)
	if err != nil || o < 0 || strings.TrimSpace(s) != s || (len(s) > 1 && s[0] == '0') || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%w: swap end %q", ErrCorruptCheckpoint, b)
	}
	return o, nil
}

// recoverSwaps completes the swaps that committed before a crash (see the
// top of this file). Other .cleaned and .swap files are left for openLog
// to remove.
func recoverSwaps(fs FS, dir string, logger *slog.Logger) error {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return storageErr("list "+dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".end.swap") {
			continue
		}
		base, _, ok := parseSegmentName(strings.TrimSuffix(name, ".swap"))
		if !ok {
			continue
		}
		b, err := readFile(fs, filepath.Join(dir, name))
		if err != nil {
			return storageErr("read "+name, err)
		}
		end, err := parseSwapEnd(b)
		if err != nil || end <= base {
			// Unreadable marker: fall back to the old segments, and drop
			// base's index files, which may belong to the new one.
			logger.Warn("cannot complete cleaner swap, keeping old segments", "segment", base, "err", err)
			s := newSegment(dir, base)
			fs.Remove(s.indexPath())
			fs.Remove(s.timePath())
			fs.Remove(filepath.Join(dir, name))
			continue
		}
		logger.Info("completing cleaner swap interrupted by a crash", "segment", base, "end", end)
		if err := moveSwapFiles(fs, dir, base, end); err != nil {
			return err
		}
		if err := finishSwap(fs, dir, base); err != nil {
			return err
		}
	}
	return nil
}
