package runtime

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/gregorhq/gregor/connect"
)

func TestFileOffsetStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsets")
	s, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := OffsetKey("src", map[string]any{"filename": "/a"})
	k2, _ := OffsetKey("src", map[string]any{"filename": "/b"})
	ctx := context.Background()
	if err := s.Set(ctx, map[string][]byte{k1: []byte(`{"position":10}`), k2: []byte(`{"position":20}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, map[string][]byte{k2: nil}); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFileOffsetStore(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s2.Get(ctx, []string{k1, k2})
	if len(got) != 1 || string(got[k1]) != `{"position":10}` {
		t.Fatalf("reloaded %q", got)
	}
	off, err := DecodeOffset(got[k1])
	if err != nil || off["position"] != int64(10) {
		t.Fatalf("DecodeOffset = %v, %v", off, err)
	}
}

func TestDecodeOffsetFileRejects(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `{"version":2,"offsets":[]}`, `{"version":1,"offsets":[{"key":"x","value":{}}]}`,
		`{"version":1,"offsets":[{"key":[1,{}],"value":{}}]}`, `{"version":1,"offsets":[{"key":["a",{}],"value":3}]}`,
		`{"version":1,"offsets":[]} trailing`, `{"version":1,"offsets":[],"x":1}`,
	} {
		if _, err := DecodeOffsetFile([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzDecodeOffsetFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"offsets":[{"key":["src",{"filename":"/a"}],"value":{"position":10}}]}`))
	f.Add([]byte(`{"version":1,"offsets":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeOffsetFile(data)
		if err != nil {
			return
		}
		enc, err := EncodeOffsetFile(m)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode: %v", data, err)
		}
		m2, err := DecodeOffsetFile(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if len(m) != len(m2) {
			t.Fatalf("%d entries became %d", len(m), len(m2))
		}
		for k, v := range m {
			if !bytes.Equal(m2[k], v) {
				t.Fatalf("entry %s: %q became %q", k, v, m2[k])
			}
		}
	})
}

func TestParseProperties(t *testing.T) {
	p, err := ParseProperties("# comment\n! also\nbootstrap.servers = a:1,\\\n   b:2\nkey:value\nspaced value here\nesc\\ key=tab\\there\nuni=\\u00e9\n\nempty=\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bootstrap.servers": "a:1,b:2", "key": "value", "spaced": "value here", "esc key": "tab\there", "uni": "é", "empty": ""}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%q = %q, want %q", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("got %v", p)
	}
}

func TestWorkerConfig(t *testing.T) {
	wc, err := ParseWorkerConfig(map[string]string{"key.converter.schemas.enable": "false", "plugin.path": "/ignored", "offset.flush.interval.ms": "250"})
	if err != nil {
		t.Fatal(err)
	}
	if wc.KeyConverterProps["schemas.enable"] != "false" || wc.OffsetFlushInterval.Milliseconds() != 250 ||
		wc.Listeners[0] != DefaultListener || wc.KeyConverter != DefaultConverter {
		t.Fatalf("%+v", wc)
	}
	if _, err := ParseWorkerConfig(map[string]string{"offset.flush.interval.ms": "soon"}); err == nil {
		t.Fatal("bad interval accepted")
	}
}

func TestSchemaAndStruct(t *testing.T) {
	s := connect.NewStructBuilder().Name("p").Field("a", connect.Int32Schema).Field("b", connect.NewSchemaBuilder(connect.TypeString).Default("x").Build()).Build()
	st := connect.NewStruct(s)
	if err := st.Validate(); err == nil {
		t.Fatal("missing required field accepted")
	}
	if err := st.Put("a", "nope"); err == nil {
		t.Fatal("string accepted for int32")
	}
	st.MustPut("a", int32(1))
	if st.Get("b") != "x" || st.Validate() != nil || st.String() != "Struct{a=1}" {
		t.Fatalf("%v %v %s", st.Get("b"), st.Validate(), st)
	}
	if _, err := connect.NewSchemaBuilder(connect.TypeInt8).Default("x").BuildErr(); err == nil {
		t.Fatal("bad default accepted")
	}
	if _, err := connect.NewStructBuilder().Field("a", connect.Int8Schema).Field("a", connect.Int8Schema).BuildErr(); err == nil {
		t.Fatal("duplicate field accepted")
	}
	if d := connect.NewDecimal(-1234, 2).String(); d != "-12.34" {
		t.Fatalf("decimal = %s", d)
	}
}
