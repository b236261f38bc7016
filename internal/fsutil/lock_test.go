package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	steps := []struct {
		do      string // "lock" pushes a held lock, "unlock" pops and releases one
		wantErr error  // for "lock": nil or ErrLocked
	}{
		{"lock", nil},
		{"lock", ErrLocked}, // the same process, another open file
		{"lock", ErrLocked},
		{"unlock", nil},
		{"lock", nil}, // free again
		{"lock", ErrLocked},
		{"unlock", nil},
	}
	var held []*os.File
	for i, s := range steps {
		switch s.do {
		case "lock":
			f, err := LockFile(path)
			if s.wantErr == nil && err != nil || s.wantErr != nil && !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d: LockFile = %v, want %v", i, err, s.wantErr)
			}
			if err == nil {
				held = append(held, f)
			}
		case "unlock":
			f := held[len(held)-1]
			held = held[:len(held)-1]
			if err := UnlockFile(f); err != nil {
				t.Fatalf("step %d: UnlockFile = %v", i, err)
			}
		}
	}
	if len(held) != 0 {
		t.Fatalf("%d locks still held", len(held))
	}
}

func TestLockFileBadPath(t *testing.T) {
	_, err := LockFile(filepath.Join(t.TempDir(), "missing", ".lock"))
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("LockFile in a missing directory = %v, want an error other than ErrLocked", err)
	}
}
