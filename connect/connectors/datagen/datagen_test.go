package datagen

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/connect"
)

// startTask starts one task of a Datagen connector with props (the topic
// is added), resuming from offset when it is not nil.
func startTask(t *testing.T, props map[string]string, offset map[string]any) *Task {
	t.Helper()
	props = maps.Clone(props)
	props[TopicConfig] = "dg"
	c := &Connector{}
	if err := c.Start(props); err != nil {
		t.Fatalf("connector start: %v", err)
	}
	cfgs, err := c.TaskConfigs(1)
	if err != nil {
		t.Fatal(err)
	}
	task := c.NewTask().(*Task)
	task.Initialize(fakeContext{offset: offset})
	if err := task.Start(cfgs[0]); err != nil {
		t.Fatalf("task start: %v", err)
	}
	return task
}

type fakeContext struct{ offset map[string]any }

func (c fakeContext) Configs() map[string]string                    { return nil }
func (c fakeContext) OffsetReader() connect.OffsetReader            { return c }
func (c fakeContext) Offset(map[string]any) (map[string]any, error) { return c.offset, nil }

// poll returns the next n records, failing the test on an error.
func poll(t *testing.T, task *Task, n int) []*connect.SourceRecord {
	t.Helper()
	var out []*connect.SourceRecord
	for len(out) < n {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	return out
}

// allTypes is a schema.string with every type and logical type.
const allTypes = `{"type":"struct","name":"every","fields":[
 {"field":"i8","type":"int8"},{"field":"i16","type":"int16"},{"field":"i32","type":"int32"},
 {"field":"i64","type":"int64"},{"field":"f32","type":"float"},{"field":"f64","type":"double"},
 {"field":"b","type":"boolean"},{"field":"s","type":"string"},{"field":"raw","type":"bytes"},
 {"field":"opt","type":"string","optional":true},
 {"field":"arr","type":"array","items":{"type":"int32"}},
 {"field":"m","type":"map","keys":{"type":"string"},"values":{"type":"double"}},
 {"field":"nested","type":"struct","fields":[{"field":"x","type":"int64"}]},
 {"field":"dec","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},
 {"field":"date","type":"int32","name":"org.apache.kafka.connect.data.Date"},
 {"field":"time","type":"int32","name":"org.apache.kafka.connect.data.Time"},
 {"field":"ts","type":"int64","name":"org.apache.kafka.connect.data.Timestamp"}]}`

// TestGeneratedRecordsMatchTheirSchema: every quickstart and a schema with
// every type make values their schema accepts (the generators are
// trusted, not checked per record), and keys are the key field's value.
func TestGeneratedRecordsMatchTheirSchema(t *testing.T) {
	for _, tc := range []struct {
		name     string
		props    map[string]string
		keyField string
	}{
		{"users", map[string]string{QuickstartConfig: "users"}, "userid"},
		{"pageviews", map[string]string{QuickstartConfig: "pageviews"}, "viewtime"},
		{"orders", map[string]string{QuickstartConfig: "orders"}, "orderid"},
		{"every type", map[string]string{SchemaConfig: allTypes, KeyFieldConfig: "s"}, "s"},
		{"every type, no key", map[string]string{SchemaConfig: allTypes}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := maps.Clone(tc.props)
			props[SeedConfig] = "7"
			task := startTask(t, props, nil)
			for _, r := range poll(t, task, 3000) {
				st, ok := r.Value.(*connect.Struct)
				if !ok {
					t.Fatalf("value is %T", r.Value)
				}
				if err := connect.Validate(r.ValueSchema, st); err != nil {
					t.Fatalf("value %v does not match its schema: %v", st, err)
				}
				if tc.keyField == "" {
					if r.Key != nil || r.KeySchema != nil {
						t.Fatalf("key %v with no key field", r.Key)
					}
					continue
				}
				if want := st.Get(tc.keyField); r.Key != want {
					t.Fatalf("key %v, want field %s = %v", r.Key, tc.keyField, want)
				}
				if err := connect.Validate(r.KeySchema, r.Key); err != nil {
					t.Fatalf("key %v: %v", r.Key, err)
				}
			}
		})
	}
}

// TestSeedRepeatsAndCountResumes: one seed gives the same records; the
// last record of each poll carries the count, and a task started from a
// stored count goes on from there and stops at iterations.
func TestSeedRepeatsAndCountResumes(t *testing.T) {
	props := map[string]string{QuickstartConfig: "users", SeedConfig: "42", BatchConfig: "100", IterationsConfig: "250"}
	text := func(recs []*connect.SourceRecord) string {
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintln(&b, r.Value)
		}
		return b.String()
	}
	a, b := startTask(t, props, nil), startTask(t, props, nil)
	ra, rb := poll(t, a, 250), poll(t, b, 250)
	if len(ra) != 250 || text(ra) != text(rb) {
		t.Fatalf("same seed, different records (%d)", len(ra))
	}
	if off := ra[99].SourceOffset[IterationField]; off != int64(100) {
		t.Fatalf("offset after the first poll = %v, want 100", off)
	}
	if ra[98].SourceOffset != nil {
		t.Fatalf("only a poll's last record carries the offset")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if recs, err := a.Poll(ctx); len(recs) != 0 || err != nil {
		t.Fatalf("after iterations: %d records, %v", len(recs), err)
	}
	resumed := startTask(t, props, map[string]any{IterationField: int64(200)})
	if recs := poll(t, resumed, 50); len(recs) != 50 || recs[49].SourceOffset[IterationField] != int64(250) {
		t.Fatalf("resumed at 200: %d records, last offset %v", len(recs), recs[len(recs)-1].SourceOffset)
	}
}

// TestReleasedBatchesAreReused: a released batch's memory is filled by a
// later poll; a batch not released is never reused, and releasing an
// unknown slice is ignored.
func TestReleasedBatchesAreReused(t *testing.T) {
	task := startTask(t, map[string]string{QuickstartConfig: "pageviews", BatchConfig: "10"}, nil)
	first := poll(t, task, 10)
	held := poll(t, task, 10)
	task.Release(first)
	task.Release([]*connect.SourceRecord{{Topic: "stranger"}})
	task.Release(nil)
	again := poll(t, task, 10)
	if again[0] != first[0] {
		t.Fatalf("the released batch was not reused")
	}
	if again[0] == held[0] {
		t.Fatalf("a batch still held by the worker was reused")
	}
	if again[0].Value.(*connect.Struct).Get("viewtime") != int64(211) {
		t.Fatalf("reused record holds %v, want the 21st record", again[0].Value)
	}
	if again[0].SourceOffset != nil || again[9].SourceOffset[IterationField] != int64(30) {
		t.Fatalf("offsets of the refilled batch: %v, %v", again[0].SourceOffset, again[9].SourceOffset)
	}
	fresh := poll(t, task, 10)
	if fresh[0] == first[0] || fresh[0] == held[0] {
		t.Fatalf("a batch was handed out twice")
	}
}

// TestBadConfigs: configurations a task cannot run with are refused with
// a message naming the problem.
func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{}, "set quickstart or schema.string"},
		{map[string]string{QuickstartConfig: "nope"}, `unknown quickstart "nope"`},
		{map[string]string{SchemaConfig: `{"type":"int32"}`}, "must be a struct schema"},
		{map[string]string{SchemaConfig: `{not json`}, "schema.string"},
		{map[string]string{QuickstartConfig: "users", KeyFieldConfig: "missing"}, `no field "missing"`},
	} {
		props := maps.Clone(tc.props)
		props[TopicConfig] = "dg"
		_, err := newGenerator(props)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q", tc.props, err, tc.want)
		}
	}
}
