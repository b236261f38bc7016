package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// Group APIs on three in-process nodes: each broker coordinates the groups
// of the __consumer_offsets partitions it leads, and answers the
// cluster-wide ones (ListGroups) from those alone.

// Each broker's ListGroups answers without COORDINATOR_LOAD_IN_PROGRESS
// once its own partitions are loaded (it never loads the others), and the
// union of the answers is every group; DescribeGroups and OffsetFetch
// reach each group at its coordinator.
func TestListGroupsCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3,
		brokertest.WithProperty("offsets.topic.num.partitions", "6"),
		brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
	ctx := testCtx(t)
	cl, adm := newAdmin(t, c.Seeds()[0], freshMetadata())
	mustCreate(t, ctx, adm, "lg", 1, nil)

	var groups []string
	for i := range 8 {
		g := fmt.Sprintf("lg-group-%d", i)
		groups = append(groups, g)
		waitFor(t, "commit "+g, func() error {
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "lg", Partition: 0, At: int64(i + 1), LeaderEpoch: -1})
			res, err := adm.CommitOffsets(ctx, g, offs)
			if err != nil {
				return err
			}
			return res.Error()
		})
	}

	listed := map[string]int32{}
	for id := int32(1); id <= 3; id++ {
		deadline := time.Now().Add(60 * time.Second)
		for {
			req := kmsg.NewPtrListGroupsRequest()
			resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
			if err != nil {
				t.Fatalf("ListGroups on broker %d: %v", id, err)
			}
			if kErr := kerr.ErrorForCode(resp.ErrorCode); kErr != nil {
				if time.Now().After(deadline) {
					t.Fatalf("ListGroups on broker %d: %v; want no error once its own partitions are loaded", id, kErr)
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, g := range resp.Groups {
				if prev, dup := listed[g.Group]; dup {
					t.Errorf("group %s listed by brokers %d and %d", g.Group, prev, id)
				}
				listed[g.Group] = id
			}
			break
		}
	}
	for _, g := range groups {
		if _, ok := listed[g]; !ok {
			t.Errorf("group %s listed by no broker (listed: %v)", g, listed)
		}
	}

	// kadm asks every broker and merges; its shard errors would show a
	// broker still refusing.
	all, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("kadm ListGroups: %v", err)
	}
	for _, g := range groups {
		if !slices.Contains(all.Groups(), g) {
			t.Errorf("kadm ListGroups misses %s: %v", g, all.Groups())
		}
	}
	ds, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	for _, g := range groups {
		if d := ds[g]; d.Err != nil || d.State != "Empty" {
			t.Errorf("describe %s: state %q, err %v; want Empty", g, d.State, d.Err)
		}
	}
	for i, g := range groups {
		offs, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatalf("fetch offsets of %s: %v", g, err)
		}
		if o, ok := offs.Lookup("lg", 0); !ok || o.At != int64(i+1) {
			t.Errorf("offsets of %s: %+v, want %d", g, o, i+1)
		}
	}
	del, err := adm.DeleteGroups(context.Background(), groups...)
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	for g, r := range del {
		if r.Err != nil {
			t.Errorf("delete %s: %v", g, r.Err)
		}
	}
}
