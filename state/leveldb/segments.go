package leveldb

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gregorhq/gregor/state"
)

// Segments returns segment storage that keeps each segment of the store named name in
// its own leveldb database, in directory dir/<name>.<segment start>.
func Segments(name, dir string, o *Options) state.Segments {
	return &segments{name: name, dir: dir, o: o}
}

// SegmentsFactory returns a factory for Task.WindowStore and Task.SessionStore.
func SegmentsFactory(o *Options) state.SegmentsFactory {
	return func(name, dir string) (state.Segments, error) { return Segments(name, dir, o), nil }
}

type segments struct {
	name string
	dir  string
	o    *Options
}

func (s *segments) path(start int64) string {
	return filepath.Join(s.dir, s.name+"."+strconv.FormatInt(start, 10))
}

func (s *segments) OpenSegment(start int64) (state.KeyValueStore, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("state/leveldb: segments of %q: %w", s.name, err)
	}
	return Open(s.name, s.path(start), s.o)
}

func (s *segments) DropSegment(start int64) error {
	if err := os.RemoveAll(s.path(start)); err != nil {
		return fmt.Errorf("state/leveldb: drop segment %d of %q: %w", start, s.name, err)
	}
	return nil
}

func (s *segments) ListSegments() ([]int64, error) {
	entries, err := os.ReadDir(s.dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state/leveldb: list segments of %q: %w", s.name, err)
	}
	var starts []int64
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), s.name+".")
		if !ok || !e.IsDir() {
			continue
		}
		if start, err := strconv.ParseInt(rest, 10, 64); err == nil && start >= 0 {
			starts = append(starts, start)
		}
	}
	return starts, nil
}

func (s *segments) Persistent() bool { return true }

// NewWindowStore opens a window store whose segments live under dir.
func NewWindowStore(name, dir string, cfg state.WindowConfig, o *Options) (state.WindowStore, error) {
	return state.NewWindowStore(name, Segments(name, dir, o), cfg)
}

// NewSessionStore opens a session store whose segments live under dir.
func NewSessionStore(name, dir string, cfg state.SessionConfig, o *Options) (state.SessionStore, error) {
	return state.NewSessionStore(name, Segments(name, dir, o), cfg)
}
