// Package sessions holds the topology of examples/sessions: user activity grouped into
// session windows, with one summary per finished session.
//
//	topo, err := sessions.Topology(sessions.InputTopic, sessions.OutputTopic, sessions.InactivityGap, sessions.Grace)
//	if err != nil {
//		return err
//	}
//	app, err := streams.New(topo, streams.Config{ApplicationID: sessions.ApplicationID, Brokers: brokers})
package sessions

import (
	"time"

	"github.com/gregorhq/gregor/streams"
)

// Default topic and application names and session settings.
const (
	InputTopic    = "user-events"
	OutputTopic   = "user-sessions"
	ApplicationID = "user-sessions"
	// StoreName names the session store; its changelog is
	// "<application.id>-sessions-changelog".
	StoreName = "sessions"
	// InactivityGap ends a session: a user's next event more than this after the
	// previous one starts a new session.
	InactivityGap = 5 * time.Minute
	// Grace is how late an event may arrive and still count in its session.
	Grace = 30 * time.Second
)

// Session summarizes one finished session of a user, as written to the output topic
// (JSON).
type Session struct {
	User       string `json:"user"`
	Start      int64  `json:"start"` // first event, milliseconds since the epoch
	End        int64  `json:"end"`   // last event
	DurationMs int64  `json:"durationMs"`
	Events     int64  `json:"events"`
}

// Topology builds the sessionizer from input (key: user, value: the event, ignored) to
// output: events are counted per user in session windows of the given inactivity gap and
// grace period, and the final count of each session, once it can no longer grow (stream
// time past its end plus gap plus grace), goes to output keyed by user with a Session
// summary as JSON value. Sessions an event merged into a longer one are not written.
func Topology(input, output string, gap, grace time.Duration) (*streams.Topology, error) {
	b := streams.NewBuilder()
	events := streams.StreamFrom[string, string](b, input, nil, nil)
	counts := streams.SessionWindowedBy(events.GroupByKey(), streams.SessionWindowsOfInactivityGapAndGrace(gap, grace)).
		Count(streams.As(StoreName)).
		Suppress(streams.UntilWindowCloses(streams.BufferUnbounded()), streams.Named("finished-sessions"))
	summaries := streams.Map(counts.ToStream(), func(w streams.Windowed[string], n int64) (string, Session) {
		return w.Key, Session{User: w.Key, Start: w.Window.Start, End: w.Window.End,
			DurationMs: w.Window.End - w.Window.Start, Events: n}
	})
	summaries.WithSerdes(nil, streams.JSON[Session]()).To(output)
	return b.Build()
}
