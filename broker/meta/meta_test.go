package meta

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

func TestJournalReplayAndTornTail(t *testing.T) {
	dir := t.TempDir()
	j, recs, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("new journal has %d records", len(recs))
	}
	id := uuid.New()
	want := []Record{
		{Type: RecordCreateTopic, Topic: &Topic{Name: "a", ID: id, Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}}},
		{Type: RecordProducerIDBlock, NextProducerID: 1000},
		{Type: RecordAddPartitions, Topic: &Topic{Name: "a", Partitions: 5}},
	}
	for _, r := range want {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	// A torn write at the end must be dropped, not fail the open.
	f, _ := os.OpenFile(filepath.Join(dir, JournalFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`deadbeef {"type":"create-top`)
	f.Close()

	j, recs, err = OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if len(recs) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(recs), len(want))
	}
	st := NewState()
	for _, r := range recs {
		if err := st.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	tp, ok := st.Topic("a")
	if !ok || tp.Partitions != 5 || tp.ID != id || tp.Configs["retention.ms"] != "1000" {
		t.Fatalf("replayed topic = %+v", tp)
	}
	if st.NextProducerID() != 1000 {
		t.Fatalf("next producer ID = %d", st.NextProducerID())
	}
	// Appends after the truncated tail are readable.
	if err := j.Append(Record{Type: RecordDeleteTopic, Topic: &Topic{Name: "a", ID: id}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, recs, err = OpenJournal(dir)
	if err != nil || len(recs) != 4 {
		t.Fatalf("after append: %d records, err %v", len(recs), err)
	}
}

func TestStateApplyRejectsInconsistentRecords(t *testing.T) {
	st := NewState()
	id := uuid.New()
	cases := []struct {
		name string
		rec  Record
		ok   bool
	}{
		{"create", Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: id, Partitions: 1}}, true},
		{"create again", Record{Type: RecordCreateTopic, Topic: &Topic{Name: "t", ID: uuid.New(), Partitions: 1}}, false},
		{"shrink partitions", Record{Type: RecordAddPartitions, Topic: &Topic{Name: "t", Partitions: 1}}, false},
		{"alter unknown", Record{Type: RecordAlterConfigs, Topic: &Topic{Name: "nope"}}, false},
		{"delete", Record{Type: RecordDeleteTopic, Topic: &Topic{Name: "t", ID: id}}, true},
		{"delete again", Record{Type: RecordDeleteTopic, Topic: &Topic{Name: "t", ID: id}}, false},
		{"unknown type", Record{Type: "bogus"}, false},
	}
	for _, c := range cases {
		if err := st.Apply(c.rec); (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestValidateTopicConfig(t *testing.T) {
	s := func(v string) *string { return &v }
	cases := []struct {
		name, value string
		nilValue    bool
		ok          bool
	}{
		{"retention.ms", "1000", false, true},
		{"retention.ms", "-1", false, true},
		{"retention.ms", "-2", false, false},
		{"retention.ms", "abc", false, false},
		{"cleanup.policy", "compact,delete", false, true},
		{"cleanup.policy", "compact,shred", false, false},
		{"compression.type", "zstd", false, true},
		{"compression.type", "brotli", false, false},
		{"min.cleanable.dirty.ratio", "0.2", false, true},
		{"min.cleanable.dirty.ratio", "1.5", false, false},
		{"preallocate", "yes", false, false},
		{"message.timestamp.type", "LogAppendTime", false, true},
		{"max.message.bytes", "99999999999", false, false},
		{"no.such.config", "1", false, false},
		{"retention.ms", "", true, false},
	}
	for _, c := range cases {
		v := s(c.value)
		if c.nilValue {
			v = nil
		}
		err := ValidateTopicConfig(c.name, v)
		if (err == nil) != c.ok {
			t.Errorf("%s=%q: err = %v, want ok=%v", c.name, c.value, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: error does not wrap ErrInvalidConfig: %v", c.name, err)
		}
	}
}

func FuzzReadRecords(f *testing.F) {
	line, _ := EncodeRecord(Record{Type: RecordProducerIDBlock, NextProducerID: 5})
	f.Add(line)
	f.Add(append(line, line[:10]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, good, err := ReadRecords(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if good > int64(len(data)) {
			t.Fatalf("good prefix %d beyond %d bytes", good, len(data))
		}
		// The good prefix alone decodes to the same records.
		again, good2, _ := ReadRecords(bytes.NewReader(data[:good]))
		if good2 != good || len(again) != len(recs) {
			t.Fatalf("prefix re-read: %d records/%d bytes, want %d/%d", len(again), good2, len(recs), good)
		}
	})
}
