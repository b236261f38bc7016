package group

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/google/uuid"
)

// ErrBadConfig is returned by Config.Validate.
var ErrBadConfig = errors.New("bad group coordinator config")

// Config holds the coordinator's settings, named after Kafka's broker
// properties. DefaultConfig returns Kafka's defaults.
type Config struct {
	// NumPartitions is offsets.topic.num.partitions: how many partitions
	// __consumer_offsets has (when it already exists, its real count wins).
	NumPartitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout are group.min/max.session.timeout.ms.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxSize is group.max.size.
	MaxSize int
	// NewMemberJoinTimeout bounds how long a new member may sit in a
	// rebalance without being heard from (Kafka: 5 minutes).
	NewMemberJoinTimeout time.Duration
	// OffsetsRetention is offsets.retention.minutes.
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// MaxMetadataSize is offset.metadata.max.bytes.
	MaxMetadataSize int
	// Logger receives the coordinator's log lines (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
	// NewMemberID makes a member ID from a prefix (the client ID, or the
	// group.instance.id of a static member). The default appends "-" and a
	// random UUID, as Kafka does; tests make it deterministic.
	NewMemberID func(prefix string) string
	// Owns reports whether this broker coordinates the groups of a
	// __consumer_offsets partition (it leads the partition). Nil means
	// every partition, as on a single node. Groups of other partitions get
	// NOT_COORDINATOR; a partition is loaded when it is first owned.
	Owns func(partition int32) bool
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:          50,
		InitialRebalanceDelay:  3 * time.Second,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		MaxSize:                math.MaxInt32,
		NewMemberJoinTimeout:   5 * time.Minute,
		OffsetsRetention:       7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
		MaxMetadataSize:        4096,
	}
}

// Validate checks the settings and fills in the defaults of the optional
// fields (Logger, Now, NewMemberID).
func (c *Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("%w: offsets.topic.num.partitions must be at least 1", ErrBadConfig)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("%w: group.initial.rebalance.delay.ms must not be negative", ErrBadConfig)
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("%w: group.min.session.timeout.ms must be at most group.max.session.timeout.ms", ErrBadConfig)
	case c.MaxSize < 1:
		return fmt.Errorf("%w: group.max.size must be at least 1", ErrBadConfig)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("%w: offsets.retention.minutes must be positive", ErrBadConfig)
	case c.RetentionCheckInterval <= 0:
		return fmt.Errorf("%w: offsets.retention.check.interval.ms must be positive", ErrBadConfig)
	case c.MaxMetadataSize < 0:
		return fmt.Errorf("%w: offset.metadata.max.bytes must not be negative", ErrBadConfig)
	}
	if c.NewMemberJoinTimeout <= 0 {
		c.NewMemberJoinTimeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewMemberID == nil {
		c.NewMemberID = func(prefix string) string { return prefix + "-" + uuid.NewString() }
	}
	return nil
}
