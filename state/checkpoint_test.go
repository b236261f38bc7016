package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregorhq/gregor/state"
)

func TestCheckpointFormat(t *testing.T) {
	tps := map[state.TopicPartition]int64{{Topic: "b", Partition: 1}: 7, {Topic: "a", Partition: 10}: 0, {Topic: "a", Partition: 2}: 99}
	want := "0\n3\na 2 99\na 10 0\nb 1 7\n"
	if got := string(state.FormatCheckpoint(tps)); got != want {
		t.Fatalf("format:\n%s\nwant\n%s", got, want)
	}
	path := filepath.Join(t.TempDir(), state.CheckpointFileName)
	if m, err := state.ReadCheckpoint(path); err != nil || len(m) != 0 {
		t.Fatalf("missing file: %v, %v", m, err)
	}
	if err := state.WriteCheckpoint(path, tps); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file left behind: %v", err)
	}
	m, err := state.ReadCheckpoint(path)
	if err != nil || len(m) != 3 || m[state.TopicPartition{Topic: "a", Partition: 2}] != 99 {
		t.Fatalf("read back %v, %v", m, err)
	}
}

func TestParseCheckpointErrors(t *testing.T) {
	for _, bad := range []string{"", "1\n0\n", "0\n", "0\n2\nt 0 1\n", "0\n1\nt 0\n", "0\n1\nt x 1\n", "0\n1\nt 0 -5\n", "0\n2\nt 0 1\nt 0 2\n", "0\n0\nextra\n", "0\n-1\n"} {
		if _, err := state.ParseCheckpoint([]byte(bad)); !errors.Is(err, state.ErrBadCheckpoint) {
			t.Errorf("%q: err %v, want ErrBadCheckpoint", bad, err)
		}
	}
}

func TestKeyCodecs(t *testing.T) {
	raw := state.EncodeWindowKey([]byte("k"), 42, 3)
	k, ts, seq, err := state.DecodeWindowKey(raw)
	if err != nil || string(k) != "k" || ts != 42 || seq != 3 {
		t.Fatalf("window key: %q %d %d %v", k, ts, seq, err)
	}
	sraw := state.EncodeSessionKey([]byte("k"), state.Window{Start: 1, End: 2})
	k, w, err := state.DecodeSessionKey(sraw)
	if err != nil || string(k) != "k" || w != (state.Window{Start: 1, End: 2}) {
		t.Fatalf("session key: %q %v %v", k, w, err)
	}
	if _, _, err := state.DecodeSessionKey(state.EncodeSessionKey(nil, state.Window{Start: 5, End: 1})); !errors.Is(err, state.ErrBadKey) {
		t.Fatalf("end before start: %v", err)
	}
}
