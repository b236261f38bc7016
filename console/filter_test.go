package console

import (
	"errors"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	rec := func() *filterRecord {
		return &filterRecord{
			key:       []byte("order-17"),
			value:     []byte(`{"customer":{"name":"Ada","tier":"gold"},"total":42.5,"items":[{"sku":"A1"},{"sku":"B2"}],"paid":true,"note":null}`),
			headers:   []headerJSON{{Key: "trace-id", Value: "abc123"}, {Key: "source", Value: "web"}},
			partition: 2, offset: 1000, timestamp: 1700000000000,
		}
	}
	tests := []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"ada", true},           // plain text, case-insensitive, in the value
		{"ORDER-17", true},      // in the key
		{"abc123", true},        // in a header value
		{"nothing here", false}, // plain text with a space
		{`key == "order-17"`, true},
		{`key != "order-17"`, false},
		{`key contains "17"`, true},
		{`key matches "^order-[0-9]+$"`, true},
		{`value.customer.name == "Ada"`, true},
		{`value.customer.tier == 'silver'`, false},
		{`value.total > 40`, true},
		{`value.total >= 42.5 && value.total <= 42.5`, true},
		{`value.total < 10 || value.paid`, true},
		{`value.items.1.sku == "B2"`, true},
		{`value.items.5.sku == "B2"`, false},
		{`value.items.0.sku matches "^A"`, true},
		{`value.note == null`, true},
		{`value.missing == "x"`, false},
		{`value.missing != "x"`, true},
		{`!value.missing`, true},
		{`value.paid == true`, true},
		{`headers.trace-id == "abc123"`, true},
		{`headers."source" == "web"`, true},
		{`headers.nope`, false},
		{`partition == 2 && offset >= 1000 && timestamp > 1600000000000`, true},
		{`!(partition == 2)`, false},
		{`(key contains "x" || key contains "o") && !(value contains "silver")`, true},
		{`value contains "gold"`, true},
		{`offset == "1000"`, true}, // a string that is a number compares as one
		{`value.customer contains "Ada"`, true},
	}
	for _, tt := range tests {
		f, err := compileFilter(tt.filter)
		if err != nil {
			t.Errorf("%q: %v", tt.filter, err)
			continue
		}
		if got := f.match(rec()); got != tt.want {
			t.Errorf("%q = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestFilterNullKeyAndBadJSON(t *testing.T) {
	r := &filterRecord{keyNull: true, value: []byte("not json")}
	for filter, want := range map[string]bool{
		`key == null`:         true,
		`key`:                 false,
		`value.a == "x"`:      false,
		`value.a != "x"`:      true,
		`value == "not json"`: true,
	} {
		f, err := compileFilter(filter)
		if err != nil {
			t.Fatalf("%q: %v", filter, err)
		}
		if got := f.match(r); got != want {
			t.Errorf("%q = %v, want %v", filter, got, want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		filter string
		col    int
		msg    string
	}{
		{`key = "a"`, 5, "use '=='"},
		{`key == `, 7, "expected a field"},
		{`(key == "a"`, 12, "expected ')'"},
		{`key == "a`, 8, "string not closed"},
		{`foo == 1`, 1, "unknown field"},
		{`key matches "("`, 5, "bad regular expression"},
		{`key matches value`, 5, "string literal"},
		{`key == "a" & value`, 12, "'&&'"},
		{`headers == "a"`, 1, "headers.NAME"},
		{`partition.x == 1`, 1, "no sub-fields"},
		{`key == "a" "b"`, 12, "unexpected"},
		{`value. == 1`, 8, "after '.'"},
		{`key == 1.2.3`, 8, "bad number"},
		{`key == "é" && #`, 15, "unexpected character"},
	}
	for _, tt := range tests {
		_, err := compileFilter(tt.filter)
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("%q: got %v, want a FilterError", tt.filter, err)
			continue
		}
		if fe.Col != tt.col || !strings.Contains(fe.Msg, tt.msg) {
			t.Errorf("%q: column %d %q, want column %d containing %q", tt.filter, fe.Col, fe.Msg, tt.col, tt.msg)
		}
	}
}

func TestFilterDepth(t *testing.T) {
	deep := strings.Repeat("(", 500) + "key" + strings.Repeat(")", 500)
	if _, err := compileFilter(deep); err == nil || !strings.Contains(err.Error(), "too deeply") {
		t.Fatalf("deep nesting: %v", err)
	}
	notDeep := strings.Repeat("!", 500) + "key"
	if _, err := compileFilter(notDeep); err == nil {
		t.Fatal("deep negation parsed")
	}
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{`key == "a"`, `value.a.b > 3 && !(headers.x contains 'y')`, `key matches "^a"`, `(((`, `"`, "a b c", `value.items.0 == null || partition <= 1e3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := compileFilter(src)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Col < 1 {
				t.Fatalf("%q: error %v is not a FilterError with a column", src, err)
			}
			return
		}
		flt.match(&filterRecord{key: []byte("k"), value: []byte(`{"a":{"b":1},"items":[null]}`), headers: []headerJSON{{Key: "x", Value: "y"}}})
	})
}
