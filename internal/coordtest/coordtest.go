package coordtest

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ErrOneBroker is Split's error when every candidate group and
// transactional ID is coordinated by the same broker.
var ErrOneBroker = errors.New("every coordinator is on one broker")

// Pair is a consumer group and a transactional ID with the brokers that
// coordinate them.
type Pair struct {
	Group            string
	GroupCoordinator int32
	TxnID            string
	TxnCoordinator   int32
}

// String describes the pair for a test's log.
func (p Pair) String() string {
	return fmt.Sprintf("group %s on broker %d, transactional ID %s on broker %d",
		p.Group, p.GroupCoordinator, p.TxnID, p.TxnCoordinator)
}

// Candidates returns n group names (prefix-group-0, ...) and n
// transactional IDs (prefix-txn-0, ...).
func Candidates(prefix string, n int) (groups, ids []string) {
	for i := range n {
		groups = append(groups, fmt.Sprintf("%s-group-%d", prefix, i))
		ids = append(ids, fmt.Sprintf("%s-txn-%d", prefix, i))
	}
	return groups, ids
}

// Split asks adm once for the coordinators of the n Candidates named
// after prefix and returns the first group and transactional ID, in
// order, whose coordinators differ. The error is a failed lookup, or
// ErrOneBroker; either is worth asking again while the cluster settles.
func Split(ctx context.Context, adm *kadm.Client, prefix string, n int) (Pair, error) {
	groups, ids := Candidates(prefix, n)
	gc, tc := adm.FindGroupCoordinators(ctx, groups...), adm.FindTxnCoordinators(ctx, ids...)
	var errs []error
	for _, r := range append(gc.Sorted(), tc.Sorted()...) {
		errs = append(errs, r.Err)
	}
	if err := errors.Join(errs...); err != nil {
		return Pair{}, fmt.Errorf("find coordinators: %w", err)
	}
	return pick(groups, ids, gc, tc)
}

// pick returns the first group and ID, in order, whose coordinators in
// gc and tc differ.
func pick(groups, ids []string, gc, tc kadm.FindCoordinatorResponses) (Pair, error) {
	for _, g := range groups {
		for _, id := range ids {
			if gc[g].NodeID != tc[id].NodeID {
				return Pair{Group: g, GroupCoordinator: gc[g].NodeID, TxnID: id, TxnCoordinator: tc[id].NodeID}, nil
			}
		}
	}
	return Pair{}, ErrOneBroker
}
