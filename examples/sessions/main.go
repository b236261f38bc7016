package main

import (
	"flag"

	"github.com/gregorhq/gregor/examples/internal/runner"
	"github.com/gregorhq/gregor/examples/sessions/sessions"
	"github.com/gregorhq/gregor/streams"
)

func main() {
	var f runner.Flags
	f.Register(flag.CommandLine, "/tmp/gregor-sessions")
	gap := flag.Duration("gap", sessions.InactivityGap, "inactivity gap that ends a session")
	grace := flag.Duration("grace", sessions.Grace, "how late an event may arrive and still count")
	runner.Main("sessions", &f, func() (*streams.Topology, error) {
		return sessions.Topology(sessions.InputTopic, sessions.OutputTopic, *gap, *grace)
	}, sessions.ApplicationID)
}
