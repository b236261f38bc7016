package promtest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Text renders c's metrics in the Prometheus text exposition format, gathered through a
// pedantic registry (which also checks c's metrics against its descriptions).
func Text(t testing.TB, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register collector: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("render metrics: %v", err)
		}
	}
	return out.Bytes()
}

// CheckMetrics runs `promtool check metrics` (Debian's prometheus package) on c's
// metrics and fails the test on any complaint. Without promtool the test is skipped,
// unless the CI environment variable is set (CI installs it).
func CheckMetrics(t testing.TB, c prometheus.Collector) {
	t.Helper()
	text := Text(t, c)
	if len(text) == 0 {
		t.Fatalf("promtool check metrics: the collector has no metrics")
		return
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed (CI installs Debian's prometheus package)")
			return
		}
		t.Skip("promtool not installed (apt-get install prometheus; CI installs it)")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, text)
	}
}

// Sample is one series of a gathered metric: its labels and its value (a counter's or
// gauge's value, a histogram's sample count).
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Samples gathers reg and returns the series of the metric named name whose labels
// include every pair of match.
func Samples(t testing.TB, reg prometheus.Gatherer, name string, match map[string]string) []Sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []Sample
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if s.Labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				s.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.Value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.Value = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				s.Value = m.GetUntyped().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// Sum is the sum of the values of Samples(reg, name, match).
func Sum(t testing.TB, reg prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	var n float64
	for _, s := range Samples(t, reg, name, match) {
		n += s.Value
	}
	return n
}

// Poll calls cond every 20ms until it returns true, and fails the test with what
// describes the last state if timeout passes first.
func Poll(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dump returns the lines of c's text output that start with prefix, for failure
// messages.
func Dump(t testing.TB, c prometheus.Collector, prefix string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(string(Text(t, c)), "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
