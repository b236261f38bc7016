package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const quotasLong = `Client quotas keep one client from starving the others, as Kafka's do. A quota is set
for a user (the authenticated principal's name; User:ANONYMOUS on PLAINTEXT listeners), a
client ID, a user and client ID together, or an IP address, or for the default entity of
each type. A client gets, for each quota key, the most specific quota that matches it:

  1. user and client ID          4. default user and client ID    7. client ID
  2. user and default client ID  5. default user, default client  8. default client ID
  3. user                        6. default user

Keys (per second, measured over quota.window.num × quota.window.size.seconds, 11 × 1 s):
  producer_byte_rate        bytes of produce requests
  consumer_byte_rate        bytes of fetch responses
  request_percentage        time spent on the client's requests, % of one request thread
  controller_mutation_rate  partitions created or deleted (CreateTopics, CreatePartitions,
                            DeleteTopics); newer clients get THROTTLING_QUOTA_EXCEEDED
  connection_creation_rate  new connections (ip entities only)

A client over its quota is answered with throttle_time_ms, and the broker reads nothing
more from its connection until that time has passed.

Entities are named as with kafka-configs.sh: --entity-type users|clients|ips with
--entity-name NAME or --entity-default (repeat the pair for a user and a client ID), or
the shorthands --user, --client, --ip, --user-defaults, --client-defaults, --ip-defaults.`

func newQuotasCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quotas",
		Short: "Set and describe client quotas (producer/consumer byte rates, request time, ...)",
		Long:  quotasLong,
		Example: `  gregor quotas alter --entity-type users --entity-name alice --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152
  gregor quotas alter --entity-type users --entity-default --add-config producer_byte_rate=10485760
  gregor quotas alter --user alice --client reporting --add-config request_percentage=50
  gregor quotas alter --entity-type clients --entity-name loader --delete-config producer_byte_rate
  gregor quotas alter --ip-defaults --add-config connection_creation_rate=20
  gregor quotas describe
  gregor quotas describe --entity-type users --entity-name alice --output json`,
		Args: noArgs,
	}
	cmd.AddCommand(newQuotasAlter(g), newQuotasDescribe(g))
	return cmd
}

// entityArg is one entity component from the command line, in the order
// given, so that --entity-name and --entity-default pair with the
// --entity-type before them as in kafka-configs.sh.
type entityArg struct {
	typ      string // user, client-id or ip
	name     string
	hasName  bool
	dflt     bool
	flagType string // as typed, for messages
}

type entityArgs struct{ list []entityArg }

// entityTypes maps kafka-configs.sh's entity types to the protocol's.
var entityTypes = map[string]string{"users": "user", "clients": "client-id", "ips": "ip"}

func (e *entityArgs) addType(t string) error {
	pt, ok := entityTypes[t]
	if !ok {
		return fmt.Errorf("unknown entity type %q: want users, clients or ips", t)
	}
	e.list = append(e.list, entityArg{typ: pt, flagType: t})
	return nil
}

func (e *entityArgs) last(flag string) (*entityArg, error) {
	if len(e.list) == 0 {
		return nil, fmt.Errorf("%s needs an --entity-type before it", flag)
	}
	a := &e.list[len(e.list)-1]
	if a.hasName || a.dflt {
		return nil, fmt.Errorf("%s: --entity-type %s already has a name", flag, a.flagType)
	}
	return a, nil
}

// entityFlag is a pflag.Value that records one kind of entity flag.
type entityFlag struct {
	args *entityArgs
	set  func(string) error
	kind string
}

func (f *entityFlag) String() string { return "" }
func (f *entityFlag) Type() string {
	if f.kind == "bool" {
		return "bool"
	}
	return "string"
}
func (f *entityFlag) Set(v string) error { return f.set(v) }

// addEntityFlags registers --entity-type/--entity-name/--entity-default
// and the shorthands on fs.
func addEntityFlags(fs *pflag.FlagSet, e *entityArgs) {
	named := func(typ string) func(string) error {
		return func(v string) error {
			e.list = append(e.list, entityArg{typ: typ, name: v, hasName: true, flagType: typ})
			return nil
		}
	}
	dflt := func(typ string) func(string) error {
		return func(string) error {
			e.list = append(e.list, entityArg{typ: typ, dflt: true, flagType: typ})
			return nil
		}
	}
	boolFlag := func(name, usage string, set func(string) error) {
		f := fs.VarPF(&entityFlag{args: e, set: set, kind: "bool"}, name, "", usage)
		f.NoOptDefVal = "true"
	}
	fs.Var(&entityFlag{args: e, set: e.addType}, "entity-type", "users, clients or ips (repeat with a second name for a user and a client ID)")
	fs.Var(&entityFlag{args: e, set: func(v string) error {
		a, err := e.last("--entity-name")
		if err != nil {
			return err
		}
		a.name, a.hasName = v, true
		return nil
	}}, "entity-name", "the name of the --entity-type before it")
	boolFlag("entity-default", "the default entity of the --entity-type before it", func(string) error {
		a, err := e.last("--entity-default")
		if err != nil {
			return err
		}
		a.dflt = true
		return nil
	})
	fs.Var(&entityFlag{args: e, set: named("user")}, "user", "a user (same as --entity-type users --entity-name USER)")
	fs.Var(&entityFlag{args: e, set: named("client-id")}, "client", "a client ID (same as --entity-type clients --entity-name ID)")
	fs.Var(&entityFlag{args: e, set: named("ip")}, "ip", "an IP address (same as --entity-type ips --entity-name IP)")
	boolFlag("user-defaults", "the default user", dflt("user"))
	boolFlag("client-defaults", "the default client ID", dflt("client-id"))
	boolFlag("ip-defaults", "the default IP address", dflt("ip"))
}

