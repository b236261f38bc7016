package main

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseBrokers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "127.0.0.1:9092", want: []string{"127.0.0.1:9092"}},
		{in: "a:1, b:2 ,", want: []string{"a:1", "b:2"}},
		{in: "kafka", want: []string{"kafka:9092"}},
		{in: "[::1]", want: []string{"[::1]:9092"}},
		{in: "", err: true},
		{in: " , ", err: true},
		{in: "kafka://x:9092", err: true},
	} {
		got, err := parseBrokers(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseBrokers(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParsePartitions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int32
		err  bool
	}{
		{in: "0", want: []int32{0}},
		{in: "0,2", want: []int32{0, 2}},
		{in: "1-3,7", want: []int32{1, 2, 3, 7}},
		{in: "", err: true},
		{in: "x", err: true},
		{in: "-1", err: true},
		{in: "3-1", err: true},
	} {
		got, err := parsePartitions(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parsePartitions(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseOffset(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want kgo.Offset
		err  bool
	}{
		{in: "earliest", want: kgo.NewOffset().AtStart()},
		{in: "beginning", want: kgo.NewOffset().AtStart()},
		{in: "latest", want: kgo.NewOffset().AtEnd()},
		{in: "42", want: kgo.NewOffset().At(42)},
		{in: "-5", want: kgo.NewOffset().AtEnd().Relative(-5)},
		{in: "+5", want: kgo.NewOffset().AtStart().Relative(5)},
		{in: "@2025-01-02T03:04:05Z", want: kgo.NewOffset().AfterMilli(at.UnixMilli())},
		{in: "@" + fmt.Sprint(at.UnixMilli()), want: kgo.NewOffset().AfterMilli(at.UnixMilli())},
		{in: "soon", err: true},
		{in: "@yesterday", err: true},
	} {
		got, err := parseOffset(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseOffset(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && got.String() != tc.want.String() {
			t.Errorf("parseOffset(%q) = %v, want %v", tc.in, got, tc.want)
		}
		var ue *usageError
		if err != nil && !errors.As(err, &ue) {
			t.Errorf("parseOffset(%q) error %v is not a usage error", tc.in, err)
		}
	}
}

func TestParseDatetime(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "2025-01-02T03:04:05Z", want: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2025-01-02T03:04:05.250+01:00", want: time.Date(2025, 1, 2, 2, 4, 5, 250e6, time.UTC)},
		{in: "2025-01-02T03:04:05.250", want: time.Date(2025, 1, 2, 3, 4, 5, 250e6, loc)},
		{in: "2025-01-02T03:04:05", want: time.Date(2025, 1, 2, 3, 4, 5, 0, loc)},
		{in: "2025-01-02T03:04", want: time.Date(2025, 1, 2, 3, 4, 0, 0, loc)},
		{in: "2025-01-02", want: time.Date(2025, 1, 2, 0, 0, 0, 0, loc)},
		{in: "1735787045000", want: time.UnixMilli(1735787045000)},
		{in: "yesterday", err: true},
		{in: "-5", err: true},
	} {
		got, err := parseDatetime(tc.in, loc)
		if (err != nil) != tc.err || (err == nil && !got.Equal(tc.want)) {
			t.Errorf("parseDatetime(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestPlanReset(t *testing.T) {
	in := []resetInput{
		{Topic: "b", Partition: 0, Committed: 5, Start: 2, End: 10, AtTime: 7},
		{Topic: "a", Partition: 1, Committed: -1, Start: 0, End: 4, AtTime: -1},
		{Topic: "a", Partition: 0, Committed: 3, Start: 3, End: 3, AtTime: -1},
	}
	type row struct {
		tp  string
		cur int64 // -1: none
		new int64
	}
	for _, tc := range []struct {
		s    resetStrategy
		want []row
	}{
		{resetStrategy{kind: "earliest"}, []row{{"a/0", 3, 3}, {"a/1", -1, 0}, {"b/0", 5, 2}}},
		{resetStrategy{kind: "latest"}, []row{{"a/0", 3, 3}, {"a/1", -1, 4}, {"b/0", 5, 10}}},
		{resetStrategy{kind: "offset", offset: 4}, []row{{"a/0", 3, 3}, {"a/1", -1, 4}, {"b/0", 5, 4}}},
		{resetStrategy{kind: "offset", offset: 100}, []row{{"a/0", 3, 3}, {"a/1", -1, 4}, {"b/0", 5, 10}}},
		{resetStrategy{kind: "datetime"}, []row{{"a/0", 3, 3}, {"a/1", -1, 4}, {"b/0", 5, 7}}},
		{resetStrategy{kind: "shift", shift: -2}, []row{{"a/0", 3, 3}, {"b/0", 5, 3}}},
		{resetStrategy{kind: "shift", shift: -10}, []row{{"a/0", 3, 3}, {"b/0", 5, 2}}},
		{resetStrategy{kind: "shift", shift: 3}, []row{{"a/0", 3, 3}, {"b/0", 5, 8}}},
	} {
		var got []row
		for _, r := range planReset(in, tc.s) {
			cur := int64(-1)
			if r.CurrentOffset != nil {
				cur = *r.CurrentOffset
			}
			got = append(got, row{fmt.Sprintf("%s/%d", r.Topic, r.Partition), cur, r.NewOffset})
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("planReset(%+v) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestResetStrategyFlags(t *testing.T) {
	set := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		name string
		o    resetOptions
		kind string
	}{
		{"earliest", resetOptions{topics: []string{"t"}, earliest: true, changed: set()}, "earliest"},
		{"offset", resetOptions{allTopics: true, toOffset: 3, changed: set("to-offset")}, "offset"},
		{"shift", resetOptions{topics: []string{"t"}, shiftBy: -1, changed: set("shift-by")}, "shift"},
		{"datetime", resetOptions{topics: []string{"t"}, toDatetime: "2025-01-01", changed: set("to-datetime")}, "datetime"},
		{"none", resetOptions{topics: []string{"t"}, changed: set()}, ""},
		{"two", resetOptions{topics: []string{"t"}, earliest: true, latest: true, changed: set()}, ""},
		{"no topics", resetOptions{earliest: true, changed: set()}, ""},
		{"topics and all", resetOptions{topics: []string{"t"}, allTopics: true, earliest: true, changed: set()}, ""},
		{"negative offset", resetOptions{topics: []string{"t"}, toOffset: -1, changed: set("to-offset")}, ""},
		{"bad datetime", resetOptions{topics: []string{"t"}, toDatetime: "x", changed: set("to-datetime")}, ""},
	} {
		s, err := tc.o.strategy()
		if tc.kind == "" {
			if err == nil || exitCode(err) != 2 {
				t.Errorf("%s: err = %v, want a usage error", tc.name, err)
			}
			continue
		}
		if err != nil || s.kind != tc.kind {
			t.Errorf("%s: got %+v, %v; want kind %s", tc.name, s, err, tc.kind)
		}
	}
}

func TestPercentileAndPacer(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 501 * time.Millisecond}, {0.99, 991 * time.Millisecond}, {0.999, 1000 * time.Millisecond}, {1, 1000 * time.Millisecond}} {
		if got := percentile(lat, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing should be 0")
	}
	start := time.Unix(0, 0)
	p := pacer{start: start, perSec: 100}
	if got := p.wait(50, start); got != 500*time.Millisecond {
		t.Errorf("wait(50) at start = %v, want 500ms", got)
	}
	if got := p.wait(50, start.Add(time.Second)); got >= 0 {
		t.Errorf("wait when behind = %v, want negative", got)
	}
	if got := (pacer{start: start, perSec: -1}).wait(1e9, start); got != 0 {
		t.Errorf("unlimited pacer waits %v", got)
	}
}

func TestPerfStats(t *testing.T) {
	start := time.Unix(100, 0)
	s := newPerfStats(10, start)
	for i := 1; i <= 10; i++ {
		s.add(mib/10, time.Duration(i)*time.Millisecond)
	}
	s.fail(errors.New("boom"))
	line := s.window(start.Add(time.Second), "sent")
	if !strings.HasPrefix(line, "10 records sent, 10.0 records/sec (1.00 MB/sec), 5.5 ms avg latency, 10.0 ms max latency") {
		t.Errorf("window line = %q", line)
	}
	if again := s.window(start.Add(2*time.Second), "sent"); !strings.HasPrefix(again, "0 records sent") {
		t.Errorf("window not reset: %q", again)
	}
	sum := s.summary(start.Add(2 * time.Second))
	if sum.Records != 10 || sum.Failed != 1 || sum.RecordsPerSec != 5 || sum.LatencyMaxMs != 10 || sum.LatencyP50Ms != 6 {
		t.Errorf("summary = %+v", sum)
	}
	if l := sum.summaryLine("sent"); !strings.Contains(l, "10 records sent, 5.0 records/sec (0.50 MB/sec)") || !strings.Contains(l, "99.9th") {
		t.Errorf("summary line = %q", l)
	}
	if got := randomPayload(64); len(got) != 64 || bytes.ContainsFunc(got, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		t.Errorf("payload = %q", got)
	}
}

func TestLineRecordAndHeaders(t *testing.T) {
	r, err := lineRecord([]byte("k:v:w"), ":")
	if err != nil || string(r.Key) != "k" || string(r.Value) != "v:w" {
		t.Errorf("lineRecord with separator = %+v, %v", r, err)
	}
	r, err = lineRecord([]byte("plain"), "")
	if err != nil || r.Key != nil || string(r.Value) != "plain" {
		t.Errorf("lineRecord without separator = %+v, %v", r, err)
	}
	if _, err := lineRecord([]byte("nokey"), ":"); err == nil {
		t.Error("a line without the separator should fail")
	}
	hs, err := parseHeaders([]string{"a=1", "b=x=y", "c="})
	if err != nil || len(hs) != 3 || string(hs[1].Value) != "x=y" || string(hs[2].Value) != "" {
		t.Errorf("parseHeaders = %+v, %v", hs, err)
	}
	if _, err := parseHeaders([]string{"novalue"}); err == nil {
		t.Error("header without = should fail")
	}
	if _, err := parseHeaders([]string{"=v"}); err == nil {
		t.Error("header without key should fail")
	}
}

func TestProduceOptions(t *testing.T) {
	g := &globals{timeout: time.Second}
	for _, tc := range []struct {
		o   produceOptions
		err bool
	}{
		{produceOptions{acks: "all", compression: "none", partition: -1}, false},
		{produceOptions{acks: "1", compression: "zstd", partition: 3}, false},
		{produceOptions{acks: "0", compression: "lz4", partition: -1}, false},
		{produceOptions{acks: "all", compression: "snappy", partition: -1, idempotent: true}, false},
		{produceOptions{acks: "all", compression: "gzip", partition: -1, transactional: "tx"}, false},
		{produceOptions{acks: "1", compression: "none", partition: -1, idempotent: true}, true},
		{produceOptions{acks: "0", compression: "none", partition: -1, transactional: "tx"}, true},
		{produceOptions{acks: "2", compression: "none", partition: -1}, true},
		{produceOptions{acks: "all", compression: " ZSTD ", partition: -1}, false},
		{produceOptions{acks: "all", compression: "brotli", partition: -1}, true},
		{produceOptions{acks: "all", compression: "none", partition: -2}, true},
	} {
		_, err := tc.o.clientOpts(g, "t")
		if (err != nil) != tc.err {
			t.Errorf("%+v: err = %v, want error %v", tc.o, err, tc.err)
		}
	}
}

func TestFormatter(t *testing.T) {
	rec := &kgo.Record{
		Topic: "demo", Partition: 2, Offset: 7, Key: []byte("k1"), Value: []byte("v1"),
		Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
	}
	for _, tc := range []struct {
		format string
		json   bool
		want   string
		err    bool
	}{
		{format: "", want: "v1\n"},
		{format: "{{.key}}={{.value}}", want: "k1=v1\n"},
		{format: `{{.topic}}/{{.partition}}@{{.offset}}\t{{.value}}\n`, want: "demo/2@7\tv1\n"},
		{format: "{{.timestamp}} {{.timestamp.UnixMilli}}", want: "2025-01-02T03:04:05.006Z 1735787045006\n"},
		{format: `{{.headers}} {{.headers.Get "b"}}{{range .headers}} {{.Key}}{{end}}`, want: "a=1,b=2 2 a b\n"},
		{json: true, want: `{"topic":"demo","partition":2,"offset":7,"timestamp":"2025-01-02T03:04:05.006Z","key":"k1","value":"v1","headers":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}` + "\n"},
		{format: "{{.vaule}}", err: true},
		{format: "{{.value", err: true},
		{format: "{{.value}}", json: true, err: true},
	} {
		f, err := newFormatter(tc.format, tc.json)
		if tc.err {
			if err == nil || exitCode(err) != 2 {
				t.Errorf("newFormatter(%q, %v) err = %v, want a usage error", tc.format, tc.json, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("newFormatter(%q): %v", tc.format, err)
		}
		var b bytes.Buffer
		if err := f(&b, rec); err != nil || b.String() != tc.want {
			t.Errorf("format %q = %q, %v; want %q", tc.format, b.String(), err, tc.want)
		}
	}
	// A record without a key prints an empty key in a template and null in JSON.
	nokey := &kgo.Record{Topic: "t", Value: []byte("v")}
	f, _ := newFormatter("[{{.key}}]", false)
	var b bytes.Buffer
	_ = f(&b, nokey)
	jf, _ := newFormatter("", true)
	_ = jf(&b, nokey)
	if !strings.HasPrefix(b.String(), "[]\n") || !strings.Contains(b.String(), `"key":null`) {
		t.Errorf("null key output = %q", b.String())
	}
	// Binary data survives JSON as base64.
	b.Reset()
	_ = jf(&b, &kgo.Record{Topic: "t", Key: []byte{0xff, 0x00}, Value: []byte("ok")})
	if !strings.Contains(b.String(), `"key":"/wA=","key_encoding":"base64","value":"ok","headers":[]`) {
		t.Errorf("binary key output = %q", b.String())
	}
}

func TestConsumeStartOffset(t *testing.T) {
	for _, tc := range []struct {
		o    consumeOptions
		want string
		err  bool
	}{
		{o: consumeOptions{}, want: kgo.NewOffset().AtEnd().String()},
		{o: consumeOptions{fromBeginning: true}, want: kgo.NewOffset().AtStart().String()},
		{o: consumeOptions{offset: "10"}, want: kgo.NewOffset().At(10).String()},
		{o: consumeOptions{offset: "earliest", group: "g"}, want: kgo.NewOffset().AtStart().String()},
		{o: consumeOptions{offset: "10", group: "g"}, err: true},
		{o: consumeOptions{offset: "10", fromBeginning: true}, err: true},
	} {
		got, err := tc.o.startOffset()
		if (err != nil) != tc.err || (err == nil && got.String() != tc.want) {
			t.Errorf("%+v: got %v, %v; want %v, err %v", tc.o, got, err, tc.want, tc.err)
		}
	}
}

func TestAlterOps(t *testing.T) {
	ops, sets, err := alterOps([]string{"retention.ms=1000", "cleanup.policy=compact"}, []string{"segment.bytes"})
	if err != nil || len(ops) != 3 || sets["retention.ms"] != "1000" || ops[2].Op != kadm.DeleteConfig || ops[0].Op != kadm.SetConfig {
		t.Errorf("alterOps = %+v, %v, %v", ops, sets, err)
	}
	for _, bad := range [][2][]string{
		{nil, nil},
		{{"a"}, nil},
		{{"a=1"}, {"a"}},
		{{"a=1", "a=2"}, nil},
		{nil, {"a=1"}},
	} {
		if _, _, err := alterOps(bad[0], bad[1]); err == nil || exitCode(err) != 2 {
			t.Errorf("alterOps(%q, %q) err = %v, want usage error", bad[0], bad[1], err)
		}
	}
}

func TestExitCodeAndTable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errors.New("boom"), 1},
		{usagef("bad"), 2},
		{fmt.Errorf("wrapped: %w", usagef("bad")), 2},
		{errors.New(`unknown command "x" for "gregor"`), 2},
		{errors.New("unknown flag: --x"), 2},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	tb := newTable("A", "LONGER")
	tb.add("xxxxx", "")
	tb.add(1, "tab\there")
	var b bytes.Buffer
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	want := "A      LONGER\nxxxxx  -\n1      tab\\there\n"
	if b.String() != want {
		t.Errorf("table = %q, want %q", b.String(), want)
	}
}
