package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclFlags are kafka-acls.sh's options.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	principals                      []string // --principal (list filter)
	operations                      []string
	topics, groups, txnIDs          []string
	tokens, users                   []string
	cluster                         bool
	patternType                     string
	producer, consumer, idempotent  bool
}

// aclResourceUsage names the resource flags in the usage lines.
const aclResourceUsage = "--topic T | --group G | --transactional-id T | --cluster"

// addResourceFlags adds the flags every acls command takes: the resources
// (--topic, --group, --cluster, --transactional-id, --delegation-token,
// --user-principal), how their names match (--resource-pattern-type) and
// the operations.
func (f *aclFlags) addResourceFlags(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.topics, "topic", nil, "a topic (repeatable; \"*\" is every topic)")
	fl.StringArrayVar(&f.groups, "group", nil, "a consumer group (repeatable; \"*\" is every group)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster itself (kafka-cluster)")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "a transactional ID (repeatable; \"*\" is every one)")
	fl.StringArrayVar(&f.tokens, "delegation-token", nil, "a delegation token (repeatable)")
	fl.StringArrayVar(&f.users, "user-principal", nil, "a user principal as a resource, e.g. User:alice (repeatable)")
	fl.StringVar(&f.patternType, "resource-pattern-type", "literal", "how resource names match: literal or prefixed ("+
		"list and delete also take any and match)")
	fl.StringArrayVar(&f.operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, "+
		"DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens or All (repeatable)")
}

// addGranteeFlags adds the principals and hosts of ALLOW and DENY ACLs,
// which create and delete (the verb) take.
func (f *aclFlags) addGranteeFlags(fl *pflag.FlagSet, verb string) {
	fl.StringArrayVar(&f.allowPrincipals, "allow-principal", nil, verb+" ALLOW ACLs for this principal, e.g. User:alice or User:* (repeatable)")
	fl.StringArrayVar(&f.denyPrincipals, "deny-principal", nil, verb+" DENY ACLs for this principal (repeatable)")
	fl.StringArrayVar(&f.allowHosts, "allow-host", nil, "the hosts (IP addresses) the ALLOW ACLs apply to (default \"*\": every host)")
	fl.StringArrayVar(&f.denyHosts, "deny-host", nil, "the hosts (IP addresses) the DENY ACLs apply to (default \"*\": every host)")
}

// aclResource is one resource pattern named on the command line.
type aclResource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (f *aclFlags) resources() []aclResource {
	var out []aclResource
	for _, set := range []struct {
		typ   kmsg.ACLResourceType
		names []string
	}{
		{kmsg.ACLResourceTypeTopic, f.topics}, {kmsg.ACLResourceTypeGroup, f.groups},
		{kmsg.ACLResourceTypeTransactionalId, f.txnIDs}, {kmsg.ACLResourceTypeDelegationToken, f.tokens},
		{kmsg.ACLResourceTypeUser, f.users},
	} {
		for _, n := range set.names {
			out = append(out, aclResource{set.typ, n})
		}
	}
	if f.cluster {
		out = append(out, aclResource{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	return out
}

func (f *aclFlags) pattern(filter bool) (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(f.patternType)
	if err == nil && !filter && p != kmsg.ACLResourcePatternTypeLiteral && p != kmsg.ACLResourcePatternTypePrefixed {
		err = errors.New("creating needs literal or prefixed")
	}
	if err != nil {
		return 0, usagef("--resource-pattern-type %q: %w", f.patternType, err)
	}
	return p, nil
}

func parseOperations(ops []string) ([]kmsg.ACLOperation, error) {
	var out []kmsg.ACLOperation
	for _, s := range ops {
		op, err := kmsg.ParseACLOperation(s)
		if err != nil || op <= kmsg.ACLOperationAny {
			return nil, usagef("--operation %q: want one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All", s)
		}
		out = append(out, op)
	}
	return out, nil
}

// grantee is a principal and the hosts and permission of its ACLs.
type grantee struct {
	principal string
	hosts     []string
	perm      kmsg.ACLPermissionType
}

func (f *aclFlags) grantees() []grantee {
	hostsOr := func(hs []string) []string {
		if len(hs) == 0 {
			return []string{"*"}
		}
		return hs
	}
	var out []grantee
	for _, p := range f.allowPrincipals {
		out = append(out, grantee{p, hostsOr(f.allowHosts), kmsg.ACLPermissionTypeAllow})
	}
	for _, p := range f.denyPrincipals {
		out = append(out, grantee{p, hostsOr(f.denyHosts), kmsg.ACLPermissionTypeDeny})
	}
	return out
}

// aclRow is one ACL as the command prints it.
type aclRow struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Permission   string `json:"permission"`
	Operation    string `json:"operation"`
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  string `json:"patternType"`
	Error        string `json:"error,omitempty"`
}

func rowOf(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) aclRow {
	return aclRow{Principal: principal, Host: host, Permission: perm.String(), Operation: op.String(),
		ResourceType: rt.String(), ResourceName: name, PatternType: pt.String()}
}

func writeACLRows(cmd *cobra.Command, g *globals, rows []aclRow) error {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.ResourceName != b.ResourceName {
			return a.ResourceName < b.ResourceName
		}
		return a.Principal < b.Principal
	})
	w := cmd.OutOrStdout()
	if g.json() {
		if rows == nil {
			rows = []aclRow{}
		}
		return writeJSON(w, rows)
	}
	t := newTable("PRINCIPAL", "HOST", "PERMISSION", "OPERATION", "RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN-TYPE")
	for _, r := range rows {
		if r.Error == "" {
			t.add(r.Principal, r.Host, r.Permission, r.Operation, r.ResourceType, r.ResourceName, r.PatternType)
		}
	}
	return t.write(w)
}

func newACLsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acls",
		Short: "Create, list and delete access control lists (ACLs)",
		Long: `Manage the cluster's ACLs, like kafka-acls.sh --add, --list and --remove, with its
options. The broker enforces them when it runs an authorizer:

  authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
  super.users=User:admin

An ACL allows (or denies) a principal an operation on a resource, from a host:
  principals  User:alice, or User:* for everyone (SASL users, or the name a TLS
              client certificate maps to; User:ANONYMOUS on PLAINTEXT listeners)
  resources   --topic, --group, --transactional-id, --cluster, --delegation-token,
              --user-principal; a name of "*" is every resource of that type, and
              --resource-pattern-type prefixed makes the name a prefix
  operations  Read, Write, Create, Delete, Alter, Describe, ClusterAction,
              DescribeConfigs, AlterConfigs, IdempotentWrite, All; Read, Write, Delete
              and Alter imply Describe, AlterConfigs implies DescribeConfigs
  hosts       "*" (the default) or a client IP address

A DENY wins over any ALLOW. A resource without any ACL is denied to everyone but the
super users, unless the broker sets allow.everyone.if.no.acl.found=true. Changing ACLs
needs Alter on the cluster, listing them Describe on the cluster.`,
		Example: `  gregor acls create --allow-principal User:alice --operation Read --operation Describe --topic orders
  gregor acls create --allow-principal User:alice --consumer --topic orders --group billing
  gregor acls create --allow-principal User:bob --producer --topic logs- --resource-pattern-type prefixed
  gregor acls create --deny-principal User:mallory --deny-host 10.0.0.66 --operation All --topic '*'
  gregor acls list --topic orders
  gregor acls list --principal User:alice --output json
  gregor acls delete --allow-principal User:alice --operation Read --topic orders`,
		Args: noArgs,
	}
	cmd.AddCommand(newACLsCreate(g), newACLsList(g), newACLsDelete(g))
	return cmd
}

