// Package storetest is the conformance suite of Connect's stores: every
// runtime.ConfigStore, runtime.StatusStore and runtime.OffsetStore (in
// memory, in a file, in Kafka topics) passes the same tests, as
// state/statetest does for state stores.
//
// A backend's test hands the suite a function that opens an empty store
// and, for a store that keeps its data, one that opens a second store over
// the same data (a restarted worker, or another worker of the group):
//
//	func TestMemoryConfigStore(t *testing.T) {
//		storetest.ConfigStore(t, func(t *testing.T) storetest.Opened[runtime.ConfigStore] {
//			return storetest.Opened[runtime.ConfigStore]{Store: runtime.NewMemoryConfigStore()}
//		})
//	}
//
// Besides reads after writes, the suite checks what the stores promise
// their callers: reads return copies, and a write whose context is done
// fails with an error wrapping runtime.ErrStoreWrite and
// context.Canceled, and changes nothing.
package storetest
