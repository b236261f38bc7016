package latency

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestObserveN(t *testing.T) {
	var h Histogram
	h.ObserveN(0, 0) // nothing
	h.Observe(3 * time.Microsecond)
	h.ObserveN(4*time.Millisecond, 4) // 4 operations at 1ms
	h.Observe(time.Minute)            // beyond the last bucket
	h.Observe(-time.Second)           // clamped to 0
	if got := h.Count(); got != 7 {
		t.Fatalf("count = %d, want 7", got)
	}
	if got, want := h.Sum(), 3*time.Microsecond+4*time.Millisecond+time.Minute; got != want {
		t.Fatalf("sum = %v, want %v", got, want)
	}
	if got := h.Max(); got != time.Minute {
		t.Fatalf("max = %v", got)
	}
	desc := prometheus.NewDesc("x_seconds", "help", []string{"task"}, nil)
	m, err := h.Metric(desc, "0_0")
	if err != nil {
		t.Fatal(err)
	}
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	hist := pb.GetHistogram()
	if hist.GetSampleCount() != 7 {
		t.Fatalf("sample count = %d", hist.GetSampleCount())
	}
	want := map[float64]uint64{0.00001: 2, 0.0005: 2, 0.001: 6, 10: 6}
	for _, b := range hist.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	if pb.GetLabel()[0].GetValue() != "0_0" {
		t.Fatalf("label = %v", pb.GetLabel())
	}
}

func TestConcurrentReaders(t *testing.T) {
	var h Histogram
	desc := prometheus.NewDesc("x_seconds", "help", nil, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 1000 {
			h.ObserveN(time.Duration(i)*time.Microsecond, 2)
		}
	}()
	go func() {
		defer wg.Done()
		for range 100 {
			if _, err := h.Metric(desc); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if h.Count() != 2000 {
		t.Fatalf("count = %d", h.Count())
	}
}
