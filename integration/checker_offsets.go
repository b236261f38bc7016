package integration

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// The checks on what the group coordinator and the transaction
// coordinator promise beyond the records themselves: the group's committed
// offsets, sampled with OffsetFetch while the workload runs, only move
// forward and never fall below an acknowledged commit (a coordinator that
// takes over after a failover must know every commit its predecessor
// acknowledged); and a read_committed consumer reads a transaction's
// values only once its producer has asked to commit it.

// checkDirtyReads finds reads of a transaction's values made before its
// producer asked to commit it: read_committed consumers must not see a
// transaction in flight. A read is recorded after the poll that returned
// it, so one recorded before the commit was asked for surely was.
func (c *checker) checkDirtyReads() {
	for _, r := range c.h.Reads {
		w := c.writes[r.Value]
		if w == nil || w.Txn == "" {
			continue
		}
		t := c.txns[w.Txn]
		if t == nil || (t.Status != TxnCommitted && t.Status != TxnCommitUnknown) {
			continue // never asked to commit: AbortedRead's business
		}
		if r.At < t.CommitAsked {
			c.r.add(DirtyRead, "%s read %q at %s (%s), before transaction %s was asked to commit (%s)",
				r.Consumer, r.Value, tp{r.Partition, r.Offset}, at(r.At), t.ID, at(t.CommitAsked))
		}
	}
}

// offsetFact is an offset of a partition known to be committed by the
// time end: an acknowledged commit, or an OffsetFetch's answer.
type offsetFact struct {
	offset int64
	end    time.Duration
	what   string
}

// checkOffsetSamples checks every sampled committed offset against what
// was known to be committed before the OffsetFetch was sent: the samples
// that had come back, and the commits that had been acknowledged.
func (c *checker) checkOffsetSamples() {
	c.r.Stats.OffsetSamples = len(c.h.OffsetSamples)
	samples := map[int32][]OffsetSample{}
	for _, s := range c.h.OffsetSamples {
		samples[s.Partition] = append(samples[s.Partition], s)
	}
	for _, p := range slices.Sorted(maps.Keys(samples)) {
		ss := samples[p]
		slices.SortFunc(ss, func(a, b OffsetSample) int { return cmp.Compare(a.Start, b.Start) })
		var seen, acked []offsetFact
		for _, s := range ss {
			seen = append(seen, offsetFact{s.Offset, s.End, fmt.Sprintf("an OffsetFetch (%s..%s)", at(s.Start), at(s.End))})
		}
		for _, cm := range c.h.Commits {
			if cm.Partition == p && cm.Err == "" {
				acked = append(acked, offsetFact{cm.Offset, cm.End, fmt.Sprintf("%s's commit (%s..%s)", cm.Consumer, at(cm.Start), at(cm.End))})
			}
		}
		byEnd := func(a, b offsetFact) int { return cmp.Compare(a.end, b.end) }
		slices.SortFunc(seen, byEnd)
		slices.SortFunc(acked, byEnd)
		var bestSeen, bestAcked *offsetFact
		i, j := 0, 0
		for _, s := range ss {
			for ; i < len(seen) && seen[i].end < s.Start; i++ {
				if bestSeen == nil || seen[i].offset > bestSeen.offset {
					bestSeen = &seen[i]
				}
			}
			for ; j < len(acked) && acked[j].end < s.Start; j++ {
				if bestAcked == nil || acked[j].offset > bestAcked.offset {
					bestAcked = &acked[j]
				}
			}
			if bestAcked != nil && s.Offset < bestAcked.offset {
				c.r.add(CommitLost, "partition %d: an OffsetFetch (%s..%s) returned committed offset %d, but %s had acknowledged %d",
					p, at(s.Start), at(s.End), s.Offset, bestAcked.what, bestAcked.offset)
			}
			if bestSeen != nil && s.Offset < bestSeen.offset {
				c.r.add(OffsetBackward, "partition %d: an OffsetFetch (%s..%s) returned committed offset %d, but %s had returned %d",
					p, at(s.Start), at(s.End), s.Offset, bestSeen.what, bestSeen.offset)
			}
		}
	}
}

