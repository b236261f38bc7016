package streams

import "context"

// Kill stops the application as a crash would: nothing is committed or checkpointed and
// cached updates are lost; the member leaves the group so that others take over
// without waiting for the session timeout. Failure tests use it.
func (a *App) Kill() {
	a.crash.Store(true)
	_ = a.Close(context.Background())
}
