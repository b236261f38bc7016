// Package acl is the broker's authorizer: Kafka's access control lists
// with the semantics of its StandardAuthorizer, free of I/O so it can be
// tested alone. The broker keeps the bindings in the cluster metadata and
// builds an Authorizer from them whenever they change; an Authorizer never
// changes after New.
//
// A Binding allows or denies one principal (or User:* for everyone) one
// operation on a resource, named literally or by prefix, from one host (or
// "*"). A request is allowed when the principal is a super user, or when
// no binding that matches it denies the operation and one allows it (or an
// operation it implies: READ, WRITE, DELETE and ALTER imply DESCRIBE,
// ALTER_CONFIGS implies DESCRIBE_CONFIGS, ALL implies everything). A
// resource that has no bindings at all is allowed only with
// allow.everyone.if.no.acl.found.
//
//	cfg, err := acl.ConfigFromProperties(map[string]string{
//		"authorizer.class.name": acl.StandardAuthorizer,
//		"super.users":           "User:admin",
//	})
//	if err != nil {
//		return err
//	}
//	a := acl.New(cfg, []acl.Binding{{
//		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders",
//		PatternType: kmsg.ACLResourcePatternTypePrefixed,
//		Principal: "User:alice", Host: "*",
//		Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow,
//	}})
//	ok := a.Authorize(acl.Action{Principal: "User:alice", Host: "10.0.0.1",
//		Operation: kmsg.ACLOperationDescribe,
//		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders-eu"}) // true
//
// Filters select bindings for DescribeAcls and DeleteAcls, with Kafka's ANY
// and MATCH pattern types.
package acl
