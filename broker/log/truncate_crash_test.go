package log

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// crashHistory is a history with idempotent and transactional producers,
// aborts and commits, four leader epochs and a dozen segments.
func crashHistory(t testing.TB) []histOp {
	var ops []histOp
	seq := map[int64]int32{}
	for i := 0; i < 48; i++ {
		e := int32(i / 12)
		var b []byte
		switch i % 6 {
		case 0, 3:
			b = makeBatch(t, testBatch{records: 2, valueSize: 70, baseTs: 4000 + int64(i)*10, tag: byte(i)})
		case 1:
			b = idemBatch(t, 7, 0, seq[7])
			seq[7] += 3
		case 2, 4:
			pid := int64(20 + i%4)
			b = txBatch(t, pid, 0, seq[pid], 2, byte(i))
			seq[pid] += 2
		case 5:
			pid := int64(20 + (i/6)%2*2)
			b = EncodeControlBatch(pid, 0, int16(i/6%2), 0, 4000+int64(i)*10)
		}
		ops = append(ops, histOp{b, e})
	}
	return ops
}

// prefixRefs builds, on demand, a log holding only the first n operations
// of a history, for comparisons with a recovered log.
type prefixRefs struct {
	t    *testing.T
	ops  []histOp
	offs []int64 // base offset of each op
	end  int64   // log end after all ops
	logs map[int64]*Log
}

func newPrefixRefs(t *testing.T, ops []histOp) *prefixRefs {
	full := mustOpen(t, "/ref/t-0", replCfg(), memOpts(NewMemFS(), newClock()))
	offs := apply(t, full, ops)
	p := &prefixRefs{t: t, ops: ops, offs: offs, end: full.LogEndOffset(), logs: map[int64]*Log{p0: full}}
	t.Cleanup(func() {
		for _, l := range p.logs {
			l.Close()
		}
	})
	return p
}

const p0 = -1 // key of the full log in prefixRefs.logs

// at returns a log holding the operations below offset end, which must be a
// batch boundary of the history.
func (p *prefixRefs) at(end int64) *Log {
	if l, ok := p.logs[end]; ok {
		return l
	}
	n := 0
	for n < len(p.offs) && p.offs[n] < end {
		n++
	}
	if n < len(p.offs) && p.offs[n] != end || n == len(p.offs) && end != p.end {
		p.t.Fatalf("%d is not a batch boundary of the history", end)
	}
	l := mustOpen(p.t, fmt.Sprintf("/ref%d/t-0", end), replCfg(), memOpts(NewMemFS(), newClock()))
	apply(p.t, l, p.ops[:n])
	p.logs[end] = l
	return l
}

// checkPrefix fails unless l is the history's log cut at its own end: the
// same bytes, producer and transaction state, and an epoch cache that is
// the history's with nothing missing for the batches l holds. A log whose
// start moved up (the oldest segments gone) is checked for bytes and
// epochs only: its producer state is what recovery makes of a log start.
func (p *prefixRefs) checkPrefix(t *testing.T, what string, l *Log) {
	t.Helper()
	end := l.LogEndOffset()
	ref := p.at(end)
	if got, want := rawRange(t, l, l.LogStartOffset(), end), rawRange(t, ref, l.LogStartOffset(), end); !bytes.Equal(got, want) {
		t.Fatalf("%s: bytes below %d differ from the history", what, end)
	}
	if l.LogStartOffset() == 0 {
		sameState(t, what, l, ref)
	}
	full := p.logs[p0].Epochs()
	got := l.Epochs()
	if len(got) > len(full) || !reflect.DeepEqual(got, full[:len(got)]) {
		t.Fatalf("%s: epochs %v, not a prefix of %v", what, got, full)
	}
	if want := ref.Epochs(); len(got) < len(want) && end > l.LogStartOffset() {
		t.Fatalf("%s: epochs %v lack some of %v", what, got, want)
	}
	checkLookups(t, l)
}

