package streams

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// Defaults of Config, Kafka Streams' where it has one.
const (
	// DefaultCommitInterval is commit.interval.ms under at-least-once: 30 s.
	DefaultCommitInterval = 30 * time.Second
	// DefaultEOSCommitInterval is commit.interval.ms under exactly-once: 100 ms.
	DefaultEOSCommitInterval = 100 * time.Millisecond
	// DefaultTransactionTimeout is the transaction.timeout.ms Kafka Streams gives its
	// producers under exactly-once: 10 s.
	DefaultTransactionTimeout = 10 * time.Second
	// DefaultRepartitionPurgeInterval is repartition.purge.interval.ms: 30 s.
	DefaultRepartitionPurgeInterval = 30 * time.Second
)

// ProcessingGuarantee is processing.guarantee: what a crash or a rebalance may do to
// the results.
type ProcessingGuarantee int

const (
	// AtLeastOnce ("at_least_once", the default): every input record affects the results,
	// but input processed after the last commit is processed again after a crash, so its
	// effects may show twice.
	AtLeastOnce ProcessingGuarantee = iota
	// ExactlyOnceV2 ("exactly_once_v2", KIP-447): each instance produces through one
	// transactional producer; the records a commit interval produced (output, changelog
	// and repartition records) and the input offsets it consumed are committed in one
	// transaction, and the application reads its inputs with read_committed. After a crash
	// the uncommitted transaction is aborted and its stores are restored from the
	// committed changelog, so every input record affects the committed results once.
	ExactlyOnceV2
)

// String returns Kafka's name of the guarantee.
func (g ProcessingGuarantee) String() string {
	switch g {
	case AtLeastOnce:
		return "at_least_once"
	case ExactlyOnceV2:
		return "exactly_once_v2"
	}
	return "ProcessingGuarantee(" + strconv.Itoa(int(g)) + ")"
}

// ParseProcessingGuarantee parses Kafka's name of a guarantee: "at_least_once" or
// "exactly_once_v2".
func ParseProcessingGuarantee(s string) (ProcessingGuarantee, error) {
	switch s {
	case "at_least_once":
		return AtLeastOnce, nil
	case "exactly_once_v2":
		return ExactlyOnceV2, nil
	}
	return 0, fmt.Errorf("%w: processing.guarantee %q: want at_least_once or exactly_once_v2", ErrConfig, s)
}

