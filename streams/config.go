package streams

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/state"
)

// Defaults of Config, Kafka Streams' where it has one.
const (
	// DefaultCommitInterval is commit.interval.ms under at-least-once: 30 s.
	DefaultCommitInterval = 30 * time.Second
	// DefaultRepartitionPurgeInterval is repartition.purge.interval.ms: 30 s.
	DefaultRepartitionPurgeInterval = 30 * time.Second
)

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
	// CommitInterval (commit.interval.ms): how often offsets are committed, after the
	// caches, stores and changelogs are flushed; default 30 s.
	CommitInterval time.Duration
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
	// SessionTimeout of the consumer group membership; default 45 s.
	SessionTimeout time.Duration
	// RestoreListener, if set, is told about state restoration.
	RestoreListener state.RestoreListener
	// Logger receives the application's logs; default slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options (TLS, SASL, ...) for the client.
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
	if c.CommitInterval <= 0 {
		c.CommitInterval = DefaultCommitInterval
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
