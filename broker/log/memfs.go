package log

import (
	"bytes"
	"io"
	iofs "io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is a strict in-memory FS for tests. File data becomes durable only
// through File.Sync, and file names created, renamed or removed become
// durable only through SyncDir of their directory; Crash drops everything
// else, as a power loss would. Directory operations themselves (MkdirAll,
// renaming or removing a whole directory) are durable at once.
//
// It can also inject failures: SetSpaceLimit makes writes fail with ENOSPC
// once the files hold that many bytes, FailSync makes Sync fail.
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*memNode // current names
	durable map[string]*memNode // names as they would survive a crash
	dirs    map[string]bool
	gen     int // bumped by Crash: older handles stop working
	limit   int64
	used    int64
	syncErr error
}

type memNode struct {
	data   []byte
	synced []byte
	mtime  time.Time
}

// NewMemFS returns an empty MemFS with the root directory "/".
func NewMemFS() *MemFS {
	return &MemFS{
		files:   make(map[string]*memNode),
		durable: make(map[string]*memNode),
		dirs:    map[string]bool{"/": true, ".": true},
		limit:   -1,
	}
}

// SetSpaceLimit makes writes fail with ENOSPC once the files together would
// hold more than n bytes; a write that crosses the limit writes what fits.
// n < 0 removes the limit.
func (m *MemFS) SetSpaceLimit(n int64) {
	m.mu.Lock()
	m.limit = n
	m.mu.Unlock()
}

// Space implements FS: the limit set by SetSpaceLimit and what is left of
// it. Without a limit it returns ErrSpaceUnknown.
func (m *MemFS) Space(dir string) (DiskSpace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit < 0 {
		return DiskSpace{}, ErrSpaceUnknown
	}
	return DiskSpace{Total: m.limit, Free: max(m.limit-m.used, 0)}, nil
}

// Used returns the bytes the current files hold.
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// FailSync makes every File.Sync and SyncDir return err (nil to stop).
func (m *MemFS) FailSync(err error) {
	m.mu.Lock()
	m.syncErr = err
	m.mu.Unlock()
}

// Crash simulates a power loss: every file keeps only what was synced and
// the names revert to what SyncDir made durable. Open files stop working.
func (m *MemFS) Crash() { m.crash(nil) }

// CrashRandom is Crash, except that each file also keeps a random part of
// its unsynced tail (possibly garbled), like a torn write.
func (m *MemFS) CrashRandom(r *rand.Rand) { m.crash(r) }

func (m *MemFS) crash(r *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	files := make(map[string]*memNode, len(m.durable))
	m.used = 0
	seen := make(map[*memNode]bool)
	for name, n := range m.durable {
		if !seen[n] {
			seen[n] = true
			keep := append([]byte(nil), n.synced...)
			if r != nil && len(n.data) > len(n.synced) && bytes.Equal(n.data[:len(n.synced)], n.synced) {
				extra := n.data[len(n.synced):]
				k := r.Intn(len(extra) + 1)
				keep = append(keep, extra[:k]...)
				if k > 0 && r.Intn(4) == 0 {
					keep[len(keep)-1-r.Intn(k)] ^= byte(1 + r.Intn(255))
				}
			}
			n.data = keep
			n.synced = append([]byte(nil), keep...)
		}
		files[name] = n
		m.used += int64(len(n.data))
	}
	m.files = files
	m.durable = make(map[string]*memNode, len(files))
	for k, v := range files {
		m.durable[k] = v
	}
}

func clean(name string) string { return filepath.Clean(name) }

