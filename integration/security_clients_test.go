package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	kafkagoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The Go client families over SASL_SSL with SCRAM (a user the admin made
// with `gregor users scram set`) and over mutual TLS: each produces a few
// records and reads them back, and is refused with a wrong password or
// without a client certificate. kcat and sarama over SASL_SSL are in
// security_test.go, kafka-python and kafkajs in security_scripts_test.go.

// secureRecords is how many records each client produces and reads back.
const secureRecords = 3

// secureValues is what the client case name produces: name-0, name-1, ...
func secureValues(name string) []string {
	var vs []string
	for i := range secureRecords {
		vs = append(vs, fmt.Sprintf("%s-%d", name, i))
	}
	return vs
}

// checkSecureValues fails t unless got is what name produced, in order.
func checkSecureValues(t *testing.T, name string, got []string) {
	t.Helper()
	if want := secureValues(name); !slices.Equal(got, want) {
		t.Errorf("%s: consumed %q, want %q", name, got, want)
	}
}

// tlsTo is a TLS client configuration trusting ca, with cert as the
// client certificate when there is one.
func tlsTo(t *testing.T, ca *x509.Certificate, cert *tls.Certificate) *tls.Config {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// clientCert loads the mTLS broker's client certificate.
func (b *mtlsBroker) clientCert(t *testing.T) *tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(b.client.CertFile, b.client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// startSecureBrokers starts a SASL_SSL broker with SCRAM user alice
// (password alice-secret) and an mTLS broker.
func startSecureBrokers(t *testing.T) (*secureBroker, *mtlsBroker) {
	t.Helper()
	noDelay := []string{"--set", "group.initial.rebalance.delay.ms=0"}
	sb := startSecureBroker(t, noDelay...)
	sb.addScramUser(t, "alice", "alice-secret")
	return sb, startMTLSBroker(t, noDelay...)
}

// franzRoundTrip produces name's records to a new topic with franz-go
// and consumes them back.
func franzRoundTrip(t *testing.T, name string, opts ...kgo.Opt) {
	t.Helper()
	topic := uniqueTopic("franz-secure")
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, v := range secureValues(name) {
		recs = append(recs, kgo.StringRecord(v))
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("%s: produce: %v", name, err)
	}
	var got []string
	for len(got) < secureRecords && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	checkSecureValues(t, name, got)
}

// franzPingErr is the error of a franz-go client's first request.
func franzPingErr(t *testing.T, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestFranzSecure(t *testing.T) {
	sb, mb := startSecureBrokers(t)
	saslTLS := tlsTo(t, sb.ca.Cert, nil)
	auth := scram.Auth{User: "alice", Pass: "alice-secret"}
	for name, m := range map[string]sasl.Mechanism{"SCRAM-SHA-256": auth.AsSha256Mechanism(), "SCRAM-SHA-512": auth.AsSha512Mechanism()} {
		franzRoundTrip(t, name, kgo.SeedBrokers(sb.addr()), kgo.DialTLSConfig(saslTLS), kgo.SASL(m))
	}
	franzRoundTrip(t, "mTLS", kgo.SeedBrokers(mb.addr()), kgo.DialTLSConfig(tlsTo(t, mb.ca.Cert, mb.clientCert(t))))

	bad := scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism()
	err := franzPingErr(t, kgo.SeedBrokers(sb.addr()), kgo.DialTLSConfig(saslTLS), kgo.SASL(bad))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	t.Logf("wrong password: %v", err)
	err = franzPingErr(t, kgo.SeedBrokers(mb.addr()), kgo.DialTLSConfig(tlsTo(t, mb.ca.Cert, nil)))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without a certificate: %v, want the listener to refuse it", err)
	}
	t.Logf("without a certificate: %v", err)
}

// saramaRoundTrip produces name's records to a new topic with sarama and
// consumes them back.
func saramaRoundTrip(t *testing.T, name, addr string, cfg *sarama.Config) {
	t.Helper()
	topic := uniqueTopic("sarama-secure")
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("%s: producer: %v", name, err)
	}
	for _, v := range secureValues(name) {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("%s: send: %v", name, err)
		}
	}
	prod.Close()
	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < secureRecords {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case <-timeout:
			t.Fatalf("%s: consumed %q after 30s", name, got)
		}
	}
	checkSecureValues(t, name, got)
}

