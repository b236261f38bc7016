package meta

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// JournalFile is the name of the metadata journal inside its directory.
const JournalFile = "metadata.journal"

// ErrJournalClosed is returned by Append after Close.
var ErrJournalClosed = errors.New("meta: journal closed")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Journal is the durable, append-only log of metadata records. Each record
// is one line: the CRC-32C of the JSON in hex, a space, the JSON. Appends are
// fsync'd before they return. Safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// OpenJournal opens (creating if needed) the journal in dir and returns the
// records it holds. A torn or corrupt tail is truncated away.
func OpenJournal(dir string) (*Journal, []Record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("meta: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("meta: open journal: %w", err)
	}
	recs, good, err := ReadRecords(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("meta: truncate torn journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("meta: seek journal: %w", err)
	}
	return &Journal{f: f, path: path}, recs, nil
}

// ReadRecords decodes journal lines from r until the end or the first line
// that is torn or fails its checksum. It returns the records and the number
// of bytes that hold them; an error only for a failed read.
func ReadRecords(r io.Reader) ([]Record, int64, error) {
	br := bufio.NewReader(r)
	var (
		recs []Record
		good int64
	)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("meta: read journal: %w", err)
		}
		if len(line) == 0 || line[len(line)-1] != '\n' {
			return recs, good, nil // end, or a torn last line
		}
		rec, ok := decodeLine(line[:len(line)-1])
		if !ok {
			return recs, good, nil
		}
		recs = append(recs, rec)
		good += int64(len(line))
	}
}

func decodeLine(line []byte) (Record, bool) {
	var rec Record
	sp := bytes.IndexByte(line, ' ')
	if sp != 8 {
		return rec, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return rec, false
	}
	body := line[9:]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(body, castagnoli) != want {
		return rec, false
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, false
	}
	return rec, true
}

// EncodeRecord renders one journal line, newline included.
func EncodeRecord(rec Record) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("meta: encode record: %w", err)
	}
	return fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(body, castagnoli), body), nil
}

// Append writes rec and fsyncs it.
func (j *Journal) Append(rec Record) error {
	line, err := EncodeRecord(rec)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return ErrJournalClosed
	}
	if _, err := j.f.Write(line); err != nil {
		// Drop whatever part was written so later records stay readable.
		if end, serr := j.f.Seek(0, io.SeekCurrent); serr == nil {
			start := end - int64(len(line))
			if start >= 0 && j.f.Truncate(start) == nil {
				j.f.Seek(start, io.SeekStart)
			}
		}
		return fmt.Errorf("meta: append to journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("meta: sync journal: %w", err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
