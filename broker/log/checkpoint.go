package log

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// File names in a data directory, as Kafka's.
const (
	logStartCheckpoint      = "log-start-offset-checkpoint"
	recoveryPointCheckpoint = "recovery-point-offset-checkpoint"
	cleanerCheckpoint       = "cleaner-offset-checkpoint"
	cleanShutdownFile       = ".kafka_cleanshutdown"
	partitionMetadataFile   = "partition.metadata"
	leaderEpochFile         = "leader-epoch-checkpoint"
)

type topicPartition struct {
	topic     string
	partition int32
}

// parseTopicPartition splits a directory name "<topic>-<partition>".
func parseTopicPartition(name string) (string, int32) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return name, 0
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil {
		return name, 0
	}
	return name[:i], int32(p)
}

// readCheckpoint parses Kafka's offset checkpoint format:
// "0\n<count>\n<topic> <partition> <offset>\n...".
func readCheckpoint(fs FS, path string) (map[topicPartition]int64, error) {
	b, err := readFile(fs, path)
	if err != nil {
		return nil, err
	}
	return parseCheckpoint(b)
}

func parseCheckpoint(b []byte) (map[topicPartition]int64, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("%w: bad header", ErrCorruptCheckpoint)
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("%w: count %q for %d entries", ErrCorruptCheckpoint, lines[1], len(lines)-2)
	}
	out := make(map[topicPartition]int64, n)
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: line %q", ErrCorruptCheckpoint, line)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: line %q", ErrCorruptCheckpoint, line)
		}
		out[topicPartition{f[0], int32(p)}] = o
	}
	return out, nil
}

func formatCheckpoint(m map[topicPartition]int64) []byte {
	keys := make([]topicPartition, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].partition < keys[j].partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d %d\n", k.topic, k.partition, m[k])
	}
	return b.Bytes()
}

// writeCheckpoint writes a checkpoint file atomically and durably.
func writeCheckpoint(fs FS, path string, m map[topicPartition]int64) error {
	if err := writeFileAtomic(fs, path, formatCheckpoint(m)); err != nil {
		return storageErr("write "+path, err)
	}
	return nil
}
