package broker

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frameFor encodes a request the way a client frames it, minus the size.
func frameFor(req kmsg.Request, version int16, corrID int32) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corrID))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "cli"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func TestDecodeRequest(t *testing.T) {
	meta := kmsg.NewPtrMetadataRequest()
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	r, err := decodeRequest(frameFor(meta, 12, 77))
	if err != nil {
		t.Fatal(err)
	}
	if r.key != 3 || r.version != 12 || r.corrID != 77 || r.clientID != "cli" {
		t.Fatalf("decoded header = %+v", r)
	}
	if got := r.kreq.(*kmsg.MetadataRequest); len(got.Topics) != 1 || *got.Topics[0].Topic != "t" {
		t.Fatalf("decoded body = %+v", got)
	}

	// An ApiVersions version from the future is answered, not refused.
	av := frameFor(kmsg.NewPtrApiVersionsRequest(), 3, 1)
	binary.BigEndian.PutUint16(av[2:], 99)
	r, err = decodeRequest(av)
	if err != nil || !r.unsupported {
		t.Fatalf("future ApiVersions: r=%+v err=%v", r, err)
	}
	// Other unknown versions and keys close the connection.
	fut := frameFor(kmsg.NewPtrMetadataRequest(), 12, 1)
	binary.BigEndian.PutUint16(fut[2:], 99)
	if _, err := decodeRequest(fut); err == nil {
		t.Fatal("Metadata v99 should be refused")
	}
	unk := frameFor(kmsg.NewPtrMetadataRequest(), 1, 1)
	binary.BigEndian.PutUint16(unk, 999)
	if _, err := decodeRequest(unk); err == nil {
		t.Fatal("API key 999 should be refused")
	}
	if _, err := decodeRequest([]byte{0, 1}); err == nil {
		t.Fatal("a 2-byte frame should be refused")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = -1
	prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: []byte{1, 2, 3}}}}}
	f.Add(frameFor(prod, 9, 1))
	f.Add(frameFor(kmsg.NewPtrFetchRequest(), 12, 2))
	f.Add(frameFor(kmsg.NewPtrApiVersionsRequest(), 3, 3))
	f.Add(frameFor(kmsg.NewPtrMetadataRequest(), 1, 4))
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := decodeRequest(frame)
		if err != nil {
			return
		}
		if !r.unsupported && r.kreq == nil {
			t.Fatal("decoded request without a body")
		}
	})
}
