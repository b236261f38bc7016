package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/gregorhq/gregor/internal/fsutil"
)

// OffsetStore keeps source offsets. Keys and values are JSON, as in Kafka
// Connect's connect-offsets topic: the key is ["connector", {partition}]
// and the value is the offset object (nil deletes). A memory and a file
// implementation exist; a distributed worker keeps them in a Kafka topic.
//
// Implementations are safe for concurrent use.
type OffsetStore interface {
	// Get returns the stored values of the given keys (absent keys are
	// left out).
	Get(ctx context.Context, keys []string) (map[string][]byte, error)
	// Set stores values durably before returning.
	Set(ctx context.Context, values map[string][]byte) error
	// Keys lists every stored key (for the offsets REST API).
	Keys(ctx context.Context) ([]string, error)
	// Close releases the store.
	Close() error
}

// OffsetKey returns the store key for a connector's source partition.
func OffsetKey(connector string, partition map[string]any) (string, error) {
	b, err := json.Marshal([]any{connector, partition})
	if err != nil {
		return "", fmt.Errorf("connect: encode offset key: %w", err)
	}
	return string(b), nil
}

// DecodeOffset decodes a stored offset value; integral numbers become
// int64 and other numbers float64.
func DecodeOffset(b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("connect: decode offset: %w", err)
	}
	for k, v := range m {
		m[k] = normalizeNumbers(v)
	}
	return m, nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// MemoryOffsetStore keeps offsets in memory (for tests).
type MemoryOffsetStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryOffsetStore returns an empty in-memory store.
func NewMemoryOffsetStore() *MemoryOffsetStore { return &MemoryOffsetStore{m: map[string][]byte{}} }

// Get implements OffsetStore.
func (s *MemoryOffsetStore) Get(_ context.Context, keys []string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for _, k := range keys {
		if v, ok := s.m[k]; ok {
			out[k] = bytes.Clone(v)
		}
	}
	return out, nil
}

// Set implements OffsetStore.
func (s *MemoryOffsetStore) Set(ctx context.Context, values map[string][]byte) error {
	if err := writable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range values {
		if v == nil {
			delete(s.m, k)
		} else {
			s.m[k] = bytes.Clone(v)
		}
	}
	return nil
}

// Close implements OffsetStore.
func (s *MemoryOffsetStore) Close() error { return nil }

// Keys implements OffsetStore.
func (s *MemoryOffsetStore) Keys(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// FileOffsetStore keeps offsets in memory and rewrites the whole file
// (offset.storage.file.filename) on every Set: a temporary file, fsync,
// rename, so a crash leaves either the old or the new file.
//
// The file is JSON: {"version":1,"offsets":[{"key":[...],"value":{...}}]}.
type FileOffsetStore struct {
	path string
	mem  *MemoryOffsetStore
	mu   sync.Mutex // serializes file writes; taken before mem.mu
}

// ErrOffsetFile is returned (wrapped) for an offset file that cannot be
// decoded.
var ErrOffsetFile = errors.New("malformed offset file")

// OpenFileOffsetStore loads path (a missing file is an empty store).
func OpenFileOffsetStore(path string) (*FileOffsetStore, error) {
	s := &FileOffsetStore{path: path, mem: NewMemoryOffsetStore()}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("connect: read offsets: %w", err)
	}
	m, err := DecodeOffsetFile(data)
	if err != nil {
		return nil, fmt.Errorf("connect: %s: %w", path, err)
	}
	s.mem.m = m
	return s, nil
}

type offsetFile struct {
	Version int           `json:"version"`
	Offsets []offsetEntry `json:"offsets"`
}

type offsetEntry struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// DecodeOffsetFile decodes the contents of an offset file.
func DecodeOffsetFile(data []byte) (map[string][]byte, error) {
	var f offsetFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOffsetFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrOffsetFile)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrOffsetFile, f.Version)
	}
	m := make(map[string][]byte, len(f.Offsets))
	for i, e := range f.Offsets {
		var key []any
		if err := json.Unmarshal(e.Key, &key); err != nil || len(key) != 2 {
			return nil, fmt.Errorf("%w: entry %d: key must be [connector, partition]", ErrOffsetFile, i)
		}
		if _, ok := key[0].(string); !ok {
			return nil, fmt.Errorf("%w: entry %d: connector name must be a string", ErrOffsetFile, i)
		}
		var val map[string]any
		if err := json.Unmarshal(e.Value, &val); err != nil || val == nil {
			return nil, fmt.Errorf("%w: entry %d: value must be an object", ErrOffsetFile, i)
		}
		var kb, vb bytes.Buffer
		if err := json.Compact(&kb, e.Key); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrOffsetFile, i, err)
		}
		if err := json.Compact(&vb, e.Value); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrOffsetFile, i, err)
		}
		m[kb.String()] = vb.Bytes()
	}
	return m, nil
}

// EncodeOffsetFile encodes offsets in the offset file format, sorted by
// key.
func EncodeOffsetFile(m map[string][]byte) ([]byte, error) {
	f := offsetFile{Version: 1, Offsets: []offsetEntry{}}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.Offsets = append(f.Offsets, offsetEntry{Key: json.RawMessage(k), Value: json.RawMessage(m[k])})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("connect: encode offsets: %w", err)
	}
	return append(b, '\n'), nil
}

// Get implements OffsetStore.
func (s *FileOffsetStore) Get(ctx context.Context, keys []string) (map[string][]byte, error) {
	return s.mem.Get(ctx, keys)
}

// Set implements OffsetStore: it returns once the file is durable.
func (s *FileOffsetStore) Set(ctx context.Context, values map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mem.Set(ctx, values); err != nil {
		return err
	}
	s.mem.mu.Lock()
	data, err := EncodeOffsetFile(s.mem.m)
	s.mem.mu.Unlock()
	if err != nil {
		return err
	}
	// The file is private to the worker's user (mode 0600).
	if err := fsutil.WriteFile(s.path, data, 0o600); err != nil {
		return fmt.Errorf("connect: write offsets: %w", err)
	}
	return nil
}

// Close implements OffsetStore.
func (s *FileOffsetStore) Close() error { return nil }

// Keys implements OffsetStore.
func (s *FileOffsetStore) Keys(ctx context.Context) ([]string, error) { return s.mem.Keys(ctx) }
