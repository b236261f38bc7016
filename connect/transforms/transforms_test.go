package transforms

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
)

func newT(t *testing.T, class string, props map[string]string) connect.Transformation {
	t.Helper()
	tr, err := connect.DefaultRegistry.NewTransformation(class)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Configure(props); err != nil {
		t.Fatalf("configure %s: %v", class, err)
	}
	return tr
}

var (
	addrSchema = connect.NewStructBuilder().Name("addr").Field("city", connect.StringSchema).Field("zip", connect.OptionalInt32Schema).Build()
	userSchema = connect.NewStructBuilder().Name("user").
			Field("id", connect.Int64Schema).
			Field("name", connect.StringSchema).
			Field("age", connect.OptionalInt32Schema).
			Field("ts", connect.OptionalInt64Schema).
			Field("addr", addrSchema).Build()
	ts0 = time.Date(2024, 3, 5, 6, 7, 8, 9_000_000, time.UTC)
)

func user() *connect.Struct {
	a := connect.NewStruct(addrSchema).MustPut("city", "Oslo").MustPut("zip", int32(150))
	return connect.NewStruct(userSchema).MustPut("id", int64(7)).MustPut("name", "ada").MustPut("age", int32(36)).
		MustPut("ts", ts0.UnixMilli()).MustPut("addr", a)
}

func userMap() map[string]any {
	return map[string]any{"id": int64(7), "name": "ada", "age": int32(36), "ts": ts0.UnixMilli(),
		"addr": map[string]any{"city": "Oslo", "zip": int32(150)}}
}

func schemaRec() *connect.Record {
	p, o := int32(2), int64(42)
	return &connect.Record{Topic: "users", Partition: &p, Offset: &o, KeySchema: connect.StringSchema, Key: "k",
		ValueSchema: userSchema, Value: user(), Timestamp: ts0, Headers: []connect.Header{{Key: "h1", Value: []byte("v1")}}}
}

func mapRec() *connect.Record {
	r := schemaRec()
	r.KeySchema, r.ValueSchema, r.Value = nil, nil, userMap()
	return r
}

// flat renders a value for comparison: structs as maps of field values.
func flat(v any) any {
	switch x := v.(type) {
	case *connect.Struct:
		m := map[string]any{}
		for _, f := range x.Schema().Fields {
			m[f.Name] = flat(x.Get(f.Name))
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = flat(e)
		}
		return m
	}
	return v
}

func fieldNames(s *connect.Schema) string {
	var n []string
	for _, f := range s.Fields {
		n = append(n, f.Name+":"+string(f.Schema.Type))
	}
	return strings.Join(n, ",")
}

type tcase struct {
	name   string
	class  string
	props  map[string]string
	rec    func() *connect.Record
	check  func(t *testing.T, out *connect.Record)
	errHas string
}

func wantValue(want any) func(*testing.T, *connect.Record) {
	return func(t *testing.T, out *connect.Record) {
		t.Helper()
		if got := flat(out.Value); !reflect.DeepEqual(got, want) {
			t.Fatalf("value = %#v, want %#v", got, want)
		}
	}
}

func withUser(mod func(m map[string]any)) map[string]any {
	m := flat(user()).(map[string]any)
	mod(m)
	return m
}

