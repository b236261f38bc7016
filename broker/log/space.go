package log

import (
	"errors"
	"fmt"
)

// DiskSpace is the capacity of the file system holding a directory.
type DiskSpace struct {
	// Total is the size of the file system in bytes.
	Total int64
	// Free is how many bytes the broker may still write (what df calls
	// available: the blocks reserved for root are not counted).
	Free int64
}

// ErrSpaceUnknown is returned by FS.Space where the capacity cannot be
// known: an OS without statfs support here, or a MemFS without a limit.
var ErrSpaceUnknown = errors.New("disk space unknown")

// Space reports the capacity of the file system holding the data directory.
func (m *Manager) Space() (DiskSpace, error) {
	s, err := m.fs.Space(m.dir)
	if err != nil {
		return DiskSpace{}, fmt.Errorf("space of %s: %w", m.dir, err)
	}
	return s, nil
}