// Config configures an App. ApplicationID and Brokers are required.
type Config struct {
	// ApplicationID (application.id) is the consumer group id and the prefix of
	// internal topics and of the state directory.
	ApplicationID string
	// Brokers are the bootstrap servers.
	Brokers []string
	// StateDir (state.dir) holds the task directories; default <tmp>/gregor-streams.
	StateDir string
	// NumStreamThreads (num.stream.threads) is how many goroutines process tasks;
	// default 1.
	NumStreamThreads int
	// ProcessingGuarantee (processing.guarantee): AtLeastOnce (default) or ExactlyOnceV2.
	ProcessingGuarantee ProcessingGuarantee
	// CommitInterval (commit.interval.ms): how often offsets are committed, after the
	// caches, stores and changelogs are flushed; default 30 s, 100 ms under exactly-once.
	CommitInterval time.Duration
	// TransactionTimeout (the producer's transaction.timeout.ms) under exactly-once: how
	// long the broker lets a transaction of a crashed instance block read_committed
	// readers before it aborts it; default 10 s.
	TransactionTimeout time.Duration
	// CacheMaxBytes (statestore.cache.max.bytes) is the record cache budget of each
	// stream thread, shared among its tasks' stores; default 10 MiB, negative disables
	// caching.
	CacheMaxBytes int64
	// ReplicationFactor (replication.factor) of internal topics; default -1, the
	// broker's default.
	ReplicationFactor int16
	// RepartitionPurgeInterval (repartition.purge.interval.ms) is how often consumed
	// records of repartition topics are deleted; default 30 s.
	RepartitionPurgeInterval time.Duration
	// DeserializationHandler decides about records that fail to deserialize; default
	// LogAndFail.
	DeserializationHandler DeserializationHandler
	// TimestampExtractor extracts event times; default RecordTimestamp.
	TimestampExtractor TimestampExtractor
	// ApplicationServer (application.server) is this instance's "host:port" for
	// interactive queries: the App serves its stores over HTTP there and publishes it
	// to the other instances, so that QueryKey on any of them can reach the one holding
	// a key. Empty: queries answer only for local tasks.
	ApplicationServer string
	// MaxTaskIdle (max.task.idle.ms) is how long a task reading several partitions (a
	// join's or a cogroup's inputs) waits for records of a partition that has none
	// buffered and may be behind, before processing the others' records. Whatever it
	// is, a task processes the records it has in timestamp order across its
	// partitions. Default 0: no waiting (Kafka Streams' 0 also waits while a
	// partition's lag is known to be positive; Gregor knows a partition's high
	// watermark only from fetches that returned records). A partition written in
	// transactions ends each one with a marker, which makes it look one record behind:
	// under exactly-once, a positive MaxTaskIdle delays the other partitions' records by
	// up to that long after each transaction of the partition.
	MaxTaskIdle time.Duration
	// NumStandbyReplicas (num.standby.replicas) is how many other instances keep a warm
	// copy of each task's persistent stores, caught up with the changelogs every second,
	// so that a task moving to one of them restores only the latest changes; default 0.
	NumStandbyReplicas int
	// HTTPAddr, if set ("127.0.0.1:9645"; port 0 picks one, see App.HTTPAddr), is where
	// the App serves operators from Start on: /metrics (its Collector, plus Go's and the
	// process's, in Prometheus text format), /healthz, /readyz (200 once RUNNING, 503
	// with the state otherwise) and Go's profiler under /debug/pprof/.
	HTTPAddr string
	// SessionTimeout of the consumer group membership; default 45 s.
	SessionTimeout time.Duration
	// RestoreListener, if set, is told about state restoration.
	RestoreListener state.RestoreListener
	// Logger receives the application's logs; default slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options (TLS, SASL, ...) for the client. Under
	// exactly_once_v2 a kgo.MaxVersions here must keep EndTxn and TxnOffsetCommit at
	// version 4 or below (the App's transactions predate KIP-890 part 2); Start
	// fails with ErrConfig otherwise.
	ClientOptions []kgo.Opt
}

func (c *Config) validate() error {
	if c.ApplicationID == "" {
		return fmt.Errorf("%w: ApplicationID is required", ErrConfig)
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: Brokers are required", ErrConfig)
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "gregor-streams")
	}
	if c.NumStreamThreads <= 0 {
		c.NumStreamThreads = 1
	}
	switch c.ProcessingGuarantee {
	case AtLeastOnce, ExactlyOnceV2:
	default:
		return fmt.Errorf("%w: unknown processing guarantee %d", ErrConfig, c.ProcessingGuarantee)
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = DefaultCommitInterval
		if c.ProcessingGuarantee == ExactlyOnceV2 {
			c.CommitInterval = DefaultEOSCommitInterval
		}
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.RepartitionPurgeInterval <= 0 {
		c.RepartitionPurgeInterval = DefaultRepartitionPurgeInterval
	}
	if c.DeserializationHandler == nil {
		c.DeserializationHandler = LogAndFail
	}
	if c.TimestampExtractor == nil {
		c.TimestampExtractor = RecordTimestamp
	}
	if c.NumStandbyReplicas < 0 {
		return fmt.Errorf("%w: NumStandbyReplicas %d is negative", ErrConfig, c.NumStandbyReplicas)
	}
	if c.ApplicationServer != "" {
		if _, err := parseHostInfo(c.ApplicationServer); err != nil {
			return err
		}
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
