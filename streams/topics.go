package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/gregorhq/gregor/state"
)

// setupTopics checks the source topics, works out the partition count of every
// repartition topic and the task count of every sub-topology, checks co-partitioning
// and creates the internal topics.
func (a *App) setupTopics(ctx context.Context) error {
	app := a.cfg.ApplicationID
	var user []string
	for _, sub := range a.topo.subs {
		for _, tr := range sub.topics {
			if !tr.internal {
				user = append(user, tr.name)
			}
		}
	}
	counts := map[string]int32{} // user topic -> partitions
	if len(user) > 0 {
		details, err := a.adm.ListTopics(ctx, user...)
		if err != nil {
			return fmt.Errorf("streams: describe source topics: %w", err)
		}
		for _, name := range user {
			d, ok := details[name]
			if !ok || d.Err != nil {
				return fmt.Errorf("%w: source topic %q does not exist", ErrTopology, name)
			}
			counts[name] = int32(len(d.Partitions))
		}
	}
	counts, tasks, err := a.topo.partitionCounts(app, counts)
	if err != nil {
		return err
	}
	a.subTasks = tasks
	names := make([]string, 0, len(a.topo.repartitions))
	for name := range a.topo.repartitions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		full := app + "-" + name
		a.repartitionTopics[full] = true
		cfg := map[string]*string{"cleanup.policy": ptr("delete"), "retention.ms": ptr("-1")}
		if err := a.createTopic(ctx, full, counts[full], cfg); err != nil {
			return err
		}
	}
	for _, sub := range a.topo.subs {
		for _, spec := range sub.stores {
			if !spec.logging {
				continue
			}
			cfg := map[string]*string{}
			for k, v := range spec.changelogConfigs() {
				cfg[k] = ptr(v)
			}
			if err := a.createTopic(ctx, state.ChangelogTopic(app, spec.name), a.subTasks[sub.id], cfg); err != nil {
				return err
			}
		}
	}
	return nil
}

func ptr(s string) *string { return &s }

// createTopic creates an internal topic, or checks the partition count of an existing one.
func (a *App) createTopic(ctx context.Context, name string, partitions int32, cfg map[string]*string) error {
	resp, err := a.adm.CreateTopic(ctx, partitions, a.cfg.ReplicationFactor, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		details, derr := a.adm.ListTopics(ctx, name)
		if derr != nil {
			return fmt.Errorf("streams: describe %s: %w", name, derr)
		}
		if d, ok := details[name]; ok && d.Err == nil && int32(len(d.Partitions)) != partitions {
			return fmt.Errorf("%w: internal topic %s has %d partitions, want %d", ErrTopology, name, len(d.Partitions), partitions)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("streams: create topic %s: %w", name, err)
	}
	a.cfg.Logger.Info("streams: created internal topic", "topic", name, "partitions", partitions)
	return nil
}

// purgeRepartition deletes the committed records of repartition topics.
func (a *App) purgeRepartition(ctx context.Context, committed map[state.TopicPartition]int64) {
	offs := kadm.Offsets{}
	for tp, off := range committed {
		if a.repartitionTopics[tp.Topic] {
			offs.Add(kadm.Offset{Topic: tp.Topic, Partition: tp.Partition, At: off, LeaderEpoch: -1})
		}
	}
	if len(offs) == 0 {
		return
	}
	resp, err := a.adm.DeleteRecords(ctx, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		a.cfg.Logger.Warn("streams: purge repartition topics", "err", err)
	}
}
