package streams

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Window is a time interval in milliseconds since the epoch, as Kafka Streams' Window.
// For time windows (tumbling, hopping) End is exclusive: the window holds records with
// Start <= timestamp < End. For sliding windows and sessions both ends are inclusive.
type Window struct {
	Start int64
	End   int64
}

// String prints the window as "[start,end]".
func (w Window) String() string {
	return "[" + strconv.FormatInt(w.Start, 10) + "," + strconv.FormatInt(w.End, 10) + "]"
}

// Windowed is a key together with the window it was aggregated in: the key type of the
// tables windowed aggregations return (Kafka Streams' Windowed<K>).
type Windowed[K any] struct {
	Key    K
	Window Window
}

// String prints the windowed key as Kafka's Windowed.toString does: "[key@start/end]".
func (w Windowed[K]) String() string {
	return fmt.Sprintf("[%v@%d/%d]", w.Key, w.Window.Start, w.Window.End)
}

// timeWindowedSerde writes a windowed key as Kafka's TimeWindowedSerializer does: the
// inner key's bytes followed by the window start as 8 bytes big-endian. Reading it back
// needs the window size to restore the end.
type timeWindowedSerde[K any] struct {
	inner Serde[K]
	size  int64
}

// TimeWindowedSerde returns the serde of keys of time windows (tumbling, hopping and
// sliding) in Kafka's format: inner key bytes, then the window start (int64, big-endian).
// The end is not written; deserializing sets it to start + windowSize (milliseconds).
func TimeWindowedSerde[K any](inner Serde[K], windowSizeMs int64) Serde[Windowed[K]] {
	return timeWindowedSerde[K]{inner: orDefault(inner), size: windowSizeMs}
}

func (s timeWindowedSerde[K]) Serialize(w Windowed[K]) ([]byte, error) {
	kb, err := serialize(s.inner, w.Key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(kb)+8)
	copy(out, kb)
	binary.BigEndian.PutUint64(out[len(kb):], uint64(w.Window.Start))
	return out, nil
}

func (s timeWindowedSerde[K]) Deserialize(b []byte) (Windowed[K], error) {
	if len(b) < 8 {
		return Windowed[K]{}, fmt.Errorf("%w: time-windowed key of %d bytes is shorter than 8", ErrSerde, len(b))
	}
	n := len(b) - 8
	k, err := s.inner.Deserialize(b[:n:n])
	if err != nil {
		return Windowed[K]{}, err
	}
	start := int64(binary.BigEndian.Uint64(b[n:]))
	end := start + s.size
	if end < start { // overflow: Kafka caps the end at Long.MAX_VALUE
		end = 1<<63 - 1
	}
	return Windowed[K]{Key: k, Window: Window{Start: start, End: end}}, nil
}

// sessionWindowedSerde writes a windowed key as Kafka's SessionWindowedSerializer does:
// inner key bytes, the session end, then the session start (8 bytes big-endian each).
type sessionWindowedSerde[K any] struct{ inner Serde[K] }

// SessionWindowedSerde returns the serde of keys of session windows in Kafka's format:
// inner key bytes, then the session end and the session start (int64, big-endian each).
func SessionWindowedSerde[K any](inner Serde[K]) Serde[Windowed[K]] {
	return sessionWindowedSerde[K]{inner: orDefault(inner)}
}

func (s sessionWindowedSerde[K]) Serialize(w Windowed[K]) ([]byte, error) {
	kb, err := serialize(s.inner, w.Key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(kb)+16)
	copy(out, kb)
	binary.BigEndian.PutUint64(out[len(kb):], uint64(w.Window.End))
	binary.BigEndian.PutUint64(out[len(kb)+8:], uint64(w.Window.Start))
	return out, nil
}

func (s sessionWindowedSerde[K]) Deserialize(b []byte) (Windowed[K], error) {
	if len(b) < 16 {
		return Windowed[K]{}, fmt.Errorf("%w: session-windowed key of %d bytes is shorter than 16", ErrSerde, len(b))
	}
	n := len(b) - 16
	k, err := s.inner.Deserialize(b[:n:n])
	if err != nil {
		return Windowed[K]{}, err
	}
	end := int64(binary.BigEndian.Uint64(b[n:]))
	start := int64(binary.BigEndian.Uint64(b[n+8:]))
	return Windowed[K]{Key: k, Window: Window{Start: start, End: end}}, nil
}

// timestamped prefixes values with the timestamp of the record that last updated them,
// as Kafka's ValueAndTimestampSerializer does (8 bytes big-endian, then the value): the
// value format of the stores of windowed aggregations.
func timestamped(ts int64, vb []byte) []byte {
	out := make([]byte, 8+len(vb))
	binary.BigEndian.PutUint64(out, uint64(ts))
	copy(out[8:], vb)
	return out
}

// untimestamped splits a value written by timestamped.
func untimestamped(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: timestamped value of %d bytes is shorter than 8", ErrSerde, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[8:], nil
}
