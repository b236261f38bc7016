// Package broker is Gregor's Kafka-compatible broker: it accepts client
// connections, decodes Kafka requests with franz-go's kmsg, and answers them
// from durable partition logs (package broker/log) and cluster metadata
// (package broker/meta).
//
// Each Kafka API has its own file named after its key (00_produce.go,
// 01_fetch.go, ...), opening with the versions it supports; ApiVersions is
// built from the registry those files fill. With authorizer.class.name
// set, each handler checks the connection's principal against the ACLs of
// the cluster metadata, as Kafka does (authorize.go, package broker/acl).
//
//	cfg := broker.DefaultConfig()
//	cfg.DataDir = "/var/lib/gregor"
//	b, err := broker.New(cfg)
//	if err != nil {
//		return err
//	}
//	return b.Serve(ctx) // until ctx is cancelled
package broker
