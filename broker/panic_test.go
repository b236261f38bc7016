package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
)

// TestHandlerPanicBecomesAnError: a handler bug (here a request whose body
// is missing, which every handler would dereference) must not take the
// broker down: handle recovers and returns an error, and the serving loop
// closes only that connection.
func TestHandlerPanicBecomesAnError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = t.TempDir()
	b, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(b, server, "PLAINTEXT")
	defer c.close()
	resp, err := c.handle(&request{conn: c, key: 60, version: 0}) // no kreq: the handler panics
	if resp != nil || !errors.Is(err, errHandlerPanic) {
		t.Fatalf("handle = %v, %v; want errHandlerPanic", resp, err)
	}
}
