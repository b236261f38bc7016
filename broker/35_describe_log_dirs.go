package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v0-4
//
// One log dir (the data directory) with the size of every requested
// partition (all when Topics is null); OffsetLag is 0 (no future replicas).
// The dir's ErrorCode is KAFKA_STORAGE_ERROR while its appends fail (a full
// disk) and clears at the next append that succeeds (log_dir_health.go).
//
// Version notes:
//   - v1: no changes; v2: flexible; v3: top-level ErrorCode
//   - v4: TotalBytes and UsableBytes of the volume (KIP-827)
//
// Authorization: DESCRIBE on the cluster (else an empty answer, with
// CLUSTER_AUTHORIZATION_FAILED from v3).

func init() { register(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !r.authorizeCluster(kmsg.ACLOperationDescribe) {
		if r.version >= 3 {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		}
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.dirHealth.dir
	dir.ErrorCode = b.dirHealth.errorCode()
	if r.version >= 4 {
		if s, err := b.logs.Space(); err == nil {
			dir.TotalBytes, dir.UsableBytes = s.Total, s.Free
		}
	}
	add := func(t *topic, parts []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.name
		for _, i := range parts {
			var p *partition
			if all := t.allPartitions(); i >= 0 && int(i) < len(all) {
				p = all[i]
			}
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
			parts := make([]int32, t.numPartitions())
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
