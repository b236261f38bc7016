package broker

import (
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/quota"
)

// Client quotas, enforced as Kafka enforces them. The quotas themselves
// live in the cluster metadata (client-quotas records, written by
// AlterClientQuotas); every node indexes them in a quota.Set when they
// change. Each connection's requests are measured against the quota that
// applies to its principal's user name and client ID:
//
//   - producer_byte_rate: the size of each Produce request;
//   - consumer_byte_rate: the size of each consumer's Fetch response
//     (followers' fetches are exempt, as Kafka's replication is);
//   - request_percentage: the time spent handling each request, as a
//     percentage of one request thread (ApiVersions and the SASL
//     exchange are exempt);
//   - controller_mutation_rate: partitions created or deleted by
//     CreateTopics, CreatePartitions and DeleteTopics (a token bucket;
//     see mutationQuota);
//   - connection_creation_rate: new connections from one IP address.
//
// A request over a quota is still answered, with the throttle time in
// throttle_time_ms; then the connection is muted for that long: its
// requests are neither read nor served. Clients of request versions from
// before KIP-219 get the response only after the throttle time instead.

// quotaManager is a broker's quota state: the quotas in force and the
// measured rates.
type quotaManager struct {
	set     atomic.Pointer[quota.Set]
	sensors *quota.Sensors
}

func newQuotaManager(cfg Config) *quotaManager {
	w := quota.DefaultWindow
	if v, err := strconv.Atoi(cfg.Properties["quota.window.num"]); err == nil && v > 1 {
		w.Samples = v
	}
	if v, err := strconv.Atoi(cfg.Properties["quota.window.size.seconds"]); err == nil && v > 0 {
		w.Size = time.Duration(v) * time.Second
	}
	q := &quotaManager{sensors: quota.NewSensors(w)}
	q.set.Store(quota.NewSet(nil))
	return q
}

// loadQuotasLocked indexes the metadata's client quotas. Callers hold
// b.mu.
func (b *Broker) loadQuotasLocked() {
	b.quotas.set.Store(quota.NewSet(b.meta.ClientQuotas()))
}

// requestQuotaExempt lists the APIs request_percentage does not count:
// the ones a client needs before it can be throttled at all, and the
// group APIs that wait in the coordinator for the rest of the group (their
// work is a small part of their time, which is mostly waiting). Followers'
// fetches are exempt too, as Kafka exempts brokers' own requests.
var requestQuotaExempt = map[int16]bool{
	11: true, // JoinGroup
	14: true, // SyncGroup
	17: true, // SaslHandshake
	18: true, // ApiVersions
	36: true, // SaslAuthenticate
}

// quotaThrottle records what the request cost against the client's
// quotas and returns how long the client is throttled for it. took is
// the time the handler ran.
func (c *conn) quotaThrottle(r *request, resp kmsg.Response, took time.Duration) time.Duration {
	set := c.b.quotas.set.Load()
	user, now := c.principal.Name, time.Now()
	var throttle time.Duration
	record := func(key string, value float64) {
		q, ok := set.Resolve(key, user, r.clientID)
		if !ok {
			return
		}
		throttle = max(throttle, c.b.quotas.sensors.Record(key, q.Group, value, q.Value, now))
	}
	follower := false
	if req, ok := r.kreq.(*kmsg.FetchRequest); ok {
		follower = fetchReplicaID(req, r.version) >= 0
	}
	switch r.key {
	case 0:
		if set.Has(quota.ProducerByteRate) {
			record(quota.ProducerByteRate, float64(r.size))
		}
	case 1:
		if fr, ok := resp.(*kmsg.FetchResponse); ok && !follower && set.Has(quota.ConsumerByteRate) {
			record(quota.ConsumerByteRate, float64(responseSizeHint(fr)))
		}
	}
	if set.Has(quota.RequestPercentage) && !requestQuotaExempt[r.key] && !follower {
		record(quota.RequestPercentage, max(took-r.parked, 0).Seconds()*100)
	}
	return throttle
}

// maxFetchBytesForQuota is the most a consumer's fetch may return under
// its consumer_byte_rate: what the quota allows over the whole quota
// window but one sample, as Kafka caps it; 0 when no quota applies.
func (c *conn) maxFetchBytesForQuota(clientID string) int32 {
	set := c.b.quotas.set.Load()
	q, ok := set.Resolve(quota.ConsumerByteRate, c.principal.Name, clientID)
	if !ok {
		return 0
	}
	w := c.b.quotas.sensors.Window()
	n := q.Value * float64(w.Samples-1) * w.Size.Seconds()
	if n >= float64(1<<31-1) {
		return 0
	}
	return max(int32(n), 1)
}

