package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Logger names of the worker's logs. Records about one connector (those
// with a "connector" attribute) belong to ConnectLoggerName + "." + the
// connector's name, so that one connector's logs can be turned up alone.
const (
	RootLoggerName    = "root"
	ConnectLoggerName = "org.apache.kafka.connect"
	connectorAttr     = "connector"
	levelTrace        = slog.LevelDebug - 4
	levelOff          = slog.LevelError + 100
)

// LoggerLevel is a logger's level in the /admin/loggers API.
type LoggerLevel struct {
	Level string
	// LastModified is when the level was last set (zero if never).
	LastModified time.Time
}

// Loggers holds log levels per logger name, changeable at runtime (Kafka
// Connect's /admin/loggers). A logger without its own level inherits the
// nearest ancestor's ("a.b" from "a", then root). Wrap the worker's
// slog.Handler with Handler to apply the levels.
type Loggers struct {
	mu     sync.RWMutex
	levels map[string]slog.Level // guarded by mu
	mod    map[string]time.Time
	min    slog.Level
}

// NewLoggers returns loggers with only root set, to root.
func NewLoggers(root slog.Level) *Loggers {
	return &Loggers{levels: map[string]slog.Level{RootLoggerName: root}, mod: map[string]time.Time{}, min: root}
}

// ParseLevel parses a log4j level name (TRACE, DEBUG, INFO, WARN, ERROR,
// FATAL, OFF; case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE", "ALL":
		return levelTrace, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARN":
		return slog.LevelWarn, nil
	case "ERROR", "FATAL":
		return slog.LevelError, nil
	case "OFF":
		return levelOff, nil
	}
	return 0, fmt.Errorf("%w: invalid log level %q", ErrBadRequest, s)
}

func levelName(l slog.Level) string {
	switch {
	case l >= levelOff:
		return "OFF"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= slog.LevelDebug:
		return "DEBUG"
	}
	return "TRACE"
}

// effective returns the level of name: its own or its nearest ancestor's.
// l.mu must be held.
func (l *Loggers) effective(name string) slog.Level {
	for n := name; n != ""; {
		if lv, ok := l.levels[n]; ok {
			return lv
		}
		i := strings.LastIndexByte(n, '.')
		if i < 0 {
			break
		}
		n = n[:i]
	}
	return l.levels[RootLoggerName]
}

// All returns every logger with a level of its own.
func (l *Loggers) All() map[string]LoggerLevel {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := map[string]LoggerLevel{}
	for n, lv := range l.levels {
		out[n] = LoggerLevel{Level: levelName(lv), LastModified: l.mod[n]}
	}
	return out
}

// Level returns a logger's effective level.
func (l *Loggers) Level(name string) LoggerLevel {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return LoggerLevel{Level: levelName(l.effective(name)), LastModified: l.mod[name]}
}

// SetLevel sets the level of a logger and of every logger below it (as
// Kafka does), and returns the affected logger names, sorted.
func (l *Loggers) SetLevel(name, level string) ([]string, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("%w: logger name must not be empty", ErrBadRequest)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	affected := []string{name}
	l.levels[name], l.mod[name] = lv, now
	for n := range l.levels {
		if n != name && (name == RootLoggerName || strings.HasPrefix(n, name+".")) {
			l.levels[n], l.mod[n] = lv, now
			affected = append(affected, n)
		}
	}
	l.min = slices.Min(slices.Collect(maps.Values(l.levels)))
	slices.Sort(affected)
	return affected, nil
}

// Handler wraps next so that records are filtered by their logger's
// level.
func (l *Loggers) Handler(next slog.Handler) slog.Handler {
	return &levelHandler{l: l, next: next, logger: ConnectLoggerName}
}

type levelHandler struct {
	l      *Loggers
	next   slog.Handler
	logger string
}

func (h *levelHandler) Enabled(_ context.Context, lv slog.Level) bool {
	h.l.mu.RLock()
	defer h.l.mu.RUnlock()
	return lv >= h.l.min
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	name := h.logger
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == connectorAttr {
			name = ConnectLoggerName + "." + a.Value.String()
			return false
		}
		return true
	})
	h.l.mu.RLock()
	lv := h.l.effective(name)
	h.l.mu.RUnlock()
	if r.Level < lv {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == connectorAttr {
			c.logger = ConnectLoggerName + "." + a.Value.String()
		}
	}
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
