package broker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHandlerPanicClosesOnlyItsConnection: a handler bug must not take the
// broker down.
func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = t.TempDir()
	b, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	defer b.Close()

	orig := handlers[60].handle
	handlers[60].handle = func(*Broker, *request) (kmsg.Response, error) { panic("boom") }
	defer func() { handlers[60].handle = orig }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl); err == nil {
		t.Fatal("a panicking handler answered")
	}
	// The broker still serves other requests.
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatalf("broker stopped serving after a handler panic: %v", err)
	}
}
