// Package brokerclients tests Gregor's broker, in process (broker/brokertest),
// with clients other than franz-go that the broker's own tests do not import:
// IBM/sarama's cluster admin, consumer group and read_committed consumer,
// segmentio/kafka-go's group reader, and kcat where it is installed. It lives
// in the integration module so that those clients are dependencies of the
// tests only, not of Gregor's library module; its tests need no gregor
// binary and run with the unit tests (make test-unit, with -race):
//
//	cd integration && go test -race ./brokerclients/
package brokerclients
