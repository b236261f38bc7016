package quorum

import (
	"bytes"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeWAL feeds arbitrary bytes to the WAL decoder: it must never
// panic, never claim more bytes than it was given, and what it accepts must
// re-encode to a WAL that decodes to the same log.
func FuzzDecodeWAL(f *testing.F) {
	var b []byte
	b, _ = appendRecord(b, recBase, entry(4, 2, ""))
	b, _ = appendRecord(b, recEntry, entry(5, 2, "a"))
	b, _ = appendRecord(b, recEntry, entry(6, 3, "b"))
	b, _ = appendRecord(b, recHardState, hardState(3, 1, 5))
	b, _ = appendRecord(b, recEntry, entry(6, 4, "c"))
	f.Add(b)
	f.Add(b[:len(b)-3])
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	snap, _ := appendRecord(nil, recSnapshot, &raftpb.Snapshot{Data: []byte("s")})
	f.Add(snap)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, good, err := decodeWAL(data)
		if good < 0 || good > len(data) {
			t.Fatalf("good = %d of %d bytes", good, len(data))
		}
		if err != nil {
			return
		}
		// The accepted prefix decodes on its own to the same thing.
		s2, good2, err := decodeWAL(data[:good])
		if err != nil || good2 != good {
			t.Fatalf("prefix: good %d (want %d), err %v", good2, good, err)
		}
		if !sameWAL(s, s2) {
			t.Fatal("prefix decodes differently")
		}
		// Re-encoding the decoded log gives a WAL with the same content.
		if !s.hasBase {
			return
		}
		var re []byte
		re, _ = appendRecord(re, recBase, entry(s.base.index, s.base.term, ""))
		for _, e := range s.ents {
			re, _ = appendRecord(re, recEntry, e)
		}
		if s.hs != nil {
			re, _ = appendRecord(re, recHardState, s.hs)
		}
		s3, good3, err := decodeWAL(re)
		if err != nil || good3 != len(re) || !sameWAL(s, s3) {
			t.Fatalf("re-encoded WAL: good %d of %d, err %v", good3, len(re), err)
		}
	})
}

func sameWAL(a, b *walState) bool {
	if a.base != b.base || a.hasBase != b.hasBase || len(a.ents) != len(b.ents) || !proto.Equal(a.hs, b.hs) {
		return false
	}
	for i := range a.ents {
		x, _ := proto.Marshal(a.ents[i])
		y, _ := proto.Marshal(b.ents[i])
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}
