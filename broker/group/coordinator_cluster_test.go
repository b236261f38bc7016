package group

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinators of a cluster: each broker runs the groups of the
// __consumer_offsets partitions it leads (Config.Owns), and the others are
// never loaded there.

// ownedCoordinator starts a coordinator of 4 partitions that owns those
// for which owns reports true.
func ownedCoordinator(t *testing.T, st Storage, load bool, owns func(int32) bool) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.Logger = discard()
	cfg.Owns = owns
	c, err := NewCoordinator(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(4, load)
	t.Cleanup(c.Close)
	return c
}

func commit(t *testing.T, c *Coordinator, g, topic string, off int64) {
	t.Helper()
	errs := c.CommitOffsets(g, CommitRequest{Generation: -1},
		[]CommitOffset{{TopicPartition: TopicPartition{topic, 0}, Offset: off, LeaderEpoch: -1, ExpireTimestamp: -1}}, nil)
	if errs[0] != nil {
		t.Fatalf("commit %s: %v", g, errs[0])
	}
}

// ListGroups answers from the partitions this broker leads: the others,
// never loaded here, do not make it report COORDINATOR_LOAD_IN_PROGRESS.
func TestListGroupsOnlyWaitsForOwnedPartitions(t *testing.T) {
	for _, load := range []bool{false, true} {
		st := &memStorage{}
		mine := PartitionFor("g", 4)
		c := ownedCoordinator(t, st, load, func(p int32) bool { return p == mine })
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := c.ListGroups()
			if err == nil {
				break
			}
			if err != kerr.CoordinatorLoadInProgress || time.Now().After(deadline) {
				t.Fatalf("load=%v: ListGroups: %v, want no error once partition %d is loaded", load, err, mine)
			}
			time.Sleep(time.Millisecond)
		}
		commit(t, c, "g", "t", 3)
		ls, err := c.ListGroups()
		if err != nil || len(ls) != 1 || ls[0].Group != "g" {
			t.Fatalf("load=%v: ListGroups = %+v, %v; want g alone", load, ls, err)
		}
	}
}

// A partition this broker owns but has not loaded yet still makes
// ListGroups report COORDINATOR_LOAD_IN_PROGRESS, and starts its load.
func TestListGroupsLoadsOwnedPartition(t *testing.T) {
	st := &memStorage{}
	first := testCoordinator(t, st, false)
	commit(t, first, "g", "t", 5)

	var owns atomic.Bool
	c := ownedCoordinator(t, st, false, func(int32) bool { return owns.Load() })
	if ls, err := c.ListGroups(); err != nil || len(ls) != 0 {
		t.Fatalf("leading nothing: ListGroups = %+v, %v; want nothing, no error", ls, err)
	}
	owns.Store(true) // leads every partition now, before any Load call
	if _, err := c.ListGroups(); err != kerr.CoordinatorLoadInProgress {
		t.Fatalf("ListGroups right after taking over: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ls, err := c.ListGroups()
		if err == nil && len(ls) == 1 && ls[0].Group == "g" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListGroups = %+v, %v; want g once loaded", ls, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// A topic deleted while another broker led a group's partition is that
// broker's to clean; when this broker later comes to lead the partition it
// must not strip the offsets of a topic created again under the name.
func TestTopicDeletedElsewhereDoesNotStripLaterOffsets(t *testing.T) {
	st := &memStorage{}
	var owns atomic.Bool
	c := ownedCoordinator(t, st, false, func(int32) bool { return owns.Load() })
	if err := c.OnTopicsDeleted([]string{"t"}); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the partition's leader saw "t" created again and a commit.
	leader := testCoordinator(t, st, false)
	commit(t, leader, "g", "t", 9)

	owns.Store(true)
	c.Load(PartitionFor("g", 4))
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.FetchOffsets("g", []TopicPartition{{"t", 0}})
		if err == kerr.CoordinatorLoadInProgress && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !got[0].Found || got[0].Offset.Offset != 9 {
			t.Fatalf("offsets after taking over: %+v, want the commit of 9", got)
		}
		return
	}
}
