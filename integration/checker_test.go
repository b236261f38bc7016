package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A tiny language for hand-made histories. Times are whole seconds.

type hop func(*History)

func sec(s int) time.Duration { return time.Duration(s) * time.Second }

// ack: producer wrote v, acknowledged at p/o.
func ack(v string, p int32, o int64) hop {
	return func(h *History) {
		h.Writes = append(h.Writes, Write{Producer: strings.Split(v, "-")[0], Value: v, Partition: p, Offset: o, Acked: true})
	}
}

// unsure: producer tried to write v to p and got an error.
func unsure(v string, p int32) hop {
	return func(h *History) {
		h.Writes = append(h.Writes, Write{Producer: strings.Split(v, "-")[0], Value: v, Partition: p, Err: "timed out"})
	}
}

// inTxn: v acknowledged at p/o in transaction id.
func inTxn(id, v string, p int32, o int64) hop {
	return func(h *History) {
		h.Writes = append(h.Writes, Write{Producer: "t0", Value: v, Txn: id, Partition: p, Offset: o, Acked: true})
	}
}

func txn(id string, st TxnStatus, values ...string) hop {
	return func(h *History) { h.Txns = append(h.Txns, Txn{ID: id, Producer: "t0", Status: st, Values: values}) }
}

// reads: consumer's stream (session s) of partition p reads the values
// "p/o=v" in order, one a second from t.
func reads(consumer string, s int, t int, pvs ...string) hop {
	return func(h *History) {
		for i, pv := range pvs {
			var p int32
			var o int64
			var v string
			if _, err := fmt.Sscanf(strings.Replace(pv, "=", " ", 1), "%d/%d %s", &p, &o, &v); err != nil {
				panic(pv)
			}
			h.Reads = append(h.Reads, Read{Consumer: consumer, Session: s, Partition: p, Offset: o, Value: v, At: sec(t + i)})
		}
	}
}

// final: the final read, complete, of the values "p/o=v".
func final(pvs ...string) hop {
	return func(h *History) {
		ps := map[int32]bool{}
		for _, pv := range pvs {
			var p int32
			fmt.Sscanf(pv, "%d/", &p)
			ps[p] = true
		}
		for p := range ps {
			h.Assignments = append(h.Assignments, Assignment{Consumer: FinalConsumer, Partition: p, At: sec(100)})
		}
		reads(FinalConsumer, 0, 100, pvs...)(h)
		h.FinalDone = true
	}
}

// assign: consumer's stream of partition p, session s, starts at t.
func assign(consumer string, p int32, s int, group bool, t int) hop {
	return func(h *History) {
		h.Assignments = append(h.Assignments, Assignment{Consumer: consumer, Partition: p, Session: s, Group: group, At: sec(t)})
	}
}

func commit(consumer string, p int32, off int64, start, end int, err string) hop {
	return func(h *History) {
		h.Commits = append(h.Commits, Commit{Consumer: consumer, Partition: p, Offset: off, Start: sec(start), End: sec(end), Err: err})
	}
}

// sample: an OffsetFetch from start to end returned offset off for p.
func sample(p int32, off int64, start, end int) hop {
	return func(h *History) {
		h.OffsetSamples = append(h.OffsetSamples, OffsetSample{Partition: p, Offset: off, Start: sec(start), End: sec(end)})
	}
}

// txnAsked: transaction id ended with st, its commit asked for at asked.
func txnAsked(id string, st TxnStatus, asked int, values ...string) hop {
	return func(h *History) {
		h.Txns = append(h.Txns, Txn{ID: id, Producer: "t0", Status: st, Values: values, CommitAsked: sec(asked)})
	}
}

func hist(ops ...hop) *History {
	h := NewHistory()
	for _, op := range ops {
		op(h)
	}
	return h
}

// base is a clean history: two producers, two partitions, one consumer
// by assignment, everything in the final read.
func base(more ...hop) *History {
	return hist(append([]hop{
		ack("p0-0", 0, 0), ack("p1-0", 0, 1), ack("p0-1", 1, 0), ack("p1-1", 1, 1), unsure("p0-2", 0),
		assign("assign-0", 0, 0, false, 0), assign("assign-0", 1, 0, false, 0),
		reads("assign-0", 0, 1, "0/0=p0-0", "0/1=p1-0"),
		reads("assign-0", 0, 1, "1/0=p0-1"),
	}, more...)...)
}

