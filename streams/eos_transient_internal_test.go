package streams

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTransientCommitErrors: which failed commits are retried for a while
// (transient) and for how long (recoverTransient).
func TestTransientCommitErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"leader gone from the client's metadata", fmt.Errorf("streams: produce to out-0: %w", errors.New("unknown broker")), true},
		{"retriable broker code", fmt.Errorf("produce: %w", kerr.NotLeaderForPartition), true},
		{"not enough replicas", kerr.NotEnoughReplicas, true},
		{"record too large", fmt.Errorf("produce: %w", kerr.MessageTooLarge), false},
		{"invalid record", kerr.InvalidRecord, false},
		{"joined: first code decides", errors.Join(kerr.MessageTooLarge, errors.New("unknown broker")), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}

	c := &committer{}
	unknown := errors.New("unknown broker")
	for i := 0; i < 2; i++ {
		if !c.recoverTransient(unknown) {
			t.Fatalf("transient failure %d within the budget is not retried", i+1)
		}
	}
	c.transientSince = time.Now().Add(-transientTimeout - time.Second)
	if c.recoverTransient(unknown) {
		t.Fatal("transient failures for longer than transientTimeout are still retried")
	}
	if c.recoverTransient(kerr.MessageTooLarge) {
		t.Fatal("a non-retriable broker error is retried")
	}
}