func newACLsCreate(g *globals) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "create (--allow-principal P | --deny-principal P) (--operation OP | --producer | --consumer) (" + aclResourceUsage + ")",
		Short: "Create ACLs: every principal x host x operation x resource given",
		Example: `  gregor acls create --allow-principal User:alice --operation Read --topic orders
  gregor acls create --allow-principal User:alice --allow-host 10.0.0.5 --operation Write --topic orders
  gregor acls create --allow-principal User:app --producer --idempotent --topic events --transactional-id app-
  gregor acls create --allow-principal User:ops --operation Alter --operation Describe --cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			creations, err := f.creations()
			if err != nil {
				return err
			}
			req := kmsg.NewPtrCreateACLsRequest()
			req.Creations = creations
			resp, err := requestOp[*kmsg.CreateACLsResponse](cmd, g, "CreateAcls", req)
			if err != nil {
				return err
			}
			var rows []aclRow
			var failed error
			for i, r := range resp.Results {
				c := creations[i]
				row := rowOf(c.ResourceType, c.ResourceName, c.ResourcePatternType, c.Principal, c.Host, c.Operation, c.PermissionType)
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					err = respErr(err, aclMsg(r.ErrorMessage))
					row.Error = err.Error()
					failed = errors.Join(failed, fmt.Errorf("%s %s %s on %s %s: %w", row.Permission, row.Principal, row.Operation, row.ResourceType, row.ResourceName, err))
				}
				rows = append(rows, row)
			}
			if err := writeACLRows(cmd, g, rows); err != nil {
				return err
			}
			return failed
		},
	}
	fl := cmd.Flags()
	f.addResourceFlags(fl)
	f.addGranteeFlags(fl, "create")
	fl.BoolVar(&f.producer, "producer", false, "the ACLs a producer needs: Write, Describe and Create on --topic "+
		"(and Write, Describe on --transactional-id)")
	fl.BoolVar(&f.consumer, "consumer", false, "the ACLs a consumer needs: Read and Describe on --topic, Read on --group")
	fl.BoolVar(&f.idempotent, "idempotent", false, "with --producer: IdempotentWrite on the cluster")
	return cmd
}

// creations expands the flags into the ACLs to create.
func (f *aclFlags) creations() ([]kmsg.CreateACLsRequestCreation, error) {
	grantees := f.grantees()
	if len(grantees) == 0 {
		return nil, usagef("name who the ACLs are for with --allow-principal or --deny-principal")
	}
	pt, err := f.pattern(false)
	if err != nil {
		return nil, err
	}
	ops, err := parseOperations(f.operations)
	if err != nil {
		return nil, err
	}
	type target struct {
		res aclResource
		op  kmsg.ACLOperation
	}
	var targets []target
	res := f.resources()
	if f.producer || f.consumer {
		if len(ops) > 0 {
			return nil, usagef("--operation cannot be combined with --producer or --consumer")
		}
		if len(f.topics) == 0 {
			return nil, usagef("--producer and --consumer need --topic")
		}
		if f.consumer && len(f.groups) == 0 {
			return nil, usagef("--consumer needs --group")
		}
		for _, r := range res {
			switch {
			case r.typ == kmsg.ACLResourceTypeTopic && f.producer:
				targets = append(targets, target{r, kmsg.ACLOperationWrite}, target{r, kmsg.ACLOperationDescribe}, target{r, kmsg.ACLOperationCreate})
			case r.typ == kmsg.ACLResourceTypeTransactionalId && f.producer:
				targets = append(targets, target{r, kmsg.ACLOperationWrite}, target{r, kmsg.ACLOperationDescribe})
			}
			switch {
			case r.typ == kmsg.ACLResourceTypeTopic && f.consumer:
				targets = append(targets, target{r, kmsg.ACLOperationRead}, target{r, kmsg.ACLOperationDescribe})
			case r.typ == kmsg.ACLResourceTypeGroup && f.consumer:
				targets = append(targets, target{r, kmsg.ACLOperationRead})
			}
		}
		if f.producer && f.idempotent {
			targets = append(targets, target{aclResource{kmsg.ACLResourceTypeCluster, "kafka-cluster"}, kmsg.ACLOperationIdempotentWrite})
		}
	} else {
		if len(res) == 0 {
			return nil, usagef("name a resource: --topic, --group, --transactional-id, --cluster, --delegation-token or --user-principal")
		}
		if len(ops) == 0 {
			return nil, usagef("name the operations with --operation (or use --producer or --consumer)")
		}
		for _, r := range res {
			for _, op := range ops {
				targets = append(targets, target{r, op})
			}
		}
	}
	var out []kmsg.CreateACLsRequestCreation
	for _, gr := range grantees {
		for _, h := range gr.hosts {
			for _, tg := range targets {
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = tg.res.typ, tg.res.name, pt
				if tg.res.typ == kmsg.ACLResourceTypeCluster {
					c.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
				}
				c.Principal, c.Host, c.Operation, c.PermissionType = gr.principal, h, tg.op, gr.perm
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// filters expands the flags into DescribeAcls/DeleteAcls filters: one per
// resource (or one for every resource), principal and operation.
func (f *aclFlags) filters(principals []string, perm kmsg.ACLPermissionType, hosts []string) ([]kmsg.DeleteACLsRequestFilter, error) {
	pt, err := f.pattern(true)
	if err != nil {
		return nil, err
	}
	ops, err := parseOperations(f.operations)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		ops = []kmsg.ACLOperation{kmsg.ACLOperationAny}
	}
	res := f.resources()
	if len(res) == 0 {
		res = []aclResource{{typ: kmsg.ACLResourceTypeAny}}
		if pt == kmsg.ACLResourcePatternTypeLiteral && f.patternType == "literal" {
			pt = kmsg.ACLResourcePatternTypeAny // no resource named: every pattern
		}
	}
	ptrs := func(ss []string) []*string {
		if len(ss) == 0 {
			return []*string{nil}
		}
		var out []*string
		for _, s := range ss {
			out = append(out, kmsg.StringPtr(s))
		}
		return out
	}
	var out []kmsg.DeleteACLsRequestFilter
	for _, r := range res {
		for _, p := range ptrs(principals) {
			for _, h := range ptrs(hosts) {
				for _, op := range ops {
					fl := kmsg.NewDeleteACLsRequestFilter()
					fl.ResourceType, fl.ResourcePatternType = r.typ, pt
					if r.typ != kmsg.ACLResourceTypeAny {
						fl.ResourceName = kmsg.StringPtr(r.name)
					}
					fl.Principal, fl.Host, fl.Operation, fl.PermissionType = p, h, op, perm
					out = append(out, fl)
				}
			}
		}
	}
	return out, nil
}

func newACLsList(g *globals) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "list [" + aclResourceUsage + "] [--principal P]",
		Short: "List ACLs (all of them without a resource)",
		Example: `  gregor acls list
  gregor acls list --topic orders
  gregor acls list --topic orders-eu --resource-pattern-type match   # every ACL that applies to orders-eu
  gregor acls list --principal User:alice --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filters, err := f.filters(f.principals, kmsg.ACLPermissionTypeAny, nil)
			if err != nil {
				return err
			}
			cl, ctx, done, err := g.clientOp(cmd)
			if err != nil {
				return err
			}
			defer done()
			var rows []aclRow
			seen := map[aclRow]bool{}
			for _, fl := range filters {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourceName, req.ResourcePatternType = fl.ResourceType, fl.ResourceName, fl.ResourcePatternType
				req.Principal, req.Host, req.Operation, req.PermissionType = fl.Principal, fl.Host, fl.Operation, fl.PermissionType
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return kafkaErr("DescribeAcls", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return respErr(err, aclMsg(resp.ErrorMessage))
				}
				for _, r := range resp.Resources {
					for _, a := range r.ACLs {
						row := rowOf(r.ResourceType, r.ResourceName, r.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType)
						if !seen[row] {
							seen[row] = true
							rows = append(rows, row)
						}
					}
				}
			}
			return writeACLRows(cmd, g, rows)
		},
	}
	f.addResourceFlags(cmd.Flags())
	cmd.Flags().StringArrayVar(&f.principals, "principal", nil, "only ACLs of this principal, e.g. User:alice (repeatable)")
	return cmd
}

