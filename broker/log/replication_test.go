package log

import (
	"fmt"
	"reflect"
	"testing"
)

// replica is a broker's copy of one partition in the KIP-101/279 scenarios.
type replica struct {
	name string
	fc   fsCase
	l    *Log
}

func newReplicas(t *testing.T, fc fsCase, c *fakeClock, names ...string) map[string]*replica {
	out := map[string]*replica{}
	for _, n := range names {
		rfc := fc.other()
		r := &replica{name: n, fc: rfc, l: mustOpen(t, rfc.dir(n+"/t-0"), replCfg(), rfc.opts(c))}
		t.Cleanup(func() { r.l.Close() })
		out[n] = r
	}
	return out
}

// lead makes r the leader in epoch e (Kafka assigns the epoch at the log
// end on election) and appends n batches tagged tag.
func (r *replica) lead(t *testing.T, e int32, n int, tag byte) {
	t.Helper()
	if err := r.l.AssignLeaderEpoch(e, r.l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		leaderAppend(t, r.l, makeBatch(t, testBatch{records: 1 + i%3, valueSize: 40, baseTs: 1000 + int64(i), tag: tag}), e)
	}
}

// TestReplicationLeaderChangesInQuickSuccession is KIP-279's scenario:
// leaders change twice before followers catch up, so a returning replica
// holds a tail from an epoch the new leader never had, and must truncate
// to where the logs diverge, not to its high watermark.
//
//	A leads epoch 0: 10 batches reach everyone, 5 more reach only B.
//	A fails. C (without A's tail) leads epoch 1, writes 6 batches, fails.
//	B (with A's tail) leads epoch 2 and writes 4 batches.
//	C returns: its epoch-1 tail is removed and B's log copied.
//	A returns: nothing to remove (its tail is B's), B's epoch-2 batches copied.
//
// Every replica ends byte-identical to B with the same epochs. A keeps its
// tail above its high watermark (the pre-KIP-101 rule, truncating to the
// high watermark, would have dropped it and lost it had A been elected).
func TestReplicationLeaderChangesInQuickSuccession(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		rs := newReplicas(t, fc, c, "A", "B", "C")
		A, B, C := rs["A"], rs["B"], rs["C"]
		A.lead(t, 0, 10, 'a')
		replicateKafka(t, A.l, B.l, 500, A.l.LogEndOffset())
		replicateKafka(t, A.l, C.l, 500, A.l.LogEndOffset())
		hw := A.l.LogEndOffset()
		for _, r := range rs {
			r.l.SetHighWatermark(hw)
		}
		A.l.SetHighWatermark(hw)
		A.lead(t, 0, 5, 'A')
		replicateKafka(t, A.l, B.l, 500, A.l.LogEndOffset())

		C.lead(t, 1, 6, 'c')
		B.lead(t, 2, 4, 'b')
		endOfEpoch0 := A.l.LogEndOffset()

		truncsC := replicateKafka(t, B.l, C.l, 500, B.l.LogEndOffset())
		truncsA := replicateKafka(t, B.l, A.l, 500, B.l.LogEndOffset())
		if truncsC != 1 || truncsA != 0 {
			t.Fatalf("truncations: C %d, A %d; want 1, 0", truncsC, truncsA)
		}
		for _, r := range []*replica{A, C} {
			sameBytes(t, B.l, r.l, 0, B.l.LogEndOffset())
			if !reflect.DeepEqual(r.l.Epochs(), B.l.Epochs()) {
				t.Fatalf("%s epochs %v, leader %v", r.name, r.l.Epochs(), B.l.Epochs())
			}
		}
		want := []EpochEntry{{0, 0}, {2, endOfEpoch0}}
		if !reflect.DeepEqual(B.l.Epochs(), want) {
			t.Fatalf("leader epochs %v, want %v", B.l.Epochs(), want)
		}
		if C.l.HighWatermark() != hw {
			t.Fatalf("C high watermark %d, want %d", C.l.HighWatermark(), hw)
		}
	})
}

