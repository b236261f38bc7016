package broker

import (
	"errors"
	"testing"
)

func TestParseListeners(t *testing.T) {
	cases := []struct {
		in   string
		want []Listener
		ok   bool
	}{
		{"127.0.0.1:9092", []Listener{{"PLAINTEXT", "127.0.0.1", 9092}}, true},
		{"PLAINTEXT://0.0.0.0:9092,external://[::1]:19092", []Listener{{"PLAINTEXT", "0.0.0.0", 9092}, {"EXTERNAL", "::1", 19092}}, true},
		{"localhost", nil, false},
		{"host:99999", nil, false},
		{"", nil, false},
	}
	for _, c := range cases {
		got, err := ParseListeners(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%q: err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadListener) {
			t.Errorf("%q: error does not wrap ErrBadListener: %v", c.in, err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: got %v, want %v", c.in, got, c.want)
			}
		}
	}
}

func TestParseProperties(t *testing.T) {
	text := "# comment\n! also a comment\nnode.id=3\nlisteners = PLAINTEXT://127.0.0.1:9093\nlog.dirs: /tmp/a,\\\n  /tmp/b\n\n"
	props, err := ParseProperties(text)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"node.id": "3", "listeners": "PLAINTEXT://127.0.0.1:9093", "log.dirs": "/tmp/a,/tmp/b"}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	if _, err := ParseProperties("no separator here"); err == nil {
		t.Error("a line without = or : should be an error")
	}
}

func TestApplyPropertiesAndBrokerDefaults(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.ApplyProperties(map[string]string{
		"node.id": "4", "log.dirs": "/data/one,/data/two", "num.partitions": "6",
		"auto.create.topics.enable": "false", "log.retention.hours": "24", "log.segment.bytes": "1048576",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 4 || cfg.DataDir != "/data/one" || cfg.NumPartitions != 6 || cfg.AutoCreateTopics {
		t.Fatalf("config = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	v, src, ok := cfg.brokerDefault([]string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"})
	if !ok || v != "86400000" || src != "log.retention.hours" {
		t.Fatalf("retention default = %q from %q (%v)", v, src, ok)
	}
	for _, bad := range []map[string]string{{"node.id": "x"}, {"num.partitions": "1.5"}, {"auto.create.topics.enable": "maybe"}, {"listeners": "nope"}} {
		c := DefaultConfig()
		if err := c.ApplyProperties(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%v: err = %v, want ErrBadConfig", bad, err)
		}
	}
	c := DefaultConfig()
	c.FlushPolicy = "sometimes"
	if err := c.Validate(); err == nil {
		t.Error("unknown flush policy should not validate")
	}
}

func TestValidateTopicName(t *testing.T) {
	for name, ok := range map[string]bool{
		"orders": true, "a.b_c-D9": true, "": false, ".": false, "..": false,
		"has space": false, "slash/es": false, string(make([]byte, 250)): false,
	} {
		if err := ValidateTopicName(name); (err == nil) != ok {
			t.Errorf("%q: err = %v, want ok=%v", name, err, ok)
		}
	}
}
