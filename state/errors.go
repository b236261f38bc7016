package state

import "errors"

// Sentinel errors returned (wrapped with %w) by the stores and the task machinery in this
// package and its backends. Test for them with errors.Is.
var (
	// ErrNotFound is returned by point lookups when the key (or window, or session) is absent.
	ErrNotFound = errors.New("state: not found")
	// ErrClosed is returned by every operation on a store or task that was closed.
	ErrClosed = errors.New("state: store closed")
	// ErrNilKey is returned when a nil key is written.
	ErrNilKey = errors.New("state: nil key")
	// ErrInvalidTimestamp is returned for negative window or session timestamps, or a
	// session whose end precedes its start.
	ErrInvalidTimestamp = errors.New("state: invalid timestamp")
	// ErrCorrupt reports a store whose on-disk data cannot be read. A Task wipes such a
	// store and rebuilds it from its changelog.
	ErrCorrupt = errors.New("state: store corrupt")
	// ErrBadCheckpoint reports a .checkpoint file that cannot be parsed.
	ErrBadCheckpoint = errors.New("state: malformed checkpoint file")
	// ErrTaskLocked is returned by OpenTask when another instance holds the task directory.
	ErrTaskLocked = errors.New("state: task directory locked by another instance")
	// ErrBadKey reports a stored or changelog key that does not decode as a window or
	// session key.
	ErrBadKey = errors.New("state: malformed store key")
	// ErrOffsetOutOfRange is returned by a ChangelogReader asked for an offset outside the
	// partition's log; restoration then wipes the store and restores from the log start.
	ErrOffsetOutOfRange = errors.New("state: changelog offset out of range")
	// ErrDuplicateStore is returned when a task registers two stores with the same name.
	ErrDuplicateStore = errors.New("state: store already registered")
	// ErrBadConfig reports an invalid configuration value.
	ErrBadConfig = errors.New("state: bad config")
)
