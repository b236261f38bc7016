package broker

import (
	"strings"
	"time"

	blog "github.com/gregorhq/gregor/broker/log"
)

// cleanerOptions adds the log cleaner's broker properties to the log
// manager's options: log.cleaner.enable, log.cleaner.threads,
// log.cleaner.dedupe.buffer.size, log.cleaner.io.buffer.size and
// log.cleaner.backoff.ms (Kafka's names and defaults). The per-topic
// settings (cleanup.policy, delete.retention.ms, min.cleanable.dirty.ratio,
// min/max.compaction.lag.ms) travel in blog.Config (settingsFor).
func (b *Broker) cleanerOptions(o blog.Options) blog.Options {
	o.CleanerThreads = int(b.brokerIntSetting("log.cleaner.threads", 1))
	if o.CleanerThreads <= 0 || strings.EqualFold(strings.TrimSpace(b.cfg.Properties["log.cleaner.enable"]), "false") {
		o.CleanerThreads = -1 // no cleaner
	}
	o.CleanerDedupeBufferSize = b.brokerIntSetting("log.cleaner.dedupe.buffer.size", 128<<20)
	o.CleanerIOBufferSize = int(b.brokerIntSetting("log.cleaner.io.buffer.size", 1<<20))
	o.CleanerBackoff = time.Duration(b.brokerIntSetting("log.cleaner.backoff.ms", 15000)) * time.Millisecond
	return o
}
