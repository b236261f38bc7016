package broker

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v0-4
//
// One log dir (the data directory) with the size of every requested
// partition (all when Topics is null); OffsetLag is 0 (no future replicas).
//
// Version notes:
//   - v1: no changes; v2: flexible; v3: top-level ErrorCode
//   - v4: TotalBytes and UsableBytes of the volume (KIP-827)

func init() { register(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	abs, err := filepath.Abs(b.cfg.DataDir)
	if err != nil {
		abs = b.cfg.DataDir
	}
	dir.Dir = abs
	if r.version >= 4 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(abs, &st); err == nil {
			dir.TotalBytes = int64(st.Blocks) * st.Bsize
			dir.UsableBytes = int64(st.Bavail) * st.Bsize
		}
	}
	add := func(t *topic, parts []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.name
		for _, i := range parts {
			p := t.partition(i)
			if p == nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = i, p.log.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		b.mu.RLock()
		ts := make([]*topic, 0, len(b.topics))
		for _, t := range b.topics {
			ts = append(ts, t)
		}
		b.mu.RUnlock()
		for _, t := range ts {
			parts := make([]int32, len(t.partitionList()))
			for i := range parts {
				parts[i] = int32(i)
			}
			add(t, parts)
		}
	} else {
		for _, rt := range req.Topics {
			if t := b.topicByName(rt.Topic); t != nil {
				add(t, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}