func TestTransforms(t *testing.T) {
	cases := []tcase{
		{name: "InsertField schema", class: "InsertField$Value", props: map[string]string{"topic.field": "t", "partition.field": "p!", "offset.field": "o", "timestamp.field": "when", "static.field": "s", "static.value": "x"},
			rec: schemaRec, check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.ValueSchema); got != "id:int64,name:string,age:int32,ts:int64,addr:struct,t:string,p:int32,o:int64,when:int64,s:string" {
					t.Fatal(got)
				}
				if f, _ := out.ValueSchema.Field("p"); f.Schema.Optional {
					t.Fatal("p! should be required")
				}
				if f, _ := out.ValueSchema.Field("t"); !f.Schema.Optional {
					t.Fatal("t should be optional")
				}
				wantValue(withUser(func(m map[string]any) {
					m["t"], m["p"], m["o"], m["when"], m["s"] = "users", int32(2), int64(42), ts0, "x"
				}))(t, out)
			}},
		{name: "InsertField schemaless", class: "org.apache.kafka.connect.transforms.InsertField$Value", props: map[string]string{"topic.field": "t", "timestamp.field": "when"},
			rec: mapRec, check: wantValue(func() map[string]any {
				m := userMap()
				m["t"], m["when"] = "users", ts0.UnixMilli()
				return flat(m).(map[string]any)
			}())},
		{name: "InsertField tombstone", class: "InsertField$Value", props: map[string]string{"topic.field": "t"},
			rec: func() *connect.Record { r := mapRec(); r.Value = nil; return r }, check: wantValue(nil)},
		{name: "InsertField key not a struct", class: "InsertField$Key", props: map[string]string{"topic.field": "t"}, rec: schemaRec, errHas: "Only Struct objects supported"},
		{name: "ReplaceField schema", class: "ReplaceField$Value", props: map[string]string{"exclude": "age", "renames": "name:fullName,id:uid"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.ValueSchema); got != "uid:int64,fullName:string,ts:int64,addr:struct" {
					t.Fatal(got)
				}
			}},
		{name: "ReplaceField schemaless include", class: "ReplaceField$Value", props: map[string]string{"include": "id,name", "renames": "name:n"}, rec: mapRec,
			check: wantValue(map[string]any{"id": int64(7), "n": "ada"})},
		{name: "MaskField schema", class: "MaskField$Value", props: map[string]string{"fields": "name,age"}, rec: schemaRec,
			check: wantValue(withUser(func(m map[string]any) { m["name"], m["age"] = "", int32(0) }))},
		{name: "MaskField schemaless replacement", class: "MaskField$Value", props: map[string]string{"fields": "age,name", "replacement": "99"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				m := out.Value.(map[string]any)
				if m["age"] != int32(99) || m["name"] != "99" {
					t.Fatal(m)
				}
			}},
		{name: "ValueToKey schema", class: "ValueToKey", props: map[string]string{"fields": "id,name"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.KeySchema); got != "id:int64,name:string" {
					t.Fatal(got)
				}
				if !reflect.DeepEqual(flat(out.Key), map[string]any{"id": int64(7), "name": "ada"}) {
					t.Fatal(out.Key)
				}
			}},
		{name: "ValueToKey schemaless", class: "ValueToKey", props: map[string]string{"fields": "id"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if !reflect.DeepEqual(out.Key, map[string]any{"id": int64(7)}) {
					t.Fatal(out.Key)
				}
			}},
		{name: "ValueToKey missing field", class: "ValueToKey", props: map[string]string{"fields": "nope"}, rec: schemaRec, errHas: "Field does not exist"},
		{name: "ExtractField schema", class: "ExtractField$Value", props: map[string]string{"field": "addr"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if out.ValueSchema != addrSchema {
					t.Fatal(out.ValueSchema)
				}
				wantValue(map[string]any{"city": "Oslo", "zip": int32(150)})(t, out)
			}},
		{name: "ExtractField schemaless", class: "ExtractField$Value", props: map[string]string{"field": "name"}, rec: mapRec, check: wantValue("ada")},
		{name: "ExtractField key schemaless", class: "ExtractField$Key", props: map[string]string{"field": "id"},
			rec: func() *connect.Record { r := mapRec(); r.Key = map[string]any{"id": "k1"}; return r },
			check: func(t *testing.T, out *connect.Record) {
				if out.Key != "k1" {
					t.Fatal(out.Key)
				}
			}},
		{name: "HoistField schema", class: "HoistField$Key", props: map[string]string{"field": "k"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if fieldNames(out.KeySchema) != "k:string" || !reflect.DeepEqual(flat(out.Key), map[string]any{"k": "k"}) {
					t.Fatal(out.Key)
				}
			}},
		{name: "HoistField schemaless", class: "HoistField$Value", props: map[string]string{"field": "line"},
			rec: func() *connect.Record { r := mapRec(); r.Value = "hello"; return r }, check: wantValue(map[string]any{"line": "hello"})},
		{name: "Cast schema fields", class: "Cast$Value", props: map[string]string{"spec": "id:string,age:float64,name:string"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.ValueSchema); got != "id:string,name:string,age:float64,ts:int64,addr:struct" {
					t.Fatal(got)
				}
				wantValue(withUser(func(m map[string]any) { m["id"], m["age"] = "7", float64(36) }))(t, out)
			}},
		{name: "Cast schemaless", class: "Cast$Value", props: map[string]string{"spec": "name:boolean,age:int8"},
			rec: func() *connect.Record {
				r := mapRec()
				r.Value = map[string]any{"name": "true", "age": int64(300)}
				return r
			},
			check: wantValue(map[string]any{"name": true, "age": int8(44)})},
		{name: "Cast whole key", class: "Cast$Key", props: map[string]string{"spec": "int32"},
			rec: func() *connect.Record { r := schemaRec(); r.Key = "12"; return r },
			check: func(t *testing.T, out *connect.Record) {
				if out.Key != int32(12) || out.KeySchema.Type != connect.TypeInt32 {
					t.Fatal(out.Key, out.KeySchema)
				}
			}},
		{name: "Cast bad string", class: "Cast$Value", props: map[string]string{"spec": "name:int32"}, rec: schemaRec, errHas: "Cannot cast"},
		{name: "Flatten schema", class: "Flatten$Value", props: map[string]string{"delimiter": "_"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.ValueSchema); got != "id:int64,name:string,age:int32,ts:int64,addr_city:string,addr_zip:int32" {
					t.Fatal(got)
				}
				wantValue(map[string]any{"id": int64(7), "name": "ada", "age": int32(36), "ts": ts0.UnixMilli(), "addr_city": "Oslo", "addr_zip": int32(150)})(t, out)
			}},
		{name: "Flatten schemaless", class: "Flatten$Value", props: nil, rec: mapRec,
			check: wantValue(map[string]any{"id": int64(7), "name": "ada", "age": int32(36), "ts": ts0.UnixMilli(), "addr.city": "Oslo", "addr.zip": int32(150)})},
		{name: "TimestampConverter field to Timestamp", class: "TimestampConverter$Value", props: map[string]string{"field": "ts", "target.type": "Timestamp"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				f, _ := out.ValueSchema.Field("ts")
				if f.Schema.Name != connect.TimestampName || !f.Schema.Optional {
					t.Fatal(f.Schema)
				}
				if got := out.Value.(*connect.Struct).Get("ts"); !got.(time.Time).Equal(ts0) {
					t.Fatal(got)
				}
			}},
		{name: "TimestampConverter schemaless to string", class: "TimestampConverter$Value", props: map[string]string{"field": "ts", "target.type": "string", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := out.Value.(map[string]any)["ts"]; got != "2024-03-05T06:07:08.009" {
					t.Fatal(got)
				}
			}},
		{name: "TimestampConverter string to unix seconds", class: "TimestampConverter$Value", props: map[string]string{"target.type": "unix", "format": "yyyyMMdd HHmmss", "unix.precision": "seconds"},
			rec:   func() *connect.Record { r := mapRec(); r.Value = "20240305 060708"; return r },
			check: wantValue(time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC).Unix())},
		{name: "TimestampConverter Date", class: "TimestampConverter$Value", props: map[string]string{"target.type": "Date"},
			rec: func() *connect.Record {
				r := schemaRec()
				r.ValueSchema, r.Value = connect.Int64Schema, ts0.UnixMilli()
				return r
			},
			check: func(t *testing.T, out *connect.Record) {
				if out.ValueSchema.Name != connect.DateName || !out.Value.(time.Time).Equal(time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)) {
					t.Fatal(out.ValueSchema, out.Value)
				}
			}},
		{name: "RegexRouter", class: "RegexRouter", props: map[string]string{"regex": "(us)(.*)", "replacement": "$2-$1-x"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if out.Topic != "ers-us-x" {
					t.Fatal(out.Topic)
				}
			}},
		{name: "RegexRouter no full match", class: "RegexRouter", props: map[string]string{"regex": "user", "replacement": "x"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if out.Topic != "users" {
					t.Fatal(out.Topic)
				}
			}},
		{name: "TimestampRouter", class: "TimestampRouter", props: map[string]string{"topic.format": "${topic}_${timestamp}", "timestamp.format": "yyyy.MM.dd"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if out.Topic != "users_2024.03.05" {
					t.Fatal(out.Topic)
				}
			}},
		{name: "TimestampRouter default", class: "TimestampRouter", rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if out.Topic != "users-20240305" {
					t.Fatal(out.Topic)
				}
			}},
		{name: "Filter", class: "Filter", rec: schemaRec, check: func(t *testing.T, out *connect.Record) {
			if out != nil {
				t.Fatal("not dropped")
			}
		}},
		{name: "InsertHeader", class: "InsertHeader", props: map[string]string{"header": "src", "value.literal": "42"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if len(out.Headers) != 2 || out.Headers[1].Key != "src" || string(out.Headers[1].Value) != "42" {
					t.Fatal(out.Headers)
				}
			}},
		{name: "DropHeaders", class: "DropHeaders", props: map[string]string{"headers": "h1,h2"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if len(out.Headers) != 0 {
					t.Fatal(out.Headers)
				}
			}},
		{name: "HeaderFrom move schema", class: "HeaderFrom$Value", props: map[string]string{"fields": "id,name", "headers": "hid,hname", "operation": "move"}, rec: schemaRec,
			check: func(t *testing.T, out *connect.Record) {
				if got := fieldNames(out.ValueSchema); got != "age:int32,ts:int64,addr:struct" {
					t.Fatal(got)
				}
				if len(out.Headers) != 3 || string(out.Headers[1].Value) != "7" || string(out.Headers[2].Value) != "ada" {
					t.Fatal(out.Headers)
				}
			}},
		{name: "HeaderFrom copy schemaless", class: "HeaderFrom$Value", props: map[string]string{"fields": "addr", "headers": "a", "operation": "copy"}, rec: mapRec,
			check: func(t *testing.T, out *connect.Record) {
				if string(out.Headers[1].Value) != `{"city":"Oslo","zip":150}` || out.Value.(map[string]any)["addr"] == nil {
					t.Fatal(out.Headers)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newT(t, c.class, c.props)
			in := c.rec()
			before := flat(in.Value)
			out, err := tr.Apply(in)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err = %v, want %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out != nil && out.Value != nil {
				if _, ok := out.Value.(*connect.Struct); ok && out.ValueSchema != nil {
					if err := connect.Validate(out.ValueSchema, out.Value); err != nil {
						t.Fatalf("output does not match its schema: %v", err)
					}
				}
			}
			c.check(t, out)
			if !reflect.DeepEqual(flat(in.Value), before) {
				t.Fatal("input record was modified")
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	tomb := func() *connect.Record { r := mapRec(); r.Value = nil; return r }
	cases := []struct {
		class string
		props map[string]string
		rec   func() *connect.Record
		want  bool
	}{
		{"TopicNameMatches", map[string]string{"pattern": "us.*"}, schemaRec, true},
		{"org.apache.kafka.connect.transforms.predicates.TopicNameMatches", map[string]string{"pattern": "use"}, mapRec, false},
		{"HasHeaderKey", map[string]string{"name": "h1"}, schemaRec, true},
		{"HasHeaderKey", map[string]string{"name": "h2"}, mapRec, false},
		{"RecordIsTombstone", nil, tomb, true},
		{"RecordIsTombstone", nil, schemaRec, false},
		{"RecordIsTombstone", nil, mapRec, false},
	}
	for _, c := range cases {
		p, err := connect.DefaultRegistry.NewPredicate(c.class)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Configure(c.props); err != nil {
			t.Fatal(err)
		}
		if got := p.Test(c.rec()); got != c.want {
			t.Errorf("%s %v = %v, want %v", c.class, c.props, got, c.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		class  string
		props  map[string]string
		errHas string
	}{
		{"Cast$Value", map[string]string{"spec": "a:uuid"}, "Invalid type found in casting spec"},
		{"Cast$Value", map[string]string{}, "Missing required configuration \"spec\""},
		{"RegexRouter", map[string]string{"regex": "(", "replacement": "x"}, "regex"},
		{"TimestampConverter$Value", map[string]string{"target.type": "weird"}, "Unknown timestamp type"},
		{"TimestampConverter$Value", map[string]string{"target.type": "string"}, "requires format"},
		{"HeaderFrom$Key", map[string]string{"fields": "a,b", "headers": "x", "operation": "copy"}, "same number"},
		{"HeaderFrom$Key", map[string]string{"fields": "a", "headers": "x", "operation": "steal"}, "operation"},
		{"ReplaceField$Value", map[string]string{"renames": "a"}, "Invalid rename mapping"},
		{"MaskField$Value", map[string]string{}, "fields"},
	}
	for _, c := range cases {
		tr, err := connect.DefaultRegistry.NewTransformation(c.class)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Configure(c.props); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s %v: err = %v, want %q", c.class, c.props, err, c.errHas)
		}
	}
}

func TestJavaLayout(t *testing.T) {
	for in, want := range map[string]string{
		"yyyyMMdd":                     "20060102",
		"yyyy-MM-dd'T'HH:mm:ss.SSSXXX": "2006-01-02T15:04:05.000Z07:00",
		"dd/MM/yy hh:mm a":             "02/01/06 03:04 PM",
		"EEE, d MMM yyyy ''":           "Mon, 2 Jan 2006 '",
	} {
		got, err := javaLayout(in)
		if err != nil || got != want {
			t.Errorf("javaLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
