package runtime

import (
	"context"
	"errors"
	"fmt"
	"github.com/gregorhq/gregor/connect"
	"strings"
	"testing"
	"time"
)

func TestErrorHandlerRetry(t *testing.T) {
	boom := fmt.Errorf("db down: %w", connect.ErrRetriable)
	cases := []struct {
		name      string
		timeout   time.Duration
		failures  int
		permanent bool
		wantCalls int
		wantErr   bool
	}{
		{"no retries by default", 0, 5, false, 1, true},
		{"retries until success", time.Minute, 2, false, 3, false},
		{"forever", -1, 3, false, 4, false},
		{"permanent errors are not retried", time.Minute, 5, true, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &errorHandler{retryTimeout: c.timeout, maxDelay: time.Millisecond, m: &taskMetrics{}}
			calls := 0
			err := e.retry(context.Background(), func() error {
				calls++
				if calls <= c.failures {
					if c.permanent {
						return errors.New("bad")
					}
					return boom
				}
				return nil
			})
			if calls != c.wantCalls || (err != nil) != c.wantErr {
				t.Fatalf("calls=%d err=%v", calls, err)
			}
		})
	}
}

func TestErrorTrace(t *testing.T) {
	err := fmt.Errorf("outer: %w", &TransformError{Alias: "a", Class: "X", Err: errors.New("inner")})
	if got := errorClass(err); got != "*errors.errorString" {
		t.Fatal(got)
	}
	if tr := errorTrace(err); strings.Count(tr, "Caused by:") != 2 {
		t.Fatal(tr)
	}
}

func TestClientOptsGroupTimeouts(t *testing.T) {
	for props, ok := range map[[2]string]bool{
		{"session.timeout.ms", "6000"}: true, {"heartbeat.interval.ms", "500"}: true,
		{"max.poll.interval.ms", "10000"}: true,
		{"session.timeout.ms", "0"}:       false, {"heartbeat.interval.ms", "x"}: false, {"max.poll.interval.ms", "-1"}: false,
	} {
		_, err := clientOpts(WorkerConfig{}, "c", map[string]string{props[0]: props[1]})
		if (err == nil) != ok {
			t.Errorf("%s=%s: err %v", props[0], props[1], err)
		}
	}
}
