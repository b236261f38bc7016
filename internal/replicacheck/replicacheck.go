package replicacheck

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's log format, as far as the replica comparison needs it: a
// partition's directory is <topic>-<partition>, its segments are
// <20-digit base offset>.log, and a segment is record batches back to
// back, each starting with baseOffset int64 and batchLength int32 (the
// bytes after that field).
const (
	batchFraming    = 12 // baseOffset + batchLength
	batchV2MinAfter = 49 // a v2 batch header's bytes after batchLength
)

var segmentName = regexp.MustCompile(`^[0-9]{20}\.log$`)

// Batch is one record batch as a replica stores it.
type Batch struct {
	BaseOffset int64
	LastOffset int64
	File       string // the segment file
	Pos        int64  // the batch's position in it
	Raw        []byte // the whole batch, framing included
}

// ReadBatches reads every record batch of topic's partition from
// the segment files under dataDir, in offset order. A batch cut short at
// the end of a segment (a torn write) ends that segment; a batch that is
// not magic v2 is an error.
func ReadBatches(dataDir, topic string, partition int32) ([]Batch, error) {
	dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, partition))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", dataDir, err)
	}
	var segs []string
	for _, e := range entries {
		if e.Type().IsRegular() && segmentName.MatchString(e.Name()) {
			segs = append(segs, e.Name())
		}
	}
	slices.Sort(segs) // 20 digits: name order is offset order
	var out []Batch
	for _, name := range segs {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("replica %s: %w", dataDir, err)
		}
		batches, err := segmentBatches(path, data)
		if err != nil {
			return nil, fmt.Errorf("replica %s: %w", dataDir, err)
		}
		out = append(out, batches...)
	}
	return out, nil
}

// segmentBatches splits a segment file's bytes into batches.
func segmentBatches(path string, data []byte) ([]Batch, error) {
	var out []Batch
	for pos := 0; pos+batchFraming <= len(data); {
		length := int(int32(binary.BigEndian.Uint32(data[pos+8:])))
		end := pos + batchFraming + length
		if length < batchV2MinAfter || end > len(data) {
			break // torn or zeroed tail
		}
		raw := data[pos:end]
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			return nil, fmt.Errorf("%s at %d: %w", path, pos, err)
		}
		if b.Magic != 2 {
			return nil, fmt.Errorf("%s at %d: batch magic %d, want 2", path, pos, b.Magic)
		}
		out = append(out, Batch{
			BaseOffset: b.FirstOffset,
			LastOffset: b.FirstOffset + int64(b.LastOffsetDelta),
			File:       path,
			Pos:        int64(pos),
			Raw:        raw,
		})
		pos = end
	}
	return out, nil
}

// Mismatch is where two replicas of a partition first differ.
type Mismatch struct {
	Offset int64     // the base offset of the first batch that differs
	Dirs   [2]string // the two data directories
	Why    string
}

// String says which replicas differ, where and how.
func (m *Mismatch) String() string {
	return fmt.Sprintf("replicas %s and %s differ at offset %d: %s", m.Dirs[0], m.Dirs[1], m.Offset, m.Why)
}

// Compare compares the record batches of topic's partition below
// offset below (a high watermark) in each data directory, byte for byte,
// with the first directory's. Replicas may cut segments at different
// offsets and may have deleted different old segments: batches are
// compared from the highest first offset among them. It returns nil if
// they hold the same batches, else the lowest offset where two differ.
func Compare(dataDirs []string, topic string, partition int32, below int64) (*Mismatch, error) {
	if len(dataDirs) < 2 {
		return nil, fmt.Errorf("compare replicas: %d data directories, want 2 or more", len(dataDirs))
	}
	all := make([][]Batch, len(dataDirs))
	var from int64
	for i, d := range dataDirs {
		bs, err := ReadBatches(d, topic, partition)
		if err != nil {
			return nil, fmt.Errorf("compare replicas: %w", err)
		}
		all[i] = bs
		if len(bs) > 0 {
			from = max(from, bs[0].BaseOffset)
		}
	}
	for i, bs := range all {
		all[i] = slices.DeleteFunc(bs, func(b Batch) bool { return b.BaseOffset < from || b.BaseOffset >= below })
	}
	var first *Mismatch
	for i := 1; i < len(all); i++ {
		m := compareBatches(all[0], all[i])
		if m != nil && (first == nil || m.Offset < first.Offset) {
			m.Dirs = [2]string{dataDirs[0], dataDirs[i]}
			first = m
		}
	}
	return first, nil
}

// compareBatches finds the first batch where a and b differ.
func compareBatches(a, b []Batch) *Mismatch {
	for i := 0; i < max(len(a), len(b)); i++ {
		switch {
		case i >= len(a):
			return &Mismatch{Offset: b[i].BaseOffset, Why: "the first lacks the batch " + describeBatch(b[i])}
		case i >= len(b):
			return &Mismatch{Offset: a[i].BaseOffset, Why: "the second lacks the batch " + describeBatch(a[i])}
		case a[i].BaseOffset != b[i].BaseOffset:
			return &Mismatch{Offset: min(a[i].BaseOffset, b[i].BaseOffset),
				Why: fmt.Sprintf("batch %s against batch %s", describeBatch(a[i]), describeBatch(b[i]))}
		case !bytes.Equal(a[i].Raw, b[i].Raw):
			return &Mismatch{Offset: a[i].BaseOffset, Why: fmt.Sprintf("batch %s against %s: %s",
				describeBatch(a[i]), describeBatch(b[i]), firstDifference(a[i].Raw, b[i].Raw))}
		}
	}
	return nil
}

func describeBatch(b Batch) string {
	return fmt.Sprintf("%d-%d (%d bytes, %s at %d)", b.BaseOffset, b.LastOffset, len(b.Raw), filepath.Base(b.File), b.Pos)
}

// batchFields names the v2 batch header's fields by their first byte.
var batchFields = []struct {
	at   int
	name string
}{
	{0, "baseOffset"}, {8, "batchLength"}, {12, "partitionLeaderEpoch"}, {16, "magic"}, {17, "crc"},
	{21, "attributes"}, {23, "lastOffsetDelta"}, {27, "baseTimestamp"}, {35, "maxTimestamp"},
	{43, "producerId"}, {51, "producerEpoch"}, {53, "baseSequence"}, {57, "recordCount"}, {61, "records"},
}

// firstDifference says at which byte, and in which field, a and b first
// differ.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	field := "records"
	for _, f := range batchFields {
		if i >= f.at {
			field = f.name
		}
	}
	if i == len(a) || i == len(b) {
		return "lengths " + strconv.Itoa(len(a)) + " and " + strconv.Itoa(len(b))
	}
	return fmt.Sprintf("byte %d (%s): %#02x against %#02x", i, field, a[i], b[i])
}