// runOffsetSampler asks for the group's committed offsets every
// OffsetSampling until the workload's consumers stop, and records each
// answered partition (-1 for a partition the group has no offset for).
//
// It asks the coordinator a majority of the seed brokers name: a broker
// cut off from the others still believes it leads its partitions of
// __consumer_offsets and answers OffsetFetch from what it had (Kafka's
// would too), while the group commits through the coordinator that took
// over. A majority view is fresh enough: a commit the new coordinator
// acknowledged is replicated (min.insync.replicas 2), so a follower on
// the majority side fetched it from the new leader and so knew the
// leader had changed. A sample's Start is when the round of
// FindCoordinator requests began. A round without a majority, or whose
// OffsetFetch fails, records nothing.
func (w *Workload) runOffsetSampler() {
	// Kafka 3.9's versions: OffsetFetch v9 names topics, v10 only IDs.
	all, err := kgo.NewClient(w.clientOpts(kgo.RequestTimeoutOverhead(5*time.Second), kgo.MaxVersions(kversion.V3_9_0()))...)
	if err != nil {
		w.cfg.Logf("workload: offset sampler: %v", err)
		return
	}
	defer all.Close()
	var seeds []*kgo.Client
	defer func() {
		for _, cl := range seeds {
			cl.Close()
		}
	}()
	for _, s := range w.cfg.Seeds {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
		if err != nil {
			w.cfg.Logf("workload: offset sampler: %v", err)
			return
		}
		seeds = append(seeds, cl)
	}
	adm := kadm.NewClient(all)
	errs := 0
	fail := func(err error) {
		if errs++; errs <= 3 && w.consCtx.Err() == nil {
			w.cfg.Logf("workload: offset sampler: %v", err)
		}
	}
	for sleepCtx(w.consCtx, w.cfg.OffsetSampling) {
		ctx, cancel := context.WithTimeout(w.consCtx, 10*time.Second)
		start := w.h.Now()
		coord, err := majorityCoordinator(ctx, seeds, w.cfg.Group)
		var resp kadm.OffsetResponses
		if err == nil {
			resp, err = fetchOffsetsFrom(ctx, adm, all, coord, w.cfg.Group)
		}
		end := w.h.Now()
		cancel()
		if err != nil {
			fail(err)
			continue
		}
		var got []OffsetSample
		for p := range w.cfg.Partitions {
			s := OffsetSample{Partition: p, Offset: -1, Start: start, End: end}
			if o, ok := resp.Lookup(w.cfg.Topic, p); ok {
				if o.Err != nil {
					continue
				}
				s.Offset = o.At
			}
			got = append(got, s)
		}
		w.h.AddOffsetSamples(got...)
	}
}

// majorityCoordinator asks each seed client's seed broker alone for the
// group's coordinator and returns the node a majority of them name.
func majorityCoordinator(ctx context.Context, seeds []*kgo.Client, group string) (int32, error) {
	votes := map[int32]int{}
	var errs []error
	for _, cl := range seeds {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		req.CoordinatorKeys = []string{group}
		kresp, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp := kresp.(*kmsg.FindCoordinatorResponse)
		id, code := resp.NodeID, resp.ErrorCode
		if len(resp.Coordinators) == 1 {
			id, code = resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
		}
		if err := kerr.ErrorForCode(code); err != nil {
			errs = append(errs, err)
			continue
		}
		votes[id]++
	}
	for id, n := range votes {
		if 2*n > len(seeds) {
			return id, nil
		}
	}
	return -1, fmt.Errorf("no coordinator named by a majority of %d brokers (%v): %w", len(seeds), votes, errors.Join(errs...))
}

// fetchOffsetsFrom sends OffsetFetch for every offset of group to node id
// (the group in both the old and the batched form: the client picks the
// version).
func fetchOffsetsFrom(ctx context.Context, adm *kadm.Client, cl *kgo.Client, id int32, group string) (kadm.OffsetResponses, error) {
	if _, err := adm.BrokerMetadata(ctx); err != nil { // so the client knows node id's address
		return nil, err
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	req.Groups = append(req.Groups, rg)
	kresp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("offset fetch from node %d: %w", id, err)
	}
	resp := kresp.(*kmsg.OffsetFetchResponse)
	code, topics := resp.ErrorCode, resp.Topics
	if len(resp.Groups) == 1 {
		g := resp.Groups[0]
		code, topics = g.ErrorCode, nil
		for _, t := range g.Topics {
			ft := kmsg.NewOffsetFetchResponseTopic()
			ft.Topic = t.Topic
			for _, p := range t.Partitions {
				fp := kmsg.NewOffsetFetchResponseTopicPartition()
				fp.Partition, fp.Offset, fp.ErrorCode = p.Partition, p.Offset, p.ErrorCode
				ft.Partitions = append(ft.Partitions, fp)
			}
			topics = append(topics, ft)
		}
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return nil, fmt.Errorf("offset fetch from node %d: %w", id, err)
	}
	out := kadm.OffsetResponses{}
	for _, t := range topics {
		for _, p := range t.Partitions {
			if out[t.Topic] == nil {
				out[t.Topic] = map[int32]kadm.OffsetResponse{}
			}
			out[t.Topic][p.Partition] = kadm.OffsetResponse{
				Offset: kadm.Offset{Topic: t.Topic, Partition: p.Partition, At: p.Offset},
				Err:    kerr.ErrorForCode(p.ErrorCode),
			}
		}
	}
	return out, nil
}
