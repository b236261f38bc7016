package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/internal/testcerts"
)

// TestInterBrokerClientOpts: a broker reaches a SASL_SSL listener with
// mTLS required, as a peer would, with nothing but its own configuration
// of that listener.
func TestInterBrokerClientOpts(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	server := ca.Issue(t, "CN=broker-1", testcerts.Server("127.0.0.1"), testcerts.Client())
	cfg := configWith(t, map[string]string{
		"listeners":                            "INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map":       "INTERNAL:SASL_SSL",
		"ssl.keystore.location":                server.KeystoreFile,
		"ssl.truststore.location":              ca.CertFile,
		"ssl.client.auth":                      "required",
		"sasl.enabled.mechanisms":              "PLAIN",
		"sasl.mechanism.inter.broker.protocol": "PLAIN",
		"listener.name.internal.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required ` +
			`username="broker" password="broker-secret" user_broker="broker-secret";`,
	})
	b, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Start()
	opts, err := b.interBrokerClientOpts("INTERNAL")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := b.ListenerAddr("INTERNAL")
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("inter-broker connection: %v", err)
	}
	if got := principalOf(t, b, "INTERNAL", opts...); got != "User:broker" {
		t.Errorf("inter-broker principal %q", got)
	}

	// Without credentials for the inter-broker mechanism, a clear error
	// (asked of a copy: the running broker's goroutines read its config).
	nb := &Broker{cfg: b.cfg}
	nb.cfg.Properties = maps.Clone(b.cfg.Properties)
	delete(nb.cfg.Properties, "listener.name.internal.plain.sasl.jaas.config")
	if _, err := nb.interBrokerClientOpts("INTERNAL"); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "listener.name.internal.plain.sasl.jaas.config") {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := b.interBrokerClientOpts("OTHER"); !errors.Is(err, ErrBadConfig) {
		t.Errorf("unknown listener: %v", err)
	}
}
