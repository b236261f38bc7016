package log

import (
	"math"
	"time"
)

func (m *Manager) loop() {
	defer m.loops.Done()
	retention := time.NewTicker(m.opts.RetentionCheckInterval)
	flush := time.NewTicker(m.opts.FlushCheckInterval)
	ckpt := time.NewTicker(m.opts.CheckpointInterval)
	defer retention.Stop()
	defer flush.Stop()
	defer ckpt.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-retention.C:
			m.RunRetention()
		case <-flush.C:
			m.flushDue()
		case <-ckpt.C:
			if err := m.writeCheckpoints(); err != nil {
				m.opts.Logger.Warn("write checkpoints", "err", err)
			}
		}
	}
}

// RunRetention applies retention to every log now.
func (m *Manager) RunRetention() {
	now := m.opts.Now()
	for _, l := range m.Logs() {
		if n, err := l.ApplyRetention(now); err != nil {
			l.logger.Warn("retention", "err", err)
		} else if n > 0 {
			l.logger.Info("deleted segments by retention", "segments", n)
		}
	}
}

// flushDue flushes the logs whose flush.ms has passed with data unflushed.
func (m *Manager) flushDue() {
	now := m.opts.Now()
	for _, l := range m.Logs() {
		l.mu.Lock()
		due := l.cfg.FlushMs != math.MaxInt64 && l.unflushed > 0 && now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs
		l.mu.Unlock()
		if due {
			if err := l.Flush(); err != nil {
				l.logger.Warn("flush", "err", err)
			}
		}
	}
}
