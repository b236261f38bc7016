package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Defaults for the global flags.
const (
	defaultBrokers = "127.0.0.1:9092"
	defaultTimeout = 30 * time.Second
	brokersEnv     = "GREGOR_BROKERS"
)

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "gregor",
		Short: "Gregor: a Kafka-compatible event streaming platform in one binary",
		Long: `Gregor is a Kafka-compatible event streaming platform: a broker that any Kafka
client talks to unmodified, with durable partitioned logs on disk in Kafka's format,
and the command-line tools to use it (they work against any Kafka cluster).

Start a broker with embedded defaults (listens on 127.0.0.1:9092, data in ./gregor-data):

  gregor broker

Then, in another terminal:

  gregor topics create demo --partitions 3
  printf 'hello\nworld\n' | gregor produce demo
  gregor consume demo --from-beginning --max-messages 2

The client commands find the cluster with --brokers (or $GREGOR_BROKERS), print
aligned tables or, with --output json, JSON; they exit 0 on success, 1 when an
operation failed and 2 on bad usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	brokers := os.Getenv(brokersEnv)
	if brokers == "" {
		brokers = defaultBrokers
	}
	pf.StringVarP(&g.brokers, "brokers", "b", brokers, "comma-separated bootstrap brokers host:port (env "+brokersEnv+")")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&g.timeout, "timeout", defaultTimeout, "how long to wait for the cluster in each operation")
	addSecurityFlags(root, g) // security.go
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return g.validate() }

	root.AddGroup(&cobra.Group{ID: "client", Title: "Client commands:"}, &cobra.Group{ID: "server", Title: "Server commands:"})
	br := newBrokerCommand()
	br.GroupID = "server"
	// The client flags mean nothing to the broker: keep them out of its help.
	br.SetHelpFunc(func(c *cobra.Command, args []string) {
		for _, n := range []string{"brokers", "output", "timeout", "command-config", "property"} {
			root.PersistentFlags().Lookup(n).Hidden = true
		}
		root.HelpFunc()(c, args)
	})
	root.AddCommand(br)
	root.AddCommand(newConnectCommand())
	for _, c := range []*cobra.Command{
		newTopicsCommand(g), newConfigsCommand(g), newProduceCommand(g), newConsumeCommand(g),
		newGroupsCommand(g), newClusterCommand(g), newPerfCommand(g), newUsersCommand(g), newACLsCommand(g),
		newQuotasCommand(g), newConsoleCommand(g),
	} {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	root.AddCommand(newVersionCommand(g))
	return root
}

// versionInfo is what `gregor version` prints.
type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print gregor's version",
		Example: "  gregor version\n  gregor version --output json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Version: version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "gregor %s (%s %s/%s)\n", v.Version, v.Go, v.OS, v.Arch)
			return err
		},
	}
}
