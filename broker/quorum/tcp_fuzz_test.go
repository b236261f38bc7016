package quorum

import (
	"bytes"
	"encoding/binary"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzFrameReader feeds arbitrary connection bytes to the inbound frame
// decoder: it must never panic, and every message it returns must be one a
// well-formed frame could carry (it re-encodes and decodes the same).
func FuzzFrameReader(f *testing.F) {
	frame := func(m *raftpb.Message) []byte {
		b, _ := proto.Marshal(m)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	hb := frame(&raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3))})
	app := frame(&raftpb.Message{Type: raftpb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)),
		Entries: []*raftpb.Entry{entry(5, 3, "payload")}})
	f.Add(append([]byte(Preamble), append(hb, app...)...))
	f.Add(append(hb, app...))
	f.Add([]byte(Preamble + "\xff\xff\xff\xff"))
	f.Add(append([]byte(Preamble), hb[:len(hb)-1]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data))
		for range 1000 {
			m, err := fr.next()
			if err != nil {
				return
			}
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("a decoded message does not encode: %v", err)
			}
			m2 := &raftpb.Message{}
			if err := proto.Unmarshal(b, m2); err != nil || !proto.Equal(m, m2) {
				t.Fatalf("re-decoded message differs: %v", err)
			}
		}
	})
}
