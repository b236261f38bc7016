package state_test

import (
	"bytes"
	"testing"

	"github.com/gregorhq/gregor/state"
)

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\napp-a-changelog 0 10\napp-b-changelog 3 0\n"))
	f.Add([]byte("0\n0\n"))
	f.Add([]byte("1\n1\nt 0 1\n"))
	f.Add([]byte("0\n3\nt 0 1\n"))
	f.Add([]byte("0\n1\nt -1 5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := state.ParseCheckpoint(data)
		if err != nil {
			return
		}
		// Whatever parses must round-trip.
		again, err := state.ParseCheckpoint(state.FormatCheckpoint(m))
		if err != nil || len(again) != len(m) {
			t.Fatalf("round trip of %v: %v, %v", m, again, err)
		}
		for tp, off := range m {
			if again[tp] != off {
				t.Fatalf("round trip changed %v: %d -> %d", tp, off, again[tp])
			}
		}
	})
}

func FuzzDecodeWindowKey(f *testing.F) {
	f.Add(state.EncodeWindowKey([]byte("key"), 1000, 7))
	f.Add([]byte{1, 2, 3})
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, raw []byte) {
		key, ts, seq, err := state.DecodeWindowKey(raw)
		if err != nil {
			return
		}
		if ts < 0 || !bytes.Equal(state.EncodeWindowKey(key, ts, seq), raw) {
			t.Fatalf("decode/encode mismatch for %x", raw)
		}
	})
}

func FuzzDecodeSessionKey(f *testing.F) {
	f.Add(state.EncodeSessionKey([]byte("key"), state.Window{Start: 5, End: 10}))
	f.Add(make([]byte, 16))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		key, w, err := state.DecodeSessionKey(raw)
		if err != nil {
			return
		}
		if w.Start < 0 || w.End < w.Start || !bytes.Equal(state.EncodeSessionKey(key, w), raw) {
			t.Fatalf("decode/encode mismatch for %x", raw)
		}
	})
}
