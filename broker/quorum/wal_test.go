package quorum

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func entry(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func entryStrings(ents []*raftpb.Entry) []string {
	var s []string
	for _, e := range ents {
		s = append(s, string(e.GetData()))
	}
	return s
}

func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	w, s, exists, err := openWAL(dir, testLogger())
	if err != nil || exists || s.hasBase {
		t.Fatalf("empty dir: exists=%v base=%v err=%v", exists, s.hasBase, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.reset(entryID{5, 2}, []*raftpb.Entry{entry(6, 2, "a")}, hardState(2, 1, 5)))
	must(w.save([]*raftpb.Entry{entry(7, 2, "b"), entry(8, 2, "c")}, hardState(2, 1, 7), true))
	// A new leader overwrites from index 8 on.
	must(w.save([]*raftpb.Entry{entry(8, 3, "c'"), entry(9, 3, "d")}, hardState(3, 0, 8), true))
	must(w.save(nil, nil, true)) // nothing to write
	must(w.close())

	_, s, exists, err = openWAL(dir, testLogger())
	if err != nil || !exists {
		t.Fatalf("reopen: exists=%v err=%v", exists, err)
	}
	if s.base != (entryID{5, 2}) {
		t.Errorf("base %+v", s.base)
	}
	got := entryStrings(s.ents)
	want := []string{"a", "b", "c'", "d"}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || s.ents[i].GetIndex() != uint64(6+i) {
			t.Errorf("entry %d = %q@%d, want %q@%d", i, got[i], s.ents[i].GetIndex(), want[i], 6+i)
		}
	}
	if s.hs.GetTerm() != 3 || s.hs.GetCommit() != 8 || s.hs.GetVote() != 0 {
		t.Errorf("hard state %v", s.hs)
	}
}

func TestWALRejectsGaps(t *testing.T) {
	var b []byte
	b, _ = appendRecord(b, recBase, entry(1, 1, ""))
	b, _ = appendRecord(b, recEntry, entry(3, 1, "gap"))
	b, _ = appendRecord(b, recHardState, hardState(1, 0, 1))
	if _, _, err := decodeWAL(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a gap in the log: %v, want ErrCorrupt", err)
	}
	var c []byte
	c, _ = appendRecord(c, recEntry, entry(1, 1, "no base"))
	if _, _, err := decodeWAL(c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an entry before any base: %v, want ErrCorrupt", err)
	}
}

func TestDecodeWALTail(t *testing.T) {
	var good []byte
	good, _ = appendRecord(good, recBase, entry(1, 1, ""))
	good, _ = appendRecord(good, recEntry, entry(2, 1, "x"))
	rec, _ := appendRecord(nil, recEntry, entry(3, 1, "y"))
	flipped := append([]byte(nil), rec...)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		tail    []byte
		corrupt bool
	}{
		"header cut":          {tail: rec[:5]},
		"body cut":            {tail: rec[:len(rec)-2]},
		"bad checksum, last":  {tail: flipped},
		"zeros":               {tail: make([]byte, 40)},
		"huge size, last":     {tail: []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5}},
		"bad record, then ok": {tail: append(append([]byte(nil), flipped...), rec...), corrupt: true},
	} {
		t.Run(name, func(t *testing.T) {
			b := append(append([]byte(nil), good...), tc.tail...)
			s, n, err := decodeWAL(b)
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || n != len(good) || len(s.ents) != 1 {
				t.Fatalf("good=%d (want %d) entries=%d err=%v", n, len(good), len(s.ents), err)
			}
		})
	}
}

func TestSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	for _, i := range []uint64{3, 12, 7} {
		snap := &raftpb.Snapshot{Data: []byte{byte(i)}, Metadata: &raftpb.SnapshotMetadata{Index: new(i), Term: new(uint64(1))}}
		if err := writeSnapshot(dir, snap); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "snap-leftover.snap.tmp"), []byte("x"), 0o644)
	snap, err := loadSnapshot(dir, func(string, error) {})
	if err != nil || snap.GetMetadata().GetIndex() != 12 || snap.GetData()[0] != 12 {
		t.Fatalf("newest snapshot: %v, %v", snap, err)
	}
	// A damaged newest snapshot falls back to the one before.
	os.WriteFile(snapPath(dir, 12), []byte("garbage"), 0o644)
	warned := 0
	snap, err = loadSnapshot(dir, func(string, error) { warned++ })
	if err != nil || snap.GetMetadata().GetIndex() != 7 || warned != 1 {
		t.Fatalf("fallback: %v, %v, warned %d", snap, err, warned)
	}
	if err := pruneSnapshots(dir); err != nil {
		t.Fatal(err)
	}
	paths, _ := snapshotFiles(dir)
	if len(paths) != snapKeep {
		t.Errorf("%d snapshot files after pruning: %v", len(paths), paths)
	}
	if _, err := os.Stat(filepath.Join(dir, "snap-leftover.snap.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}
