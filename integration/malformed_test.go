package integration

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame prefixes body with its 4-byte length.
func frame(body []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(body)))
}

// requestHeader encodes a v1 request header (key, version, correlation id,
// client id).
func requestHeader(key, version int16, corr int32) []byte {
	h := binary.BigEndian.AppendUint16(nil, uint16(key))
	h = binary.BigEndian.AppendUint16(h, uint16(version))
	h = binary.BigEndian.AppendUint32(h, uint32(corr))
	h = binary.BigEndian.AppendUint16(h, 4)
	return append(h, "test"...)
}

func TestMalformedInput(t *testing.T) {
	b := startBroker(t, "--set", "socket.request.max.bytes=1048576")
	topic := uniqueTopic("malformed")
	createTopic(t, b.addr(), topic, 1, nil)
	// A client connected before the bad input, which must keep working.
	bystander := newClient(t, b.addr(), kgo.DefaultProduceTopic(topic))
	ctx := testCtx(t, 60*time.Second)
	produced := 0
	produce := func(what string) {
		t.Helper()
		if err := bystander.ProduceSync(ctx, kgo.StringRecord(what)).FirstErr(); err != nil {
			t.Fatalf("produce after %s: %v", what, err)
		}
		produced++
	}
	produce("start")

	truncatedProduce := append(requestHeader(0, 9, 1), 0x00) // flexible header, then nothing
	unknownKey := requestHeader(32000, 0, 1)
	cases := []struct {
		name      string
		send      []byte
		closeSend bool // half-close after sending (a frame cut short)
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: gregor\r\n\r\n"), false},
		{"random bytes", []byte{0x00, 0x00, 0x00, 0x10, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef}, false},
		{"oversize frame", binary.BigEndian.AppendUint32(nil, 1048577), false},
		{"huge frame", []byte{0x7f, 0xff, 0xff, 0xff}, false},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0}, false},
		{"zero size", []byte{0, 0, 0, 0}, false},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), requestHeader(18, 3, 1)...), true},
		{"truncated produce body", append(frame(truncatedProduce), truncatedProduce...), false},
		{"unknown api key", append(frame(unknownKey), unknownKey...), false},
		{"short header", []byte{0, 0, 0, 3, 0, 18, 0}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dialRaw(t, b.addr())
			if _, err := conn.Write(c.send); err != nil {
				t.Fatalf("write: %v", err)
			}
			if c.closeSend {
				if err := conn.Conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			conn.expectClosed(t)
			produce(c.name)
			// A brand-new connection is served too.
			fresh := dialRaw(t, b.addr())
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(3)
			req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-integration", "1"
			resp := kmsg.NewPtrApiVersionsResponse()
			fresh.roundTrip(t, req, resp)
			if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
				t.Fatalf("ApiVersions after %s: code %d, %d keys", c.name, resp.ErrorCode, len(resp.ApiKeys))
			}
		})
	}
	got := consumeAll(t, ctx, b.addr(), topic, 0, produced)
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("offset %d at position %d", r.Offset, i)
		}
	}
	select {
	case <-b.p.Done():
		t.Fatal("the broker exited")
	default:
	}
	t.Logf("broker output:\n%s", b.p.Output())
}
