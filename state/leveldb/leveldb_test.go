package leveldb_test

import (
	"path/filepath"
	"testing"

	"github.com/gregorhq/gregor/state"
	"github.com/gregorhq/gregor/state/leveldb"
	"github.com/gregorhq/gregor/state/statetest"
)

// Backend is the leveldb backend as the conformance suite sees it.
var Backend = statetest.Backend{
	Name: "leveldb",
	NewKeyValueStore: func(t testing.TB, name string) state.KeyValueStore {
		s, err := leveldb.Open(name, filepath.Join(t.TempDir(), name), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	NewSegments: func(t testing.TB, name string) state.Segments {
		return leveldb.Segments(name, t.TempDir(), nil)
	},
}

func TestConformance(t *testing.T) { statetest.Run(t, Backend) }
