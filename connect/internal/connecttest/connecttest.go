// Package connecttest has helpers for Connect's tests: a standalone worker
// against a broker, and polling until a condition holds.
package connecttest

import (
	"context"
	"github.com/gregorhq/gregor/broker/brokertest"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/gregorhq/gregor/connect/connectors/datagen" // registers Datagen
	_ "github.com/gregorhq/gregor/connect/connectors/file"    // registers FileStream*
	_ "github.com/gregorhq/gregor/connect/converters"         // registers converters
	"github.com/gregorhq/gregor/connect/runtime"
	_ "github.com/gregorhq/gregor/connect/transforms" // registers transformations
)

// Worker starts a standalone herder on brokers with fast offset flushes
// plus extra worker properties. The caller closes it.
func Worker(tb testing.TB, brokers, offsetFile string, extra map[string]string) *runtime.Standalone {
	tb.Helper()
	props := map[string]string{
		runtime.BootstrapServersConfig:    brokers,
		runtime.OffsetFileConfig:          offsetFile,
		runtime.OffsetFlushIntervalConfig: "100",
	}
	for k, v := range extra {
		props[k] = v
	}
	wc, err := runtime.ParseWorkerConfig(props)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := runtime.NewStandalone(wc, runtime.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// Create creates a connector or fails the test.
func Create(tb testing.TB, h runtime.Herder, name string, cfg map[string]string) {
	tb.Helper()
	if _, _, err := h.PutConnectorConfig(context.Background(), name, cfg, false, ""); err != nil {
		tb.Fatalf("create %s: %v", name, err)
	}
}

// Eventually polls cond every 20ms until it holds or d passes.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lines returns the lines of a file (none if it does not exist).
func Lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// Broker starts an in-process broker whose groups form without the
// initial rebalance delay.
func Broker(tb testing.TB) *brokertest.Broker {
	tb.Helper()
	return brokertest.Start(tb, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0"))
}