func TestSaramaMutualTLS(t *testing.T) {
	b := startMTLSBroker(t)
	newConfig := func(cert *tls.Certificate) *sarama.Config {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 20*time.Second, 10*time.Second
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tlsTo(t, b.ca.Cert, cert)
		cfg.Metadata.Retry.Max = 1
		return cfg
	}
	saramaRoundTrip(t, "mTLS", b.addr(), newConfig(b.clientCert(t)))
	cl, err := sarama.NewClient([]string{b.addr()}, newConfig(nil))
	if err == nil {
		cl.Close()
		t.Fatal("sarama without a client certificate connected to the mTLS listener")
	}
	t.Logf("without a certificate: %v", err)
}

// kafkaGoRoundTrip produces name's records to a new topic with
// segmentio/kafka-go (the topic created and the records written on
// transport, read with a Reader on dialer) and consumes them back.
func kafkaGoRoundTrip(t *testing.T, name, addr string, transport *kafkago.Transport, dialer *kafkago.Dialer) {
	t.Helper()
	topic := uniqueTopic("kafkago-secure")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := (&kafkago.Client{Addr: kafkago.TCP(addr), Transport: transport}).CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err == nil {
		err = created.Errors[topic]
	}
	if err != nil {
		t.Fatalf("%s: create topic: %v", name, err)
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, Transport: transport,
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 10 * time.Millisecond}
	var msgs []kafkago.Message
	for _, v := range secureValues(name) {
		msgs = append(msgs, kafkago.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("%s: write: %v", name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: topic, Dialer: dialer, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	var got []string
	for len(got) < secureRecords {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s: read after %q: %v", name, got, err)
		}
		got = append(got, string(m.Value))
	}
	checkSecureValues(t, name, got)
}

func TestKafkaGoSecure(t *testing.T) {
	sb, mb := startSecureBrokers(t)
	saslTLS := tlsTo(t, sb.ca.Cert, nil)
	for name, algo := range map[string]kafkagoscram.Algorithm{"SCRAM-SHA-256": kafkagoscram.SHA256, "SCRAM-SHA-512": kafkagoscram.SHA512} {
		mech, err := kafkagoscram.Mechanism(algo, "alice", "alice-secret")
		if err != nil {
			t.Fatal(err)
		}
		kafkaGoRoundTrip(t, name, sb.addr(), &kafkago.Transport{TLS: saslTLS, SASL: mech},
			&kafkago.Dialer{Timeout: 10 * time.Second, TLS: saslTLS, SASLMechanism: mech})
	}
	mtls := tlsTo(t, mb.ca.Cert, mb.clientCert(t))
	kafkaGoRoundTrip(t, "mTLS", mb.addr(), &kafkago.Transport{TLS: mtls}, &kafkago.Dialer{Timeout: 10 * time.Second, TLS: mtls})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bad, err := kafkagoscram.Mechanism(kafkagoscram.SHA512, "alice", "wrong")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := (&kafkago.Dialer{Timeout: 10 * time.Second, TLS: saslTLS, SASLMechanism: bad}).DialContext(ctx, "tcp", sb.addr())
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, kafkago.SASLAuthenticationFailed) {
		t.Errorf("wrong password: %v, want SASL Authentication Failed", err)
	}
	t.Logf("wrong password: %v", err)
	conn, err = (&kafkago.Dialer{Timeout: 10 * time.Second, TLS: tlsTo(t, mb.ca.Cert, nil)}).DialContext(ctx, "tcp", mb.addr())
	if err == nil {
		// With TLS 1.3 the server's refusal arrives after the handshake:
		// on the first request.
		_, err = conn.ApiVersions()
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without a certificate: %v, want the listener to refuse it", err)
	}
	t.Logf("without a certificate: %v", err)
}
