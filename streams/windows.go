package streams

import (
	"fmt"
	"time"
)

// Windows of the windowed aggregations (WindowedBy and SessionWindowedBy),
// with Kafka Streams' semantics. Times are milliseconds of event time; a window closes
// when stream time (the largest record timestamp the aggregation has seen) passes its
// end plus the grace period, and records that arrive for closed windows are dropped and
// counted (Kafka Streams' dropped-records).

// day is the default retention of windowed stores, Kafka Streams' one day.
const day = 24 * time.Hour

// TimeWindows are fixed-size windows (Kafka Streams' TimeWindows): tumbling when the
// advance equals the size (the default), hopping (overlapping) when it is smaller. A
// window [start, start+size) holds the records with start <= timestamp < start+size;
// window starts are multiples of the advance, from the epoch.
type TimeWindows struct {
	size, advance, grace int64
	err                  error
}

// TimeWindowsOfSizeWithNoGrace returns tumbling windows of the given size that close as
// soon as stream time passes their end.
func TimeWindowsOfSizeWithNoGrace(size time.Duration) TimeWindows {
	return TimeWindowsOfSizeAndGrace(size, 0)
}

// TimeWindowsOfSizeAndGrace returns tumbling windows of the given size that accept
// out-of-order records until stream time passes their end plus grace.
func TimeWindowsOfSizeAndGrace(size, grace time.Duration) TimeWindows {
	w := TimeWindows{size: size.Milliseconds(), advance: size.Milliseconds(), grace: grace.Milliseconds()}
	switch {
	case w.size <= 0:
		w.err = fmt.Errorf("%w: time windows: size %v must be at least 1ms", ErrTopology, size)
	case w.grace < 0:
		w.err = fmt.Errorf("%w: time windows: grace period %v must not be negative", ErrTopology, grace)
	}
	return w
}

// AdvanceBy returns hopping windows: a new window starts every advance, which must lie
// in (0, size].
func (w TimeWindows) AdvanceBy(advance time.Duration) TimeWindows {
	w.advance = advance.Milliseconds()
	if w.err == nil && (w.advance <= 0 || w.advance > w.size) {
		w.err = fmt.Errorf("%w: time windows: advance %v must be in (0, size %dms]", ErrTopology, advance, w.size)
	}
	return w
}

// Size returns the window size.
func (w TimeWindows) Size() time.Duration { return time.Duration(w.size) * time.Millisecond }

// Advance returns the advance (the size for tumbling windows).
func (w TimeWindows) Advance() time.Duration { return time.Duration(w.advance) * time.Millisecond }

// GracePeriod returns the grace period.
func (w TimeWindows) GracePeriod() time.Duration { return time.Duration(w.grace) * time.Millisecond }

// windowsFor returns the windows holding timestamp ts, oldest first.
func (w TimeWindows) windowsFor(ts int64) []Window {
	start := max(0, ts-w.size+w.advance) / w.advance * w.advance
	var out []Window
	for ; start <= ts; start += w.advance {
		out = append(out, Window{Start: start, End: start + w.size})
	}
	return out
}

func (w TimeWindows) timeWindowing() windowing {
	return windowing{size: w.size, grace: w.grace, retention: w.size + w.grace, err: w.err, tw: &w}
}

// SlidingWindows are windows of a fixed time difference that slide with the records
// (Kafka Streams' SlidingWindows, KIP-450): two records fall into a common window when
// their timestamps differ by at most the time difference. Windows are created only
// where their content changes: each record gets a window [t-difference, t] ending at it
// and, when later records fall within the difference, a window [t+1, t+1+difference]
// starting just after it. Both ends are inclusive.
type SlidingWindows struct {
	diff, grace int64
	err         error
}

// SlidingWindowsOfTimeDifferenceWithNoGrace returns sliding windows that close as soon
// as stream time passes their end.
func SlidingWindowsOfTimeDifferenceWithNoGrace(diff time.Duration) SlidingWindows {
	return SlidingWindowsOfTimeDifferenceAndGrace(diff, 0)
}