func notExist(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	if !ok {
		if m.dirs[name] {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
		}
		if flag&os.O_CREATE == 0 {
			return nil, notExist("open", name)
		}
		if !m.dirs[filepath.Dir(name)] {
			return nil, notExist("open", name)
		}
		n = &memNode{mtime: time.Now()}
		m.files[name] = n
	} else if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	}
	if flag&os.O_TRUNC != 0 && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		m.used -= int64(len(n.data))
		n.data = n.data[:0:0]
	}
	return &memFile{fs: m, node: n, name: name, gen: m.gen, flag: flag}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.files[name]; ok {
		m.used -= int64(len(n.data))
		delete(m.files, name)
		return nil
	}
	if m.dirs[name] {
		prefix := name + "/"
		for k := range m.files {
			if strings.HasPrefix(k, prefix) {
				return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
			}
		}
		for k := range m.dirs {
			if strings.HasPrefix(k, prefix) {
				return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return notExist("remove", name)
}

// RemoveAll implements FS. Removing a directory is durable at once.
func (m *MemFS) RemoveAll(path string) error {
	path = clean(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	prefix := path + "/"
	for k, n := range m.files {
		if k == path || strings.HasPrefix(k, prefix) {
			m.used -= int64(len(n.data))
			delete(m.files, k)
			if k != path {
				delete(m.durable, k)
			}
		}
	}
	for k := range m.dirs {
		if k == path || strings.HasPrefix(k, prefix) {
			delete(m.dirs, k)
		}
	}
	return nil
}

// Rename implements FS. Renaming a file is durable after SyncDir; renaming
// a directory is durable at once.
func (m *MemFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = clean(oldpath), clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.files[oldpath]; ok {
		if !m.dirs[filepath.Dir(newpath)] {
			return notExist("rename", newpath)
		}
		if old, ok := m.files[newpath]; ok && old != n {
			m.used -= int64(len(old.data))
		}
		delete(m.files, oldpath)
		m.files[newpath] = n
		return nil
	}
	if !m.dirs[oldpath] {
		return notExist("rename", oldpath)
	}
	if m.dirs[newpath] {
		return &os.PathError{Op: "rename", Path: newpath, Err: os.ErrExist}
	}
	prefix := oldpath + "/"
	move := func(k string) string { return newpath + k[len(oldpath):] }
	for k, n := range m.files {
		if strings.HasPrefix(k, prefix) {
			delete(m.files, k)
			m.files[move(k)] = n
		}
	}
	for k, n := range m.durable {
		if strings.HasPrefix(k, prefix) {
			delete(m.durable, k)
			m.durable[move(k)] = n
		}
	}
	for k := range m.dirs {
		if k == oldpath || strings.HasPrefix(k, prefix) {
			delete(m.dirs, k)
			m.dirs[move(k)] = true
		}
	}
	return nil
}

// MkdirAll implements FS. Directories are durable at once.
func (m *MemFS) MkdirAll(path string, perm os.FileMode) error {
	path = clean(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := path; ; p = filepath.Dir(p) {
		if _, ok := m.files[p]; ok {
			return &os.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
		}
		m.dirs[p] = true
		if p == filepath.Dir(p) {
			break
		}
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, notExist("readdir", name)
	}
	var out []os.DirEntry
	for k, n := range m.files {
		if filepath.Dir(k) == name {
			out = append(out, iofs.FileInfoToDirEntry(memInfo{name: filepath.Base(k), size: int64(len(n.data)), mtime: n.mtime}))
		}
	}
	for k := range m.dirs {
		if k != name && filepath.Dir(k) == name {
			out = append(out, iofs.FileInfoToDirEntry(memInfo{name: filepath.Base(k), dir: true}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.files[name]; ok {
		return memInfo{name: filepath.Base(name), size: int64(len(n.data)), mtime: n.mtime}, nil
	}
	if m.dirs[name] {
		return memInfo{name: filepath.Base(name), dir: true}, nil
	}
	return nil, notExist("stat", name)
}

// SyncDir implements FS: the names in dir become durable as they are now.
func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.syncErr != nil {
		return m.syncErr
	}
	if !m.dirs[dir] {
		return notExist("syncdir", dir)
	}
	for k := range m.durable {
		if filepath.Dir(k) == dir {
			if _, ok := m.files[k]; !ok {
				delete(m.durable, k)
			}
		}
	}
	for k, n := range m.files {
		if filepath.Dir(k) == dir {
			m.durable[k] = n
		}
	}
	return nil
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	gen    int
	flag   int
	off    int64
	closed bool
}

func (f *memFile) check(op string) error {
	if f.closed {
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	if f.gen != f.fs.gen {
		return &os.PathError{Op: op, Path: f.name, Err: syscall.EIO}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	off := f.off
	if f.flag&os.O_APPEND != 0 {
		off = int64(len(f.node.data))
	}
	n, err := f.writeAtLocked(p, off)
	f.off = off + int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	n := f.node
	end := off + int64(len(p))
	var err error
	if grow := end - int64(len(n.data)); grow > 0 && f.fs.limit >= 0 && f.fs.used+grow > f.fs.limit {
		room := f.fs.limit - f.fs.used
		if room < 0 {
			room = 0
		}
		end = int64(len(n.data)) + room
		if end < off {
			end = off
		}
		p = p[:end-off]
		err = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	if end > int64(len(n.data)) {
		f.fs.used += end - int64(len(n.data))
		if end > int64(cap(n.data)) {
			nd := make([]byte, end, max(end, 2*int64(cap(n.data))))
			copy(nd, n.data)
			n.data = nd
		} else {
			n.data = n.data[:end]
		}
	}
	copy(n.data[off:], p)
	n.mtime = time.Now()
	return len(p), err
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if f.fs.syncErr != nil {
		return f.fs.syncErr
	}
	f.node.synced = append(f.node.synced[:0], f.node.data...)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	n := f.node
	if size <= int64(len(n.data)) {
		f.fs.used -= int64(len(n.data)) - size
		n.data = n.data[:size]
		return nil
	}
	f.fs.used += size - int64(len(n.data))
	n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.node.data)), mtime: f.node.mtime}, nil
}

type memInfo struct {
	name  string
	size  int64
	dir   bool
	mtime time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return i.mtime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
