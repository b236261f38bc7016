package memory_test

import (
	"testing"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/memory"
	"github.com/gregorhq/gregor/state/statetest"
)

// Backend is the memory backend as the conformance suite sees it.
var Backend = statetest.Backend{
	Name:             "memory",
	NewKeyValueStore: func(_ testing.TB, name string) state.KeyValueStore { return memory.NewKeyValueStore(name) },
	NewSegments:      func(_ testing.TB, name string) state.Segments { return memory.Segments(name) },
}

func TestConformance(t *testing.T) { statetest.Run(t, Backend) }
