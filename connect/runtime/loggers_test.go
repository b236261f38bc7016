package runtime

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggersFilterByConnector(t *testing.T) {
	var buf bytes.Buffer
	l := NewLoggers(slog.LevelInfo)
	log := slog.New(l.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: levelTrace})))
	log.Debug("hidden", "connector", "a")
	if _, err := l.SetLevel(ConnectLoggerName+".a", "DEBUG"); err != nil {
		t.Fatal(err)
	}
	log.Debug("shown-a", "connector", "a")
	log.With("connector", "a").Debug("shown-with")
	log.Debug("hidden-b", "connector", "b")
	log.Debug("hidden-worker")
	if _, err := l.SetLevel(RootLoggerName, "ERROR"); err != nil {
		t.Fatal(err)
	}
	log.Warn("hidden-after-root", "connector", "a")
	out := buf.String()
	for _, want := range []string{"shown-a", "shown-with"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %q", want, out)
		}
	}
	for _, not := range []string{"msg=hidden "} {
		if strings.Contains(out, not) {
			t.Errorf("unexpected %s in %q", not, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("hidden records logged: %q", out)
	}
}