// TestReplicationInterleavedEpochs is KIP-279's other case: follower and
// leader each hold epochs the other never saw (follower 0,1,3; leader
// 0,2,4), so truncation takes several fetches, each with the follower's
// new latest epoch, before the logs agree.
func TestReplicationInterleavedEpochs(t *testing.T) {
	bothFS(t, func(t *testing.T, fc fsCase) {
		c := newClock()
		rs := newReplicas(t, fc, c, "L", "F")
		L, F := rs["L"], rs["F"]
		L.lead(t, 0, 6, '0')
		replicateKafka(t, L.l, F.l, 1<<20, L.l.LogEndOffset())
		F.lead(t, 1, 3, '1')
		L.lead(t, 2, 2, '2')
		F.lead(t, 3, 4, '3')
		L.lead(t, 4, 5, '4')
		var steps []string
		for i := 0; i < 10; i++ {
			last, _ := F.l.LatestEpochEntry()
			d := L.l.DivergingEpoch(F.l.LogEndOffset(), last.Epoch)
			if !d.Diverged {
				break
			}
			to, complete := F.l.TruncationOffset(d.Epoch, d.EndOffset)
			steps = append(steps, fmt.Sprintf("last %d -> leader (%d,%d) -> truncate %d complete %v",
				last.Epoch, d.Epoch, d.EndOffset, to, complete))
			if err := F.l.TruncateTo(to); err != nil {
				t.Fatal(err)
			}
		}
		if len(steps) != 2 {
			t.Fatalf("truncation steps %q, want 2 (epoch 3 unknown to the leader, then epoch 1)", steps)
		}
		replicateKafka(t, L.l, F.l, 300, L.l.LogEndOffset())
		sameBytes(t, L.l, F.l, 0, L.l.LogEndOffset())
		if !reflect.DeepEqual(F.l.Epochs(), L.l.Epochs()) {
			t.Fatalf("epochs %v, leader %v", F.l.Epochs(), L.l.Epochs())
		}
		t.Logf("%q", steps)
	})
}

// TestReplicationFollowerRestartsMidway: a follower copies part of the
// leader's log, restarts (cleanly, or by a crash after a flush), then
// finishes; the result is the leader's log, and its epoch cache came back
// from leader-epoch-checkpoint.
func TestReplicationFollowerRestartsMidway(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			c := newClock()
			lfs, ffs := NewMemFS(), NewMemFS()
			L := mustOpen(t, "/d/L/t-0", replCfg(), memOpts(lfs, c))
			defer L.Close()
			F := mustOpen(t, "/d/F/t-0", replCfg(), memOpts(ffs, c))
			for e := int32(0); e < 4; e++ {
				if err := L.AssignLeaderEpoch(e, L.LogEndOffset()); err != nil {
					t.Fatal(err)
				}
				fillVaried(t, L, 8, func(int) int32 { return e })
			}
			mid := L.Epochs()[2].StartOffset + 3
			replicateKafka(t, L, F, 400, mid)
			if crash {
				if err := F.Flush(); err != nil {
					t.Fatal(err)
				}
				ffs.Crash()
			} else if err := F.Close(); err != nil {
				t.Fatal(err)
			}
			F = mustOpen(t, "/d/F/t-0", replCfg(), memOpts(ffs, c))
			defer F.Close()
			if got, want := F.Epochs(), L.Epochs()[:3]; !reflect.DeepEqual(got, want) {
				t.Fatalf("epochs after restart %v, want %v", got, want)
			}
			replicateKafka(t, L, F, 400, L.LogEndOffset())
			sameBytes(t, L, F, 0, L.LogEndOffset())
			if !reflect.DeepEqual(F.Epochs(), L.Epochs()) {
				t.Fatalf("epochs %v, leader %v", F.Epochs(), L.Epochs())
			}
		})
	}
}
