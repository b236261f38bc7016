package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Limits of the message browser.
const (
	defaultLimit = 50
	maxLimit     = 500
	// maxScanned and maxScanTime bound one browse request's scan.
	maxScanned  = 10000
	maxScanTime = 5 * time.Second
	// fetchMaxBytes is the most one fetch of the browser asks for.
	fetchMaxBytes = 1 << 20
)

// headerJSON is a record header.
type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// messageJSON is a record as the browser shows it.
type messageJSON struct {
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"`
	Key         *string      `json:"key"`
	Value       *string      `json:"value"`
	Headers     []headerJSON `json:"headers"`
	KeyFormat   string       `json:"keyFormat"`
	ValueFormat string       `json:"valueFormat"`
}

// browseReq is a parsed browse request.
type browseReq struct {
	topic     string
	partition int32 // -1: all
	seek      string
	offset    int64
	timestamp int64
	limit     int
	filter    *filter
	format    string
}

func parseBrowse(r *http.Request) (browseReq, error) {
	q := r.URL.Query()
	br := browseReq{topic: r.PathValue("name"), partition: -1, seek: q.Get("seek"), limit: defaultLimit, format: q.Get("format")}
	num := func(name string) (int64, error) {
		v, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil {
			return 0, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: fmt.Sprintf("%s %q: want an integer", name, q.Get(name)), Field: name}
		}
		return v, nil
	}
	if q.Get("partition") != "" {
		p, err := num("partition")
		if err != nil || p < 0 || p > 1<<31-1 {
			return br, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "partition: want a number >= 0", Field: "partition"}
		}
		br.partition = int32(p)
	}
	var err error
	switch br.seek {
	case "", "newest":
		br.seek = "newest"
	case "offset":
		if br.offset, err = num("offset"); err != nil {
			return br, err
		}
	case "timestamp":
		if br.timestamp, err = num("timestamp"); err != nil {
			return br, err
		}
	default:
		return br, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "seek: want newest, offset or timestamp", Field: "seek"}
	}
	if q.Get("limit") != "" {
		l, err := num("limit")
		if err != nil {
			return br, err
		}
		br.limit = int(min(max(l, 1), maxLimit))
	}
	switch br.format {
	case "":
		br.format = "auto"
	case "auto", "json", "text", "hex":
	default:
		return br, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "format: want auto, json, text or hex", Field: "format"}
	}
	if br.filter, err = compileFilter(q.Get("filter")); err != nil {
		return br, &apiError{Status: http.StatusBadRequest, Code: "INVALID_FILTER", Message: err.Error(), Field: "filter"}
	}
	return br, nil
}

// scan is the state of one browse request: its budget and what it found.
type scan struct {
	s        *session
	br       browseReq
	topicID  [16]byte
	scanned  int
	deadline time.Time
	decomp   kgo.Decompressor
}

// exhausted says whether the scan has used up its budget.
func (sc *scan) exhausted() bool {
	return sc.scanned >= maxScanned || time.Now().After(sc.deadline)
}

