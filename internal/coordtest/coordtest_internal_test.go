package coordtest

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestCandidates(t *testing.T) {
	groups, ids := Candidates("etl", 3)
	if !slices.Equal(groups, []string{"etl-group-0", "etl-group-1", "etl-group-2"}) ||
		!slices.Equal(ids, []string{"etl-txn-0", "etl-txn-1", "etl-txn-2"}) {
		t.Fatalf("Candidates = %v, %v", groups, ids)
	}
}

func TestPick(t *testing.T) {
	groups, ids := Candidates("x", 2)
	on := func(names []string, nodes ...int32) kadm.FindCoordinatorResponses {
		out := kadm.FindCoordinatorResponses{}
		for i, n := range names {
			out[n] = kadm.FindCoordinatorResponse{Name: n, NodeID: nodes[i]}
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		gc, tc    kadm.FindCoordinatorResponses
		want      Pair
		oneBroker bool
	}{
		{"first pair differs", on(groups, 1, 2), on(ids, 2, 2),
			Pair{Group: "x-group-0", GroupCoordinator: 1, TxnID: "x-txn-0", TxnCoordinator: 2}, false},
		{"a later ID differs", on(groups, 1, 1), on(ids, 1, 3),
			Pair{Group: "x-group-0", GroupCoordinator: 1, TxnID: "x-txn-1", TxnCoordinator: 3}, false},
		{"a later group differs", on(groups, 2, 1), on(ids, 2, 2),
			Pair{Group: "x-group-1", GroupCoordinator: 1, TxnID: "x-txn-0", TxnCoordinator: 2}, false},
		{"one broker", on(groups, 3, 3), on(ids, 3, 3), Pair{}, true},
	} {
		got, err := pick(groups, ids, tc.gc, tc.tc)
		if tc.oneBroker {
			if !errors.Is(err, ErrOneBroker) {
				t.Errorf("%s: err = %v, want ErrOneBroker", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: pick = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}
