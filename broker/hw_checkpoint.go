package broker

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// The high watermark of every local partition is checkpointed in the data
// directory's replication-offset-checkpoint (Kafka's file and format: a
// version line "0", a count line, then "topic partition offset" lines), so
// a restarted replica starts from the high watermark it had rather than
// assuming its log end is committed.

const hwCheckpointFile = "replication-offset-checkpoint"

type topicPartitionKey struct {
	topic     string
	partition int32
}

// readHWCheckpoint reads the checkpoint; a missing or unreadable file is
// an empty one (the partitions then start at their log end, as before
// replication).
func readHWCheckpoint(dir string) map[topicPartitionKey]int64 {
	out := map[topicPartitionKey]int64{}
	f, err := os.Open(filepath.Join(dir, hwCheckpointFile))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		if line < 2 {
			continue // version and count
		}
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			return map[topicPartitionKey]int64{}
		}
		p, err1 := strconv.ParseInt(fs[1], 10, 32)
		o, err2 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil {
			return map[topicPartitionKey]int64{}
		}
		out[topicPartitionKey{fs[0], int32(p)}] = o
	}
	return out
}

// writeHWCheckpoint writes the high watermarks of the local partitions.
func (b *Broker) writeHWCheckpoint() error {
	b.mu.RLock()
	var lines []string
	for _, t := range b.topics {
		for _, p := range t.partitionList() {
			lines = append(lines, fmt.Sprintf("%s %d %d", t.name, p.index, p.highWatermark()))
		}
	}
	b.mu.RUnlock()
	sort.Strings(lines)
	text := fmt.Sprintf("0\n%d\n%s", len(lines), strings.Join(lines, "\n"))
	if len(lines) > 0 {
		text += "\n"
	}
	if err := fsutil.WriteFile(filepath.Join(b.cfg.DataDir, hwCheckpointFile), []byte(text), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", hwCheckpointFile, err)
	}
	return nil
}

// hwCheckpointLoop writes the checkpoint every
// replica.high.watermark.checkpoint.interval.ms (Kafka's 5 s).
func (b *Broker) hwCheckpointLoop() {
	defer b.wg.Done()
	every := time.Duration(b.brokerIntSetting("replica.high.watermark.checkpoint.interval.ms", 5000)) * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			return
		case <-t.C:
			if err := b.writeHWCheckpoint(); err != nil {
				b.logger.Warn("high watermark checkpoint failed", "err", err)
			}
		}
	}
}
