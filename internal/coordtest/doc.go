// Package coordtest helps tests that need a consumer group and a
// transactional ID coordinated by different brokers (so that killing or
// fencing one coordinator leaves the other where it is). The broker's
// in-process cluster tests and the integration tests of real clusters
// both use it, each polling with its own wait:
//
//	var p coordtest.Pair
//	waitFor(t, "coordinators", func() (err error) {
//		p, err = coordtest.Split(ctx, adm, "etl", 10)
//		return err
//	})
//	// p.Group and p.TxnID have different coordinators.
package coordtest