func TestCheckerFindsAnomalies(t *testing.T) {
	t.Parallel()
	cleanFinal := final("0/0=p0-0", "0/1=p1-0", "1/0=p0-1", "1/1=p1-1")
	for _, tc := range []struct {
		name string
		h    *History
		want map[Anomaly]int
	}{
		{"clean", base(cleanFinal), nil},
		{"uncertain write present", base(final("0/0=p0-0", "0/1=p1-0", "0/2=p0-2", "1/0=p0-1", "1/1=p1-1")), nil},
		{"no final read", base(), map[Anomaly]int{Incomplete: 1}},
		{"acknowledged write lost", base(final("0/0=p0-0", "0/1=p1-0", "1/0=p0-1")), map[Anomaly]int{Lost: 1}},
		{"read value lost", base(reads("assign-0", 0, 5, "0/2=p0-2"), cleanFinal), map[Anomaly]int{Lost: 1}},
		{"duplicate", base(final("0/0=p0-0", "0/1=p1-0", "0/2=p1-0", "1/0=p0-1", "1/1=p1-1")), map[Anomaly]int{Duplicate: 1}},
		{"divergence between reads", base(reads("assign-1", 0, 1, "1/0=p0-1", "1/1=p0-2"), cleanFinal),
			// p0-2 read at 1/1 where the final read has p1-1: and not in the final read.
			map[Anomaly]int{Divergence: 1, Lost: 1}},
		{"divergence from an acknowledgement", hist(ack("p0-0", 0, 0), ack("p0-1", 0, 1), final("0/0=p0-0", "0/1=p0-2", "0/2=p0-1"), unsure("p0-2", 0)),
			// 0/1 acked p0-1 but holds p0-2; p0-1 is at 0/1 (ack) and 0/2.
			map[Anomaly]int{Divergence: 1, Duplicate: 1}},
		{"value never written", base(final("0/0=p0-0", "0/1=p1-0", "0/2=x", "1/0=p0-1", "1/1=p1-1")), map[Anomaly]int{Unexpected: 1}},
		{"skip within a stream", base(reads("assign-1", 0, 1, "0/0=p0-0", "0/2=p0-2"), final("0/0=p0-0", "0/1=p1-0", "0/2=p0-2", "1/0=p0-1", "1/1=p1-1"), assign("assign-1", 0, 0, false, 0)),
			map[Anomaly]int{Skip: 1}},
		{"skip at the start", base(assign("assign-1", 1, 0, false, 0), reads("assign-1", 0, 1, "1/1=p1-1"), cleanFinal), map[Anomaly]int{Skip: 1}},
		{"unassigned stream is only ordered", base(reads("group-9", -1, 1, "1/1=p1-1"), cleanFinal), nil},
		{"backward", base(reads("assign-0", 0, 5, "0/1=p1-0"), cleanFinal), map[Anomaly]int{Backward: 1}},
		{"final read skips", base(final("0/0=p0-0", "1/0=p0-1", "1/1=p1-1"), reads(FinalConsumer, 0, 200, "0/2=p0-2")),
			// p1-0 (acked at 0/1) is absent, and the final stream passed over it.
			map[Anomaly]int{Lost: 1, Skip: 1}},
		{"gaps of aborted records and markers are no skip",
			hist(ack("p0-0", 0, 0), inTxn("t0.0", "t0-0", 0, 1), ack("p0-1", 0, 3), txn("t0.0", TxnAborted, "t0-0"),
				assign("assign-0", 0, 0, false, 0), reads("assign-0", 0, 1, "0/0=p0-0", "0/3=p0-1"),
				final("0/0=p0-0", "0/3=p0-1")), nil},
		{"aborted read", hist(inTxn("t0.0", "t0-0", 0, 0), txn("t0.0", TxnAborted, "t0-0"), ack("p0-0", 0, 2),
			assign("assign-0", 0, 0, false, 0), reads("assign-0", 0, 1, "0/0=t0-0", "0/2=p0-0"), final("0/2=p0-0")),
			map[Anomaly]int{AbortedRead: 1}},
		{"never-committed read", hist(inTxn("t0.0", "t0-0", 0, 0), txn("t0.0", TxnOpen, "t0-0"), final("0/0=t0-0")),
			map[Anomaly]int{AbortedRead: 1}},
		{"transaction the producer never recorded", hist(inTxn("t0.7", "t0-0", 0, 0), final("0/0=t0-0")),
			map[Anomaly]int{AbortedRead: 1}},
		{"committed transaction", hist(inTxn("t0.0", "t0-0", 0, 0), inTxn("t0.0", "t0-1", 1, 0), txn("t0.0", TxnCommitted, "t0-0", "t0-1"),
			final("0/0=t0-0", "1/0=t0-1")), nil},
		{"committed transaction half visible", hist(inTxn("t0.0", "t0-0", 0, 0), inTxn("t0.0", "t0-1", 1, 0), txn("t0.0", TxnCommitted, "t0-0", "t0-1"),
			final("0/0=t0-0")), map[Anomaly]int{HalfVisible: 1, Lost: 1}},
		{"unknown commit half visible", hist(inTxn("t0.0", "t0-0", 0, 0), inTxn("t0.0", "t0-1", 1, 0), txn("t0.0", TxnCommitUnknown, "t0-0", "t0-1"),
			final("0/0=t0-0")), map[Anomaly]int{HalfVisible: 1}},
		{"unknown commit absent", hist(inTxn("t0.0", "t0-0", 0, 0), txn("t0.0", TxnCommitUnknown, "t0-0"), ack("p0-0", 1, 0), final("1/0=p0-0")), nil},
		{"unknown commit present", hist(inTxn("t0.0", "t0-0", 0, 0), txn("t0.0", TxnCommitUnknown, "t0-0"), final("0/0=t0-0")), nil},
		{"group resumes at its commit", hist(groupWrites(6),
			assign("g0", 0, 1, true, 1), reads("g0", 1, 2, "0/0=p0-0", "0/1=p0-1", "0/2=p0-2", "0/3=p0-3"), commit("g0", 0, 2, 3, 4, ""),
			assign("g1", 0, 1, true, 10), reads("g1", 1, 11, "0/2=p0-2", "0/3=p0-3", "0/4=p0-4", "0/5=p0-5"), groupFinal(6)), nil},
		{"group resumes behind its commit", hist(groupWrites(6),
			assign("g0", 0, 1, true, 1), reads("g0", 1, 2, "0/0=p0-0", "0/1=p0-1", "0/2=p0-2", "0/3=p0-3"), commit("g0", 0, 4, 3, 4, ""),
			assign("g1", 0, 1, true, 10), reads("g1", 1, 11, "0/2=p0-2", "0/3=p0-3", "0/4=p0-4", "0/5=p0-5"), groupFinal(6)),
			map[Anomaly]int{BehindCommit: 1}},
		{"a commit acknowledged after the assignment does not bind it", hist(groupWrites(6),
			assign("g0", 0, 1, true, 1), reads("g0", 1, 2, "0/0=p0-0", "0/1=p0-1", "0/2=p0-2", "0/3=p0-3"), commit("g0", 0, 4, 3, 11, ""),
			assign("g1", 0, 1, true, 10), reads("g1", 1, 12, "0/2=p0-2", "0/3=p0-3", "0/4=p0-4", "0/5=p0-5"), groupFinal(6)), nil},
		{"group skips past its commit", hist(groupWrites(6),
			assign("g0", 0, 1, true, 1), reads("g0", 1, 2, "0/0=p0-0", "0/1=p0-1", "0/2=p0-2"), commit("g0", 0, 2, 3, 4, "timed out"),
			assign("g1", 0, 1, true, 10), reads("g1", 1, 11, "0/4=p0-4", "0/5=p0-5"), groupFinal(6)),
			map[Anomaly]int{Skip: 1}},
		{"group without commits starts at the start", hist(groupWrites(3),
			assign("g0", 0, 1, true, 1), reads("g0", 1, 2, "0/1=p0-1", "0/2=p0-2"), groupFinal(3)),
			map[Anomaly]int{Skip: 1}},
		{"commit goes backward", hist(groupWrites(6), commit("g0", 0, 5, 1, 2, ""), commit("g1", 0, 3, 3, 4, ""), groupFinal(6)),
			map[Anomaly]int{CommitBackward: 1}},
		{"concurrent and failed commits are not ordered", hist(groupWrites(6), commit("g0", 0, 5, 1, 3, ""), commit("g1", 0, 3, 2, 4, ""),
			commit("g1", 0, 1, 5, 6, "not coordinator"), groupFinal(6)), nil},
		{"committed offsets sampled forward", hist(groupWrites(6), commit("g0", 0, 3, 1, 2, ""), sample(0, -1, 0, 1), sample(0, 3, 3, 4),
			commit("g0", 0, 5, 4, 6, ""), sample(0, 3, 5, 7), sample(0, 5, 7, 8), groupFinal(6)), nil},
		{"committed offset sampled backward", hist(groupWrites(6), sample(0, 4, 1, 2), sample(0, 2, 3, 4), groupFinal(6)),
			map[Anomaly]int{OffsetBackward: 1}},
		{"overlapping samples are not ordered", hist(groupWrites(6), sample(0, 4, 1, 5), sample(0, 2, 3, 4), groupFinal(6)), nil},
		{"acknowledged commit lost", hist(groupWrites(6), commit("g0", 0, 5, 1, 2, ""), sample(0, 3, 3, 4), sample(0, -1, 5, 6), groupFinal(6)),
			map[Anomaly]int{CommitLost: 2, OffsetBackward: 1}},
		{"failed commit binds no sample", hist(groupWrites(6), commit("g0", 0, 5, 1, 2, "timed out"), sample(0, 3, 3, 4), groupFinal(6)), nil},
		{"read after the commit was asked", hist(inTxn("t0.0", "t0-0", 0, 0), txnAsked("t0.0", TxnCommitted, 1, "t0-0"),
			assign("assign-0", 0, 0, false, 0), reads("assign-0", 0, 2, "0/0=t0-0"), final("0/0=t0-0")), nil},
		{"dirty read", hist(inTxn("t0.0", "t0-0", 0, 0), txnAsked("t0.0", TxnCommitted, 5, "t0-0"),
			assign("assign-0", 0, 0, false, 0), reads("assign-0", 0, 2, "0/0=t0-0"), final("0/0=t0-0")),
			map[Anomaly]int{DirtyRead: 1}},
		{"dirty read of an unknown commit", hist(inTxn("t0.0", "t0-0", 0, 0), txnAsked("t0.0", TxnCommitUnknown, 5, "t0-0"),
			assign("assign-0", 0, 0, false, 0), reads("assign-0", 0, 2, "0/0=t0-0"), final("0/0=t0-0")),
			map[Anomaly]int{DirtyRead: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.h)
			for _, a := range Anomalies {
				if r.Counts[a] != tc.want[a] {
					t.Errorf("%s: %d, want %d", a, r.Counts[a], tc.want[a])
				}
			}
			if r.OK() != (len(tc.want) == 0) {
				t.Errorf("OK() = %v", r.OK())
			}
			if t.Failed() {
				t.Logf("report:\n%s", r)
			}
		})
	}
}

