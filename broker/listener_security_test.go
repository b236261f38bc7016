package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/internal/testcerts"
)

const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a";`

func configWith(t *testing.T, props map[string]string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	if err := cfg.ApplyProperties(props); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestListenerSecurityConfig(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	ks := ca.Issue(t, "CN=broker", testcerts.Server("127.0.0.1")).KeystoreFile
	tests := []struct {
		name  string
		props map[string]string
		err   string // "" for valid
	}{
		{"plaintext", map[string]string{"listeners": "PLAINTEXT://:9092"}, ""},
		{"ssl by name", map[string]string{"listeners": "SSL://:9093", "ssl.keystore.location": ks}, ""},
		{"ssl without key store", map[string]string{"listeners": "SSL://:9093"}, "ssl.keystore.location"},
		{"mapped name", map[string]string{"listeners": "EXTERNAL://:9093", "listener.security.protocol.map": "EXTERNAL:SASL_SSL",
			"listener.name.external.ssl.keystore.location": ks, "listener.name.external.sasl.enabled.mechanisms": "SCRAM-SHA-512"}, ""},
		{"unmapped name", map[string]string{"listeners": "EXTERNAL://:9093"}, "no entry in listener.security.protocol.map"},
		{"unknown protocol", map[string]string{"listeners": "X://:9093", "listener.security.protocol.map": "X:TLS"}, "unknown security protocol TLS"},
		{"bad map entry", map[string]string{"listeners": "X://:9093", "listener.security.protocol.map": "X=SSL"}, "not NAME:PROTOCOL"},
		{"GSSAPI default", map[string]string{"listeners": "SASL_PLAINTEXT://:9093"}, "GSSAPI"},
		{"OAUTHBEARER without a JWKS", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "OAUTHBEARER"}, "sasl.oauthbearer.jwks.endpoint.url"},
		{"GSSAPI", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "GSSAPI"}, "not supported"},
		{"empty mechanisms", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": " , "}, "empty"},
		{"PLAIN without JAAS", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "PLAIN"}, "listener.name.sasl_plaintext.plain.sasl.jaas.config"},
		{"PLAIN with JAAS", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "plain",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS}, ""},
		{"PLAIN with the wrong module", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required;`}, "PlainLoginModule"},
		{"bad JAAS", map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "sasl.enabled.mechanisms": "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": `x required`}, "sasl.jaas.config"},
		{"JKS", map[string]string{"listeners": "SSL://:9093", "ssl.keystore.location": ks, "ssl.keystore.type": "JKS"}, "only PEM"},
		{"bad client auth", map[string]string{"listeners": "SSL://:9093", "ssl.keystore.location": ks, "ssl.client.auth": "maybe"}, "ssl.client.auth"},
		{"bad mapping rules", map[string]string{"listeners": "SSL://:9093", "ssl.keystore.location": ks, "ssl.principal.mapping.rules": "RULE:x"}, "ssl.principal.mapping.rules"},
		{"TLS 1.1", map[string]string{"listeners": "SSL://:9093", "ssl.keystore.location": ks, "ssl.enabled.protocols": "TLSv1.1"}, "TLSv1.2"},
		{"TLS controller listener", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9094", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL", "ssl.keystore.location": ks}, ""},
		{"TLS controller listener without key store", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9094", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"}, "controller listener CONTROLLER (SSL): set ssl.keystore.location"},
		{"SASL controller listener", map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9094", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL", "ssl.keystore.location": ks}, "PLAINTEXT or SSL"},
		{"security.inter.broker.protocol", map[string]string{"listeners": "SASL_SSL://:9092", "ssl.keystore.location": ks,
			"sasl.enabled.mechanisms": "SCRAM-SHA-256", "security.inter.broker.protocol": "SASL_SSL"}, ""},
		{"security.inter.broker.protocol without its listener", map[string]string{"listeners": "SASL_SSL://:9092", "ssl.keystore.location": ks,
			"sasl.enabled.mechanisms": "SCRAM-SHA-256", "security.inter.broker.protocol": "SSL"}, "names no client listener"},
		{"both inter-broker settings", map[string]string{"listeners": "SASL_SSL://:9092", "ssl.keystore.location": ks, "sasl.enabled.mechanisms": "SCRAM-SHA-256",
			"security.inter.broker.protocol": "SASL_SSL", "inter.broker.listener.name": "SASL_SSL"}, "not both"},
		{"bad inter-broker protocol", map[string]string{"listeners": "PLAINTEXT://:9092", "security.inter.broker.protocol": "TLS"}, "want PLAINTEXT"},
		{"PLAINTEXT controller listener", map[string]string{"listeners": "SASL_SSL://:9092,CONTROLLER://:9094", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT", "ssl.keystore.location": ks, "sasl.enabled.mechanisms": "SCRAM-SHA-256"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWith(t, tt.props)
			err := cfg.checkSecurityProtocols()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("got %v, want an ErrBadConfig mentioning %q", err, tt.err)
			}
		})
	}
}

func TestListenerSettingOverrides(t *testing.T) {
	cfg := configWith(t, map[string]string{
		"listeners":               "INTERNAL://:9092,EXTERNAL://:9093",
		"sasl.enabled.mechanisms": "SCRAM-SHA-256",
		"listener.name.EXTERNAL.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
		"listener.name.external.plain.sasl.jaas.config":  plainJAAS,
		"listener.security.protocol.map":                 "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
	})
	if err := cfg.checkSecurityProtocols(); err != nil {
		t.Fatal(err)
	}
	in, err := cfg.listenerSecurityFor("INTERNAL", protoSASLPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := cfg.listenerSecurityFor("EXTERNAL", protoSASLPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(in.mechanisms, ",") != "SCRAM-SHA-256" || strings.Join(ex.mechanisms, ",") != "PLAIN,SCRAM-SHA-512" {
		t.Errorf("mechanisms: internal %v, external %v", in.mechanisms, ex.mechanisms)
	}
	if ex.plainUsers["alice"] != "a" || in.plainUsers != nil {
		t.Errorf("PLAIN users: internal %v, external %v", in.plainUsers, ex.plainUsers)
	}
}

func TestNewRefusesUnreadableCertificates(t *testing.T) {
	cfg := configWith(t, map[string]string{"listeners": "SSL://127.0.0.1:0", "ssl.keystore.location": "/nonexistent/keystore.pem"})
	if _, err := New(cfg); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "ssl.keystore.location") {
		t.Fatalf("New: %v", err)
	}
}
