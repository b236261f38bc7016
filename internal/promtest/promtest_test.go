package promtest

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// oneMetric is a collector of one metric of the given name and type.
type oneMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newOne(name string, typ prometheus.ValueType) oneMetric {
	return oneMetric{prometheus.NewDesc(name, "A test metric.", []string{"l"}, nil), typ}
}

func (o oneMetric) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }
func (o oneMetric) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(o.desc, o.typ, 3, "v")
}

// recorder records a fatal failure or a skip instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatal(a ...any)            { r.fatal, r.msg = true, fmt.Sprint(a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal, r.msg = true, fmt.Sprintf(f, a...) }
func (r *recorder) Skip(a ...any)             { r.skipped = true }

func TestText(t *testing.T) {
	text := Text(t, newOne("promtest_things_total", prometheus.CounterValue))
	if !bytes.Contains(text, []byte(`promtest_things_total{l="v"} 3`)) {
		t.Fatalf("text = %q", text)
	}
}

func TestCheckMetrics(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed")
	}
	ok := &recorder{TB: t}
	CheckMetrics(ok, newOne("promtest_things_total", prometheus.CounterValue))
	if ok.fatal || ok.skipped {
		t.Fatalf("a good counter failed the check: %s", ok.msg)
	}
	bad := &recorder{TB: t}
	CheckMetrics(bad, newOne("promtest_things_total", prometheus.GaugeValue))
	if !bad.fatal {
		t.Fatal("a gauge named _total passed promtool")
	}
	empty := &recorder{TB: t}
	CheckMetrics(empty, prometheus.NewRegistry()) // a registry is a collector of nothing here
	if !empty.fatal {
		t.Fatal("an empty collector passed")
	}
}

func TestSamples(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newOne("promtest_things_total", prometheus.CounterValue))
	if got := Sum(t, reg, "promtest_things_total", map[string]string{"l": "v"}); got != 3 {
		t.Fatalf("sum = %v", got)
	}
	if got := Sum(t, reg, "promtest_things_total", map[string]string{"l": "w"}); got != 0 {
		t.Fatalf("sum of no series = %v", got)
	}
}
