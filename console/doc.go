// Package console is Gregor's web console: a JSON API over Kafka's admin
// APIs (through franz-go's kgo and kadm, so it works against any Kafka
// cluster) and the single-page app of package console/web that uses it.
//
// The console shows the cluster (brokers, controller, throughput over the
// last hour from its own samples), topics (create, delete, configs, a
// message browser with a small filter language, produce), consumer groups
// (members, lag and its history, offset resets with a dry run), the
// connectors of Kafka Connect clusters (through a pass-through proxy of
// their REST API) and the topologies of streams applications.
//
// With Config.SASLMechanism set, the console asks for credentials and
// acts as that principal: each login gets its own client, so the broker's
// ACLs apply to everything it shows and does. Every state-changing request
// must carry the header X-Gregor-Console: 1.
//
// Usage:
//
//	c, err := console.New(console.Config{Brokers: []string{"127.0.0.1:9092"}})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	http.ListenAndServe("127.0.0.1:9000", c.Handler())
package console
