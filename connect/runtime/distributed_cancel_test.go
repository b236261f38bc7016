package runtime_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect/internal/connecttest"
	"github.com/gregorhq/gregor/connect/runtime"
)

// TestDistributedWritesTakeTheCallersContext checks that the context of a
// configuration write reaches the config topic: a write whose caller gave
// up fails and changes nothing, and a connector created PAUSED on a
// distributed worker (its target state written before its configuration)
// stays paused.
func TestDistributedWritesTakeTheCallersContext(t *testing.T) {
	b := connecttest.Broker(t)
	w := startDistWorker(t, b.Addr(), "sessioned")
	defer w.close(t)
	dir := t.TempDir()
	cfg := func(topic string) map[string]string {
		return map[string]string{"connector.class": "FileStreamSource", "file": filepath.Join(dir, "in.txt"), "topic": topic}
	}
	ctx := context.Background()
	connecttest.Eventually(t, 30*time.Second, "a stable group", func() bool {
		_, _, err := w.d.PutConnectorConfig(ctx, "paused", cfg("p"), false, runtime.TargetPaused)
		if err != nil && !errors.Is(err, runtime.ErrRebalancing) {
			t.Fatal(err)
		}
		return err == nil
	})
	connecttest.Eventually(t, 30*time.Second, "connector paused", func() bool {
		st, err := w.d.ConnectorStatus("paused")
		return err == nil && st.Connector.State == runtime.StatePaused
	})

	done, cancel := context.WithCancel(ctx)
	cancel()
	// Creating the connector may start another rebalance; a write refused
	// for it (ErrRebalancing) says nothing about the context, so retry.
	connecttest.Eventually(t, 30*time.Second, "a cancelled create refused", func() bool {
		_, _, err := w.d.PutConnectorConfig(done, "never", cfg("n"), false, "")
		if errors.Is(err, runtime.ErrRebalancing) {
			return false
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("PutConnectorConfig with a cancelled context: err = %v, want context.Canceled", err)
		}
		return true
	})
	connecttest.Eventually(t, 30*time.Second, "a cancelled delete refused", func() bool {
		err := w.d.DeleteConnector(done, "paused")
		if errors.Is(err, runtime.ErrRebalancing) {
			return false
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("DeleteConnector with a cancelled context: err = %v, want context.Canceled", err)
		}
		return true
	})
	if got := w.d.Connectors(); len(got) != 1 || got[0] != "paused" {
		t.Fatalf("Connectors after cancelled writes = %v, want [paused]", got)
	}
}
