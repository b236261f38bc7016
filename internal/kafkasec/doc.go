// Package kafkasec reads Kafka's security settings, shared by the broker and
// by the clients Gregor builds (the CLI; streams and connect later): JAAS
// login-module strings (sasl.jaas.config), PEM key stores and trust stores
// (ssl.keystore.*, ssl.truststore.*), TLS protocol versions
// (ssl.enabled.protocols), and a client's security.protocol,
// sasl.mechanism and ssl.* properties turned into franz-go client options.
//
//	props := map[string]string{
//		"security.protocol":           "SASL_SSL",
//		"sasl.mechanism":              "SCRAM-SHA-256",
//		"sasl.jaas.config":            `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="secret";`,
//		"ssl.truststore.type":         "PEM",
//		"ssl.truststore.location":     "/etc/gregor/ca.pem",
//	}
//	opts, err := kafkasec.ClientOpts(props)
//	if err != nil {
//		return err
//	}
//	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("localhost:9093"))...)
package kafkasec
