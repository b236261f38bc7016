package memory

import "github.com/gregorhq/gregor/state"

// Segments returns segment storage for window and session stores that keeps every segment
// in memory.
func Segments(name string) state.Segments { return memSegments{name: name} }

type memSegments struct{ name string }

func (m memSegments) OpenSegment(start int64) (state.KeyValueStore, error) {
	return NewKeyValueStore(m.name), nil
}
func (memSegments) DropSegment(int64) error        { return nil }
func (memSegments) ListSegments() ([]int64, error) { return nil, nil }
func (memSegments) Persistent() bool               { return false }

// NewWindowStore returns an in-memory window store.
func NewWindowStore(name string, cfg state.WindowConfig) (state.WindowStore, error) {
	return state.NewWindowStore(name, Segments(name), cfg)
}

// NewSessionStore returns an in-memory session store.
func NewSessionStore(name string, cfg state.SessionConfig) (state.SessionStore, error) {
	return state.NewSessionStore(name, Segments(name), cfg)
}