// browse answers GET /api/topics/{name}/messages.
func (c *Console) browse(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	br, err := parseBrowse(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	td, err := s.adm.ListTopicsWithInternal(ctx, br.topic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	t, ok := td[br.topic]
	if !ok {
		return nil, notFound("no topic " + br.topic)
	}
	if t.Err != nil {
		return nil, t.Err
	}
	starts, err := s.adm.ListStartOffsets(ctx, br.topic)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, br.topic)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var after kadm.ListedOffsets
	if br.seek == "timestamp" {
		if after, err = s.adm.ListOffsetsAfterMilli(ctx, br.timestamp, br.topic); err != nil && !partial(err) {
			return nil, fmt.Errorf("list offsets after %d: %w", br.timestamp, err)
		}
	}
	sc := &scan{s: s, br: br, topicID: t.ID, deadline: time.Now().Add(maxScanTime), decomp: kgo.DefaultDecompressor()}
	var found []messageJSON
	for _, p := range t.Partitions.Sorted() {
		if br.partition >= 0 && p.Partition != br.partition {
			continue
		}
		st, ok1 := starts.Lookup(br.topic, p.Partition)
		en, ok2 := ends.Lookup(br.topic, p.Partition)
		if !ok1 || !ok2 || st.Err != nil || en.Err != nil {
			continue
		}
		var got []messageJSON
		switch br.seek {
		case "newest":
			got, err = sc.newest(ctx, p.Leader, p.Partition, st.Offset, en.Offset)
		case "offset":
			got, err = sc.forward(ctx, p.Leader, p.Partition, max(br.offset, st.Offset), en.Offset)
		case "timestamp":
			from := en.Offset
			if o, ok := after.Lookup(br.topic, p.Partition); ok && o.Err == nil && o.Offset >= 0 {
				from = max(o.Offset, st.Offset)
			}
			got, err = sc.forward(ctx, p.Leader, p.Partition, from, en.Offset)
		}
		if err != nil {
			return nil, err
		}
		found = append(found, got...)
		if sc.exhausted() {
			break
		}
	}
	if br.seek == "newest" {
		slices.SortFunc(found, func(a, b messageJSON) int {
			return cmp.Or(cmp.Compare(b.Timestamp, a.Timestamp), cmp.Compare(a.Partition, b.Partition), cmp.Compare(b.Offset, a.Offset))
		})
	} else {
		slices.SortFunc(found, func(a, b messageJSON) int {
			return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
		})
	}
	if len(found) > br.limit {
		found = found[:br.limit]
	}
	if found == nil {
		found = []messageJSON{}
	}
	return map[string]any{"messages": found, "scanned": sc.scanned}, nil
}

// forward collects up to limit matching records of partition p from
// offset from up to end.
func (sc *scan) forward(ctx context.Context, leader, p int32, from, end int64) ([]messageJSON, error) {
	var out []messageJSON
	err := sc.read(ctx, leader, p, from, end, func(m messageJSON) bool {
		out = append(out, m)
		return len(out) < sc.br.limit
	})
	return out, err
}

// newest collects the last limit matching records of partition p below
// end, reading windows backwards from the end.
func (sc *scan) newest(ctx context.Context, leader, p int32, start, end int64) ([]messageJSON, error) {
	var out []messageJSON // newest window first, each window in offset order
	hi := end
	window := int64(max(sc.br.limit, 200))
	for hi > start && len(out) < sc.br.limit && !sc.exhausted() {
		lo := max(start, hi-window)
		var got []messageJSON
		if err := sc.read(ctx, leader, p, lo, hi, func(m messageJSON) bool {
			got = append(got, m)
			return true
		}); err != nil {
			return nil, err
		}
		slices.Reverse(got)
		out = append(out, got...)
		hi = lo
		window *= 2
	}
	if len(out) > sc.br.limit {
		out = out[:sc.br.limit]
	}
	return out, nil
}

// read fetches partition p from offset lo up to hi from its leader and
// calls fn with each record that passes the filter until fn returns false
// or the scan's budget runs out.
func (sc *scan) read(ctx context.Context, leader, p int32, lo, hi int64, fn func(messageJSON) bool) error {
	off := lo
	for off < hi && !sc.exhausted() {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = fetchMaxBytes
		req.IsolationLevel = 1
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = sc.br.topic
		rt.TopicID = sc.topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = off
		rp.LogStartOffset = -1
		rp.CurrentLeaderEpoch = -1
		rp.PartitionMaxBytes = fetchMaxBytes
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := sc.s.cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			return fmt.Errorf("fetch %s[%d] at %d: %w", sc.br.topic, p, off, err)
		}
		fr := resp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
			return fmt.Errorf("fetch %s[%d]: %w", sc.br.topic, p, err)
		}
		var part *kmsg.FetchResponseTopicPartition
		for i := range fr.Topics {
			for j := range fr.Topics[i].Partitions {
				if fr.Topics[i].Partitions[j].Partition == p {
					part = &fr.Topics[i].Partitions[j]
				}
			}
		}
		if part == nil {
			return fmt.Errorf("fetch %s[%d]: the broker did not answer for the partition", sc.br.topic, p)
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: off, IsolationLevel: kgo.ReadCommitted(),
			Topic: sc.br.topic, Partition: p}, part, sc.decomp, nil)
		if fp.Err != nil {
			return fmt.Errorf("fetch %s[%d] at %d: %w", sc.br.topic, p, off, fp.Err)
		}
		for _, rec := range fp.Records {
			if rec.Offset >= hi {
				return nil
			}
			sc.scanned++
			if !sc.br.filter.match(toFilterRecord(rec)) {
				continue
			}
			if !fn(render(rec, sc.br.format)) {
				return nil
			}
		}
		if next <= off {
			return nil // nothing more below the high watermark
		}
		off = next
	}
	return nil
}