// SlidingWindowsOfTimeDifferenceAndGrace returns sliding windows that accept
// out-of-order records until stream time passes their end plus grace.
func SlidingWindowsOfTimeDifferenceAndGrace(diff, grace time.Duration) SlidingWindows {
	w := SlidingWindows{diff: diff.Milliseconds(), grace: grace.Milliseconds()}
	switch {
	case w.diff <= 0:
		w.err = fmt.Errorf("%w: sliding windows: time difference %v must be at least 1ms", ErrTopology, diff)
	case w.grace < 0:
		w.err = fmt.Errorf("%w: sliding windows: grace period %v must not be negative", ErrTopology, grace)
	}
	return w
}

// TimeDifference returns the largest time difference of records in one window.
func (w SlidingWindows) TimeDifference() time.Duration {
	return time.Duration(w.diff) * time.Millisecond
}

// GracePeriod returns the grace period.
func (w SlidingWindows) GracePeriod() time.Duration { return time.Duration(w.grace) * time.Millisecond }

func (w SlidingWindows) timeWindowing() windowing {
	// The aggregation reads windows up to twice the difference back.
	return windowing{size: w.diff, grace: w.grace, retention: 2*w.diff + w.grace, err: w.err, sw: &w}
}

// FixedWindows is implemented by TimeWindows and SlidingWindows, the windows
// WindowedBy accepts.
type FixedWindows interface {
	timeWindowing() windowing
}

// windowing is what a windowed aggregation needs to know of its windows.
type windowing struct {
	size, grace int64
	retention   int64 // the smallest retention the store may have
	err         error
	tw          *TimeWindows
	sw          *SlidingWindows
}

// SessionWindows group the records of a key into sessions of activity (Kafka Streams'
// SessionWindows): a record opens a session [t, t], or joins every session that ends
// no more than the inactivity gap before it or starts no more than the gap after it,
// merging them into one.
type SessionWindows struct {
	gap, grace int64
	err        error
}

// SessionWindowsOfInactivityGapWithNoGrace returns session windows that close as soon
// as stream time passes their end.
func SessionWindowsOfInactivityGapWithNoGrace(gap time.Duration) SessionWindows {
	return SessionWindowsOfInactivityGapAndGrace(gap, 0)
}

// SessionWindowsOfInactivityGapAndGrace returns session windows that accept
// out-of-order records until stream time passes their end plus grace.
func SessionWindowsOfInactivityGapAndGrace(gap, grace time.Duration) SessionWindows {
	w := SessionWindows{gap: gap.Milliseconds(), grace: grace.Milliseconds()}
	switch {
	case w.gap <= 0:
		w.err = fmt.Errorf("%w: session windows: inactivity gap %v must be at least 1ms", ErrTopology, gap)
	case w.grace < 0:
		w.err = fmt.Errorf("%w: session windows: grace period %v must not be negative", ErrTopology, grace)
	}
	return w
}

// InactivityGap returns the inactivity gap.
func (w SessionWindows) InactivityGap() time.Duration { return time.Duration(w.gap) * time.Millisecond }

// GracePeriod returns the grace period.
func (w SessionWindows) GracePeriod() time.Duration { return time.Duration(w.grace) * time.Millisecond }

// EmitStrategy says when a windowed aggregation forwards its results (Kafka Streams'
// EmitStrategy, KIP-825).
type EmitStrategy int

const (
	// OnWindowUpdate forwards every update of a window's aggregate (the default).
	OnWindowUpdate EmitStrategy = iota
	// OnWindowClose forwards each window's final aggregate once, when the window closes
	// (stream time passes its end plus the grace period).
	OnWindowClose
)

// WithRetention sets how long a windowed aggregation keeps windows (Kafka Streams'
// Materialized.withRetention): at least the window size plus the grace period (for
// sliding windows twice the time difference plus the grace period); the default is that
// or one day, whichever is larger.
func WithRetention(d time.Duration) Option { return func(o *options) { o.retention = d } }

// retentionFor returns the retention of a windowed store: o's, checked against least,
// or max(least, one day).
func retentionFor(b *Builder, store string, o options, least int64) int64 {
	if o.retention == 0 {
		return max(least, day.Milliseconds())
	}
	r := o.retention.Milliseconds()
	if r < least {
		b.fail("store %q: retention %v is shorter than the windows need (%dms)", store, o.retention, least)
		return least
	}
	return r
}
