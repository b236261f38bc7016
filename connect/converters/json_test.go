package converters

import (
	"bytes"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
)

func equalData(a, b any) bool {
	switch x := a.(type) {
	case connect.Decimal:
		y, ok := b.(connect.Decimal)
		return ok && x.Equal(y)
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *connect.Struct:
		y, ok := b.(*connect.Struct)
		if !ok || len(x.Schema().Fields) != len(y.Schema().Fields) {
			return false
		}
		for _, f := range x.Schema().Fields {
			if !equalData(x.Get(f.Name), y.Get(f.Name)) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalData(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !equalData(v, y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestJSONRoundTripEverySchemaType(t *testing.T) {
	inner := connect.NewStructBuilder().Name("inner").Field("x", connect.Int32Schema).Build()
	all := connect.NewStructBuilder().Name("all").Version(3).Doc("every type").
		Field("i8", connect.Int8Schema).Field("i16", connect.Int16Schema).
		Field("i32", connect.Int32Schema).Field("i64", connect.Int64Schema).
		Field("f32", connect.Float32Schema).Field("f64", connect.Float64Schema).
		Field("b", connect.BooleanSchema).Field("s", connect.StringSchema).
		Field("bytes", connect.BytesSchema).
		Field("opt", connect.OptionalStringSchema).
		Field("def", connect.NewSchemaBuilder(connect.TypeInt32).Default(int32(7)).Build()).
		Field("arr", connect.ArrayOf(connect.StringSchema).Build()).
		Field("m", connect.MapOf(connect.StringSchema, connect.Int64Schema).Build()).
		Field("nested", inner).Build()
	st := connect.NewStruct(all).
		MustPut("i8", int8(-8)).MustPut("i16", int16(1600)).MustPut("i32", int32(-32)).
		MustPut("i64", int64(1)<<60).MustPut("f32", float32(1.5)).MustPut("f64", 2.25).
		MustPut("b", true).MustPut("s", "héllo \"q\"\n").MustPut("bytes", []byte{0, 1, 255}).
		MustPut("arr", []any{"a", "b"}).MustPut("m", map[any]any{"k": int64(1)}).
		MustPut("nested", connect.NewStruct(inner).MustPut("x", int32(5)))
	date := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	tm := time.UnixMilli(12*3600*1000 + 34).UTC()
	ts := time.UnixMilli(1700000000123).UTC()
	neg, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	cases := []struct {
		name   string
		schema *connect.Schema
		value  any
	}{
		{"int8", connect.Int8Schema, int8(-128)},
		{"int16", connect.Int16Schema, int16(32767)},
		{"int32", connect.Int32Schema, int32(-2147483648)},
		{"int64", connect.Int64Schema, int64(9223372036854775807)},
		{"float32", connect.Float32Schema, float32(3.25)},
		{"float64", connect.Float64Schema, 1e-300},
		{"boolean", connect.BooleanSchema, false},
		{"string", connect.StringSchema, "unicode ☃ \u0001"},
		{"bytes", connect.BytesSchema, []byte("raw\x00bytes")},
		{"optional null", connect.OptionalInt32Schema, nil},
		{"default for null", connect.NewSchemaBuilder(connect.TypeString).Default("dflt").Build(), "dflt"},
		{"array", connect.ArrayOf(connect.Int32Schema).Build(), []any{int32(1), int32(2)}},
		{"array of optional", connect.ArrayOf(connect.OptionalStringSchema).Build(), []any{"a", nil}},
		{"map string keys", connect.MapOf(connect.StringSchema, connect.BooleanSchema).Build(), map[any]any{"a": true, "b": false}},
		{"map int keys", connect.MapOf(connect.Int32Schema, connect.StringSchema).Build(), map[any]any{int32(1): "one", int32(2): "two"}},
		{"optional struct null", connect.NewStructBuilder().Field("a", connect.Int8Schema).Optional().Build(), nil},
		{"struct", all, st},
		{"decimal", connect.DecimalSchema(2).Build(), connect.NewDecimal(12345, 2)},
		{"decimal negative big", connect.DecimalSchema(10).Build(), connect.Decimal{Unscaled: neg, Scale: 10}},
		{"decimal zero", connect.DecimalSchema(0).Build(), connect.NewDecimal(0, 0)},
		{"decimal -128", connect.DecimalSchema(1).Build(), connect.NewDecimal(-128, 1)},
		{"date", connect.DateSchema().Build(), date},
		{"time", connect.TimeSchema().Build(), tm},
		{"timestamp", connect.TimestampSchema().Build(), ts},
		{"optional timestamp", connect.TimestampSchema().Optional().Build(), nil},
	}
	for _, decimalFormat := range []string{"BASE64", "NUMERIC"} {
		for _, tc := range cases {
			t.Run(decimalFormat+"/"+tc.name, func(t *testing.T) {
				c := NewJSON()
				if err := c.Configure(map[string]string{"decimal.format": decimalFormat}, false); err != nil {
					t.Fatal(err)
				}
				in := tc.value
				if tc.name == "default for null" {
					in = nil
				}
				b, err := c.FromConnectData("t", tc.schema, in)
				if err != nil {
					t.Fatal(err)
				}
				s, v, err := c.ToConnectData("t", b)
				if err != nil {
					t.Fatalf("%s: %v", b, err)
				}
				if !equalData(tc.value, v) {
					t.Fatalf("round trip of %v via %s = %#v", tc.value, b, v)
				}
				if s.Type != tc.schema.Type || s.Name != tc.schema.Name || s.Optional != tc.schema.Optional {
					t.Fatalf("schema %s came back as %s", tc.schema, s)
				}
				// Encoding what we decoded gives the same bytes.
				b2, err := c.FromConnectData("t", s, v)
				if err != nil || !bytes.Equal(b, b2) {
					t.Fatalf("re-encoding: %s vs %s (%v)", b, b2, err)
				}
			})
		}
	}
}

func TestJSONWireFormat(t *testing.T) {
	c := NewJSON()
	b, err := c.FromConnectData("t", connect.NewStructBuilder().Name("n").Field("a", connect.OptionalInt32Schema).Build(),
		connect.NewStruct(connect.NewStructBuilder().Name("n").Field("a", connect.OptionalInt32Schema).Build()).MustPut("a", int32(1)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"field":"a"}],"optional":false,"name":"n"},"payload":{"a":1}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	// Kafka encodes Decimal 1.00 (scale 2) as base64 of 0x64.
	b, _ = c.FromConnectData("t", connect.DecimalSchema(2).Build(), connect.NewDecimal(100, 2))
	if !strings.Contains(string(b), `"payload":"ZA=="`) || !strings.Contains(string(b), `"parameters":{"scale":"2"}`) {
		t.Fatalf("decimal: %s", b)
	}
}

func TestJSONSchemaless(t *testing.T) {
	c := NewJSON()
	if err := c.Configure(map[string]string{"schemas.enable": "false"}, true); err != nil {
		t.Fatal(err)
	}
	s, v, err := c.ToConnectData("t", []byte(`{"a":1,"b":[1.5,"x",null,true],"c":{"d":2}}`))
	if err != nil || s != nil {
		t.Fatal(s, err)
	}
	want := map[string]any{"a": int64(1), "b": []any{1.5, "x", nil, true}, "c": map[string]any{"d": int64(2)}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	b, err := c.FromConnectData("t", nil, v)
	if err != nil || string(b) != `{"a":1,"b":[1.5,"x",null,true],"c":{"d":2}}` {
		t.Fatalf("%s %v", b, err)
	}
	if b, _ := c.FromConnectData("t", nil, nil); b != nil {
		t.Fatalf("null value = %q, want nil (tombstone)", b)
	}
}

func TestJSONErrors(t *testing.T) {
	c := NewJSON()
	for _, in := range []string{
		`{"payload":1}`, `{"schema":null,"payload":1,"extra":2}`, `[1]`, `not json`,
		`{"schema":{"type":"int8","optional":false},"payload":300}`,
		`{"schema":{"type":"int32","optional":false},"payload":null}`,
		`{"schema":{"type":"nope"},"payload":1}`,
		`{"schema":{"type":"array","optional":false},"payload":[]}`,
		`{"schema":{"type":"bytes","optional":false},"payload":"!!"}`,
		`{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"a"}],"optional":false},"payload":{}}`,
	} {
		if _, _, err := c.ToConnectData("t", []byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
	if _, err := c.FromConnectData("t", connect.Int32Schema, "str"); err == nil {
		t.Error("string for int32 accepted")
	}
	if _, err := c.FromConnectData("t", connect.Int32Schema, nil); err == nil {
		t.Error("null for required int32 accepted")
	}
	if err := c.Configure(map[string]string{"schemas.enable": "maybe"}, false); err == nil {
		t.Error("bad schemas.enable accepted")
	}
}

func TestSimpleConverters(t *testing.T) {
	cases := []struct {
		c connect.Converter
		v any
	}{
		{String{}, "hello"}, {ByteArray{}, []byte{1, 2}}, {NewNumber(connect.TypeInt16), int16(-2)},
		{NewNumber(connect.TypeInt32), int32(1 << 30)}, {NewNumber(connect.TypeInt64), int64(-1)},
		{NewNumber(connect.TypeFloat32), float32(0.5)}, {NewNumber(connect.TypeFloat64), 1e100},
	}
	for _, tc := range cases {
		b, err := tc.c.FromConnectData("t", nil, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		_, v, err := tc.c.ToConnectData("t", b)
		if err != nil || !reflect.DeepEqual(v, tc.v) {
			t.Fatalf("%T: %v -> %x -> %v (%v)", tc.c, tc.v, b, v, err)
		}
		if b, _ := tc.c.FromConnectData("t", nil, nil); b != nil {
			t.Fatalf("%T: null -> %x", tc.c, b)
		}
	}
	if b, _ := NewNumber(connect.TypeInt32).FromConnectData("t", nil, int32(1)); !bytes.Equal(b, []byte{0, 0, 0, 1}) {
		t.Fatalf("IntegerConverter is not big-endian: %x", b)
	}
	if _, _, err := NewNumber(connect.TypeInt64).ToConnectData("t", []byte{1}); err == nil {
		t.Fatal("short long accepted")
	}
	if _, err := NewNumber(connect.TypeInt16).FromConnectData("t", nil, int64(1<<20)); err == nil {
		t.Fatal("out of range short accepted")
	}
	if err := (String{}).Configure(map[string]string{"converter.encoding": "latin1"}, false); err == nil {
		t.Fatal("latin1 accepted")
	}
}

func FuzzJSONToConnectData(f *testing.F) {
	for _, s := range []string{
		`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"},{"type":"map","keys":{"type":"int8","optional":false},"values":{"type":"string","optional":true},"optional":false,"field":"m"}],"optional":false},"payload":{"a":1,"m":[[1,"x"]]}}`,
		`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},"payload":"ZA=="}`,
		`{"schema":{"type":"array","items":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp"},"optional":true,"default":[1]},"payload":null}`,
		`{"schema":null,"payload":{"a":[1,2.5,"x"]}}`, `{}`, `null`, `1`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, schemas bool) {
		c := NewJSON()
		if err := c.Configure(map[string]string{"schemas.enable": map[bool]string{true: "true", false: "false"}[schemas]}, false); err != nil {
			t.Fatal(err)
		}
		s, v, err := c.ToConnectData("t", data)
		if err != nil {
			return
		}
		// Whatever decodes must encode, and decode again to the same data.
		b, err := c.FromConnectData("t", s, v)
		if err != nil {
			t.Fatalf("decoded %q to %v but cannot encode it: %v", data, v, err)
		}
		_, v2, err := c.ToConnectData("t", b)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		if s != nil && !equalData(v, v2) {
			t.Fatalf("%q -> %v -> %q -> %v", data, v, b, v2)
		}
	})
}

func FuzzUnmarshalSchema(f *testing.F) {
	f.Add([]byte(`{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a","default":3}],"optional":false}`))
	f.Add([]byte(`{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"array","items":{"type":"float64","optional":true},"optional":false},"optional":false}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSchema(data)
		if err != nil {
			return
		}
		b, err := MarshalSchema(s)
		if err != nil {
			t.Fatalf("schema %s from %q does not marshal: %v", s, data, err)
		}
		if _, err := UnmarshalSchema(b); err != nil {
			t.Fatalf("marshalled schema %q does not parse: %v", b, err)
		}
	})
}

// TestFloatTypeNamesMatchKafka: the schema JSON names the floating-point
// types "float" and "double", as Kafka's JsonConverter writes and reads
// them; the "float32" and "float64" gregor once wrote still read.
func TestFloatTypeNamesMatchKafka(t *testing.T) {
	for _, tc := range []struct {
		schema *connect.Schema
		name   string
		legacy string
	}{
		{connect.Float32Schema, "float", "float32"},
		{connect.Float64Schema, "double", "float64"},
	} {
		b, err := MarshalSchema(tc.schema)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"type":"` + tc.name + `","optional":false}`; string(b) != want {
			t.Errorf("MarshalSchema(%s) = %s, want %s", tc.schema.Type, b, want)
		}
		for _, name := range []string{tc.name, tc.legacy} {
			s, err := UnmarshalSchema([]byte(`{"type":"` + name + `","optional":true}`))
			if err != nil || s.Type != tc.schema.Type || !s.Optional {
				t.Errorf("UnmarshalSchema(%q) = %v, %v; want optional %s", name, s, err, tc.schema.Type)
			}
		}
	}
	s, v, err := NewJSON().ToConnectData("t", []byte(`{"schema":{"type":"double","optional":false},"payload":1.5}`))
	if err != nil || s == nil || s.Type != connect.TypeFloat64 || v != 1.5 {
		t.Fatalf("Kafka's envelope with a double: %v %v %v", s, v, err)
	}
}
