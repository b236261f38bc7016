// Command gregor is Gregor's one binary: the Kafka-compatible broker
// (gregor broker) and the tools around it — topics, configs, produce,
// consume, groups, cluster, perf and connect.
//
//	gregor broker                       # a single-node broker on 127.0.0.1:9092
//	gregor topics create orders -p 3    # then any Kafka client, or these tools
//	gregor --help                       # everything else
//
// Exit codes: 0 on success, 1 when an operation failed (an unreachable
// broker, a Kafka error, records that were not acknowledged) and 2 for bad
// usage (an unknown command or flag, a bad flag value, missing arguments).
package main
