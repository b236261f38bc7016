package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/broker/brokertest"
	"github.com/gregorhq/gregor/internal/testcerts"
)

// securedCluster starts three nodes whose client listener is SASL_SSL
// (PLAIN, users broker and alice) and is also the inter-broker listener
// (security.inter.broker.protocol=SASL_SSL, PLAIN as user broker), and
// whose controller listener is SSL with client certificates required.
// Node badNode logs in to its peers with a wrong password.
func securedCluster(t *testing.T, badNode int32) (*brokertest.Cluster, []kgo.Opt, *testcerts.CA) {
	t.Helper()
	ca := testcerts.NewCA(t, "Cluster CA")
	cert := ca.Issue(t, "CN=localhost", testcerts.Server("127.0.0.1", "localhost"), testcerts.Client())
	secure := func(c *broker.Config) {
		for i := range c.Listeners {
			if c.Listeners[i].Name == "PLAINTEXT" {
				c.Listeners[i].Name = "SASL_SSL"
			}
		}
		password := "broker-secret"
		if c.NodeID == badNode {
			password = "not-the-password"
		}
		err := c.ApplyProperties(map[string]string{
			"listener.security.protocol.map":           "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
			"ssl.keystore.location":                    cert.KeystoreFile,
			"ssl.truststore.location":                  ca.CertFile,
			"listener.name.controller.ssl.client.auth": "required",
			"sasl.enabled.mechanisms":                  "PLAIN",
			"security.inter.broker.protocol":           "SASL_SSL",
			"sasl.mechanism.inter.broker.protocol":     "PLAIN",
			"listener.name.sasl_ssl.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required ` +
				`username="broker" password="` + password + `" user_broker="broker-secret" user_alice="alice-secret";`,
			"replica.lag.time.max.ms": "2000",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	c := brokertest.StartCluster(t, 3, secure)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return c, []kgo.Opt{kgo.SeedBrokers(c.Seeds()...), freshMetadata(), kgo.DialTLSConfig(&tls.Config{RootCAs: roots}),
		kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())}, ca
}

// isrs returns each partition's leader and ISR.
func isrs(ctx context.Context, adm *kadm.Client, topic string) (map[int32]kadm.PartitionDetail, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	return md.Topics[topic].Partitions, nil
}

// TestSecuredCluster: brokers replicate to each other over SASL_SSL and
// run their quorum over an SSL controller listener with mTLS; a client
// over SASL_SSL produces with acks=all to RF-3 partitions and consumes.
func TestSecuredCluster(t *testing.T) {
	c, opts, ca := securedCluster(t, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("secured"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeTopics("secured"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": str("3")}, "secured"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	const n = 300
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d (acks=all, min.insync.replicas=3): %v", i, err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
	}
	parts, err := isrs(ctx, adm, "secured")
	if err != nil {
		t.Fatal(err)
	}
	for p, d := range parts {
		if len(d.ISR) != 3 {
			t.Errorf("partition %d: ISR %v", p, d.ISR)
		}
	}

	// The controller listener speaks only TLS, and only to clients with a
	// certificate its trust store vouches for.
	ctrl, _ := c.Node(1).Broker().ListenerAddr("CONTROLLER")
	hc := &http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get("http://" + ctrl + "/gregor/controller/v1/quorum"); err == nil {
		resp.Body.Close()
		t.Fatalf("plain HTTP to the SSL controller listener answered %s", resp.Status)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if resp, err := noCert.Get("https://" + ctrl + "/gregor/controller/v1/quorum"); err == nil {
		resp.Body.Close()
		t.Fatalf("TLS without a client certificate to the controller listener answered %s", resp.Status)
	}
}

// TestSecuredClusterWrongInterBrokerPassword: a node that logs in to its
// peers with a wrong password cannot fetch from them, so it drops out of
// the ISR of the partitions it follows and never rejoins; the partitions
// it leads (its peers log in to it correctly) stay fully in sync.
func TestSecuredClusterWrongInterBrokerPassword(t *testing.T) {
	_, opts, _ := securedCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 6, 3, nil, "guarded"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	check := func() error {
		parts, err := isrs(ctx, adm, "guarded")
		if err != nil {
			return err
		}
		for p, d := range parts {
			in := slices.Contains(d.ISR, 3)
			switch {
			case d.Leader == 3 && len(d.ISR) != 3:
				return fmt.Errorf("partition %d led by node 3: ISR %v, want all three", p, d.ISR)
			case d.Leader != 3 && in:
				return fmt.Errorf("partition %d led by node %d: node 3 still in ISR %v", p, d.Leader, d.ISR)
			}
		}
		return nil
	}
	waitFor(t, "node 3 out of the ISR it cannot fetch for", check)
	time.Sleep(3 * time.Second) // longer than replica.lag.time.max.ms: it does not come back
	if err := check(); err != nil {
		t.Fatal(err)
	}
}
