package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker"
	"github.com/gregorhq/gregor/internal/kafkasec"
)

// Client security: every client command reads Kafka's client properties
// from --command-config FILE (as kafka-topics.sh --command-config and
// kafka-console-producer.sh --producer.config do) and from -X key=value
// (as kcat does), later ones winning:
//
//	security.protocol=SASL_SSL
//	sasl.mechanism=SCRAM-SHA-512
//	sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";
//	ssl.truststore.type=PEM
//	ssl.truststore.location=/etc/gregor/ca.pem

// addSecurityFlags adds --command-config and -X to the root command.
func addSecurityFlags(root *cobra.Command, g *globals) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.commandConfig, "command-config", "", "client properties file (security.protocol, sasl.*, ssl.*), as Kafka's tools take")
	pf.StringArrayVarP(&g.properties, "property", "X", nil, "a client property key=value, overriding --command-config (repeatable), e.g. -X security.protocol=SSL")
}

// clientProperties merges --command-config and -X.
func (g *globals) clientProperties() (map[string]string, error) {
	props := map[string]string{}
	if g.commandConfig != "" {
		data, err := os.ReadFile(g.commandConfig)
		if err != nil {
			return nil, usagef("--command-config: %w", err)
		}
		if props, err = broker.ParseProperties(string(data)); err != nil {
			return nil, usagef("--command-config %s: %w", g.commandConfig, err)
		}
	}
	for _, kv := range g.properties {
		k, v, err := parseKV("-X", kv)
		if err != nil {
			return nil, err
		}
		props[k] = v
	}
	return props, nil
}

// securityOpts are the kgo options of the client properties; it warns on
// stderr about properties it does not read.
func (g *globals) securityOpts(cmd *cobra.Command) ([]kgo.Opt, error) {
	props, err := g.clientProperties()
	if err != nil {
		return nil, err
	}
	for _, k := range kafkasec.UnusedClientKeys(props) {
		fmt.Fprintf(cmd.ErrOrStderr(), "gregor: ignoring client property %s (not used by gregor)\n", k)
	}
	opts, err := kafkasec.ClientOpts(props)
	if err != nil {
		return nil, usagef("%w", err)
	}
	return opts, nil
}
