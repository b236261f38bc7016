package log

import (
	"errors"
	"testing"
	"time"
)

// TestManagerTruncation: a Manager's log checkpoints its recovery point and
// cleaner offset when truncated, without waiting for the checkpoint loop;
// a truncation that fails part-way closes the log, OpenLog opens it again
// with recovery, and the Manager then leaves out the clean-shutdown marker.
func TestManagerTruncation(t *testing.T) {
	mem := NewMemFS()
	ffs := &faultFS{MemFS: mem}
	c := newClock()
	m, err := OpenManager("/d", Options{FS: ffs, Now: c.now, Logger: quiet, CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte{7}
	cfg := replCfg()
	cfg.CleanupPolicy = "compact,delete"
	l, err := m.OpenLog("t", 0, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for e := int32(0); e < 3; e++ {
		for i := 0; i < 10; i++ {
			leaderAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "k" + string(rune('a'+i%5)), v: "v"}}, baseTs: c.now().UnixMilli()}), e)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.Clean(c.now()); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	key := topicPartition{"t", 0}
	rp := func() int64 {
		ck, err := readCheckpoint(mem, "/d/"+recoveryPointCheckpoint)
		if err != nil {
			t.Fatal(err)
		}
		return ck[key]
	}
	cleaned := func() int64 {
		ck, _ := readCheckpoint(mem, "/d/"+cleanerCheckpoint)
		return ck[key]
	}
	if rp() != 30 || cleaned() == 0 {
		t.Fatalf("setup: recovery point %d, cleaned to %d", rp(), cleaned())
	}
	cut := l.Epochs()[1].StartOffset + 2
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if rp() > cut || cleaned() > cut || l.LogEndOffset() != cut {
		t.Fatalf("after truncation to %d: recovery point %d, cleaned to %d, end %d", cut, rp(), cleaned(), l.LogEndOffset())
	}

	// A truncation that fails after it began changing files.
	for i := 0; i < 5; i++ {
		leaderAppend(t, l, kvBatch(t, kvSpec{recs: []kv{{k: "x", v: "y"}}}), 5)
	}
	for step := 1; ; step++ {
		ffs.arm(step)
		err := l.TruncateTo(cut - 1)
		ffs.arm(1 << 30)
		if err == nil {
			t.Fatal("no step closed the log")
		}
		if l.isClosed.Load() {
			wantErr(t, err, ErrStorage)
			break
		}
	}
	if _, err := l.Append(makeBatch(t, testBatch{}), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to a failed log: %v", err)
	}
	l2, err := m.OpenLog("t", 0, id, cfg)
	if err != nil || l2 == l {
		t.Fatalf("reopen: %v (same log: %v)", err, l2 == l)
	}
	if end := l2.LogEndOffset(); end < cut-1 || end > cut+5 {
		t.Fatalf("reopened end %d", end)
	}
	if err := l2.TruncateTo(cut - 1); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, l2)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat("/d/" + cleanShutdownFile); err == nil {
		t.Fatal("clean-shutdown marker written after a failed truncation")
	}
}

// TestTruncateWhileCleaning: truncations and follower appends on a
// compacted log while the Manager's cleaner threads clean it: no deadlock,
// and the log stays readable with every key's latest value below the high
// watermark the replica copied.
func TestTruncateWhileCleaning(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	opts := memOpts(fs, c)
	opts.CleanerBackoff = time.Millisecond
	opts.CleanerThreads = 1
	m, err := OpenManager("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	defer m.Close()
	cfg := compactCfg(1024)
	cfg.MinCleanableDirtyRatio = 0.01
	src := mustOpen(t, "/src/t-0", cfg, memOpts(NewMemFS(), c))
	defer src.Close()
	want := fillKeys(t, src, c, 8, 20)
	end := src.LogEndOffset()
	l, err := m.OpenLog("t", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 30; round++ {
		upto := end * int64(round%10+1) / 10
		if upto > l.LogEndOffset() {
			fetchFrom(t, src, l, 2000, upto)
		}
		l.SetHighWatermark(l.LogEndOffset())
		time.Sleep(time.Millisecond)
		if err := l.TruncateTo(l.LogEndOffset() / 2); err != nil {
			t.Fatal(err)
		}
	}
	fetchFrom(t, src, l, 1<<20, end)
	l.SetHighWatermark(end)
	deadline := time.Now().Add(30 * time.Second)
	for l.cleanedTo.Load() <= 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	checkLatest(t, l, want, nil)
}
