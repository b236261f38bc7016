// Package brokertest runs a real Gregor broker in-process for tests: on an
// ephemeral loopback port, with its data in a temporary directory, stopped
// when the test ends. It is the Gregor counterpart of franz-go's kfake, but
// it is the real broker with real on-disk logs.
//
//	func TestMyConsumer(t *testing.T) {
//		b := brokertest.Start(t)
//		cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//	}
package brokertest
