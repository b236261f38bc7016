package log

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Manager owns one data directory (log.dirs): every partition log in it,
// the checkpoint files recovery-point-offset-checkpoint and
// log-start-offset-checkpoint, and the clean-shutdown marker. Its
// background loops (Start) apply retention, flush by flush.ms and write the
// checkpoints.
//
// Lock order: Manager.mu before Log.mu. Manager.ckMu (checkpoint writes) is
// taken without holding either. The cleaner's locks (cleanerState) come
// after Manager.mu; a cleaner thread takes Log.cleanMu, then Log.mu.
type Manager struct {
	dir   string
	opts  Options
	fs    FS
	cache *handleCache
	clean bool

	mu        sync.Mutex
	logs      map[topicPartition]*Log
	startCk   map[topicPartition]int64 // checkpointed entries of logs not (yet) open
	rpCk      map[topicPartition]int64
	closed    bool
	started   bool
	stop      chan struct{}
	loops     sync.WaitGroup
	deleting  sync.WaitGroup
	ckMu      sync.Mutex
	closeOnce sync.Once
	cleaner   *cleanerState
	// needsRecovery is set when a log closed itself after a storage failure
	// part-way through changing its files: Close then leaves the
	// clean-shutdown marker out, so the next start recovers every log.
	needsRecovery atomic.Bool
}

// OpenManager opens (creating) a data directory. If the clean-shutdown
// marker is there, logs skip recovery; the marker is removed until Close.
func OpenManager(dataDir string, opts Options) (*Manager, error) {
	opts = opts.withDefaults()
	m := &Manager{
		dir: dataDir, opts: opts, fs: opts.FS,
		cache: newHandleCache(opts.FS, opts.MaxOpenSegments),
		logs:  make(map[topicPartition]*Log),
		stop:  make(chan struct{}),
	}
	if err := m.fs.MkdirAll(dataDir, 0o755); err != nil {
		return nil, storageErr("create "+dataDir, err)
	}
	var err error
	if m.startCk, err = readCheckpoint(m.fs, filepath.Join(dataDir, logStartCheckpoint)); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			opts.Logger.Warn("ignoring log start checkpoint", "err", err)
		}
		m.startCk = make(map[topicPartition]int64)
	}
	if m.rpCk, err = readCheckpoint(m.fs, filepath.Join(dataDir, recoveryPointCheckpoint)); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			opts.Logger.Warn("ignoring recovery point checkpoint", "err", err)
		}
		m.rpCk = make(map[topicPartition]int64)
	}
	m.cleaner = newCleanerState(readCleanerCheckpoint(m))
	marker := filepath.Join(dataDir, cleanShutdownFile)
	if _, err := m.fs.Stat(marker); err == nil {
		m.clean = true
		if err := m.fs.Remove(marker); err != nil {
			return nil, storageErr("remove clean-shutdown marker", err)
		}
		if err := m.fs.SyncDir(dataDir); err != nil {
			return nil, storageErr("sync "+dataDir, err)
		}
	}
	// Finish deletions that a crash interrupted.
	if entries, err := m.fs.ReadDir(dataDir); err == nil {
		for _, e := range entries {
			if e.IsDir() && strings.HasSuffix(e.Name(), "-delete") {
				m.fs.RemoveAll(filepath.Join(dataDir, e.Name()))
			}
		}
	}
	return m, nil
}

// Dir returns the data directory.
func (m *Manager) Dir() string { return m.dir }

// TopicIDString formats a topic ID as Kafka's Uuid.toString does
// (base64url without padding).
func TopicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// OpenLog opens or creates the log of a partition in <dataDir>/<topic>-<partition>/
// with its partition.metadata. A directory left by a deleted topic (another
// topic ID) is removed first. Opening an open log returns it; a log that
// closed itself after a storage failure (see Log.TruncateTo) is opened
// again from its files, with recovery.
func (m *Manager) OpenLog(topic string, partition int32, topicID [16]byte, cfg Config) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	key := topicPartition{topic, partition}
	clean := m.clean
	if l, ok := m.logs[key]; ok {
		if !l.isClosed.Load() {
			return l, nil
		}
		delete(m.logs, key)
		m.startCk[key], m.rpCk[key] = l.LogStartOffset(), l.RecoveryPoint()
		clean = false
	}
	dir := filepath.Join(m.dir, fmt.Sprintf("%s-%d", topic, partition))
	metaPath := filepath.Join(dir, partitionMetadataFile)
	want := fmt.Sprintf("version: 0\ntopic_id: %s\n", TopicIDString(topicID))
	st := openState{logStart: -1, recoveryPoint: -1, clean: clean, cleanedTo: m.cleaner.checkpoint(key)}
	if b, err := readFile(m.fs, metaPath); err == nil && string(b) != want {
		m.opts.Logger.Info("removing stale partition directory", "dir", dir, "had", strings.TrimSpace(string(b)))
		if err := m.fs.RemoveAll(dir); err != nil {
			return nil, storageErr("remove stale "+dir, err)
		}
		delete(m.startCk, key)
		delete(m.rpCk, key)
		m.cleaner.forget(m, key)
	} else {
		if v, ok := m.startCk[key]; ok {
			st.logStart = v
		}
		if v, ok := m.rpCk[key]; ok {
			st.recoveryPoint = v
		}
	}
	l, err := openLog(dir, topic, partition, cfg, m.opts, m.cache, m, st)
	if err != nil {
		return nil, err
	}
	if b, err := readFile(m.fs, metaPath); err != nil || string(b) != want {
		if err := writeFileAtomic(m.fs, metaPath, []byte(want)); err != nil {
			l.Close()
			return nil, storageErr("write partition metadata", err)
		}
	}
	m.logs[key] = l
	return l, nil
}

