package runtime

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// assignSim drives a cooperativeAssignor through rebalances the way a
// group of workers would: each member reports what it runs, and applies
// what it is told (stops the revoked, starts the added).
type assignSim struct {
	as    *cooperativeAssignor
	gen   int32
	now   time.Time
	owned map[string]itemSet
	conf  map[string]int
}

func newAssignSim(maxDelay time.Duration, conf map[string]int) *assignSim {
	return &assignSim{as: newCooperativeAssignor(maxDelay), now: time.Unix(1000, 0), owned: map[string]itemSet{}, conf: conf}
}

// round is one rebalance with the given members (a member not seen
// before joins empty; one left out has left, and its work with it). It
// returns each member's assignment as "+added -revoked delay=...".
func (s *assignSim) round(members ...string) map[string]string {
	for id := range s.owned {
		if !slices.Contains(members, id) {
			delete(s.owned, id)
		}
	}
	var mw []memberWork
	for _, id := range members {
		if s.owned[id] == nil {
			s.owned[id] = itemSet{}
		}
		mw = append(mw, memberWork{ID: id, Owned: s.owned[id].workSet()})
	}
	s.gen++
	out := s.as.assign(s.now, s.gen, s.gen-1, mw, s.conf)
	got := map[string]string{}
	for _, id := range members {
		a := out[id]
		var parts []string
		for _, it := range itemsOf(a.Revoked).sorted() {
			delete(s.owned[id], it)
			parts = append(parts, "-"+itemName(it))
		}
		for _, it := range itemsOf(workSet{Connectors: a.Connectors, Tasks: a.Tasks}).sorted() {
			s.owned[id][it] = true
			parts = append(parts, "+"+itemName(it))
		}
		if a.Delay > 0 {
			parts = append(parts, fmt.Sprintf("delay=%d", a.Delay))
		}
		got[id] = strings.Join(parts, " ")
	}
	return got
}

func itemName(it workItem) string {
	if it.isConnector() {
		return it.Connector
	}
	return fmt.Sprintf("%s/%d", it.Connector, it.Task)
}

// runs lists what each member runs, as "a: x x/0 | b: ...".
func (s *assignSim) runs() string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(s.owned)) {
		var names []string
		for _, it := range s.owned[id].sorted() {
			names = append(names, itemName(it))
		}
		parts = append(parts, id+": "+strings.Join(names, " "))
	}
	return strings.Join(parts, " | ")
}

type assignStep struct {
	what    string
	advance time.Duration
	conf    map[string]int // replaces the configuration when set
	members []string
	want    map[string]string // member -> assignment; members left out get nothing
	runs    string            // what each member runs afterwards, when set
}

