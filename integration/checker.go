package integration

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Anomaly is a kind of wrong behaviour Check looks for.
type Anomaly string

// The anomalies Check reports. Every count must be 0 for a history to pass.
const (
	// Lost: a value that was acknowledged (outside a transaction, or in a
	// committed one) or that a consumer read is absent from the final read.
	Lost Anomaly = "lost"
	// Duplicate: one value at two offsets.
	Duplicate Anomaly = "duplicate"
	// Divergence: one offset holding two different values across reads
	// and acknowledgements.
	Divergence Anomaly = "divergence"
	// Unexpected: a value read that no producer wrote.
	Unexpected Anomaly = "unexpected"
	// Skip: a consumer's stream of a partition passed over a visible
	// record (read by someone, or acknowledged) without reading it. A
	// stream assigned from the start must not pass over one before its
	// first read either.
	Skip Anomaly = "skip"
	// Backward: a consumer's stream of a partition read an offset at or
	// below one it had read before.
	Backward Anomaly = "backward"
	// BehindCommit: a group member's new stream of a partition started
	// below an offset the group had committed before the assignment.
	BehindCommit Anomaly = "behind-commit"
	// CommitBackward: an acknowledged commit of a partition below one
	// acknowledged before it started.
	CommitBackward Anomaly = "commit-backward"
	// AbortedRead: a read_committed consumer read a value of a transaction
	// that was aborted or never asked to commit.
	AbortedRead Anomaly = "aborted-read"
	// HalfVisible: some but not all values of a transaction are in the
	// final read.
	HalfVisible Anomaly = "half-visible"
	// DirtyRead: a read_committed consumer read a value of a transaction
	// before its producer asked to commit it.
	DirtyRead Anomaly = "dirty-read"
	// OffsetBackward: the group's committed offset of a partition, as an
	// OffsetFetch returned it, was below what an OffsetFetch that ended
	// before it started had returned.
	OffsetBackward Anomaly = "offset-backward"
	// CommitLost: an OffsetFetch returned the group's committed offset of
	// a partition below a commit acknowledged before it started.
	CommitLost Anomaly = "commit-lost"
	// Incomplete: the history has no complete final read, so losses
	// cannot be judged.
	Incomplete Anomaly = "incomplete"
)

// Anomalies lists every kind Check reports, in report order.
var Anomalies = []Anomaly{Lost, Duplicate, Divergence, Unexpected, Skip, Backward,
	BehindCommit, CommitBackward, AbortedRead, HalfVisible, DirtyRead, OffsetBackward, CommitLost, Incomplete}

// maxExamples bounds the examples a Report keeps per anomaly.
const maxExamples = 10

// Report is what Check found: a count of every anomaly, up to 10 examples
// of each, and figures on the history.
type Report struct {
	Counts   map[Anomaly]int
	Examples map[Anomaly][]string
	Stats    HistoryStats
}

// HistoryStats are figures on a checked history.
type HistoryStats struct {
	Writes, Acked, Uncertain int
	UncertainSeen            int // uncertain writes found in the final read
	Reads, FinalReads        int
	Streams                  int
	Commits, CommitsAcked    int
	OffsetSamples            int // committed offsets of a partition fetched
	Txns                     map[TxnStatus]int
}

// OK reports whether every anomaly count is 0.
func (r *Report) OK() bool {
	for _, n := range r.Counts {
		if n != 0 {
			return false
		}
	}
	return true
}

func (r *Report) add(a Anomaly, format string, args ...any) {
	r.Counts[a]++
	if len(r.Examples[a]) < maxExamples {
		r.Examples[a] = append(r.Examples[a], fmt.Sprintf(format, args...))
	}
}

// String prints the figures, every count, and the examples.
func (r *Report) String() string {
	var b strings.Builder
	s := r.Stats
	fmt.Fprintf(&b, "writes %d (acknowledged %d, failed or uncertain %d, of which %d in the final read); reads %d (final %d) in %d streams; commits %d (acknowledged %d); committed offsets fetched %d",
		s.Writes, s.Acked, s.Uncertain, s.UncertainSeen, s.Reads, s.FinalReads, s.Streams, s.Commits, s.CommitsAcked, s.OffsetSamples)
	if len(s.Txns) > 0 {
		b.WriteString("; transactions")
		for st := TxnOpen; st <= TxnCommitUnknown; st++ {
			fmt.Fprintf(&b, " %s %d", st, s.Txns[st])
		}
	}
	b.WriteString("\nanomalies:")
	for _, a := range Anomalies {
		fmt.Fprintf(&b, " %s %d", a, r.Counts[a])
	}
	for _, a := range Anomalies {
		if r.Counts[a] == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%d, first %d):", a, r.Counts[a], len(r.Examples[a]))
		for _, e := range r.Examples[a] {
			b.WriteString("\n  " + e)
		}
	}
	return b.String()
}