// alterEntity is the entity of an alter: every component named or default.
func (e *entityArgs) alterEntity() (kadm.ClientQuotaEntity, error) {
	if len(e.list) == 0 {
		return nil, usagef("name an entity: --entity-type users|clients|ips with --entity-name or --entity-default (or --user, --client, --ip, --user-defaults, ...)")
	}
	var out kadm.ClientQuotaEntity
	for _, a := range e.list {
		if !a.hasName && !a.dflt {
			return nil, usagef("--entity-type %s needs --entity-name or --entity-default", a.flagType)
		}
		c := kadm.ClientQuotaEntityComponent{Type: a.typ}
		if a.hasName {
			c.Name = &a.name
		}
		out = append(out, c)
	}
	return out, nil
}

// describeFilter is the filter of a describe: a named component matches
// exactly, a default one the default, a bare type any named entity.
func (e *entityArgs) describeFilter() []kadm.DescribeClientQuotaComponent {
	var out []kadm.DescribeClientQuotaComponent
	for _, a := range e.list {
		c := kadm.DescribeClientQuotaComponent{Type: a.typ, MatchType: kmsg.QuotasMatchTypeAny}
		switch {
		case a.hasName:
			c.MatchType, c.MatchName = kmsg.QuotasMatchTypeExact, &a.name
		case a.dflt:
			c.MatchType = kmsg.QuotasMatchTypeDefault
		}
		out = append(out, c)
	}
	return out
}

// parseQuotaConfigs parses --add-config values: key=value pairs, comma
// separated, the values numbers.
func parseQuotaConfigs(adds []string) ([]kadm.AlterClientQuotaOp, error) {
	var ops []kadm.AlterClientQuotaOp
	for _, a := range adds {
		for _, kv := range strings.Split(a, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, err := parseKV("--add-config", kv)
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, usagef("--add-config %s=%q: the value must be a number", k, v)
			}
			ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: f})
		}
	}
	return ops, nil
}

// quotaAlterResult is the outcome of `quotas alter`.
type quotaAlterResult struct {
	Entity  map[string]*string `json:"entity"`
	Set     map[string]float64 `json:"set,omitempty"`
	Removed []string           `json:"removed,omitempty"`
	Error   string             `json:"error,omitempty"`
}

func newQuotasAlter(g *globals) *cobra.Command {
	var (
		ents         entityArgs
		adds, dels   []string
		validateOnly bool
	)
	cmd := &cobra.Command{
		Use:   "alter ENTITY (--add-config K=V,... | --delete-config K,...)",
		Short: "Set or remove an entity's quotas",
		Long: `Set (--add-config) or remove (--delete-config) quotas of one entity. The change is
written to the cluster's metadata, so every broker applies it at once and keeps it across
restarts. The broker refuses unknown keys and bad values with INVALID_REQUEST.

` + quotasLong,
		Example: `  gregor quotas alter --entity-type users --entity-name alice --add-config producer_byte_rate=1048576
  gregor quotas alter --entity-type users --entity-name alice --entity-type clients --entity-name app --add-config consumer_byte_rate=524288
  gregor quotas alter --entity-type clients --entity-default --add-config request_percentage=200
  gregor quotas alter --user alice --delete-config producer_byte_rate,consumer_byte_rate
  gregor quotas alter --user-defaults --add-config controller_mutation_rate=10 --validate-only`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := ents.alterEntity()
			if err != nil {
				return err
			}
			ops, err := parseQuotaConfigs(adds)
			if err != nil {
				return err
			}
			res := quotaAlterResult{Entity: entityMap(entity), Set: map[string]float64{}}
			for _, op := range ops {
				res.Set[op.Key] = op.Value
			}
			for _, d := range dels {
				for _, k := range strings.Split(d, ",") {
					if k = strings.TrimSpace(k); k != "" {
						ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
						res.Removed = append(res.Removed, k)
					}
				}
			}
			if len(ops) == 0 {
				return usagef("nothing to change: give --add-config and/or --delete-config")
			}
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			entries := []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}}
			alter := adm.AlterClientQuotas
			if validateOnly {
				alter = adm.ValidateAlterClientQuotas
			}
			altered, err := alter(ctx, entries)
			if err != nil {
				return kafkaErr("AlterClientQuotas", err)
			}
			var failed error
			for _, a := range altered {
				if a.Err != nil {
					failed = respErr(a.Err, a.ErrMessage)
					res.Error = failed.Error()
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				if err := writeJSON(w, res); err != nil {
					return err
				}
				return failed
			}
			if failed != nil {
				return fmt.Errorf("quotas of %s: %w", entityString(entity), failed)
			}
			verb := "Updated"
			if validateOnly {
				verb = "Validated (nothing changed)"
			}
			fmt.Fprintf(w, "%s quotas of %s\n", verb, entityString(entity))
			return nil
		},
	}
	addEntityFlags(cmd.Flags(), &ents)
	cmd.Flags().StringArrayVar(&adds, "add-config", nil, "quotas to set, key=value[,key=value...] (repeatable)")
	cmd.Flags().StringArrayVar(&dels, "delete-config", nil, "quota keys to remove, key[,key...] (repeatable)")
	cmd.Flags().BoolVar(&validateOnly, "validate-only", false, "check the change with the broker without making it")
	return cmd
}

