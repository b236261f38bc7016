// Package statetest is the conformance suite every state store backend passes, and an
// in-memory changelog (Changelog) for testing restoration without a broker.
//
// A backend's test runs the whole suite:
//
//	func TestConformance(t *testing.T) {
//		statetest.Run(t, statetest.Backend{
//			Name: "memory",
//			NewKeyValueStore: func(t testing.TB, name string) state.KeyValueStore {
//				return memory.NewKeyValueStore(name)
//			},
//			NewSegments: func(t testing.TB, name string) state.Segments {
//				return memory.Segments(name)
//			},
//		})
//	}
//
// The suite checks ordering, inclusive ranges in both directions, prefix scans, deletes,
// put-if-absent, batches, counts, closed-store errors, window fetches and retention, and
// session lookups, merging and retention, plus a randomized comparison against a model.
package statetest