// tp is a position in the topic: partition and offset.
type tp struct {
	p int32
	o int64
}

func (x tp) String() string { return fmt.Sprintf("%d/%d", x.p, x.o) }

func cmpTP(a, b tp) int {
	if a.p != b.p {
		return cmp.Compare(a.p, b.p)
	}
	return cmp.Compare(a.o, b.o)
}

// at formats a history time.
func at(d time.Duration) string { return fmt.Sprintf("t=%.3fs", d.Seconds()) }

// checker holds the indexes Check builds over one history.
type checker struct {
	h      *History
	r      *Report
	writes map[string]*Write
	txns   map[string]*Txn
	final  map[string]bool
	// who saw what where: value -> position -> sources, and back.
	where map[string]map[tp][]string
	at    map[tp]map[string][]string
	ref   map[int32][]int64 // offsets of visible values, sorted
}

// Check checks a history and reports every anomaly it finds.
func Check(h *History) *Report {
	c := &checker{
		h:      h.snapshot(),
		r:      &Report{Counts: map[Anomaly]int{}, Examples: map[Anomaly][]string{}},
		writes: map[string]*Write{},
		txns:   map[string]*Txn{},
		final:  map[string]bool{},
		where:  map[string]map[tp][]string{},
		at:     map[tp]map[string][]string{},
		ref:    map[int32][]int64{},
	}
	for _, a := range Anomalies {
		c.r.Counts[a] = 0
	}
	c.index()
	c.checkPositions()
	c.checkTxnReads()
	c.checkLost()
	c.checkStreams()
	c.checkCommits()
	c.checkDirtyReads()
	c.checkOffsetSamples()
	return c.r
}

// index builds the maps and the figures.
func (c *checker) index() {
	st := &c.r.Stats
	st.Txns = map[TxnStatus]int{}
	for i := range c.h.Txns {
		t := &c.h.Txns[i]
		c.txns[t.ID] = t
		st.Txns[t.Status]++
	}
	for i := range c.h.Writes {
		w := &c.h.Writes[i]
		c.writes[w.Value] = w
		st.Writes++
		if w.Acked {
			st.Acked++
			c.observe(w.Value, tp{w.Partition, w.Offset}, "acked by "+w.Producer)
		} else {
			st.Uncertain++
		}
	}
	for _, r := range c.h.Reads {
		st.Reads++
		if r.Consumer == FinalConsumer {
			st.FinalReads++
			c.final[r.Value] = true
		}
		c.observe(r.Value, tp{r.Partition, r.Offset}, "read by "+r.Consumer)
	}
	for _, w := range c.h.Writes {
		if !w.Acked && c.final[w.Value] {
			st.UncertainSeen++
		}
	}
	st.Commits = len(c.h.Commits)
	for _, cm := range c.h.Commits {
		if cm.Err == "" {
			st.CommitsAcked++
		}
	}
	for pos, vals := range c.at {
		for v := range vals {
			if c.visible(v) {
				c.ref[pos.p] = append(c.ref[pos.p], pos.o)
				break
			}
		}
	}
	for _, offs := range c.ref {
		slices.Sort(offs)
	}
}

func (c *checker) observe(v string, pos tp, source string) {
	if c.where[v] == nil {
		c.where[v] = map[tp][]string{}
	}
	if !slices.Contains(c.where[v][pos], source) {
		c.where[v][pos] = append(c.where[v][pos], source)
	}
	if c.at[pos] == nil {
		c.at[pos] = map[string][]string{}
	}
	if !slices.Contains(c.at[pos][v], source) {
		c.at[pos][v] = append(c.at[pos][v], source)
	}
}

// committed reports whether transaction id took effect: its commit was
// acknowledged, or its outcome is unknown and the final read shows it.
func (c *checker) committed(id string) bool {
	t := c.txns[id]
	if t == nil {
		return false
	}
	switch t.Status {
	case TxnCommitted:
		return true
	case TxnCommitUnknown:
		return slices.ContainsFunc(t.Values, func(v string) bool { return c.final[v] })
	}
	return false
}

// neverCommitted reports whether v was written in a transaction that was
// aborted or never asked to commit: no read_committed consumer may see it.
func (c *checker) neverCommitted(v string) (*Txn, bool) {
	w := c.writes[v]
	if w == nil || w.Txn == "" {
		return nil, false
	}
	t := c.txns[w.Txn]
	if t == nil {
		// A write in a transaction the producer never recorded: it never
		// got as far as asking for a commit.
		return &Txn{ID: w.Txn, Producer: w.Producer, Status: TxnOpen}, true
	}
	return t, t.Status == TxnOpen || t.Status == TxnAborted
}

