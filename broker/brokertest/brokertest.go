package brokertest

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/gregorhq/gregor/broker"
)

// Broker is a running in-process broker.
type Broker struct {
	tb   testing.TB
	cfg  broker.Config
	opts []broker.Option
	b    *broker.Broker
}

// Option changes the broker's configuration before it starts.
type Option func(*broker.Config)

// WithProperty sets a server.properties value.
func WithProperty(key, value string) Option {
	return func(c *broker.Config) {
		if err := c.ApplyProperties(map[string]string{key: value}); err != nil {
			panic(err)
		}
	}
}

// WithDataDir keeps the data in dir instead of a fresh temporary directory.
func WithDataDir(dir string) Option { return func(c *broker.Config) { c.DataDir = dir } }

// WithDurableFlush makes the broker fsync before acknowledging produces.
func WithDurableFlush() Option { return func(c *broker.Config) { c.FlushPolicy = broker.FlushDurable } }

// Start starts a broker on 127.0.0.1:0 with a temporary data directory and
// registers its shutdown with tb.Cleanup. Settings are Kafka's defaults (so
// auto.create.topics.enable is true; WithProperty changes any of them).
func Start(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	cfg := broker.DefaultConfig()
	cfg.Listeners = []broker.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.DataDir = tb.TempDir()
	for _, o := range opts {
		o(&cfg)
	}
	tb2 := &Broker{tb: tb, cfg: cfg, opts: []broker.Option{broker.WithLogger(testLogger())}}
	tb2.start()
	tb.Cleanup(func() { tb2.Close() })
	return tb2
}

func (b *Broker) start() {
	b.tb.Helper()
	br, err := broker.New(b.cfg, b.opts...)
	if err != nil {
		b.tb.Fatalf("brokertest: start broker: %v", err)
	}
	br.Start()
	b.b = br
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.b.Addr() }

// DataDir is where the broker keeps its data.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Broker returns the underlying broker.
func (b *Broker) Broker() *broker.Broker { return b.b }

// Restart closes the broker cleanly and starts it again on the same ports
// (every listener keeps the port it was bound to) and data directory.
func (b *Broker) Restart() {
	b.tb.Helper()
	var ls []broker.Listener
	for _, l := range b.cfg.Listeners {
		addr, ok := b.b.ListenerAddr(l.Name)
		if !ok {
			b.tb.Fatalf("brokertest: listener %s is not bound", l.Name)
		}
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			b.tb.Fatalf("brokertest: %v", err)
		}
		l.Port = int32(tcp.Port)
		ls = append(ls, l)
	}
	if err := b.b.Close(); err != nil {
		b.tb.Fatalf("brokertest: close: %v", err)
	}
	b.cfg.Listeners = ls
	b.start()
}

// Close stops the broker. It is safe to call more than once.
func (b *Broker) Close() {
	if b.b != nil {
		if err := b.b.Close(); err != nil {
			b.tb.Errorf("brokertest: close: %v", err)
		}
	}
}

// testLogger discards the broker's log lines, or writes them to stderr when
// GREGOR_TEST_LOG is set (GREGOR_TEST_LOG=debug for debug lines too).
func testLogger() *slog.Logger {
	switch os.Getenv("GREGOR_TEST_LOG") {
	case "":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "debug":
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	default:
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}
