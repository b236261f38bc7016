// Package quota holds the logic of Kafka's client quotas (KIP-13, KIP-55,
// KIP-124, KIP-257, KIP-546, KIP-599, KIP-612) as pure functions and
// values, without sockets or clocks: which quota applies to a client
// (Resolve, with Kafka's precedence from /config/users/<user>/clients/<id>
// down to the defaults), the windowed rate a quota is measured against
// (Rate, Kafka's quota.window.num samples of quota.window.size.seconds),
// the token bucket of controller mutations (TokenBucket), and the throttle
// time a violation costs.
//
// The broker keeps the configured quotas in its replicated metadata, builds
// a Set from them, and records what each connection does:
//
//	set := quota.NewSet(configs) // from the metadata's client quotas
//	sensors := quota.NewSensors(quota.DefaultWindow)
//	if q, ok := set.Resolve(quota.ProducerByteRate, "alice", "producer-1"); ok {
//		// 0 while within the quota, else how long to throttle the client.
//		throttle := sensors.Record(quota.ProducerByteRate, q.Group, float64(requestBytes), q.Value, time.Now())
//		_ = throttle
//	}
package quota
