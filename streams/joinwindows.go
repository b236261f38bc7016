package streams

import (
	"fmt"
	"time"
)

// JoinWindows bounds a stream-stream join (Kafka Streams' JoinWindows): a record of the
// left stream at time t joins the right records with the same key whose timestamps lie
// in [t-before, t+after]. Records that arrive after their window closed plus the grace
// period are dropped. Make one with JoinWindowsOfTimeDifferenceWithNoGrace or
// JoinWindowsOfTimeDifferenceAndGrace, then adjust it with Before and After.
type JoinWindows struct {
	before, after, grace int64 // milliseconds
	err                  error
}

// JoinWindowsOfTimeDifferenceWithNoGrace joins records at most d apart, either way, and
// drops records that arrive after their window closed.
func JoinWindowsOfTimeDifferenceWithNoGrace(d time.Duration) JoinWindows {
	return JoinWindowsOfTimeDifferenceAndGrace(d, 0)
}

// JoinWindowsOfTimeDifferenceAndGrace joins records at most d apart, either way, and
// accepts records up to grace after their window closed.
func JoinWindowsOfTimeDifferenceAndGrace(d, grace time.Duration) JoinWindows {
	w := JoinWindows{before: d.Milliseconds(), after: d.Milliseconds(), grace: grace.Milliseconds()}
	if d < 0 {
		w.err = fmt.Errorf("%w: join window time difference %v is negative", ErrTopology, d)
	} else if grace < 0 {
		w.err = fmt.Errorf("%w: join window grace period %v is negative", ErrTopology, grace)
	}
	return w
}

// Before returns w joining right records up to d before a left record (d may be
// negative, as long as before+after is not).
func (w JoinWindows) Before(d time.Duration) JoinWindows {
	w.before = d.Milliseconds()
	return w
}

// After returns w joining right records up to d after a left record (d may be
// negative, as long as before+after is not).
func (w JoinWindows) After(d time.Duration) JoinWindows {
	w.after = d.Milliseconds()
	return w
}

// Size is before+after, the span of one join window.
func (w JoinWindows) Size() time.Duration { return time.Duration(w.before+w.after) * time.Millisecond }

// GracePeriod returns the grace period.
func (w JoinWindows) GracePeriod() time.Duration { return time.Duration(w.grace) * time.Millisecond }

func (w JoinWindows) validate() error {
	if w.err != nil {
		return w.err
	}
	if w.before+w.after < 0 {
		return fmt.Errorf("%w: join window before (%dms) + after (%dms) is negative", ErrTopology, w.before, w.after)
	}
	return nil
}