// groupWrites: p0-0 .. p0-(n-1) acknowledged at 0/0 .. 0/(n-1).
func groupWrites(n int) hop {
	return func(h *History) {
		for i := range n {
			ack(fmt.Sprintf("p0-%d", i), 0, int64(i))(h)
		}
	}
}

func groupFinal(n int) hop {
	var pvs []string
	for i := range n {
		pvs = append(pvs, fmt.Sprintf("0/%d=p0-%d", i, i))
	}
	return final(pvs...)
}

func TestCheckerReport(t *testing.T) {
	t.Parallel()
	var ops []hop
	for i := range 15 {
		ops = append(ops, ack(fmt.Sprintf("p0-%d", i), 0, int64(i)))
	}
	ops = append(ops, final("0/0=p0-0"))
	r := Check(hist(ops...))
	if r.Counts[Lost] != 14 || len(r.Examples[Lost]) != maxExamples {
		t.Fatalf("lost %d with %d examples, want 14 with %d", r.Counts[Lost], len(r.Examples[Lost]), maxExamples)
	}
	s := r.String()
	for _, want := range []string{"lost 14", "duplicate 0", "lost (14, first 10):", `"p0-1" acknowledged at 0/1`, "writes 15 (acknowledged 15"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "absent from the final read") != maxExamples {
		t.Errorf("report does not show exactly %d examples:\n%s", maxExamples, s)
	}
}

func TestCheckerHistoryJSON(t *testing.T) {
	t.Parallel()
	h := base(final("0/0=p0-0", "0/1=p1-0", "1/0=p0-1"), txn("t0.0", TxnCommitUnknown, "t0-0"), commit("g0", 0, 2, 1, 2, ""))
	path := filepath.Join(t.TempDir(), "history.json")
	if err := h.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"Status":"commit-unknown"`) {
		t.Errorf("transaction status not written by name: %s", data)
	}
	if a, b := Check(h).String(), Check(&back).String(); a != b {
		t.Errorf("a history read back checks differently:\n%s\n---\n%s", a, b)
	}
}
