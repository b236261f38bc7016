package main

import (
	"context"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kadm"
)

// logDirState is a log directory of a broker holding replicas of a
// described topic, sorted by broker and directory. Error is the directory's error, such as
// KAFKA_STORAGE_ERROR while its disk refuses writes.
type logDirState struct {
	Broker      int32  `json:"broker"`
	Dir         string `json:"dir"`
	TotalBytes  int64  `json:"total_bytes"`
	UsableBytes int64  `json:"usable_bytes"`
	Error       string `json:"error,omitempty"`
}

// addLogDirs fills in the log directories of the brokers holding each
// topic's replicas, and each partition's directory and its error. A
// broker without DescribeLogDirs leaves LogDirsError set instead.
func addLogDirs(ctx context.Context, adm *kadm.Client, td kadm.TopicDetails, descs []topicDescription) {
	set := kadm.TopicsSet{}
	for _, d := range descs {
		for _, p := range d.PartitionStates {
			set.Add(d.Name, p.Partition)
		}
	}
	all, err := adm.DescribeAllLogDirs(ctx, set)
	if err = kafkaErr("DescribeLogDirs", err); err != nil {
		for i := range descs {
			descs[i].LogDirsError = err.Error()
		}
		return
	}
	for i := range descs {
		d := &descs[i]
		hosts := map[int32]bool{}
		for _, p := range td[d.Name].Partitions {
			for _, r := range p.Replicas {
				hosts[r] = true
			}
		}
		for _, ld := range all.Sorted() {
			if hosts[ld.Broker] {
				d.LogDirs = append(d.LogDirs, logDirState{Broker: ld.Broker, Dir: ld.Dir,
					TotalBytes: ld.TotalBytes, UsableBytes: ld.UsableBytes, Error: errString(ld.Err)})
			}
		}
		for j := range d.PartitionStates {
			p := &d.PartitionStates[j]
			dirs := all[p.Leader]
			if lp, ok := dirs.LookupPartition(d.Name, p.Partition); ok {
				p.LogDir = lp.Dir
			} else if len(dirs) == 1 {
				// A failed dir may list no partitions (Kafka's do not);
				// with one dir on the leader, the partition is in it.
				for dir := range dirs {
					p.LogDir = dir
				}
			}
			if p.LogDir != "" {
				p.LogDirError = errString(dirs[p.LogDir].Err)
			}
		}
	}
}

// writeLogDirs prints the LOG DIRS section of `topics describe`.
func writeLogDirs(w io.Writer, d topicDescription) error {
	fmt.Fprintln(w, "\nLOG DIRS")
	if d.LogDirsError != "" {
		_, err := fmt.Fprintf(w, "(unavailable: %s)\n", d.LogDirsError)
		return err
	}
	t := newTable("BROKER", "DIR", "TOTAL-BYTES", "USABLE-BYTES", "ERROR")
	for _, ld := range d.LogDirs {
		t.add(ld.Broker, ld.Dir, ld.TotalBytes, ld.UsableBytes, ld.Error)
	}
	return t.write(w)
}