// visible reports whether a read_committed consumer must see v: a known
// write outside a transaction or in one that took effect.
func (c *checker) visible(v string) bool {
	w := c.writes[v]
	return w != nil && (w.Txn == "" || c.committed(w.Txn))
}

// describe lists where a value was seen.
func (c *checker) describe(v string) string {
	positions := slices.SortedFunc(maps.Keys(c.where[v]), cmpTP)
	var parts []string
	for _, pos := range positions {
		parts = append(parts, fmt.Sprintf("%s (%s)", pos, strings.Join(c.where[v][pos], ", ")))
	}
	return strings.Join(parts, ", ")
}

// checkPositions finds duplicates, divergence and unexpected values.
func (c *checker) checkPositions() {
	for _, v := range slices.Sorted(maps.Keys(c.where)) {
		if len(c.where[v]) > 1 {
			c.r.add(Duplicate, "%q at %s", v, c.describe(v))
		}
		if c.writes[v] == nil {
			c.r.add(Unexpected, "%q was never written; seen at %s", v, c.describe(v))
		}
	}
	positions := slices.SortedFunc(maps.Keys(c.at), cmpTP)
	for _, pos := range positions {
		vals := c.at[pos]
		if len(vals) < 2 {
			continue
		}
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(vals)) {
			parts = append(parts, fmt.Sprintf("%q (%s)", v, strings.Join(vals[v], ", ")))
		}
		c.r.add(Divergence, "offset %s holds %s", pos, strings.Join(parts, " and "))
	}
}

// checkTxnReads finds values of aborted or never-committed transactions
// that a consumer read.
func (c *checker) checkTxnReads() {
	for _, r := range c.h.Reads {
		if t, bad := c.neverCommitted(r.Value); bad {
			c.r.add(AbortedRead, "%s read %q at %s (%s) of transaction %s, which is %s", r.Consumer, r.Value, tp{r.Partition, r.Offset}, at(r.At), t.ID, t.Status)
		}
	}
}

// checkLost finds lost values and half-visible transactions.
func (c *checker) checkLost() {
	if !c.h.FinalDone {
		c.r.add(Incomplete, "the final read did not reach the end of every partition: losses not judged")
		return
	}
	readBy := map[string]string{}
	for _, r := range c.h.Reads {
		if r.Consumer != FinalConsumer && readBy[r.Value] == "" {
			readBy[r.Value] = fmt.Sprintf("read by %s at %s (%s)", r.Consumer, tp{r.Partition, r.Offset}, at(r.At))
		}
	}
	for _, w := range c.h.Writes {
		if c.final[w.Value] {
			continue
		}
		if _, bad := c.neverCommitted(w.Value); bad {
			continue
		}
		switch {
		case w.Acked && (w.Txn == "" || c.txns[w.Txn] != nil && c.txns[w.Txn].Status == TxnCommitted):
			how := fmt.Sprintf("acknowledged at %s (%s)", tp{w.Partition, w.Offset}, at(w.End))
			if w.Txn != "" {
				how += " in committed transaction " + w.Txn
			}
			c.r.add(Lost, "%q %s, absent from the final read", w.Value, how)
		case readBy[w.Value] != "":
			c.r.add(Lost, "%q %s, absent from the final read", w.Value, readBy[w.Value])
		}
	}
	for _, t := range c.h.Txns {
		if !c.committed(t.ID) {
			continue
		}
		var in, out []string
		for _, v := range t.Values {
			if c.final[v] {
				in = append(in, v)
			} else {
				out = append(out, v)
			}
		}
		if len(in) > 0 && len(out) > 0 {
			c.r.add(HalfVisible, "transaction %s (%s): final read has %q, lacks %q", t.ID, t.Status, in, out)
		}
	}
}

// streamKey names one consumer's stream of one partition.
type streamKey struct {
	consumer  string
	partition int32
	session   int
}

