package log

import (
	"path/filepath"
	"testing"
	"time"
)

func TestManagerCleanerThreads(t *testing.T) {
	fs, c := NewMemFS(), newClock()
	opts := memOpts(fs, c)
	opts.CleanerBackoff = 5 * time.Millisecond
	opts.CleanerThreads = 2
	m, err := OpenManager("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	cfg := compactCfg(1024)
	cfg.MinCleanableDirtyRatio = 0.1
	var logs []*Log
	var wants []map[string]string
	for p := int32(0); p < 3; p++ {
		l, err := m.OpenLog("t", p, [16]byte{1}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
		wants = append(wants, fillKeys(t, l, c, 6, 20))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range logs {
		for l.cleanedTo.Load() <= 0 {
			if time.Now().After(deadline) {
				t.Fatal("cleaner threads did not clean")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i, l := range logs {
		checkLatest(t, l, wants[i], nil)
	}
	ck, err := readCheckpoint(fs, filepath.Join("/data", cleanerCheckpoint))
	if err != nil || len(ck) != 3 {
		t.Fatalf("cleaner checkpoint: %v %v", ck, err)
	}
	// Deleting a log while the cleaner may work on it neither hangs nor
	// leaves its checkpoint behind.
	fillKeys(t, logs[0], c, 6, 20)
	if err := m.DeleteLog("t", 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ck, _ = readCheckpoint(fs, filepath.Join("/data", cleanerCheckpoint))
	if _, ok := ck[topicPartition{"t", 0}]; ok || len(ck) != 2 {
		t.Fatalf("checkpoint after delete: %v", ck)
	}
	// The checkpoint is picked up again.
	m, err = OpenManager("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.OpenLog("t", 1, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.cleanedTo.Load() != ck[topicPartition{"t", 1}] {
		t.Fatalf("checkpoint %d, file says %d", l.cleanedTo.Load(), ck[topicPartition{"t", 1}])
	}
	checkLatest(t, l, wants[1], nil)
}