func TestCooperativeAssignor(t *testing.T) {
	const delay = 10 * time.Second
	twoByTwo := map[string]int{"sink": 2, "src": 2}
	balanced := "a: sink sink/0 src/0 | b: sink/1 src src/1"
	start := assignStep{what: "two workers start", members: []string{"a", "b"},
		want: map[string]string{"a": "+sink +sink/0 +src/0", "b": "+sink/1 +src +src/1"}, runs: balanced}
	for _, tc := range []struct {
		name     string
		maxDelay time.Duration
		conf     map[string]int
		steps    []assignStep
	}{{
		name: "a worker joins: the loaded one gives work up, nothing else stops", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{
			{what: "one worker runs everything", members: []string{"a"},
				want: map[string]string{"a": "+sink +sink/0 +sink/1 +src +src/0 +src/1"}},
			{what: "b joins: a gives up its share", members: []string{"a", "b"},
				want: map[string]string{"a": "-src -src/0 -src/1"}},
			{what: "a rejoins after the revocation: b gets it", members: []string{"a", "b"},
				want: map[string]string{"b": "+src +src/0 +src/1"}, runs: "a: sink sink/0 sink/1 | b: src src/0 src/1"},
			{what: "stable", members: []string{"a", "b"}},
		},
	}, {
		name: "a worker leaves and returns within the delay: its work waits for it", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "b leaves: nothing moves, a rejoins after the delay", members: []string{"a"},
				want: map[string]string{"a": "delay=10000"}},
			{what: "b returns empty: the remaining delay", advance: 4 * time.Second, members: []string{"a", "b"},
				want: map[string]string{"a": "delay=6000", "b": "delay=6000"}},
			{what: "the delay ends: b gets its work back", advance: 6 * time.Second, members: []string{"a", "b"},
				want: map[string]string{"b": "+sink/1 +src +src/1"}, runs: balanced},
			{what: "stable", members: []string{"a", "b"}},
		},
	}, {
		name: "a worker leaves for good: its work moves when the delay expires", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "b leaves", members: []string{"a"}, want: map[string]string{"a": "delay=10000"}},
			{what: "a rebalance within the delay keeps waiting", advance: 3 * time.Second, members: []string{"a"},
				want: map[string]string{"a": "delay=7000"}},
			{what: "the delay expires", advance: 7 * time.Second, members: []string{"a"},
				want: map[string]string{"a": "+sink/1 +src +src/1"}, runs: "a: sink sink/0 sink/1 src src/0 src/1"},
		},
	}, {
		name: "a worker leaves and a new one joins within the delay: the newcomer gets the lost work", maxDelay: delay,
		conf: map[string]int{"x": 3},
		steps: []assignStep{
			{what: "three workers start", members: []string{"a", "b", "c"},
				want: map[string]string{"a": "+x +x/0", "b": "+x/1", "c": "+x/2"}},
			{what: "c leaves", members: []string{"a", "b"}, want: map[string]string{"a": "delay=10000", "b": "delay=10000"}},
			{what: "d joins", advance: time.Second, members: []string{"a", "b", "d"},
				want: map[string]string{"a": "delay=9000", "b": "delay=9000", "d": "delay=9000"}},
			{what: "the delay ends", advance: 9 * time.Second, members: []string{"a", "b", "d"},
				want: map[string]string{"d": "+x/2"}, runs: "a: x x/0 | b: x/1 | d: x/2"},
		},
	}, {
		name: "no delay configured: lost work moves at once", maxDelay: 0, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "b leaves", members: []string{"a"}, want: map[string]string{"a": "+sink/1 +src +src/1"}},
		},
	}, {
		name: "new connectors go to the least loaded worker", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "x with three tasks", conf: map[string]int{"sink": 2, "src": 2, "x": 3}, members: []string{"a", "b"},
				want: map[string]string{"a": "+x +x/0 +x/2", "b": "+x/1"}},
		},
	}, {
		name: "task count changes: removed tasks are revoked, added ones assigned", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "src shrinks to one task", conf: map[string]int{"sink": 2, "src": 1}, members: []string{"a", "b"},
				want: map[string]string{"b": "-src/1"}},
			{what: "src grows to three", conf: map[string]int{"sink": 2, "src": 3}, members: []string{"a", "b"},
				want: map[string]string{"a": "+src/2", "b": "+src/1"}, runs: "a: sink sink/0 src/0 src/2 | b: sink/1 src src/1"},
		},
	}, {
		name: "a deleted connector is revoked from its owners", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "src deleted", conf: map[string]int{"sink": 2}, members: []string{"a", "b"},
				want: map[string]string{"a": "-src/0", "b": "-src -src/1"}},
		},
	}, {
		name: "deletion while a worker is away does not wait for it", maxDelay: delay, conf: twoByTwo,
		steps: []assignStep{start,
			{what: "b leaves", members: []string{"a"}, want: map[string]string{"a": "delay=10000"}},
			{what: "everything deleted: nothing is lost any more", conf: map[string]int{}, members: []string{"a"},
				want: map[string]string{"a": "-sink -sink/0 -src/0"}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAssignSim(tc.maxDelay, tc.conf)
			for _, st := range tc.steps {
				s.now = s.now.Add(st.advance)
				if st.conf != nil {
					s.conf = st.conf
				}
				got := s.round(st.members...)
				want := map[string]string{}
				for _, m := range st.members {
					want[m] = st.want[m]
				}
				if !maps.Equal(got, want) {
					t.Fatalf("%s: got %q, want %q (runs %s)", st.what, got, want, s.runs())
				}
				if st.runs != "" && s.runs() != st.runs {
					t.Fatalf("%s: runs %q, want %q", st.what, s.runs(), st.runs)
				}
			}
		})
	}
}