// checkStreams finds skips and backward reads in every stream, and group
// streams that resume behind a committed offset.
func (c *checker) checkStreams() {
	streams := map[streamKey][]Read{}
	var keys []streamKey
	for _, r := range c.h.Reads {
		k := streamKey{r.Consumer, r.Partition, r.Session}
		if streams[k] == nil {
			keys = append(keys, k)
		}
		streams[k] = append(streams[k], r)
	}
	assigned := map[streamKey]Assignment{}
	for _, a := range c.h.Assignments {
		assigned[streamKey{a.Consumer, a.Partition, a.Session}] = a
	}
	c.r.Stats.Streams = len(keys)
	for _, k := range keys {
		reads := streams[k]
		a, ok := assigned[k]
		first := reads[0]
		// A stream with no assignment (reads of a partition a member did
		// not own) is only checked for order.
		if ok && a.Group {
			c.checkResume(k, a, first)
		} else if o, found := c.between(k.partition, 0, first.Offset); ok && found {
			c.r.add(Skip, "%s partition %d: first read offset %d %q (%s), but offset %d %q lies before it",
				k.consumer, k.partition, first.Offset, first.Value, at(first.At), o, c.valueAt(k.partition, o))
		}
		for i := 1; i < len(reads); i++ {
			prev, cur := reads[i-1], reads[i]
			if cur.Offset <= prev.Offset {
				c.r.add(Backward, "%s partition %d (session %d): read offset %d %q (%s) after offset %d %q (%s)",
					k.consumer, k.partition, k.session, cur.Offset, cur.Value, at(cur.At), prev.Offset, prev.Value, at(prev.At))
				continue
			}
			if o, found := c.between(k.partition, prev.Offset+1, cur.Offset); found {
				c.r.add(Skip, "%s partition %d (session %d): read offset %d %q (%s) right after offset %d %q, skipping offset %d %q",
					k.consumer, k.partition, k.session, cur.Offset, cur.Value, at(cur.At), prev.Offset, prev.Value, o, c.valueAt(k.partition, o))
			}
		}
	}
}

// checkResume checks the first read of a group member's stream against
// the group's commits: at or past every commit acknowledged before the
// assignment, and no visible record skipped past the last commit sent
// before the read (where the stream resumed can be no further on).
func (c *checker) checkResume(k streamKey, a Assignment, first Read) {
	lo, hi := int64(-1), int64(0)
	var loBy string
	for _, cm := range c.h.Commits {
		if cm.Partition != k.partition {
			continue
		}
		if cm.Err == "" && cm.End < a.At && cm.Offset > lo {
			lo, loBy = cm.Offset, fmt.Sprintf("%s (%s)", cm.Consumer, at(cm.End))
		}
		if cm.Start < first.At && cm.Offset > hi {
			hi = cm.Offset
		}
	}
	if first.Offset < lo {
		c.r.add(BehindCommit, "%s partition %d (session %d, assigned %s): first read offset %d %q (%s), but offset %d was committed by %s before the assignment",
			k.consumer, k.partition, k.session, at(a.At), first.Offset, first.Value, at(first.At), lo, loBy)
		return
	}
	if o, found := c.between(k.partition, hi, first.Offset); found {
		c.r.add(Skip, "%s partition %d (session %d, assigned %s): first read offset %d %q (%s), but no commit went past %d and offset %d %q lies between",
			k.consumer, k.partition, k.session, at(a.At), first.Offset, first.Value, at(first.At), hi, o, c.valueAt(k.partition, o))
	}
}

// between returns the first offset in [lo, hi) of partition p that holds
// a visible value.
func (c *checker) between(p int32, lo, hi int64) (int64, bool) {
	offs := c.ref[p]
	i := sort.Search(len(offs), func(i int) bool { return offs[i] >= lo })
	if i < len(offs) && offs[i] < hi {
		return offs[i], true
	}
	return 0, false
}

// valueAt is one visible value seen at p/o, for examples.
func (c *checker) valueAt(p int32, o int64) string {
	for _, v := range slices.Sorted(maps.Keys(c.at[tp{p, o}])) {
		if c.visible(v) {
			return v
		}
	}
	return ""
}

// checkCommits finds acknowledged commits below one acknowledged before
// they started.
func (c *checker) checkCommits() {
	byPart := map[int32][]Commit{}
	for _, cm := range c.h.Commits {
		if cm.Err == "" {
			byPart[cm.Partition] = append(byPart[cm.Partition], cm)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		cms := byPart[p]
		byEnd := slices.Clone(cms)
		slices.SortFunc(byEnd, func(a, b Commit) int { return cmp.Compare(a.End, b.End) })
		slices.SortFunc(cms, func(a, b Commit) int { return cmp.Compare(a.Start, b.Start) })
		var best *Commit
		j := 0
		for _, cm := range cms {
			for ; j < len(byEnd) && byEnd[j].End < cm.Start; j++ {
				if best == nil || byEnd[j].Offset > best.Offset {
					best = &byEnd[j]
				}
			}
			if best != nil && cm.Offset < best.Offset {
				c.r.add(CommitBackward, "partition %d: %s committed offset %d (%s..%s) after %s had committed %d (acknowledged %s)",
					p, cm.Consumer, cm.Offset, at(cm.Start), at(cm.End), best.Consumer, best.Offset, at(best.End))
			}
		}
	}
}