// Log returns an open log.
func (m *Manager) Log(topic string, partition int32) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[topicPartition{topic, partition}]
	return l, ok
}

// Logs returns every open log.
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	return out
}

// DeleteLog closes a partition's log, renames its directory to
// <topic>-<partition>.<random hex>-delete and removes it in the background
// (Close waits for the removal).
func (m *Manager) DeleteLog(topic string, partition int32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := topicPartition{topic, partition}
	dir := filepath.Join(m.dir, fmt.Sprintf("%s-%d", topic, partition))
	l, ok := m.logs[key]
	if ok {
		l.closeForDelete()
		m.cleaner.waitIdle(l)
		delete(m.logs, key)
	}
	delete(m.startCk, key)
	delete(m.rpCk, key)
	m.cleaner.forget(m, key)
	if _, err := m.fs.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return storageErr("stat "+dir, err)
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	gone := fmt.Sprintf("%s.%s-delete", dir, hex.EncodeToString(rnd[:]))
	if err := m.fs.Rename(dir, gone); err != nil {
		return storageErr("rename "+dir, err)
	}
	if err := m.fs.SyncDir(m.dir); err != nil {
		return storageErr("sync "+m.dir, err)
	}
	m.deleting.Add(1)
	go func() {
		defer m.deleting.Done()
		if err := m.fs.RemoveAll(gone); err != nil {
			m.opts.Logger.Warn("remove deleted log", "dir", gone, "err", err)
		}
	}()
	return nil
}

// writeCheckpoints writes both checkpoint files for every log: the open
// ones with their current values, the others as last checkpointed.
func (m *Manager) writeCheckpoints() error {
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	m.mu.Lock()
	start := make(map[topicPartition]int64, len(m.logs)+len(m.startCk))
	rp := make(map[topicPartition]int64, len(m.logs)+len(m.rpCk))
	for k, v := range m.startCk {
		start[k] = v
	}
	for k, v := range m.rpCk {
		rp[k] = v
	}
	for k, l := range m.logs {
		start[k] = l.LogStartOffset()
		rp[k] = l.RecoveryPoint()
	}
	m.mu.Unlock()
	if err := writeCheckpoint(m.fs, filepath.Join(m.dir, logStartCheckpoint), start); err != nil {
		return err
	}
	return writeCheckpoint(m.fs, filepath.Join(m.dir, recoveryPointCheckpoint), rp)
}

// Checkpoint writes the checkpoint files now.
func (m *Manager) Checkpoint() error { return m.writeCheckpoints() }

// Start runs the background loops: retention every RetentionCheckInterval,
// flush.ms checks every FlushCheckInterval, checkpoints every
// CheckpointInterval, and CleanerThreads log cleaners (cleaner_manager.go).
// Close stops them.
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed {
		return
	}
	m.started = true
	m.loops.Add(1)
	go m.loop()
	for i := 0; i < m.opts.CleanerThreads; i++ {
		m.loops.Add(1)
		go m.cleanerLoop(m.opts.CleanerDedupeBufferSize / int64(m.opts.CleanerThreads))
	}
}

// Close stops the loops, closes every log, waits for pending deletions and
// writes the checkpoints and the clean-shutdown marker.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() { err = m.close() })
	return err
}

func (m *Manager) close() error {
	m.mu.Lock()
	m.closed = true
	close(m.stop)
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	m.mu.Unlock()
	m.loops.Wait()
	var err error
	for _, l := range logs {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	m.deleting.Wait()
	if cerr := m.writeCheckpoints(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil && !m.needsRecovery.Load() {
		if werr := writeFileAtomic(m.fs, filepath.Join(m.dir, cleanShutdownFile), nil); werr != nil {
			err = storageErr("write clean-shutdown marker", werr)
		}
	}
	return err
}