// TestTruncateCrashAtEveryStep fails the machine at each file operation of
// a TruncateTo in turn (then every operation after it), crashes it and
// reopens the log: recovery must give a prefix of the old log, at least as
// long as the truncation target, with matching epochs, producer state and
// aborted transactions; truncating again then gives exactly the intended
// log, which takes new appends and survives another crash.
func TestTruncateCrashAtEveryStep(t *testing.T) {
	ops := crashHistory(t)
	refs := newPrefixRefs(t, ops)
	full := refs.logs[p0]
	segs := *full.segs.Load()
	cuts := map[string]int64{
		"inside the last segment": refs.offs[len(refs.offs)-2],
		"across segments":         refs.offs[len(refs.offs)/3],
		"at a segment base":       segs[len(segs)/2].base,
	}
	for name, cut := range cuts {
		t.Run(name, func(t *testing.T) {
			outcomes := map[string]int{}
			for step := 1; step < 500; step++ {
				mem := NewMemFS()
				ffs := &faultFS{MemFS: mem}
				c := newClock()
				l := mustOpen(t, "/d/t-0", replCfg(), Options{FS: ffs, Now: c.now, Logger: quiet})
				apply(t, l, ops)
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				ffs.arm(step)
				err := l.TruncateTo(cut)
				if err == nil {
					refs.checkPrefix(t, "completed", l)
					if l.LogEndOffset() != cut {
						t.Fatalf("end %d, want %d", l.LogEndOffset(), cut)
					}
					l.Close()
					t.Logf("%d crash points: %v", step-1, outcomes)
					return
				}
				if !errors.Is(err, errInjected) {
					t.Fatalf("step %d: %v", step, err)
				}
				mem.Crash()
				l2 := mustOpen(t, "/d/t-0", replCfg(), memOpts(mem, c))
				end := l2.LogEndOffset()
				if end < cut || end > refs.end {
					t.Fatalf("step %d: recovered end %d outside [%d, %d]", step, end, cut, refs.end)
				}
				switch {
				case end == cut:
					outcomes["cut"]++
				case end == refs.end:
					outcomes["whole"]++
				default:
					outcomes["partly cut"]++
				}
				refs.checkPrefix(t, fmt.Sprintf("step %d recovered", step), l2)
				// The follower truncates again, appends, crashes again.
				if err := l2.TruncateTo(cut); err != nil {
					t.Fatalf("step %d: truncate again: %v", step, err)
				}
				refs.checkPrefix(t, fmt.Sprintf("step %d truncated again", step), l2)
				if want := truncateEpochs(full.epochsCopy(), cut); !reflect.DeepEqual(l2.epochsCopy(), want) {
					t.Fatalf("step %d: epochs %v, want %v", step, l2.epochsCopy(), want)
				}
				leaderAppend(t, l2, makeBatch(t, testBatch{records: 3, baseTs: 9000}), 9)
				if err := l2.Flush(); err != nil {
					t.Fatal(err)
				}
				mem.Crash()
				l3 := mustOpen(t, "/d/t-0", replCfg(), memOpts(mem, c))
				if l3.LogEndOffset() != cut+3 || !bytes.Equal(rawRange(t, l3, 0, cut), rawRange(t, full, 0, cut)) {
					t.Fatalf("step %d: after the second crash end %d, want %d", step, l3.LogEndOffset(), cut+3)
				}
				if e, _ := l3.LatestEpochEntry(); e != (EpochEntry{9, cut}) {
					t.Fatalf("step %d: latest epoch %v", step, e)
				}
				l3.Close()
			}
			t.Fatal("TruncateTo never completed")
		})
	}
}

// epochsCopy returns the cache as epochEntry values (tests).
func (l *Log) epochsCopy() []epochEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]epochEntry{}, l.epochs...)
}