func newACLsDelete(g *globals) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "delete [--allow-principal P | --deny-principal P] [--operation OP] [" + aclResourceUsage + "]",
		Short: "Delete the ACLs the options select, and print them",
		Long: `Delete the ACLs the options select, as kafka-acls.sh --remove does: what is not given
matches anything, so name at least a resource or a principal. --resource-pattern-type
any deletes literal and prefixed ACLs of the name, match every ACL that applies to it.`,
		Example: `  gregor acls delete --allow-principal User:alice --operation Read --topic orders
  gregor acls delete --topic orders                         # every ACL on the literal name orders
  gregor acls delete --deny-principal User:mallory --topic '*'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var filters []kmsg.DeleteACLsRequestFilter
			gs := f.grantees()
			if len(gs) == 0 && len(f.resources()) == 0 {
				return usagef("name the ACLs to delete with a resource (--topic, --group, ...) or --allow-principal/--deny-principal")
			}
			add := func(ps []string, perm kmsg.ACLPermissionType, hosts []string) error {
				fs, err := f.filters(ps, perm, hosts)
				filters = append(filters, fs...)
				return err
			}
			var err error
			switch {
			case len(gs) == 0:
				err = add(nil, kmsg.ACLPermissionTypeAny, nil)
			default:
				if len(f.allowPrincipals) > 0 {
					err = add(f.allowPrincipals, kmsg.ACLPermissionTypeAllow, f.allowHosts)
				}
				if err == nil && len(f.denyPrincipals) > 0 {
					err = add(f.denyPrincipals, kmsg.ACLPermissionTypeDeny, f.denyHosts)
				}
			}
			if err != nil {
				return err
			}
			req := kmsg.NewPtrDeleteACLsRequest()
			req.Filters = filters
			resp, err := requestOp[*kmsg.DeleteACLsResponse](cmd, g, "DeleteAcls", req, kgo.RequestRetries(0))
			if err != nil {
				return err
			}
			var rows []aclRow
			var failed error
			for _, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					failed = errors.Join(failed, respErr(err, aclMsg(r.ErrorMessage)))
					continue
				}
				for _, m := range r.MatchingACLs {
					row := rowOf(m.ResourceType, m.ResourceName, m.ResourcePatternType, m.Principal, m.Host, m.Operation, m.PermissionType)
					if err := kerr.ErrorForCode(m.ErrorCode); err != nil {
						row.Error = respErr(err, aclMsg(m.ErrorMessage)).Error()
						failed = errors.Join(failed, errors.New(row.Error))
					}
					rows = append(rows, row)
				}
			}
			if err := writeACLRows(cmd, g, rows); err != nil {
				return err
			}
			if failed != nil {
				return failed
			}
			if len(rows) == 0 && !g.json() {
				fmt.Fprintln(cmd.ErrOrStderr(), "no ACLs matched")
			}
			return nil
		},
	}
	f.addResourceFlags(cmd.Flags())
	f.addGranteeFlags(cmd.Flags(), "delete")
	return cmd
}

// aclMsg is a response's error message, "" for none.
func aclMsg(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}
