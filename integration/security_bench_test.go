package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// BenchmarkSecureThroughput produces and consumes the same records over
// PLAINTEXT and over SASL_SSL (SCRAM-SHA-512, TLS) and reports records/s
// of each (the best of two rounds) and the TLS cost; `make bench` runs it
// once (-benchtime 1x).
func BenchmarkSecureThroughput(b *testing.B) {
	const records, size = 100000, 1024
	plain := startBroker(b, "--log-level", "warn")
	secure := startSecureBroker(b)
	secure.addScramUser(b, "bench", "bench-secret")
	roots := x509.NewCertPool()
	roots.AddCert(secure.ca.Cert)
	secureOpts := []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: roots}),
		kgo.SASL(scram.Auth{User: "bench", Pass: "bench-secret"}.AsSha512Mechanism())}

	type result struct{ produce, consume float64 }
	run := func(addr string, opts ...kgo.Opt) result {
		topic := uniqueTopic("securebench")
		value := make([]byte, size)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
			kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		errs := make(chan error, 1)
		for range records - 1 {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		produced := float64(records-1) / time.Since(start).Seconds()
		start = time.Now()
		for n := 0; n < records; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			n += fs.NumRecords()
		}
		return result{produce: produced, consume: float64(records) / time.Since(start).Seconds()}
	}
	// best of two rounds, alternating, so neither side gets only the cold
	// or only the warm machine.
	best := func(a, b result) result { return result{max(a.produce, b.produce), max(a.consume, b.consume)} }
	for i := 0; i < b.N; i++ {
		var p, s result
		for range 2 {
			p = best(p, run(plain.addr()))
			s = best(s, run(secure.addr(), secureOpts...))
		}
		b.ReportMetric(p.produce, "plain-produce-rec/s")
		b.ReportMetric(s.produce, "sasl_ssl-produce-rec/s")
		b.ReportMetric(p.consume, "plain-consume-rec/s")
		b.ReportMetric(s.consume, "sasl_ssl-consume-rec/s")
		fmt.Fprintf(os.Stderr, "securebench: %d x %d B: produce %.0f/s plaintext vs %.0f/s SASL_SSL (%.0f%% cost), consume %.0f/s vs %.0f/s (%.0f%% cost)\n",
			records, size, p.produce, s.produce, 100*(1-s.produce/p.produce), p.consume, s.consume, 100*(1-s.consume/p.consume))
	}
}
