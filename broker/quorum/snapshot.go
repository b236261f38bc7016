package quorum

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snapshot files are named snap-<index, 16 hex digits>.snap and hold one
// recSnapshot record (see wal.go).
const (
	snapPrefix = "snap-"
	snapSuffix = ".snap"
	// snapKeep is how many snapshot files stay on disk (the newest first).
	snapKeep = 2
)

func snapPath(dir string, index uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%016x%s", snapPrefix, index, snapSuffix))
}

// writeSnapshot stores snap atomically in dir.
func writeSnapshot(dir string, snap *raftpb.Snapshot) error {
	b, err := appendRecord(nil, recSnapshot, snap)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(snapPath(dir, snap.GetMetadata().GetIndex()), b); err != nil {
		return fmt.Errorf("quorum: write snapshot: %w", err)
	}
	return nil
}

// readSnapshot decodes one snapshot file.
func readSnapshot(path string) (*raftpb.Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quorum: read snapshot: %w", err)
	}
	return decodeSnapshot(b)
}

func decodeSnapshot(b []byte) (*raftpb.Snapshot, error) {
	typ, body, n, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	if typ != recSnapshot || n != len(b) {
		return nil, fmt.Errorf("%w: snapshot: unexpected record type %d or trailing bytes", ErrCorrupt, typ)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(body, snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
	}
	return raftpb.EnsureSnapshot(snap), nil
}

// snapshotFiles lists the snapshot files in dir, newest (highest index)
// first, and removes leftover temporary files.
func snapshotFiles(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("quorum: list %s: %w", dir, err)
	}
	var names []string
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if strings.HasPrefix(name, snapPrefix) && strings.HasSuffix(name, snapSuffix) &&
			len(name) == len(snapPrefix)+16+len(snapSuffix) {
			names = append(names, name)
		}
	}
	slices.Sort(names) // fixed-width hex: lexical order is index order
	slices.Reverse(names)
	for i := range names {
		names[i] = filepath.Join(dir, names[i])
	}
	return names, nil
}

// loadSnapshot returns the newest snapshot in dir that decodes, or nil if
// there is none. A damaged newer one is skipped (and reported through warn).
func loadSnapshot(dir string, warn func(path string, err error)) (*raftpb.Snapshot, error) {
	paths, err := snapshotFiles(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range paths {
		snap, err := readSnapshot(p)
		if err == nil {
			return snap, nil
		}
		warn(p, err)
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("quorum: no readable snapshot in %s: %w", dir, errors.Join(errs...))
	}
	return nil, nil
}

// pruneSnapshots removes all but the snapKeep newest snapshot files.
func pruneSnapshots(dir string) error {
	paths, err := snapshotFiles(dir)
	if err != nil {
		return err
	}
	for _, p := range paths[min(len(paths), snapKeep):] {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("quorum: remove old snapshot: %w", err)
		}
	}
	return nil
}
