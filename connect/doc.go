// Package connect is the API of Gregor's Kafka Connect: what a connector,
// converter or transformation author imports. It holds the data model
// (schemas, structs and the logical types Decimal, Date, Time and
// Timestamp), the connector and task interfaces (Connector, SourceTask,
// SinkTask and their optional extensions), ConfigDef for describing and
// validating configurations, the Converter, Transformation and Predicate
// interfaces, and the plugin Registry that plugins register into.
//
// The worker that runs connectors (standalone and distributed herders,
// the REST API, the stores of offsets, configurations and statuses) is
// package connect/runtime, which imports this package; this package never
// imports the runtime.
//
// Connectors are Go code compiled into the binary. A connector package
// registers itself from init, and a program imports it for that effect:
//
//	package upper
//
//	import "github.com/gregorhq/gregor/connect"
//
//	func init() { connect.RegisterConnector("com.example.UpperSource", newUpper) }
//
//	func newUpper() connect.Connector { return &upperSource{} }
//
//	// upperSource implements connect.SourceConnector: Version, Config (a
//	// *connect.ConfigDef), Start, TaskConfigs, Stop and NewTask, whose
//	// connect.SourceTask returns []*connect.SourceRecord from Poll.
//
// A task's Poll (or Put) error fails the task unless it wraps
// ErrRetriable, in which case the worker retries after a backoff.
package connect
