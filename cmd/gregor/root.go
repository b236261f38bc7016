package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gregor",
		Short: "Gregor: a Kafka-compatible event streaming platform in one binary",
		Long: `Gregor is a Kafka-compatible event streaming platform: a broker that any Kafka
client talks to unmodified, with durable partitioned logs on disk in Kafka's format.

Start a broker with embedded defaults (listens on 127.0.0.1:9092, data in ./gregor-data):

  gregor broker

Then use any Kafka client or tool against it, for example kcat:

  echo hello | kcat -b 127.0.0.1:9092 -t demo -P
  kcat -b 127.0.0.1:9092 -t demo -C -e`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBrokerCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gregor's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("gregor", version)
		},
	}
}
