package integration

import (
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readFrame reads one response frame and returns its correlation ID and the
// rest of the body.
func readFrame(t *testing.T, c *rawConn) (int32, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:]
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("pipeline")
	createTopic(t, b.addr(), topic, 1, nil)
	c := dialRaw(t, b.addr())
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipeline"))

	// 1: a fetch at the log end that waits (up to 2 s) for data;
	// 2: an acks=0 produce, which gets no response;
	// 3: ApiVersions, which must still come after the fetch.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = -1, 2000, 1<<20, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(9)
	prod.Acks, prod.TimeoutMillis = 0, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = buildBatch(-1, -1, -1, "acks=0")
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)

	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "pipeline", "1"

	// One write with all three frames (AppendRequest sizes the frame at the
	// start of its dst, so each frame is built on its own).
	var out []byte
	out = append(out, f.AppendRequest(nil, fetch, 1)...)
	out = append(out, f.AppendRequest(nil, prod, 2)...)
	out = append(out, f.AppendRequest(nil, av, 3)...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	corr, body := readFrame(t, c)
	if corr != 1 {
		t.Fatalf("first response has correlation ID %d, want 1 (the fetch)", corr)
	}
	fr := kmsg.NewPtrFetchResponse()
	fr.SetVersion(11)
	if err := fr.ReadFrom(body); err != nil {
		t.Fatalf("fetch response: %v", err)
	}
	corr, body = readFrame(t, c)
	if corr != 3 {
		t.Fatalf("second response has correlation ID %d, want 3 (acks=0 produce answered?)", corr)
	}
	ar := kmsg.NewPtrApiVersionsResponse()
	ar.SetVersion(3)
	if err := ar.ReadFrom(body); err != nil || ar.ErrorCode != 0 {
		t.Fatalf("ApiVersions response: %v, code %d", err, ar.ErrorCode)
	}
	// The acks=0 record went in.
	got := consumeAll(t, testCtx(t, 30*time.Second), b.addr(), topic, 0, 1)
	if string(got[0].Value) != "acks=0" {
		t.Fatalf("acks=0 record: %q", got[0].Value)
	}
}

func TestApiVersionsUnknownVersion(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr())
	// ApiVersions v127 with a v0-style body: the broker answers a v0
	// response with UNSUPPORTED_VERSION and its ApiVersions range.
	hdr := requestHeader(18, 127, 7)
	if _, err := c.Write(append(frame(hdr), hdr...)); err != nil {
		t.Fatal(err)
	}
	corr, body := readFrame(t, c)
	if corr != 7 {
		t.Fatalf("correlation ID %d, want 7", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("v0 response: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("code %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 18 {
			found = k.MinVersion == 0 && k.MaxVersion >= 3
		}
	}
	if !found {
		t.Fatalf("response does not give the ApiVersions range: %+v", resp.ApiKeys)
	}
	// The connection stays usable.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	ok := kmsg.NewPtrApiVersionsResponse()
	c.corr = 7
	c.roundTrip(t, req, ok)
	if ok.ErrorCode != 0 {
		t.Fatalf("ApiVersions v0 after the unknown version: code %d", ok.ErrorCode)
	}
}

func TestOldProduceRefused(t *testing.T) {
	b := startBroker(t)
	topic := uniqueTopic("oldproduce")
	createTopic(t, b.addr(), topic, 1, nil)
	c := dialRaw(t, b.addr())
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(2) // message format v0/v1 era: not served
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(-1, -1, -1, "old")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	// Either an UNSUPPORTED_VERSION answer or a closed connection is a
	// refusal; either way the broker must say why in its log.
	if err := c.tryRoundTrip(req, resp); err == nil {
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("Produce v2 answered without UNSUPPORTED_VERSION: %+v", resp.Topics)
		}
	}
	ends, err := newKadm(t, b.addr()).ListEndOffsets(testCtx(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Offset != 0 {
		t.Fatalf("Produce v2 appended: end offset %d", o.Offset)
	}
	if out := b.p.Output(); !strings.Contains(out, "Produce v2") {
		t.Errorf("no log line names the refused Produce v2:\n%s", out)
	}
}
