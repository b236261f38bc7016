package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestQuotasThrottleByteRates runs the real broker with a SASL_SSL
// listener. alice (SCRAM) has producer_byte_rate and consumer_byte_rate
// quotas set with `gregor quotas alter`; admin (PLAIN) has none. Each
// phase runs both clients side by side on the same broker for about ten
// seconds: alice is held to about her quota, admin keeps going at the
// broker's pace. The bounds are generous (alice at most 1.2× her quota,
// admin at least 3× it), since tests must not depend on tight timing.
func TestQuotasThrottleByteRates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 s")
	}
	const (
		quota  = 512 << 10 // bytes per second
		run    = 10 * time.Second
		size   = 1024
		maxFat = 64 << 20 // the unthrottled producer stops here
	)
	b := startSecureBroker(t)
	b.addScramUser(t, "alice", "alice-secret")
	if out, err := b.gregorCLI(t, "", "--command-config", b.adminConfig, "quotas", "alter", "--entity-type", "users", "--entity-name", "alice",
		"--add-config", fmt.Sprintf("producer_byte_rate=%d,consumer_byte_rate=%d", quota, quota)); err != nil {
		t.Fatalf("gregor quotas alter: %v\n%s", err, out)
	}
	roots := x509.NewCertPool()
	roots.AddCert(b.ca.Cert)
	tlsOpt := kgo.DialTLSConfig(&tls.Config{RootCAs: roots})
	alice := []kgo.Opt{tlsOpt, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism())}
	admin := []kgo.Opt{tlsOpt, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())}

	adm := kadm.NewClient(newClient(t, b.addr(), admin...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, topic := range []string{"slow", "fast"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	value := make([]byte, size)
	rand.Read(value) // incompressible, not that compression is on

	// produce sends records as fast as the broker lets it until run has
	// passed or limit bytes are acknowledged, and returns the acknowledged
	// bytes per second.
	produce := func(topic string, limit int64, opts ...kgo.Opt) float64 {
		cl := newClient(t, b.addr(), append([]kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0)}, opts...)...)
		var acked atomic.Int64
		start := time.Now()
		pctx, stop := context.WithTimeout(ctx, run)
		defer stop()
		for pctx.Err() == nil && acked.Load() < limit {
			cl.Produce(pctx, &kgo.Record{Topic: topic, Value: value}, func(r *kgo.Record, err error) {
				if err == nil {
					acked.Add(int64(len(r.Value)))
				}
			})
		}
		n, el := acked.Load(), time.Since(start)
		return float64(n) / el.Seconds()
	}
	var slowRate, fastRate float64
	var wg sync.WaitGroup
	wg.Add(2)
	// alice's requests are small, so the last one before the throttle
	// overshoots the quota by little.
	go func() {
		defer wg.Done()
		slowRate = produce("slow", 1<<40, append(alice, kgo.ProducerBatchMaxBytes(16<<10))...)
	}()
	// Small batches in "fast" too: a fetch returns at least one whole
	// batch, so alice's fetches overshoot by at most one.
	go func() {
		defer wg.Done()
		fastRate = produce("fast", maxFat, append(admin, kgo.ProducerBatchMaxBytes(16<<10))...)
	}()
	wg.Wait()
	t.Logf("produce: alice %.0f B/s (quota %d, %.2f×), admin %.0f B/s (%.1f×)", slowRate, quota, slowRate/quota, fastRate, fastRate/quota)
	if slowRate > 1.2*quota || slowRate < 0.5*quota {
		t.Errorf("alice produced %.0f B/s against a quota of %d", slowRate, quota)
	}
	if fastRate < 3*quota {
		t.Errorf("admin (no quota) produced only %.0f B/s", fastRate)
	}

	// consume reads "fast" from the start until run has passed or it has
	// everything, and returns bytes per second.
	offs, err := adm.ListEndOffsets(ctx, "fast")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := offs.Lookup("fast", 0)
	total := end.Offset * size
	if total < 2*quota*int64(run/time.Second) {
		t.Fatalf("only %d bytes to consume", total)
	}
	consume := func(opts ...kgo.Opt) float64 {
		cl := newClient(t, b.addr(), append(opts, kgo.ConsumeTopics("fast"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		var n int64
		start := time.Now()
		cctx, stop := context.WithTimeout(ctx, run)
		defer stop()
		for cctx.Err() == nil && n < total {
			cl.PollFetches(cctx).EachRecord(func(r *kgo.Record) { n += int64(len(r.Value)) })
		}
		return float64(n) / time.Since(start).Seconds()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		slowRate = consume(append(alice, kgo.FetchMaxBytes(16<<10), kgo.FetchMaxPartitionBytes(16<<10))...)
	}()
	go func() { defer wg.Done(); fastRate = consume(admin...) }()
	wg.Wait()
	t.Logf("consume: alice %.0f B/s (quota %d, %.2f×), admin %.0f B/s (%.1f×)", slowRate, quota, slowRate/quota, fastRate, fastRate/quota)
	if slowRate > 1.2*quota || slowRate < 0.5*quota {
		t.Errorf("alice consumed %.0f B/s against a quota of %d", slowRate, quota)
	}
	if fastRate < 3*quota {
		t.Errorf("admin (no quota) consumed only %.0f B/s", fastRate)
	}
}