// connectionThrottle records a new connection from ip against its
// connection_creation_rate. Over the quota it takes the connection back
// out of the rate and returns how long to hold it before closing it, at
// most one quota window (Kafka's bound).
func (b *Broker) connectionThrottle(ip string) time.Duration {
	set := b.quotas.set.Load()
	bound, ok := set.ResolveIP(ip)
	if !ok {
		return 0
	}
	now := time.Now()
	g := quota.Group{IP: ip}
	d := b.quotas.sensors.Record(quota.ConnectionCreationRate, g, 1, bound, now)
	if d <= 0 {
		return 0
	}
	b.quotas.sensors.Record(quota.ConnectionCreationRate, g, -1, bound, now)
	return min(d, b.quotas.sensors.Window().Size)
}

// mutationQuota is the controller_mutation_rate check of one request.
// A nil *mutationQuota allows everything.
type mutationQuota struct {
	b      *Broker
	group  quota.Group
	bound  float64
	strict bool
	// throttle is the longest throttle time any check gave.
	throttle time.Duration
}

// mutationQuota returns the check for r, or nil when no
// controller_mutation_rate applies to its client. Strict checks (request
// versions that know THROTTLING_QUOTA_EXCEEDED) refuse a mutation while
// the quota is exceeded; the others only throttle.
func (b *Broker) mutationQuota(r *request, strict bool) *mutationQuota {
	set := b.quotas.set.Load()
	user := ""
	if r.conn != nil {
		user = r.conn.principal.Name
	}
	q, ok := set.Resolve(quota.ControllerMutationRate, user, r.clientID)
	if !ok {
		return nil
	}
	return &mutationQuota{b: b, group: q.Group, bound: q.Value, strict: strict}
}

// allowed reports whether a mutation may go ahead: false when a strict
// quota is exceeded (the topic then fails with THROTTLING_QUOTA_EXCEEDED).
// As Kafka's, the check comes before the mutation and record after it,
// so one request may take the bucket below zero.
func (m *mutationQuota) allowed() bool {
	if m == nil || !m.strict {
		return true
	}
	d, over := m.b.quotas.sensors.MutationExceeded(m.group, m.bound, time.Now())
	m.throttle = max(m.throttle, d)
	return !over
}

// record takes n partition mutations from the bucket.
func (m *mutationQuota) record(n int32) {
	if m == nil || n <= 0 {
		return
	}
	m.throttle = max(m.throttle, m.b.quotas.sensors.Mutate(m.group, float64(n), m.bound, time.Now()))
}

// throttleMillis is the throttle time the response carries.
func (m *mutationQuota) throttleMillis() int32 {
	if m == nil {
		return 0
	}
	return int32(m.throttle.Milliseconds())
}

// setThrottle puts the throttle time in the response (keeping a longer
// one a handler set, such as a controller-mutation throttle) and returns
// how long to mute the connection after it. A response version from
// before KIP-219 has the client throttle nothing itself, so the response
// is held back for the throttle time instead.
func (c *conn) setThrottle(resp kmsg.Response, throttle time.Duration) time.Duration {
	tr, ok := resp.(kmsg.ThrottleResponse)
	if !ok {
		return throttle
	}
	ms, after := tr.Throttle()
	throttle = max(throttle, time.Duration(ms)*time.Millisecond)
	if throttle <= 0 {
		return 0
	}
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(int32(min(throttle.Milliseconds(), 1<<31-1)))
	}
	if !after {
		t := time.NewTimer(throttle)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
		}
		return 0
	}
	return throttle
}

// mute stops the connection's requests from being read or served for d.
func (c *conn) mute(d time.Duration) {
	if d > 0 {
		c.mutedUntil.Store(time.Now().Add(d).UnixNano())
	}
}

// waitMuted waits until the connection is no longer muted; false if it
// closed meanwhile.
func (c *conn) waitMuted() bool {
	until := c.mutedUntil.Load()
	if until == 0 {
		return true
	}
	d := time.Until(time.Unix(0, until))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// closeThrottled holds a connection refused by connection_creation_rate
// for d, then closes it (Kafka delays the close so that a client does
// not reconnect at once). The caller has added it to b.wg.
func (b *Broker) closeThrottled(nc net.Conn, d time.Duration) {
	defer b.wg.Done()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.closing:
	}
	nc.Close()
}

// partitionCount is the live partition count of a topic (0 if unknown).
func (b *Broker) partitionCount(name string) int32 {
	if t := b.topicByName(name); t != nil {
		return t.numPartitions()
	}
	return 0
}
