package broker

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1000, 0)
	for i := 0; i < authLogBurst; i++ {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Millisecond)); !ok {
			t.Fatalf("line %d of the first second was suppressed", i)
		}
	}
	for i := 0; i < 5; i++ {
		if ok, _ := l.allow(t0.Add(500 * time.Millisecond)); ok {
			t.Fatal("a line over the burst was let through")
		}
	}
	ok, skipped := l.allow(t0.Add(time.Second))
	if !ok || skipped != 5 {
		t.Fatalf("next second: ok %v, skipped %d; want true, 5", ok, skipped)
	}
	if _, skipped := l.allow(t0.Add(time.Second)); skipped != 0 {
		t.Fatalf("the skipped count was reported twice")
	}
}
