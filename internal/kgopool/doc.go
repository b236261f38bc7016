// Package kgopool lends franz-go's client the memory it decodes fetched
// records into (kgo.WithPools), so that a consumer reading millions of
// records does not allocate, and the collector trace, one kgo.Record each.
//
// A record goes back with Record.Recycle once nothing uses it; the slice it
// was decoded into comes back to the pool when all of its records have:
//
//	var pool kgopool.Records
//	cl, _ := kgo.NewClient(kgo.WithPools(&pool), ...)
//	fetches := cl.PollFetches(ctx)
//	... use the records ...
//	fetches.EachRecord(func(r *kgo.Record) { r.Recycle() })
package kgopool
