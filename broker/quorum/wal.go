package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// WAL and snapshot files are sequences of records:
//
//	length  uint32 big-endian: the size of type+body
//	crc     uint32 big-endian: CRC-32C (Castagnoli) of type+body
//	type    byte
//	body    protobuf
//
// The WAL holds recBase (the log position the entries follow, as a
// raftpb.Entry with only Index and Term), recEntry (raftpb.Entry) and
// recHardState (raftpb.HardState) records; a snapshot file holds one
// recSnapshot (raftpb.Snapshot).
const (
	recEntry     byte = 1
	recHardState byte = 2
	recBase      byte = 3
	recSnapshot  byte = 4

	recHeaderSize = 8
	// maxRecordSize bounds one record; a length above it is corruption.
	maxRecordSize = MaxFrameSize + 1024
)

// walFile is the WAL's name inside Config.Dir.
const walFile = "raft.wal"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errTorn: the bytes end inside a record.
	errTorn = errors.New("torn record")
	// errBadRecord: a record fails its checksum or cannot be decoded.
	errBadRecord = errors.New("bad record")
)

// appendRecord appends one framed record of type typ holding m to b.
func appendRecord(b []byte, typ byte, m proto.Message) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, recHeaderSize)...)
	b = append(b, typ)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("quorum: encode record: %w", err)
	}
	body := b[start+recHeaderSize:]
	binary.BigEndian.PutUint32(b[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b, nil
}

// decodeRecord decodes the record at the start of b. It returns the record's
// type, its body (aliasing b) and its size; errTorn if b ends inside it,
// errBadRecord if it is damaged.
func decodeRecord(b []byte) (typ byte, body []byte, n int, err error) {
	if len(b) < recHeaderSize {
		return 0, nil, 0, errTorn
	}
	size := binary.BigEndian.Uint32(b)
	if size == 0 || size > maxRecordSize {
		return 0, nil, 0, errBadRecord
	}
	if uint64(len(b)-recHeaderSize) < uint64(size) {
		return 0, nil, 0, errTorn
	}
	n = recHeaderSize + int(size)
	rec := b[recHeaderSize:n]
	if crc32.Checksum(rec, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return 0, nil, 0, errBadRecord
	}
	switch rec[0] {
	case recEntry, recHardState, recBase, recSnapshot:
	default:
		return 0, nil, 0, errBadRecord
	}
	return rec[0], rec[1:], n, nil
}

// entryID is a log position.
type entryID struct{ index, term uint64 }

// walState is what a WAL holds: the log from base on and the last HardState.
type walState struct {
	base    entryID
	hasBase bool
	ents    []*raftpb.Entry // ents[i].Index == base.index+1+i
	hs      *raftpb.HardState
}

func (s *walState) last() uint64 { return s.base.index + uint64(len(s.ents)) }

// add replays one decoded record into s.
func (s *walState) add(typ byte, body []byte) error {
	switch typ {
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(body, hs); err != nil {
			return fmt.Errorf("%w: hard state: %w", errBadRecord, err)
		}
		s.hs = hs
	case recBase:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(body, e); err != nil {
			return fmt.Errorf("%w: base: %w", errBadRecord, err)
		}
		s.base, s.hasBase, s.ents = entryID{e.GetIndex(), e.GetTerm()}, true, nil
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(body, e); err != nil {
			return fmt.Errorf("%w: entry: %w", errBadRecord, err)
		}
		i := e.GetIndex()
		if !s.hasBase || i <= s.base.index || i > s.last()+1 {
			return fmt.Errorf("%w: entry %d does not follow the log (base %d, last %d)", errBadRecord, i, s.base.index, s.last())
		}
		// A rewritten position (a new leader's entry) drops the old suffix.
		s.ents = append(s.ents[:i-s.base.index-1], e)
	default:
		return fmt.Errorf("%w: record type %d in a WAL", errBadRecord, typ)
	}
	return nil
}

// decodeWAL replays the records of a WAL file. It returns the state and the
// number of bytes that hold whole, valid records. A damaged record that is
// the last thing in the file is a torn write: good stops before it. A damaged
// record followed by more data is corruption and an error.
func decodeWAL(b []byte) (s *walState, good int, err error) {
	s = &walState{}
	for good < len(b) {
		typ, body, n, err := decodeRecord(b[good:])
		if err != nil {
			if errors.Is(err, errTorn) || tailIsTorn(b[good:]) {
				return s, good, nil
			}
			return s, good, fmt.Errorf("%w: WAL record at offset %d: %w", ErrCorrupt, good, err)
		}
		if err := s.add(typ, body); err != nil {
			return s, good, fmt.Errorf("%w: WAL record at offset %d: %w", ErrCorrupt, good, err)
		}
		good += n
	}
	return s, good, nil
}

// tailIsTorn reports whether the damaged record at the start of b can be the
// remains of an interrupted final write: its declared size reaches the end of
// the file, or everything from it on is zero.
func tailIsTorn(b []byte) bool {
	if len(b) >= 4 {
		if size := uint64(binary.BigEndian.Uint32(b)); size+recHeaderSize >= uint64(len(b)) {
			return true
		}
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// wal is the append-only file of log records. It is owned by the node's
// goroutine and needs no lock.
type wal struct {
	dir string
	f   *os.File
	buf []byte
	log *slog.Logger
}

// openWAL opens (creating if needed) the WAL in dir and replays it, cutting a
// torn tail away. exists reports whether the file held any record.
func openWAL(dir string, log *slog.Logger) (w *wal, s *walState, exists bool, err error) {
	path := filepath.Join(dir, walFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, fmt.Errorf("quorum: read WAL: %w", err)
	}
	s, good, err := decodeWAL(b)
	if err != nil {
		return nil, nil, false, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, false, fmt.Errorf("quorum: open WAL: %w", err)
	}
	if good < len(b) {
		log.Warn("quorum: truncating torn WAL tail", "path", path, "at", good, "dropped_bytes", len(b)-good)
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, false, fmt.Errorf("quorum: truncate torn WAL tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, false, fmt.Errorf("quorum: sync WAL: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), 0); err != nil {
		f.Close()
		return nil, nil, false, fmt.Errorf("quorum: seek WAL: %w", err)
	}
	return &wal{dir: dir, f: f, log: log}, s, good > 0, nil
}

// save appends entries and then the hard state (either may be empty), and
// fsyncs if sync is set. On a failed write the file is cut back so the
// records before stay readable.
func (w *wal) save(ents []*raftpb.Entry, hs *raftpb.HardState, sync bool) error {
	b := w.buf[:0]
	var err error
	for _, e := range ents {
		if b, err = appendRecord(b, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil {
		if b, err = appendRecord(b, recHardState, hs); err != nil {
			return err
		}
	}
	w.buf = b
	if len(b) == 0 {
		return nil
	}
	end, err := w.f.Seek(0, 1)
	if err != nil {
		return fmt.Errorf("quorum: WAL position: %w", err)
	}
	if _, err := w.f.Write(b); err != nil {
		if w.f.Truncate(end) == nil {
			_, _ = w.f.Seek(end, 0)
		}
		return fmt.Errorf("quorum: append to WAL: %w", err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("quorum: sync WAL: %w", err)
		}
	}
	return nil
}

// reset atomically replaces the WAL with one that holds base, ents (which
// must follow base) and hs: written to a temporary file, fsynced, renamed
// over the WAL, and the directory fsynced.
func (w *wal) reset(base entryID, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	b, err := appendRecord(nil, recBase, &raftpb.Entry{Index: new(base.index), Term: new(base.term)})
	if err != nil {
		return err
	}
	for _, e := range ents {
		if b, err = appendRecord(b, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil {
		if b, err = appendRecord(b, recHardState, hs); err != nil {
			return err
		}
	}
	path := filepath.Join(w.dir, walFile)
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("quorum: rewrite WAL: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("quorum: reopen WAL: %w", err)
	}
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		return fmt.Errorf("quorum: seek WAL: %w", err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f = f
	return nil
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// writeFileAtomic writes b to path through a temporary file: write, fsync,
// rename, fsync the directory. A crash leaves either the old file or the new.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
