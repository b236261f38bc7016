//go:build !linux

package log

// Space implements FS; off Linux the capacity is not looked up and it
// returns ErrSpaceUnknown.
func (OSFS) Space(dir string) (DiskSpace, error) { return DiskSpace{}, ErrSpaceUnknown }
