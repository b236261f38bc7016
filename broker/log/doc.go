// Package log is Gregor's partition log: Kafka's on-disk layout and
// semantics for one partition per directory.
//
// A log is a list of segments named by their base offset (20 digits):
// <base>.log holds record batches (magic v2) exactly as the producer sent
// them apart from the fields the broker assigns (base offset, partition
// leader epoch, LogAppendTime); <base>.index and <base>.timeindex are sparse
// offset and time indexes, one entry per index.interval.bytes. Producer
// idempotence state is snapshotted to <offset>.snapshot at every roll and
// close, and leader epochs are kept in leader-epoch-checkpoint.
//
// A Manager owns a data directory: its logs, the checkpoint files
// log-start-offset-checkpoint and recovery-point-offset-checkpoint, and the
// .kafka_cleanshutdown marker. After an unclean shutdown every batch past the
// recovery point is validated (length, CRC-32C, offsets) and a torn or
// corrupt tail is cut off; damaged or missing indexes are rebuilt.
//
// Durability follows flush.messages and flush.ms (default: leave it to the
// OS, as Kafka does). Log.Sync gives group commit for a durable setting:
// append, then Sync(lastOffset+1) before acknowledging.
//
// Topics with cleanup.policy compact are compacted by the Manager's cleaner
// threads (log.cleaner.threads) as Kafka's LogCleaner does: the latest
// record of each key survives, tombstones and transaction markers go after
// delete.retention.ms (KIP-534 delete horizons), aborted transactional
// records go, offsets never change. Cleaned segments are swapped in through
// .cleaned and .swap files that recovery completes or rolls back, and
// cleaner-offset-checkpoint records how far cleaning got (cleaner.go,
// cleaner_swap.go). CheckKeys tells a produce path that a batch holds a
// record without a key, which compacted topics refuse.
//
// Replication (Kafka's ISR protocol with KIP-101/279 truncation): a
// follower appends the leader's batches unchanged with AppendAsFollower,
// which keeps their offsets, epochs and producer fields and updates the
// producer state and leader-epoch cache as a leader append does; a leader
// checks a follower's fetch position with DivergingEpoch; the follower
// works out where to cut with TruncationOffset and cuts with TruncateTo,
// or empties its log with TruncateFullyAndStartAt (follower.go,
// truncate.go, epoch_replica.go). Truncation is crash-safe by the order of
// its steps; a storage failure in the middle closes the log, and opening
// it again recovers it.
//
// All file access goes through FS; MemFS simulates power loss and full disks
// in tests.
//
// Lock order: Manager.mu, then the cleaner's locks (cleanerState.mu or
// .ckMu); Log.cleanMu, then Log.syncMu, then Log.mu, then the handle cache,
// then a segment's handle and index locks. A cleaner thread holds no
// Manager lock while it cleans a log. A truncation takes Log.cleanMu, then
// the flusher role (under Log.syncMu), then Log.mu, and writes the
// Manager's checkpoints only after giving them all back.
//
// Example:
//
//	m, err := log.OpenManager("/var/lib/gregor", log.Options{})
//	if err != nil { ... }
//	defer m.Close()
//	m.Start()
//	l, err := m.OpenLog("orders", 0, topicID, log.DefaultConfig())
//	res, err := l.Append(batch, log.AppendOptions{LeaderEpoch: 0})
//	if err == nil {
//		err = l.Sync(res.LastOffset + 1) // only with a durable setting
//	}
//	l.SetHighWatermark(l.LogEndOffset())
//	data, err := l.Read(res.BaseOffset, 1<<20, l.HighWatermark(), true)
//
// A follower's fetch loop, with the leader's side inline:
//
//	last, _ := f.LatestEpochEntry() // the Fetch's LastFetchedEpoch
//	if d := leader.DivergingEpoch(f.LogEndOffset(), last.Epoch); d.Diverged {
//		to, _ := f.TruncationOffset(d.Epoch, d.EndOffset)
//		err = f.TruncateTo(to) // then fetch again
//	} else {
//		records, err := leader.Read(f.LogEndOffset(), 1<<20, leader.LogEndOffset(), true)
//		_, err = f.AppendAsFollower(records)
//		f.SetHighWatermark(leader.HighWatermark()) // clamped to the log end
//	}
package log