func toFilterRecord(r *kgo.Record) *filterRecord {
	fr := &filterRecord{key: r.Key, keyNull: r.Key == nil, value: r.Value, partition: r.Partition, offset: r.Offset, timestamp: r.Timestamp.UnixMilli()}
	for _, h := range r.Headers {
		fr.headers = append(fr.headers, headerJSON{Key: h.Key, Value: string(h.Value)})
	}
	return fr
}

// render turns a record into its JSON form.
func render(r *kgo.Record, format string) messageJSON {
	m := messageJSON{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Headers: []headerJSON{}}
	m.Key, m.KeyFormat = renderBytes(r.Key, format)
	m.Value, m.ValueFormat = renderBytes(r.Value, format)
	for _, h := range r.Headers {
		v, _ := renderBytes(h.Value, "text")
		hj := headerJSON{Key: h.Key}
		if v != nil {
			hj.Value = *v
		}
		m.Headers = append(m.Headers, hj)
	}
	return m
}

// renderBytes renders b as format asks: "json" (pretty, when b is a JSON
// object or array; auto and json), "text" (valid UTF-8 without control
// characters other than whitespace) or "hex"; nil is null.
func renderBytes(b []byte, format string) (*string, string) {
	if b == nil {
		return nil, "null"
	}
	if format == "auto" || format == "json" {
		if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '{' || t[0] == '[' || format == "json") && json.Valid(t) {
			var buf bytes.Buffer
			if json.Indent(&buf, t, "", "  ") == nil {
				s := buf.String()
				return &s, "json"
			}
		}
	}
	if format != "hex" && isText(b) {
		s := string(b)
		return &s, "text"
	}
	s := hex.EncodeToString(b)
	return &s, "hex"
}

// isText says whether b is UTF-8 text without control characters other
// than whitespace.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// produce answers POST /api/topics/{name}/messages.
func (c *Console) produce(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	var in struct {
		Partition *int32       `json:"partition"`
		Key       *string      `json:"key"`
		Value     *string      `json:"value"`
		Headers   []headerJSON `json:"headers"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	rec := &kgo.Record{Topic: r.PathValue("name")}
	if in.Key != nil && *in.Key != "" {
		rec.Key = []byte(*in.Key)
	}
	if in.Value != nil {
		rec.Value = []byte(*in.Value)
	}
	for _, h := range in.Headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	cl := s.cl
	if in.Partition != nil {
		if *in.Partition < 0 {
			return nil, &apiError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "partition must be >= 0", Field: "partition"}
		}
		rec.Partition = *in.Partition
		pc, err := s.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.AllowAutoTopicCreation())
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		cl = pc
	}
	res := cl.ProduceSync(ctx, rec)
	if err := res.FirstErr(); err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	return map[string]any{"partition": rec.Partition, "offset": rec.Offset}, nil
}
