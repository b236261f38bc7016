package log

import (
	"reflect"
	"testing"
)

// The cache used by the table tests: epoch 1 from 0, 3 from 10, 4 from 25,
// 7 from 40; log end 55.
var testEpochs = []epochEntry{{1, 0}, {3, 10}, {4, 25}, {7, 40}}

const testLEO = 55

// TestEndOffsetFor pins Kafka's LeaderEpochFileCache.endOffsetFor
// (KIP-101, KIP-279).
func TestEndOffsetFor(t *testing.T) {
	cases := []struct {
		name      string
		es        []epochEntry
		req       int32
		wantEpoch int32
		wantEnd   int64
	}{
		{"latest epoch: the log end", testEpochs, 7, 7, testLEO},
		{"known older epoch: start of the next", testEpochs, 3, 3, 25},
		{"first epoch", testEpochs, 1, 1, 10},
		{"unknown epoch between: largest below, start of next above", testEpochs, 5, 4, 40},
		{"unknown epoch between 1 and 3", testEpochs, 2, 1, 10},
		{"below every epoch: itself and the first start", testEpochs, 0, 0, 0},
		{"newer than the latest: undefined", testEpochs, 8, -1, -1},
		{"undefined epoch", testEpochs, -1, -1, -1},
		{"empty cache", nil, 3, -1, -1},
		{"single epoch", []epochEntry{{5, 100}}, 5, 5, testLEO},
		{"single epoch, older request", []epochEntry{{5, 100}}, 2, 2, 100},
	}
	for _, c := range cases {
		e, o := endOffsetFor(c.es, c.req, testLEO)
		if e != c.wantEpoch || o != c.wantEnd {
			t.Errorf("%s: endOffsetFor(%d) = (%d, %d), want (%d, %d)", c.name, c.req, e, o, c.wantEpoch, c.wantEnd)
		}
	}
}

func TestEpochForOffset(t *testing.T) {
	cases := []struct {
		offset int64
		want   int32
		ok     bool
	}{{0, 1, true}, {9, 1, true}, {10, 3, true}, {39, 4, true}, {40, 7, true}, {1000, 7, true}}
	for _, c := range cases {
		if e, ok := epochForOffset(testEpochs, c.offset); e != c.want || ok != c.ok {
			t.Errorf("epochForOffset(%d) = %d %v, want %d %v", c.offset, e, ok, c.want, c.ok)
		}
	}
	if _, ok := epochForOffset([]epochEntry{{2, 10}}, 5); ok {
		t.Error("offset before the first epoch has one")
	}
}

func TestTruncateEpochs(t *testing.T) {
	cases := []struct {
		offset int64
		want   []epochEntry
	}{
		{100, testEpochs},
		{41, testEpochs},
		{40, testEpochs[:3]},
		{26, testEpochs[:3]},
		{25, testEpochs[:2]},
		{1, testEpochs[:1]},
		{0, []epochEntry{}},
	}
	for _, c := range cases {
		got := truncateEpochs(testEpochs, c.offset)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("truncateEpochs(%d) = %v, want %v", c.offset, got, c.want)
		}
		// The result never shares spare capacity with the input.
		if cap(got) != len(got) {
			t.Errorf("truncateEpochs(%d): cap %d > len %d", c.offset, cap(got), len(got))
		}
	}
}

// TestDivergingEpoch pins the leader's check of a follower fetch (Kafka's
// validateFetchOffsetAndMaybeGetDivergingEpoch) against testEpochs.
func TestDivergingEpoch(t *testing.T) {
	cases := []struct {
		name        string
		fetchOffset int64
		lastEpoch   int32
		want        Divergence
	}{
		{"no last fetched epoch", 30, -1, Divergence{Epoch: -1, EndOffset: -1}},
		{"caught up in the latest epoch", testLEO, 7, Divergence{Epoch: -1, EndOffset: -1}},
		{"behind in the latest epoch", 45, 7, Divergence{Epoch: -1, EndOffset: -1}},
		{"in an older epoch, at its end", 25, 3, Divergence{Epoch: -1, EndOffset: -1}},
		{"in an older epoch, past its end", 28, 3, Divergence{Diverged: true, Epoch: 3, EndOffset: 25}},
		{"epoch the leader never had", 30, 5, Divergence{Diverged: true, Epoch: 4, EndOffset: 40}},
		{"epoch the leader never had, fetch below its end", 12, 2, Divergence{Diverged: true, Epoch: 1, EndOffset: 10}},
		{"epoch older than the leader's first, past it", 5, 0, Divergence{Diverged: true, Epoch: 0, EndOffset: 0}},
		{"epoch newer than the leader's", 30, 9, Divergence{Epoch: -1, EndOffset: -1, Unknown: true}},
	}
	for _, c := range cases {
		if got := divergingEpoch(testEpochs, testLEO, c.fetchOffset, c.lastEpoch); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := divergingEpoch(nil, 0, 0, 3); !got.Unknown {
		t.Errorf("leader without epochs: %+v", got)
	}
}

// TestTruncationOffset pins the follower's side (Kafka's
// getOffsetTruncationState) for a follower with testEpochs, log end 55 and
// high watermark 20.
func TestTruncationOffset(t *testing.T) {
	cases := []struct {
		name         string
		leaderEpoch  int32
		leaderEnd    int64
		want         int64
		wantComplete bool
	}{
		{"same epoch, leader ends earlier", 4, 30, 30, true},
		{"same epoch, follower ends earlier", 3, 30, 25, true},
		{"latest epoch, leader further", 7, 80, testLEO, true},
		{"epoch the follower never had: end of its largest below", 5, 33, 40, false},
		{"epoch the follower never had, below its first", 0, 0, 0, true},
		{"epoch the follower never had, between", 2, 12, 10, false},
		{"leader without epochs", -1, 17, 17, true},
		{"undefined end offset: high watermark", 3, -1, 20, true},
		{"never past the log end", 7, 1000, testLEO, true},
	}
	for _, c := range cases {
		got, complete := truncationOffset(testEpochs, testLEO, 20, c.leaderEpoch, c.leaderEnd)
		if got != c.want || complete != c.wantComplete {
			t.Errorf("%s: got (%d, %v), want (%d, %v)", c.name, got, complete, c.want, c.wantComplete)
		}
	}
	if got, ok := truncationOffset(nil, 50, 20, 4, 30); got != 30 || !ok {
		t.Errorf("follower without epochs: (%d, %v)", got, ok)
	}
}
