package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A fenced producer hears PRODUCER_FENCED from the version that KIP-588
// added it in, INVALID_PRODUCER_EPOCH before.
func TestFencedError(t *testing.T) {
	for _, tc := range []struct {
		version, since int16
		want           *kerr.Error
	}{
		{0, 2, kerr.InvalidProducerEpoch},
		{1, 2, kerr.InvalidProducerEpoch},
		{2, 2, kerr.ProducerFenced},
		{4, 2, kerr.ProducerFenced},
		{2, 3, kerr.InvalidProducerEpoch},
		{3, 3, kerr.ProducerFenced},
	} {
		if got := fencedError(&request{version: tc.version}, tc.since); got != tc.want {
			t.Errorf("v%d, since v%d: %v, want %v", tc.version, tc.since, got, tc.want)
		}
	}
}
