package kafkasec

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gregorhq/gregor/internal/testcerts"
)

func TestClientOpts(t *testing.T) {
	ca := testcerts.NewCA(t, "CA")
	client := ca.Issue(t, "CN=alice", testcerts.Client())
	valid := []map[string]string{
		nil,
		{"security.protocol": "plaintext", "client.id": "me"},
		{"security.protocol": "SSL", "ssl.truststore.location": ca.CertFile},
		{"security.protocol": "SSL", "ssl.truststore.location": ca.CertFile, "ssl.keystore.location": client.KeystoreFile},
		{"security.protocol": "SSL", "ssl.ca.location": ca.CertFile, "ssl.certificate.location": client.CertFile, "ssl.key.location": client.KeyFile,
			"ssl.endpoint.identification.algorithm": "none"},
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "a", "sasl.password": "b"},
		{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "ssl.truststore.certificates": string(ca.CertPEM),
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";`},
		{"security.protocol": "SASL_SSL", "sasl.mechanisms": "scram-sha-512", "sasl.username": "a", "sasl.password": "b", "enable.ssl.certificate.verification": "false"},
	}
	for _, props := range valid {
		if _, err := ClientOpts(props); err != nil {
			t.Errorf("%v: %v", props, err)
		}
	}
	invalid := []map[string]string{
		{"security.protocol": "TLS"},
		{"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent"},
		{"security.protocol": "SSL", "ssl.certificate.location": client.CertFile},
		{"security.protocol": "SSL", "ssl.truststore.type": "JKS"},
		{"security.protocol": "SASL_PLAINTEXT"}, // GSSAPI
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"},
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER"},
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
			"sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b";`},
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": `broken`},
	}
	for _, props := range invalid {
		if _, err := ClientOpts(props); !errors.Is(err, ErrBadClientConfig) {
			t.Errorf("%v: got %v, want ErrBadClientConfig", props, err)
		}
	}
	if got := UnusedClientKeys(map[string]string{"acks": "all", "security.protocol": "SSL", "ssl.keystore.location": "x", "linger.ms": "5"}); !reflect.DeepEqual(got, []string{"acks", "linger.ms"}) {
		t.Errorf("unused keys %v", got)
	}
}
