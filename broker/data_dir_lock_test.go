package broker

import (
	"errors"
	"io"
	"log/slog"
	"testing"
)

// TestDataDirLocked: a second broker on a data dir in use fails with
// ErrDataDirLocked and leaves the first one intact; once the first closes,
// the dir can be opened again.
func TestDataDirLocked(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = t.TempDir()
	quiet := WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	first, err := New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := New(cfg, quiet); !errors.Is(err, ErrDataDirLocked) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second New on the same data dir = %v, want ErrDataDirLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(cfg, quiet)
	if err != nil {
		t.Fatalf("New after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}
