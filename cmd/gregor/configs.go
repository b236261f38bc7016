package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configEntry is one config of a topic or broker.
type configEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// configEntries converts configs, keeping only non-default ones unless all,
// sorted by name. Sensitive values are shown as "(sensitive)".
func configEntries(cs []kadm.Config, all bool) []configEntry {
	out := []configEntry{}
	for _, c := range cs {
		if !all && c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		e := configEntry{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive}
		if c.Sensitive {
			e.Value = "(sensitive)"
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func configTable(es []configEntry) *table {
	t := newTable("NAME", "VALUE", "SOURCE")
	for _, e := range es {
		t.add(e.Name, e.Value, e.Source)
	}
	return t
}

// configTarget is the resource that `configs` works on.
type configTarget struct {
	topic  string
	broker string
}

// resolve checks that exactly one of --topic and --broker was given.
func (t configTarget) resolve() (kind, name string, id int32, err error) {
	switch {
	case t.topic != "" && t.broker != "":
		return "", "", 0, usagef("give either --topic or --broker, not both")
	case t.topic != "":
		return "topic", t.topic, 0, nil
	case t.broker != "":
		n, err := strconv.ParseInt(t.broker, 10, 32)
		if err != nil || n < 0 {
			return "", "", 0, usagef("--broker %q: want a broker ID (a number >= 0)", t.broker)
		}
		return "broker", t.broker, int32(n), nil
	}
	return "", "", 0, usagef("give --topic NAME or --broker ID")
}

func (t *configTarget) flags(cmd *cobra.Command, g *globals) {
	cmd.Flags().StringVarP(&t.topic, "topic", "t", "", "the topic whose configs to use")
	cmd.Flags().StringVar(&t.broker, "broker", "", "the broker ID whose configs to use")
	_ = cmd.RegisterFlagCompletionFunc("topic", completeTopics(g))
}

func newConfigsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "configs",
		Aliases: []string{"config"},
		Short:   "Describe and alter topic and broker configs",
		Long: `Show and change the configs of a topic or a broker, like kafka-configs.sh.
Names are Kafka's (retention.ms, cleanup.policy, ...). Changes are incremental:
--set and --delete touch only the configs they name.`,
		Example: `  gregor configs describe --topic demo
  gregor configs describe --broker 1 --all
  gregor configs alter --topic demo --set retention.ms=3600000 --delete cleanup.policy`,
		Args: noArgs,
	}
	cmd.AddCommand(newConfigsDescribe(g), newConfigsAlter(g))
	return cmd
}

// describedConfigs is the output of `configs describe`.
type describedConfigs struct {
	ResourceType string        `json:"resource_type"`
	Name         string        `json:"name"`
	Configs      []configEntry `json:"configs"`
}

func newConfigsDescribe(g *globals) *cobra.Command {
	var (
		target configTarget
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "describe --topic NAME | --broker ID",
		Short: "Show the configs of a topic or broker",
		Long: `Show the configs of a topic or a broker with where each value comes from
(DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG, ...). Only values that
differ from the defaults are listed unless --all is given.`,
		Example: `  gregor configs describe --topic demo
  gregor configs describe --topic demo --all --output json
  gregor configs describe --broker 1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, name, id, err := target.resolve()
			if err != nil {
				return err
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			if kind == "broker" {
				if err := checkBroker(ctx, adm, id); err != nil {
					return err
				}
			}
			var rcs kadm.ResourceConfigs
			if kind == "topic" {
				rcs, err = adm.DescribeTopicConfigs(ctx, name)
			} else {
				rcs, err = adm.DescribeBrokerConfigs(ctx, id)
			}
			if err != nil {
				return fmt.Errorf("describe %s %s configs: %w", kind, name, kafkaErr("DescribeConfigs", err))
			}
			rc, err := rcs.On(name, nil)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			if rc.Err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, respErr(rc.Err, rc.ErrMessage))
			}
			out := describedConfigs{ResourceType: kind, Name: name, Configs: configEntries(rc.Configs, all)}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			if len(out.Configs) == 0 {
				_, err := fmt.Fprintf(w, "%s %s has only default configs (--all lists them)\n", kind, name)
				return err
			}
			return configTable(out.Configs).write(w)
		},
	}
	target.flags(cmd, g)
	cmd.Flags().BoolVar(&all, "all", false, "list every config, including defaults")
	return cmd
}

// alteredConfigs is the output of `configs alter`.
type alteredConfigs struct {
	ResourceType string            `json:"resource_type"`
	Name         string            `json:"name"`
	Set          map[string]string `json:"set,omitempty"`
	Deleted      []string          `json:"deleted,omitempty"`
	DryRun       bool              `json:"dry_run,omitempty"`
}

// alterOps turns --set and --delete values into incremental alterations.
func alterOps(set, del []string) ([]kadm.AlterConfig, map[string]string, error) {
	var ops []kadm.AlterConfig
	seen := map[string]bool{}
	sets := map[string]string{}
	for _, kv := range set {
		k, v, err := parseKV("--set", kv)
		if err != nil {
			return nil, nil, err
		}
		if seen[k] {
			return nil, nil, usagef("config %s is given more than once", k)
		}
		seen[k] = true
		sets[k] = v
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	for _, k := range del {
		k = strings.TrimSpace(k)
		if k == "" || strings.Contains(k, "=") {
			return nil, nil, usagef("--delete %q: want a config name", k)
		}
		if seen[k] {
			return nil, nil, usagef("config %s is given more than once", k)
		}
		seen[k] = true
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(ops) == 0 {
		return nil, nil, usagef("nothing to change: give --set key=value or --delete key")
	}
	return ops, sets, nil
}

func newConfigsAlter(g *globals) *cobra.Command {
	var (
		target configTarget
		set    []string
		del    []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "alter --topic NAME | --broker ID  [--set k=v]... [--delete k]...",
		Short: "Set or delete configs of a topic or broker",
		Long: `Set or delete (revert to the default) configs of a topic or a broker, with Kafka's
IncrementalAlterConfigs: configs not named stay as they are.`,
		Example: `  gregor configs alter --topic demo --set retention.ms=3600000 --set cleanup.policy=compact
  gregor configs alter --topic demo --delete retention.ms
  gregor configs alter --broker 1 --set log.retention.hours=24 --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, name, id, err := target.resolve()
			if err != nil {
				return err
			}
			ops, sets, err := alterOps(set, del)
			if err != nil {
				return err
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			if kind == "broker" {
				if err := checkBroker(ctx, adm, id); err != nil {
					return err
				}
			}
			var resps kadm.AlterConfigsResponses
			switch {
			case kind == "topic" && dryRun:
				resps, err = adm.ValidateAlterTopicConfigs(ctx, ops, name)
			case kind == "topic":
				resps, err = adm.AlterTopicConfigs(ctx, ops, name)
			case dryRun:
				resps, err = adm.ValidateAlterBrokerConfigs(ctx, ops, id)
			default:
				resps, err = adm.AlterBrokerConfigs(ctx, ops, id)
			}
			if err != nil {
				return fmt.Errorf("alter %s %s configs: %w", kind, name, kafkaErr("IncrementalAlterConfigs", err))
			}
			r, err := resps.On(name, nil)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			if r.Err != nil {
				return fmt.Errorf("alter %s %s configs: %w", kind, name, respErr(r.Err, r.ErrMessage))
			}
			out := alteredConfigs{ResourceType: kind, Name: name, Set: sets, DryRun: dryRun}
			for _, op := range ops {
				if op.Op == kadm.DeleteConfig {
					out.Deleted = append(out.Deleted, op.Name)
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, out)
			}
			verb := "altered"
			if dryRun {
				verb = "validated (dry run, nothing changed)"
			}
			t := newTable("NAME", "CHANGE")
			for _, op := range ops {
				if op.Op == kadm.SetConfig {
					t.add(op.Name, "set to "+*op.Value)
				} else {
					t.add(op.Name, "deleted (back to default)")
				}
			}
			fmt.Fprintf(w, "%s %s configs %s:\n", kind, name, verb)
			return t.write(w)
		},
	}
	target.flags(cmd, g)
	cmd.Flags().StringArrayVar(&set, "set", nil, "set a config, key=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete", nil, "delete a config override, restoring its default (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only validate the change")
	return cmd
}

// checkBroker fails clearly when no broker has the ID.
func checkBroker(ctx context.Context, adm *kadm.Client, id int32) error {
	bs, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("list brokers: %w", err)
	}
	var ids []int32
	for _, b := range bs {
		if b.NodeID == id {
			return nil
		}
		ids = append(ids, b.NodeID)
	}
	return fmt.Errorf("no broker with ID %d in the cluster (broker IDs: %s)", id, joinInt32(ids))
}
