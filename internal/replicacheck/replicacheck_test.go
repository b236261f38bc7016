package replicacheck

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// segBatch is a v2 batch at base offset base with one record per value,
// written by producer 7, epoch 0, its first sequence base.
func segBatch(base int64, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(v)}
		body := r.AppendTo(nil) // Length 0 takes one byte
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		FirstOffset:          base,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           7,
		FirstSequence:        int32(base),
		NumRecords:           int32(len(values)),
		Records:              recs,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// writeReplica lays out topic-0 in a fresh data directory: one segment per
// group of batches, named by the first batch's base offset, plus the
// files a real partition directory also holds.
func writeReplica(t *testing.T, topic string, segments ...[][]byte) string {
	t.Helper()
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, topic+"-0")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, seg := range segments {
		base := int64(binary.BigEndian.Uint64(seg[0]))
		var data []byte
		for _, b := range seg {
			data = append(data, b...)
		}
		name := fmt.Sprintf("%020d", base)
		for file, content := range map[string][]byte{".log": data, ".index": make([]byte, 64), ".log.deleted": []byte("junk")} {
			if err := os.WriteFile(filepath.Join(dir, name+file), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte("0\n1\n0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

func TestCheckerReplicas(t *testing.T) {
	t.Parallel()
	const topic = "orders"
	b0, b2, b5, b6 := segBatch(0, "a", "b"), segBatch(2, "c", "d", "e"), segBatch(5, "f"), segBatch(6, "g", "h")
	flipped := func(b []byte, at int) []byte {
		c := append([]byte(nil), b...)
		c[at] ^= 0xff
		return c
	}
	segs := func(s ...[][]byte) [][][]byte { return s }
	batches := func(b ...[]byte) [][]byte { return b }
	for _, tc := range []struct {
		name     string
		replicas [][][][]byte // replica -> segments -> batches
		below    int64
		want     int64 // the mismatch offset, -1 for none
		why      string
	}{
		{"identical", [][][][]byte{segs(batches(b0, b2, b5, b6)), segs(batches(b0, b2, b5, b6))}, 8, -1, ""},
		{"segments cut elsewhere", [][][][]byte{segs(batches(b0, b2), batches(b5, b6)), segs(batches(b0), batches(b2, b5, b6))}, 8, -1, ""},
		{"older segment deleted on one", [][][][]byte{segs(batches(b0, b2), batches(b5, b6)), segs(batches(b5, b6))}, 8, -1, ""},
		{"a byte differs", [][][][]byte{segs(batches(b0, b2, b5, b6)), segs(batches(b0, flipped(b2, len(b2)-1), b5, b6))}, 8, 2, "records"},
		{"leader epoch differs", [][][][]byte{segs(batches(b0, b2, b5, b6)), segs(batches(b0, b2, flipped(b5, 13), b6))}, 8, 5, "partitionLeaderEpoch"},
		{"differences at or past the limit are ignored", [][][][]byte{segs(batches(b0, b2, b5, b6)), segs(batches(b0, b2, b5, flipped(b6, 70)))}, 6, -1, ""},
		{"a batch missing", [][][][]byte{segs(batches(b0, b2, b5, b6)), segs(batches(b0, b2, b6))}, 8, 5, ""},
		{"the first is short", [][][][]byte{segs(batches(b0, b2)), segs(batches(b0, b2, b5))}, 8, 5, "first lacks"},
		{"a torn tail below the limit", [][][][]byte{segs(batches(b0, b2, b5[:30])), segs(batches(b0, b2, b5))}, 8, 5, "first lacks"},
		{"a torn tail past the limit", [][][][]byte{segs(batches(b0, b2, b5[:30])), segs(batches(b0, b2, b5))}, 5, -1, ""},
		{"three replicas, the third differs", [][][][]byte{segs(batches(b0, b2)), segs(batches(b0, b2)), segs(batches(flipped(b0, 20), b2))}, 8, 0, "crc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dirs []string
			for _, r := range tc.replicas {
				dirs = append(dirs, writeReplica(t, topic, r...))
			}
			m, err := Compare(dirs, topic, 0, tc.below)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want < 0 && m != nil:
				t.Fatalf("mismatch %s, want none", m)
			case tc.want >= 0 && m == nil:
				t.Fatalf("no mismatch, want one at %d", tc.want)
			case m != nil && (m.Offset != tc.want || !strings.Contains(m.String(), tc.why)):
				t.Fatalf("mismatch %s, want one at %d naming %q", m, tc.want, tc.why)
			}
			if m != nil {
				t.Log(m)
			}
		})
	}
}

func TestCheckerReplicaBatches(t *testing.T) {
	t.Parallel()
	dir := writeReplica(t, "t", [][]byte{segBatch(0, "a", "b")}, [][]byte{segBatch(2, "c"), segBatch(3, "d", "e", "f")})
	bs, err := ReadBatches(dir, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, fmt.Sprintf("%d-%d@%s:%d", b.BaseOffset, b.LastOffset, filepath.Base(b.File), b.Pos))
	}
	want := fmt.Sprintf("[0-1@%020d.log:0 2-2@%020d.log:0 3-5@%020d.log:%d]", 0, 2, 2, len(segBatch(2, "c")))
	if fmt.Sprint(got) != want {
		t.Errorf("batches %v, want %s", got, want)
	}
	if _, err := ReadBatches(dir, "t", 1); err == nil {
		t.Error("no error for a partition without a directory")
	}
	if _, err := Compare([]string{dir}, "t", 0, 10); err == nil {
		t.Error("no error comparing one replica")
	}
	// A batch of another magic is not Kafka's format: an error, not a skip.
	bad := segBatch(0, "x")
	bad[16] = 1
	if _, err := ReadBatches(writeReplica(t, "t", [][]byte{bad}), "t", 0); err == nil {
		t.Error("no error for a magic 1 batch")
	}
}
