// Package testcluster starts the Kafka clusters that the tests of Gregor's
// clients (streams, Connect) run against: Gregor's own broker, in-process,
// and franz-go's kfake with one or three brokers. kfake is a second,
// independent implementation of the protocol that serves the newest
// request versions, so a client that works only because Gregor's broker
// forgives it fails there.
//
//	func TestPipeline(t *testing.T) {
//		testcluster.Run(t, func(t *testing.T, addr string) {
//			cl, _ := kgo.NewClient(kgo.SeedBrokers(addr))
//			...
//		})
//	}
package testcluster
