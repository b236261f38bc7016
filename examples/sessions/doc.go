// Command sessions groups user activity into session windows on Gregor streams: it
// reads events from user-events (key: the user), counts them per user in sessions that
// end after five minutes of inactivity (grace period 30 seconds) and, once a session is
// over, writes one summary to user-sessions: key the user, value JSON
// {"user","start","end","durationMs","events"}. Until then the counts wait in a
// suppression buffer kept in a state store, so a restart loses none. The topology lives
// in package examples/sessions/sessions; both topics must exist.
//
//	gregor topics create user-events --partitions 4
//	gregor topics create user-sessions --partitions 4
//	go run ./examples/sessions --brokers localhost:9092 --state-dir /tmp/sessions --gap 5m
//
// It prints "user-sessions ready on BROKERS" once started and stops cleanly on SIGINT
// or SIGTERM.
package main
