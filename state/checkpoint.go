package state

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// CheckpointFileName is the name of a task's checkpoint file inside its directory.
const CheckpointFileName = ".checkpoint"

// checkpointVersion is the only version of the file format, Kafka Streams' version 0:
//
//	0
//	<number of entries>
//	<topic> <partition> <offset>
//	...
//
// Each offset is the changelog offset restoration continues from: everything before it is
// in the store.
const checkpointVersion = 0

// ParseCheckpoint decodes the contents of a checkpoint file. Errors wrap ErrBadCheckpoint.
func ParseCheckpoint(data []byte) (map[TopicPartition]int64, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	v, ok := next()
	if !ok {
		return nil, bad("empty file")
	}
	if version, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || version != checkpointVersion {
		return nil, bad("unsupported version %q", v)
	}
	c, ok := next()
	if !ok {
		return nil, bad("missing entry count")
	}
	count, err := strconv.Atoi(strings.TrimSpace(c))
	if err != nil || count < 0 {
		return nil, bad("bad entry count %q", c)
	}
	out := make(map[TopicPartition]int64, min(count, 1024))
	for i := 0; i < count; i++ {
		l, ok := next()
		if !ok {
			return nil, bad("expected %d entries, found %d", count, i)
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, bad("line %d: want \"topic partition offset\", got %q", line, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, bad("line %d: bad partition or offset in %q", line, l)
		}
		tp := TopicPartition{Topic: f[0], Partition: int32(p)}
		if _, dup := out[tp]; dup {
			return nil, bad("line %d: duplicate entry for %s", line, tp)
		}
		out[tp] = off
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(l) != "" {
			return nil, bad("line %d: unexpected trailing data %q", line, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, bad("%v", err)
	}
	return out, nil
}

// FormatCheckpoint encodes offsets as a checkpoint file, entries sorted by topic and
// partition.
func FormatCheckpoint(offsets map[TopicPartition]int64) []byte {
	tps := slices.SortedFunc(maps.Keys(offsets), func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	return b.Bytes()
}

// ReadCheckpoint reads the checkpoint file at path. A missing file gives an empty map.
func ReadCheckpoint(path string) (map[TopicPartition]int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: read checkpoint: %w", err)
	}
	m, err := ParseCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteCheckpoint replaces the checkpoint file at path atomically: it writes and syncs a
// temporary file, renames it over path and syncs the directory.
func WriteCheckpoint(path string, offsets map[TopicPartition]int64) error {
	if err := fsutil.WriteFile(path, FormatCheckpoint(offsets), 0o644); err != nil {
		return fmt.Errorf("state: write checkpoint: %w", err)
	}
	return nil
}
