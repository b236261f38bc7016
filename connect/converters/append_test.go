package converters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gregorhq/gregor/connect"
)

// TestAppendFromConnectData: the appending form of each converter gives
// the bytes (and the nulls) FromConnectData gives, after any prefix.
func TestAppendFromConnectData(t *testing.T) {
	st := connect.NewStructBuilder().Name("pv").Field("viewtime", connect.Int64Schema).Field("userid", connect.StringSchema).Build()
	sv := connect.NewStruct(st)
	if err := sv.Put("viewtime", int64(42)); err != nil {
		t.Fatal(err)
	}
	if err := sv.Put("userid", "User_1"); err != nil {
		t.Fatal(err)
	}
	type input struct {
		s *connect.Schema
		v any
	}
	inputs := []input{{nil, nil}, {connect.OptionalStringSchema, nil}, {connect.StringSchema, ""}, {connect.StringSchema, "hé"},
		{connect.Int64Schema, int64(-7)}, {connect.Int32Schema, int32(3)}, {nil, true}, {nil, []byte("raw")}, {nil, []byte{}},
		{nil, map[string]any{"a": int64(1)}}, {st, sv}, {nil, 1.5}}
	jsonOn, jsonOff := &JSON{}, &JSON{}
	if err := jsonOn.Configure(map[string]string{"schemas.enable": "true"}, false); err != nil {
		t.Fatal(err)
	}
	if err := jsonOff.Configure(map[string]string{"schemas.enable": "false"}, false); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]interface {
		connect.Converter
		connect.AppendingConverter
	}{"json+schemas": jsonOn, "json": jsonOff, "string": String{}} {
		for _, in := range inputs {
			want, werr := c.FromConnectData("t", in.s, in.v)
			prefix := []byte("prefix")
			got, null, gerr := c.AppendFromConnectData(prefix, "t", in.s, in.v)
			if (werr != nil) != (gerr != nil) {
				t.Errorf("%s %v: errors %v / %v", name, in.v, werr, gerr)
				continue
			}
			if werr != nil {
				continue
			}
			if null != (want == nil) {
				t.Errorf("%s %v: null %v, FromConnectData gave %q", name, in.v, null, want)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
				t.Errorf("%s %v: appended %q, want prefix+%q", name, in.v, got, want)
			}
		}
	}
}

// FuzzAppendString: every string becomes one valid JSON string that
// decodes back to it (invalid UTF-8 to U+FFFD, one per bad byte).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr", "\x00\x1f\x7f", "unicode ☃ é", "bad \xff\xfe utf8", "ends with bad \xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString([]byte("prefix"), s)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("prefix lost: %q", out)
		}
		var got string
		if err := json.Unmarshal(out[len("prefix"):], &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %q: %v", s, out, err)
		}
		want := strings.Map(func(r rune) rune { return r }, s) // invalid bytes become U+FFFD, one each
		if got != want {
			t.Fatalf("%q round-trips to %q, want %q", s, got, want)
		}
	})
}

// TestStructFieldNameCache: a top-level struct written with the cached
// field names is byte for byte what the generic writer gives, as schemas
// alternate (each change refills the cache) and from several goroutines.
func TestStructFieldNameCache(t *testing.T) {
	a := connect.NewStructBuilder().Name("a").Field("viewtime", connect.Int64Schema).Field(`quo"te`, connect.OptionalStringSchema).Build()
	b := connect.NewStructBuilder().Name("b").Field("x", connect.Float64Schema).
		Field("nested", connect.NewStructBuilder().Field("y", connect.BooleanSchema).Build()).Build()
	nested := connect.NewStruct(b.Fields[1].Schema).MustPut("y", true)
	values := []*connect.Struct{
		connect.NewStruct(a).MustPut("viewtime", int64(7)).MustPut(`quo"te`, "v\n"),
		connect.NewStruct(b).MustPut("x", 1.5).MustPut("nested", nested),
		connect.NewStruct(a).MustPut("viewtime", int64(-1)),
	}
	for _, schemas := range []bool{false, true} {
		c := NewJSON()
		if err := c.Configure(map[string]string{SchemasEnableConfig: fmt.Sprint(schemas)}, false); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					v := values[i%len(values)]
					got, err := c.FromConnectData("t", v.Schema(), v)
					if err != nil {
						t.Error(err)
						return
					}
					want, err := appendValue(nil, v.Schema(), v, decimalBase64, true)
					if err != nil {
						t.Error(err)
						return
					}
					if !bytes.Contains(got, want) {
						t.Errorf("schemas=%v: %s does not hold %s", schemas, got, want)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
