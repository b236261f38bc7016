package console_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/gregorhq/gregor/console"
)

type message struct {
	Partition   int32   `json:"partition"`
	Offset      int64   `json:"offset"`
	Timestamp   int64   `json:"timestamp"`
	Key         *string `json:"key"`
	Value       *string `json:"value"`
	KeyFormat   string  `json:"keyFormat"`
	ValueFormat string  `json:"valueFormat"`
	Headers     []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
}

type browsed struct {
	Messages []message `json:"messages"`
	Scanned  int       `json:"scanned"`
}

func TestProduceAndBrowse(t *testing.T) {
	e := newEnv(t, console.Config{})
	if st := e.do("POST", "/api/topics", map[string]any{"name": "events", "partitions": 2}, nil); st != 201 {
		t.Fatalf("create: %d", st)
	}
	// 20 records into each partition: JSON values, with a header on the even ones.
	for i := range 40 {
		p := int32(i % 2)
		body := map[string]any{"partition": p, "key": fmt.Sprintf("k%d", i),
			"value": fmt.Sprintf(`{"n":%d,"user":{"name":"u%d"}}`, i, i%5)}
		if i%2 == 0 {
			body["headers"] = []map[string]string{{"key": "kind", "value": "even"}}
		}
		var res struct {
			Partition int32 `json:"partition"`
			Offset    int64 `json:"offset"`
		}
		if st := e.do("POST", "/api/topics/events/messages", body, &res); st != 200 || res.Partition != p || res.Offset != int64(i/2) {
			t.Fatalf("produce %d: %d %+v", i, st, res)
		}
	}
	// A binary value and a text value without a partition.
	if st := e.do("POST", "/api/topics/events/messages", map[string]any{"key": "bin", "value": "\x01\x02"}, nil); st != 200 {
		t.Fatalf("produce binary: %d", st)
	}

	get := func(q url.Values) browsed {
		t.Helper()
		var b browsed
		if st := e.do("GET", "/api/topics/events/messages?"+q.Encode(), nil, &b); st != 200 {
			t.Fatalf("browse %v: %d", q, st)
		}
		return b
	}

	// newest: the last records of both partitions, newest first.
	b := get(url.Values{"seek": {"newest"}, "limit": {"5"}, "partition": {"1"}})
	if len(b.Messages) != 5 || b.Messages[0].Partition != 1 {
		t.Fatalf("newest: %+v", b)
	}
	if last := b.Messages[0]; last.Offset < 19 || last.ValueFormat != "json" && last.ValueFormat != "hex" {
		t.Fatalf("newest first: %+v", last)
	}
	for i := 1; i < len(b.Messages); i++ {
		if b.Messages[i].Offset >= b.Messages[i-1].Offset {
			t.Fatalf("not newest first: %+v", b.Messages)
		}
	}

	// offset: from offset 15 of partition 0 forward.
	b = get(url.Values{"seek": {"offset"}, "offset": {"15"}, "partition": {"0"}})
	if len(b.Messages) != 5 || b.Messages[0].Offset != 15 || *b.Messages[0].Key != "k30" {
		t.Fatalf("offset: %+v", b.Messages)
	}
	if b.Messages[0].ValueFormat != "json" || len(b.Messages[0].Headers) != 1 || b.Messages[0].Headers[0].Value != "even" {
		t.Fatalf("rendering: %+v", b.Messages[0])
	}

	// timestamp: from a time after every record: nothing.
	b = get(url.Values{"seek": {"timestamp"}, "timestamp": {"99999999999999"}})
	if len(b.Messages) != 0 {
		t.Fatalf("timestamp in the future: %+v", b.Messages)
	}
	// timestamp 0: from the start, every record (41) but limited to 50.
	b = get(url.Values{"seek": {"timestamp"}, "timestamp": {"0"}, "limit": {"50"}})
	if len(b.Messages) != 41 || b.Scanned != 41 {
		t.Fatalf("timestamp 0: %d messages, scanned %d", len(b.Messages), b.Scanned)
	}

	// Filters: plain text, expression with a JSON path, a header.
	b = get(url.Values{"filter": {"k33"}})
	if len(b.Messages) != 1 || *b.Messages[0].Key != "k33" {
		t.Fatalf("plain filter: %+v", b.Messages)
	}
	b = get(url.Values{"filter": {`value.user.name == "u3" && value.n > 10`}, "limit": {"100"}})
	// n in 11..39 with n%5 == 3: 13, 18, 23, 28, 33, 38.
	if len(b.Messages) != 6 {
		t.Fatalf("JSON path filter: %d messages", len(b.Messages))
	}
	b = get(url.Values{"filter": {`headers.kind == "even"`}, "limit": {"100"}})
	if len(b.Messages) != 20 {
		t.Fatalf("header filter: %d", len(b.Messages))
	}
	b = get(url.Values{"filter": {`key == "bin"`}})
	if len(b.Messages) != 1 || b.Messages[0].ValueFormat != "hex" || *b.Messages[0].Value != "0102" {
		t.Fatalf("binary: %+v", b.Messages)
	}
	b = get(url.Values{"filter": {`key == "k1"`}, "format": {"text"}})
	if len(b.Messages) != 1 || b.Messages[0].ValueFormat != "text" {
		t.Fatalf("format text: %+v", b.Messages)
	}

	var ae apiErr
	if st := e.do("GET", "/api/topics/events/messages?filter="+url.QueryEscape(`value.n >`), nil, &ae); st != 400 || ae.Code != "INVALID_FILTER" || ae.Field != "filter" {
		t.Fatalf("bad filter: %d %+v", st, ae)
	}
	if st := e.do("GET", "/api/topics/nope/messages", nil, &ae); st != 404 {
		t.Fatalf("unknown topic: %d %+v", st, ae)
	}
}
