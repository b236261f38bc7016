package streams

import (
	"fmt"
	"strings"
	"testing"
)

// step is one input record of a join test: topic, key ("" with nullKey for a null key),
// value ("" with del for a tombstone) and timestamp.
type step struct {
	topic, key, value string
	ts                int64
	del, nullKey      bool
}

func put(topic, key, value string, ts int64) step {
	return step{topic: topic, key: key, value: value, ts: ts}
}
func tomb(topic, key string, ts int64) step { return step{topic: topic, key: key, del: true, ts: ts} }

// newTestHarness builds b and starts a harness over it.
func newTestHarness(t *testing.T, b *Builder) *Harness {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHarness(topo, HarnessConfig{WallClock: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func (s step) pipe(t *testing.T, h *Harness) {
	t.Helper()
	var kb, vb []byte
	if !s.nullKey {
		kb = []byte(s.key)
	}
	if !s.del {
		vb = []byte(s.value)
	}
	if err := h.Pipe(s.topic, kb, vb, s.ts, nil); err != nil {
		t.Fatalf("pipe %+v: %v", s, err)
	}
}

// show formats records written to topic as key=value@ts, <null> for null keys and
// values.
func show(recs []ProducedRecord) []string {
	var out []string
	for _, r := range recs {
		k, v := "<null>", "<null>"
		if r.Key != nil {
			k = string(r.Key)
		}
		if r.Value != nil {
			v = string(r.Value)
		}
		out = append(out, fmt.Sprintf("%s=%s@%d", k, v, r.Timestamp))
	}
	return out
}

// captureChanges records the Change records t emits as key=new/old@ts, "-" for an
// absent side.
func captureChanges(t Table[string, string]) *[]string {
	got := &[]string{}
	n := t.b.addNode(kindProcessor, "", "CAPTURE-", t.n)
	link([]*fanout[string, Change[string]]{t.out}, n, func(tc *task, _ forwarder[string, Change[string]]) (proc[string, Change[string]], error) {
		return funcProc[string, Change[string]](func(r Record[string, Change[string]]) error {
			nv, ov := "-", "-"
			if r.Value.HasNew {
				nv = r.Value.New
			}
			if r.Value.HasOld {
				ov = r.Value.Old
			}
			*got = append(*got, fmt.Sprintf("%s=%s/%s@%d", r.Key, nv, ov, r.Timestamp))
			return nil
		}), nil
	})
	return got
}

func orNull(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// runSteps pipes each step and compares what it caused with want[i] (records of out,
// or captured changes when changes is set), one entry per step, "|"-separated.
func runSteps(t *testing.T, h *Harness, steps []step, want []string, out string, changes *[]string) {
	t.Helper()
	if len(steps) != len(want) {
		t.Fatalf("%d steps, %d expectations", len(steps), len(want))
	}
	for i, s := range steps {
		s.pipe(t, h)
		var got []string
		if changes != nil {
			got, *changes = *changes, nil
		} else {
			got = show(h.Output(out))
		}
		if g := strings.Join(got, "|"); g != want[i] {
			t.Errorf("step %d %+v:\n got  %q\n want %q", i, s, g, want[i])
		}
	}
}

func (t *Topology) hasNode(name string) bool {
	for _, n := range t.nodes {
		if n.name == name {
			return true
		}
	}
	return false
}