// describedQuota is one row of `quotas describe`.
type describedQuota struct {
	Entity map[string]*string `json:"entity"`
	Key    string             `json:"key"`
	Value  float64            `json:"value"`
}

func newQuotasDescribe(g *globals) *cobra.Command {
	var ents entityArgs
	cmd := &cobra.Command{
		Use:   "describe [ENTITY]",
		Short: "List quotas (all of them, or those of the entities named)",
		Long: `List configured quotas, one row per entity and key. Without an entity every quota is
listed. --entity-type alone lists every named entity of that type; with --entity-name, that
entity; with --entity-default, the type's default. Naming a user and a client lists only
entities with exactly those types, as kafka-configs.sh does.`,
		Example: `  gregor quotas describe
  gregor quotas describe --entity-type users
  gregor quotas describe --entity-type users --entity-name alice --entity-type clients
  gregor quotas describe --ip-defaults --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, a := range ents.list {
				if a.hasName && a.dflt {
					return usagef("--entity-type %s: --entity-name and --entity-default together", a.flagType)
				}
			}
			filter := ents.describeFilter()
			adm, ctx, done, err := g.adminOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			got, err := adm.DescribeClientQuotas(ctx, len(filter) > 0, filter)
			if err != nil {
				return kafkaErr("DescribeClientQuotas", err)
			}
			rows := []describedQuota{}
			for _, q := range got {
				for _, v := range q.Values {
					rows = append(rows, describedQuota{Entity: entityMap(q.Entity), Key: v.Key, Value: v.Value})
				}
			}
			sort.SliceStable(rows, func(i, j int) bool {
				a, b := entityCells(rows[i].Entity), entityCells(rows[j].Entity)
				if a != b {
					return strings.Join(a[:], "\x00") < strings.Join(b[:], "\x00")
				}
				return rows[i].Key < rows[j].Key
			})
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, rows)
			}
			t := newTable("USER", "CLIENT-ID", "IP", "QUOTA", "VALUE")
			for _, r := range rows {
				c := entityCells(r.Entity)
				t.add(c[0], c[1], c[2], r.Key, strconv.FormatFloat(r.Value, 'f', -1, 64))
			}
			return t.write(w)
		},
	}
	addEntityFlags(cmd.Flags(), &ents)
	return cmd
}

// entityMap renders an entity for JSON: type -> name, null for a default.
func entityMap(e kadm.ClientQuotaEntity) map[string]*string {
	out := map[string]*string{}
	for _, c := range e {
		out[c.Type] = c.Name
	}
	return out
}

// entityCells are the USER, CLIENT-ID and IP cells of an entity.
func entityCells(e map[string]*string) [3]string {
	var out [3]string
	for i, t := range []string{"user", "client-id", "ip"} {
		n, ok := e[t]
		switch {
		case !ok:
		case n == nil:
			out[i] = "<default>"
		default:
			out[i] = *n
		}
	}
	return out
}

// entityString describes an entity as kafka-configs.sh does.
func entityString(e kadm.ClientQuotaEntity) string {
	var parts []string
	for _, c := range e {
		name := "<default>"
		if c.Name != nil {
			name = "'" + *c.Name + "'"
		}
		parts = append(parts, c.Type+" "+name)
	}
	return strings.Join(parts, ", ")
}