// TestTruncateFullyCrashAtEveryStep does the same for
// TruncateFullyAndStartAt: after a crash the log is the old one (or a
// prefix) or empty at a log start offset, never a mix; doing it again gives
// exactly an empty log at the offset.
func TestTruncateFullyCrashAtEveryStep(t *testing.T) {
	ops := crashHistory(t)
	refs := newPrefixRefs(t, ops)
	segs := *refs.logs[p0].segs.Load()
	starts := map[string]int64{
		"inside the log":  refs.offs[len(refs.offs)/2] + 1,
		"a segment base":  segs[2].base,
		"past the end":    refs.end + 100,
		"below the start": 0,
	}
	for name, start := range starts {
		t.Run(name, func(t *testing.T) {
			for step := 1; step < 500; step++ {
				mem := NewMemFS()
				ffs := &faultFS{MemFS: mem}
				c := newClock()
				l := mustOpen(t, "/d/t-0", replCfg(), Options{FS: ffs, Now: c.now, Logger: quiet})
				apply(t, l, ops)
				l.SetHighWatermark(l.LogEndOffset())
				if name == "below the start" {
					if _, err := l.DeleteRecordsBefore(refs.offs[5]); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				ffs.arm(step)
				err := l.TruncateFullyAndStartAt(start)
				if err == nil {
					checkEmptyAt(t, "completed", l, start)
					l.Close()
					l = mustOpen(t, "/d/t-0", replCfg(), memOpts(mem, c))
					checkEmptyAt(t, "reopened", l, start)
					l.Close()
					return
				}
				if !errors.Is(err, errInjected) {
					t.Fatalf("step %d: %v", step, err)
				}
				mem.Crash()
				l2 := mustOpen(t, "/d/t-0", replCfg(), memOpts(mem, c))
				what := fmt.Sprintf("step %d recovered (start %d end %d, %d segments, first %d)", step,
					l2.LogStartOffset(), l2.LogEndOffset(), l2.NumSegments(), (*l2.segs.Load())[0].base)
				if l2.LogEndOffset() == l2.LogStartOffset() {
					// Empty: the epochs may not have gone yet; those left
					// start at or below the log end and are the history's.
					for _, e := range l2.Epochs() {
						if e.StartOffset > l2.LogEndOffset() {
							t.Fatalf("%s: epoch %v past the end", what, e)
						}
					}
				} else {
					refs.checkPrefix(t, what, l2)
				}
				if err := l2.TruncateFullyAndStartAt(start); err != nil {
					t.Fatalf("step %d: again: %v", step, err)
				}
				checkEmptyAt(t, fmt.Sprintf("step %d again", step), l2, start)
				l2.Close()
			}
			t.Fatal("TruncateFullyAndStartAt never completed")
		})
	}
}

// checkEmptyAt fails unless l is empty and starts at start, with no epochs,
// producers, aborted transactions, snapshots or other segments.
func checkEmptyAt(t *testing.T, what string, l *Log, start int64) {
	t.Helper()
	if l.LogStartOffset() != start || l.LogEndOffset() != start || l.HighWatermark() != start || l.NumSegments() != 1 {
		t.Fatalf("%s: start %d end %d hw %d segments %d, want all at %d", what,
			l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.NumSegments(), start)
	}
	if len(l.Epochs()) != 0 || len(l.OngoingProducers()) != 0 || len(l.AbortedTransactions(0, 1<<40)) != 0 || l.FirstUnstableOffset() != -1 {
		t.Fatalf("%s: epochs %v producers %v aborted %v unstable %d", what, l.Epochs(), l.OngoingProducers(),
			l.AbortedTransactions(0, 1<<40), l.FirstUnstableOffset())
	}
	ents, _ := l.fs.ReadDir(l.dir)
	for _, e := range ents {
		if _, ok := parseSnapshotName(e.Name()); ok {
			t.Fatalf("%s: snapshot %s left", what, e.Name())
		}
		if o, _, ok := parseSegmentName(e.Name()); ok && o != start {
			t.Fatalf("%s: file %s left", what, e.Name())
		}
	}
}