// TestCooperativeAssignorDuplicates: work two members report is revoked
// from both and assigned to one in the next round.
func TestCooperativeAssignorDuplicates(t *testing.T) {
	as := newCooperativeAssignor(time.Second)
	now := time.Unix(1000, 0)
	both := workSet{Tasks: []TaskID{{"src", 0}}}
	out := as.assign(now, 1, -1, []memberWork{{ID: "a", Owned: both}, {ID: "b", Owned: both}}, map[string]int{"src": 1})
	for _, m := range []string{"a", "b"} {
		if !slices.Equal(out[m].Revoked.Tasks, both.Tasks) {
			t.Fatalf("%s: %+v, want src/0 revoked", m, out[m])
		}
	}
	// The connector was nobody's: it is assigned at once.
	if out["a"].Connectors[0] != "src" {
		t.Fatalf("a: %+v", out["a"])
	}
	out = as.assign(now, 2, 1, []memberWork{{ID: "a", Owned: workSet{Connectors: []string{"src"}}}, {ID: "b"}}, map[string]int{"src": 1})
	if len(out["a"].Tasks)+len(out["b"].Tasks) != 1 || out["a"].Delay != 0 {
		t.Fatalf("after the revocation: a %+v, b %+v", out["a"], out["b"])
	}
}

// TestCooperativeAssignorNewLeader: a leader that did not compute the
// last assignment cannot know what was lost, and assigns everything that
// nobody runs at once.
func TestCooperativeAssignorNewLeader(t *testing.T) {
	as := newCooperativeAssignor(time.Minute)
	now := time.Unix(1000, 0)
	as.assign(now, 1, 0, []memberWork{{ID: "a"}, {ID: "b"}}, map[string]int{"src": 2})
	// Generation 5 is the last one this member completed, not 1.
	out := as.assign(now, 6, 5, []memberWork{{ID: "a", Owned: workSet{Tasks: []TaskID{{"src", 0}}}}}, map[string]int{"src": 2})
	if out["a"].Delay != 0 || len(out["a"].Connectors) != 1 || len(out["a"].Tasks) != 1 {
		t.Fatalf("new leader: %+v", out["a"])
	}
}

// TestCooperativeAssignorRevocationIgnored: a member that still reports
// work it was told to give up has it revoked again, and nothing is
// assigned twice.
func TestCooperativeAssignorRevocationIgnored(t *testing.T) {
	as := newCooperativeAssignor(time.Minute)
	now := time.Unix(1000, 0)
	conf := map[string]int{"x": 2}
	all := workSet{Connectors: []string{"x"}, Tasks: []TaskID{{"x", 0}, {"x", 1}}}
	as.assign(now, 1, 0, []memberWork{{ID: "a"}}, conf)
	out := as.assign(now, 2, 1, []memberWork{{ID: "a", Owned: all}, {ID: "b"}}, conf)
	if len(out["a"].Revoked.Tasks) != 1 {
		t.Fatalf("b joined: %+v", out["a"])
	}
	// a rejoins still running everything.
	out = as.assign(now, 3, 2, []memberWork{{ID: "a", Owned: all}, {ID: "b"}}, conf)
	if len(out["b"].Tasks) != 0 || len(out["a"].Revoked.Tasks) != 1 {
		t.Fatalf("after an ignored revocation: a %+v, b %+v", out["a"], out["b"])
	}
}
