package runtime_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
	"github.com/gregorhq/gregor/connect/runtime/storetest"
)

// The conformance suite of connect/runtime/storetest over every store:
// in memory, in a file, and in Kafka topics.

func TestMemoryConfigStore(t *testing.T) {
	storetest.ConfigStore(t, func(*testing.T) storetest.Opened[runtime.ConfigStore] {
		return storetest.Opened[runtime.ConfigStore]{Store: runtime.NewMemoryConfigStore()}
	})
}

func TestMemoryStatusStore(t *testing.T) {
	storetest.StatusStore(t, func(*testing.T) storetest.Opened[runtime.StatusStore] {
		return storetest.Opened[runtime.StatusStore]{Store: runtime.NewMemoryStatusStore()}
	})
}

func TestMemoryOffsetStore(t *testing.T) {
	storetest.OffsetStore(t, func(*testing.T) storetest.Opened[runtime.OffsetStore] {
		return storetest.Opened[runtime.OffsetStore]{Store: runtime.NewMemoryOffsetStore()}
	})
}

func TestFileOffsetStore(t *testing.T) {
	storetest.OffsetStore(t, func(t *testing.T) storetest.Opened[runtime.OffsetStore] {
		path := filepath.Join(t.TempDir(), "connect.offsets")
		open := func(t *testing.T) runtime.OffsetStore {
			s, err := runtime.OpenFileOffsetStore(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		return storetest.Opened[runtime.OffsetStore]{Store: open(t), Reopen: open}
	})
}

// kafkaTopic names a fresh topic for each test of the suite.
func kafkaTopic(t *testing.T, prefix string) string {
	return prefix + "-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// TestKafkaStoresConformance runs the suite over the Kafka-backed stores
// of a distributed worker, against one in-process broker; the second
// store of each test is another worker's, on the same topic.
func TestKafkaStoresConformance(t *testing.T) {
	b := connecttest.Broker(t)
	ctx := context.Background()
	wc, err := runtime.ParseWorkerConfig(map[string]string{"bootstrap.servers": b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Config", func(t *testing.T) {
		storetest.ConfigStore(t, func(t *testing.T) storetest.Opened[runtime.ConfigStore] {
			topic := kafkaTopic(t, "configs")
			open := func(t *testing.T) runtime.ConfigStore {
				s, err := runtime.OpenKafkaConfigStore(ctx, wc, topic, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return storetest.Opened[runtime.ConfigStore]{Store: open(t), Reopen: open}
		})
	})
	t.Run("Status", func(t *testing.T) {
		storetest.StatusStore(t, func(t *testing.T) storetest.Opened[runtime.StatusStore] {
			topic := kafkaTopic(t, "status")
			open := func(t *testing.T) runtime.StatusStore {
				s, err := runtime.OpenKafkaStatusStore(ctx, wc, topic, 5, 1)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return storetest.Opened[runtime.StatusStore]{Store: open(t), Reopen: open}
		})
	})
	t.Run("Offset", func(t *testing.T) {
		storetest.OffsetStore(t, func(t *testing.T) storetest.Opened[runtime.OffsetStore] {
			topic := kafkaTopic(t, "offsets")
			open := func(t *testing.T) runtime.OffsetStore {
				s, err := runtime.OpenKafkaOffsetStore(ctx, wc, topic, 25, 1)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return storetest.Opened[runtime.OffsetStore]{Store: open(t), Reopen: open}
		})
	})
}
