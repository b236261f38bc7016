package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
)

// fsCase is one of the filesystems the replication tests run on.
type fsCase struct {
	name string
	mem  *MemFS // nil for the OS
	root string
}

// bothFS runs f on the strict in-memory FS and on the OS FS.
func bothFS(t *testing.T, f func(t *testing.T, fc fsCase)) {
	t.Run("mem", func(t *testing.T) { f(t, fsCase{name: "mem", mem: NewMemFS(), root: "/d"}) })
	t.Run("os", func(t *testing.T) { f(t, fsCase{name: "os", root: t.TempDir()}) })
}

func (fc fsCase) opts(c *fakeClock) Options {
	o := Options{Now: c.now, Logger: quiet}
	if fc.mem != nil {
		o.FS = fc.mem
	}
	return o
}

// other is a second filesystem of the same kind (a MemFS crash must not
// take the other replica down).
func (fc fsCase) other() fsCase {
	if fc.mem != nil {
		fc.mem = NewMemFS()
	}
	return fc
}

func (fc fsCase) dir(name string) string { return filepath.Join(fc.root, name) }

// replCfg is a config with small segments and a dense index, so that a few
// dozen batches span several segments.
func replCfg() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1500
	cfg.IndexIntervalBytes = 200
	return cfg
}

// rawRange returns the bytes of the batches with base offsets in [from, upto).
func rawRange(t testing.TB, l *Log, from, upto int64) []byte {
	t.Helper()
	var out []byte
	for from < upto {
		b, err := l.Read(from, 1<<20, upto, true)
		if err != nil {
			t.Fatalf("read %d: %v", from, err)
		}
		hs := batchesIn(t, b)
		if len(hs) == 0 {
			break
		}
		out = append(out, b...)
		from = hs[len(hs)-1].NextOffset()
	}
	return out
}

// fetchFrom plays a follower's fetcher without divergence checks: it reads
// from the leader at the follower's log end, up to maxBytes at a time, and
// appends as a follower until it has everything below upto.
func fetchFrom(t testing.TB, leader, follower *Log, maxBytes int32, upto int64) {
	t.Helper()
	for follower.LogEndOffset() < upto {
		b, err := leader.Read(follower.LogEndOffset(), maxBytes, upto, true)
		if err != nil {
			t.Fatalf("leader read at %d: %v", follower.LogEndOffset(), err)
		}
		if len(b) == 0 {
			t.Fatalf("leader has nothing at %d below %d", follower.LogEndOffset(), upto)
		}
		if _, err := follower.AppendAsFollower(b); err != nil {
			t.Fatalf("append as follower at %d: %v", follower.LogEndOffset(), err)
		}
	}
}

// replicateKafka is a follower fetcher with KIP-320 truncation: it fetches
// with the follower's latest epoch as LastFetchedEpoch, truncates where the
// leader reports a diverging epoch, and appends until it has upto.
func replicateKafka(t testing.TB, leader, follower *Log, maxBytes int32, upto int64) (truncations int) {
	t.Helper()
	for i := 0; follower.LogEndOffset() < upto || i == 0; i++ {
		if i > 1000 {
			t.Fatal("replication does not converge")
		}
		last, _ := follower.LatestEpochEntry()
		d := leader.DivergingEpoch(follower.LogEndOffset(), last.Epoch)
		if d.Unknown {
			t.Fatalf("leader cannot place epoch %d", last.Epoch)
		}
		if d.Diverged {
			to, _ := follower.TruncationOffset(d.Epoch, d.EndOffset)
			if err := follower.TruncateTo(to); err != nil {
				t.Fatalf("truncate to %d: %v", to, err)
			}
			truncations++
			continue
		}
		if follower.LogEndOffset() >= upto {
			break
		}
		b, err := leader.Read(follower.LogEndOffset(), maxBytes, upto, true)
		if err != nil {
			t.Fatalf("leader read at %d: %v", follower.LogEndOffset(), err)
		}
		if _, err := follower.AppendAsFollower(b); err != nil {
			t.Fatalf("append as follower at %d: %v", follower.LogEndOffset(), err)
		}
	}
	return truncations
}

// sameBytes fails unless both logs hold the same batches in [from, upto).
func sameBytes(t testing.TB, a, b *Log, from, upto int64) {
	t.Helper()
	x, y := rawRange(t, a, from, upto), rawRange(t, b, from, upto)
	if !bytes.Equal(x, y) {
		t.Fatalf("logs differ in [%d, %d): %d bytes vs %d (%v vs %v)", from, upto, len(x), len(y), bases(t, x), bases(t, y))
	}
}

func bases(t testing.TB, b []byte) []int64 {
	var out []int64
	for _, h := range batchesIn(t, b) {
		out = append(out, h.BaseOffset)
	}
	return out
}

// leaderAppend appends b as the leader in epoch e.
func leaderAppend(t testing.TB, l *Log, b []byte, e int32) AppendResult {
	t.Helper()
	res, err := l.Append(b, AppendOptions{LeaderEpoch: e})
	if err != nil {
		t.Fatalf("leader append: %v", err)
	}
	return res
}

// txBatch is a transactional batch of producer pid.
func txBatch(t testing.TB, pid int64, epoch int16, seq int32, records int, tag byte) []byte {
	b := makeBatch(t, testBatch{records: records, valueSize: 10, pid: pid, epoch: epoch, seq: seq, baseTs: 1000, tag: tag})
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrTransactional
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	RecomputeCRC(b)
	return b
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err %v, want %v", err, want)
	}
}
