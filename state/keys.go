package state

import (
	"encoding/binary"
	"fmt"
)

// Window and session stores keep, and write to their changelogs, binary keys in the layout
// Kafka Streams uses:
//
//	window key:  key | window start (int64, big endian) | sequence number (int32, big endian)
//	session key: key | session end (int64, big endian)  | session start (int64, big endian)
//
// Timestamps are never negative, so the big-endian encoding sorts like the numbers.

const (
	windowSuffixLen  = 8 + 4
	sessionSuffixLen = 8 + 8
)

// EncodeWindowKey returns the binary window-store key of key, window start ts and sequence
// number seq (0 unless the store retains duplicates).
func EncodeWindowKey(key []byte, ts int64, seq uint32) []byte {
	b := make([]byte, len(key)+windowSuffixLen)
	copy(b, key)
	binary.BigEndian.PutUint64(b[len(key):], uint64(ts))
	binary.BigEndian.PutUint32(b[len(key)+8:], seq)
	return b
}

// DecodeWindowKey splits a binary window-store key. The returned key aliases b.
func DecodeWindowKey(b []byte) (key []byte, ts int64, seq uint32, err error) {
	if len(b) < windowSuffixLen {
		return nil, 0, 0, fmt.Errorf("%w: window key of %d bytes is shorter than %d", ErrBadKey, len(b), windowSuffixLen)
	}
	n := len(b) - windowSuffixLen
	ts = int64(binary.BigEndian.Uint64(b[n:]))
	if ts < 0 {
		return nil, 0, 0, fmt.Errorf("%w: negative window start %d", ErrBadKey, ts)
	}
	return b[:n:n], ts, binary.BigEndian.Uint32(b[n+8:]), nil
}

// EncodeSessionKey returns the binary session-store key of key's session w.
func EncodeSessionKey(key []byte, w Window) []byte {
	b := make([]byte, len(key)+sessionSuffixLen)
	copy(b, key)
	binary.BigEndian.PutUint64(b[len(key):], uint64(w.End))
	binary.BigEndian.PutUint64(b[len(key)+8:], uint64(w.Start))
	return b
}

// DecodeSessionKey splits a binary session-store key. The returned key aliases b.
func DecodeSessionKey(b []byte) (key []byte, w Window, err error) {
	if len(b) < sessionSuffixLen {
		return nil, Window{}, fmt.Errorf("%w: session key of %d bytes is shorter than %d", ErrBadKey, len(b), sessionSuffixLen)
	}
	n := len(b) - sessionSuffixLen
	w.End = int64(binary.BigEndian.Uint64(b[n:]))
	w.Start = int64(binary.BigEndian.Uint64(b[n+8:]))
	if err := checkSession(w); err != nil {
		return nil, Window{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return b[:n:n], w, nil
}

func checkSession(w Window) error {
	if w.Start < 0 || w.End < w.Start {
		return fmt.Errorf("%w: session [%d, %d]", ErrInvalidTimestamp, w.Start, w.End)
	}
	return nil
}
