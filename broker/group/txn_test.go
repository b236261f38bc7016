package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/gregorhq/gregor/broker/log"
)

func TestTransactionalOffsetCommits(t *testing.T) {
	st := &memStorage{}
	c := testCoordinator(t, st, false)
	tp := TopicPartition{Topic: "in", Partition: 0}
	fetch := func(c *Coordinator) (int64, bool) {
		t.Helper()
		got, err := c.FetchOffsets("g", []TopicPartition{tp})
		if err != nil {
			t.Fatal(err)
		}
		return got[0].Offset.Offset, got[0].Found
	}
	commit := func(pid int64, off int64) {
		t.Helper()
		errs := c.CommitTxnOffsets("g", pid, 0, CommitRequest{Generation: -1}, []CommitOffset{{TopicPartition: tp, Offset: off, LeaderEpoch: -1, ExpireTimestamp: -1}})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	commit(7, 10)
	if _, found := fetch(c); found {
		t.Fatal("a pending transactional commit is visible")
	}
	if !c.HasPendingTxnOffsets("g", []TopicPartition{tp}) || c.HasPendingTxnOffsets("g", []TopicPartition{{Topic: "other"}}) {
		t.Fatal("pending-commit tracking is wrong")
	}
	part := c.PartitionFor("g")
	c.CompleteTxnOffsets(7, part, true)
	if off, found := fetch(c); !found || off != 10 {
		t.Fatalf("after commit marker: %d %v", off, found)
	}
	commit(8, 20)
	c.CompleteTxnOffsets(8, part, false)
	if off, _ := fetch(c); off != 10 {
		t.Fatalf("aborted commit changed the offset to %d", off)
	}
	if c.HasPendingTxnOffsets("g", nil) {
		t.Fatal("still pending after the markers")
	}

	// Reload from storage: markers in the log decide what is visible.
	st.mu.Lock()
	st.parts[part] = append(st.parts[part], blog.EncodeControlBatch(7, 0, blog.ControlCommit, 0, 1)...)
	st.parts[part] = append(st.parts[part], blog.EncodeControlBatch(8, 0, blog.ControlAbort, 0, 1)...)
	st.mu.Unlock()
	commit(9, 30) // no marker yet: stays pending after the reload
	c.Close()
	c2 := testCoordinator(t, st, true)
	var got []FetchedOffset
	var err *kerr.Error
	for {
		if got, err = c2.FetchOffsets("g", []TopicPartition{tp}); err != kerr.CoordinatorLoadInProgress {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || got[0].Offset.Offset != 10 {
		t.Fatalf("reloaded offset = %+v, %v; want 10", got, err)
	}
	if !c2.HasPendingTxnOffsets("g", nil) {
		t.Fatal("producer 9's unmarked commit should be pending after reload")
	}
}
