package runtime

import (
	"context"
	"errors"
	"maps"
	"testing"
)

// fakeConfigWriter is a herder's configuration reads and writes over one
// map of connectors, recording the last write.
type fakeConfigWriter struct {
	configs map[string]map[string]string
	putErr  error

	put          map[string]string
	allowReplace bool
	initial      TargetState
}

func (f *fakeConfigWriter) ConnectorConfig(name string) (map[string]string, error) {
	c, ok := f.configs[name]
	if !ok {
		return nil, errors.Join(errors.New("Connector "+name+" not found"), ErrNotFound)
	}
	return maps.Clone(c), nil
}

func (f *fakeConfigWriter) PutConnectorConfig(_ context.Context, name string, config map[string]string, allowReplace bool, initial TargetState) (ConnectorInfo, bool, error) {
	f.put, f.allowReplace, f.initial = config, allowReplace, initial
	if f.putErr != nil {
		return ConnectorInfo{}, false, f.putErr
	}
	f.configs[name] = maps.Clone(config)
	return ConnectorInfo{Name: name, Config: maps.Clone(config)}, false, nil
}

// A PATCH reads the current configuration, sets the keys with a value,
// removes those with null, and writes the result back as a replacement
// that keeps the target state; an unknown connector or a refused write
// is the herder's error, unchanged.
func TestPatchConnectorConfig(t *testing.T) {
	str := func(s string) *string { return &s }
	refused := errors.New("refused")
	cases := []struct {
		name    string
		conn    string
		patch   map[string]*string
		putErr  error
		want    map[string]string
		wantErr error
	}{
		{name: "set and add", conn: "c", patch: map[string]*string{"a": str("2"), "new": str("x")},
			want: map[string]string{"name": "c", "a": "2", "b": "1", "new": "x"}},
		{name: "null removes", conn: "c", patch: map[string]*string{"b": nil, "absent": nil},
			want: map[string]string{"name": "c", "a": "1"}},
		{name: "empty patch rewrites as is", conn: "c", patch: nil,
			want: map[string]string{"name": "c", "a": "1", "b": "1"}},
		{name: "unknown connector", conn: "nope", patch: map[string]*string{"a": str("2")}, wantErr: ErrNotFound},
		{name: "write refused", conn: "c", patch: map[string]*string{"a": str("2")}, putErr: refused, wantErr: refused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConfigWriter{configs: map[string]map[string]string{
				"c": {"name": "c", "a": "1", "b": "1"},
			}, putErr: tc.putErr}
			info, err := patchConnectorConfig(context.Background(), f, tc.conn, tc.patch)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(f.put, tc.want) || !maps.Equal(info.Config, tc.want) {
				t.Fatalf("wrote %v (info %v), want %v", f.put, info.Config, tc.want)
			}
			if !f.allowReplace || f.initial != "" {
				t.Fatalf("wrote with allowReplace=%v initial=%q, want a replacement keeping the target state", f.allowReplace, f.initial)
			}
		})
	}
}

// A configuration write keeps a replaced connector's target state, gives
// a new one the initial state (STARTED by default), and refuses to
// replace without allowReplace.
func TestPutTarget(t *testing.T) {
	paused := ConnectorConfigState{Target: TargetPaused}
	for _, tc := range []struct {
		name          string
		exists, allow bool
		initial       TargetState
		want          TargetState
		wantErr       error
	}{
		{"new, default", false, false, "", TargetStarted, nil},
		{"new, stopped", false, true, TargetStopped, TargetStopped, nil},
		{"replaced keeps its state", true, true, TargetStopped, TargetPaused, nil},
		{"replace refused", true, false, "", "", ErrAlreadyExists},
	} {
		got, err := putTarget("c", paused, tc.exists, tc.allow, tc.initial)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
