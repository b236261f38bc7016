package broker

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// FlushPolicy says when the broker fsyncs a partition's log.
type FlushPolicy string

const (
	// FlushOS leaves flushing to the operating system (Kafka's default:
	// log.flush.interval.messages and .ms unset). An acknowledged record is
	// in the page cache: it survives a broker crash, not a power loss.
	FlushOS FlushPolicy = "os"
	// FlushDurable fsyncs before acknowledging acks=1/all produces, with
	// group commit across producers. An acknowledged record survives a
	// power loss.
	FlushDurable FlushPolicy = "durable"
)

// Config is the broker's configuration, named after Kafka's server.properties.
// Build one with DefaultConfig, change fields, then call Validate (New does).
type Config struct {
	NodeID               int32         // node.id
	Listeners            []Listener    // listeners
	AdvertisedListeners  []Listener    // advertised.listeners (empty = same as Listeners)
	DataDir              string        // log.dirs (first entry)
	NumPartitions        int32         // num.partitions
	AutoCreateTopics     bool          // auto.create.topics.enable
	MessageMaxBytes      int32         // message.max.bytes
	SocketRequestMaxSize int32         // socket.request.max.bytes
	RetentionCheckEvery  time.Duration // log.retention.check.interval.ms
	FlushPolicy          FlushPolicy   // gregor.flush.policy
	// Cluster holds process.roles, node.id's quorum and the broker session
	// settings (cluster_config.go).
	Cluster ClusterConfig
	// Properties are the static broker properties as given (file and flags),
	// used as the defaults of topic configs through their broker synonyms.
	Properties map[string]string
}

// Listener is one named endpoint, such as PLAINTEXT://127.0.0.1:9092.
type Listener struct {
	Name string // listener name, e.g. PLAINTEXT
	Host string
	Port int32
}

// String renders the listener as Kafka does: NAME://host:port.
func (l Listener) String() string {
	return fmt.Sprintf("%s://%s", l.Name, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) }

// Errors from configuration parsing and validation.
var (
	ErrBadListener = errors.New("bad listener")
	ErrBadConfig   = errors.New("bad broker config")
)

// DefaultConfig returns Kafka's defaults with DESIGN.md's single-node ones.
func DefaultConfig() Config {
	return Config{
		NodeID:               1,
		Listeners:            []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		DataDir:              "./gregor-data",
		NumPartitions:        1,
		AutoCreateTopics:     true,
		MessageMaxBytes:      1048588,
		SocketRequestMaxSize: 104857600,
		RetentionCheckEvery:  5 * time.Minute,
		FlushPolicy:          FlushOS,
		Cluster:              defaultClusterConfig(),
		Properties:           map[string]string{},
	}
}

// ParseListeners parses a comma-separated listener list, such as
// "PLAINTEXT://127.0.0.1:9092,EXTERNAL://0.0.0.0:19092". A bare host:port
// is taken as PLAINTEXT.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name := "PLAINTEXT"
		if i := strings.Index(part, "://"); i >= 0 {
			name, part = strings.ToUpper(part[:i]), part[i+3:]
		}
		host, port, err := net.SplitHostPort(part)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadListener, part, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%w %q: port %q", ErrBadListener, part, port)
		}
		out = append(out, Listener{Name: name, Host: host, Port: int32(p)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty listener list", ErrBadListener)
	}
	return out, nil
}

// ApplyProperties sets fields from server.properties names. Unknown names are
// kept in Properties (they may be topic-config synonyms); malformed values
// are errors.
func (c *Config) ApplyProperties(props map[string]string) error {
	if c.Properties == nil {
		c.Properties = map[string]string{}
	}
	for k, v := range props {
		v = strings.TrimSpace(v)
		c.Properties[k] = v
		var err error
		switch k {
		case "node.id", "broker.id":
			c.NodeID, err = parseInt32(k, v)
		case "listeners":
			c.Listeners, err = ParseListeners(v)
		case "advertised.listeners":
			c.AdvertisedListeners, err = ParseListeners(v)
		case "log.dirs", "log.dir":
			c.DataDir = strings.TrimSpace(strings.Split(v, ",")[0])
		case "num.partitions":
			c.NumPartitions, err = parseInt32(k, v)
		case "auto.create.topics.enable":
			c.AutoCreateTopics, err = strconv.ParseBool(v)
		case "message.max.bytes":
			c.MessageMaxBytes, err = parseInt32(k, v)
		case "socket.request.max.bytes":
			c.SocketRequestMaxSize, err = parseInt32(k, v)
		case "log.retention.check.interval.ms":
			var ms int64
			ms, err = strconv.ParseInt(v, 10, 64)
			c.RetentionCheckEvery = time.Duration(ms) * time.Millisecond
		case "gregor.flush.policy":
			c.FlushPolicy = FlushPolicy(v)
		default:
			_, err = c.Cluster.applyClusterProperty(k, v)
		}
		if err != nil {
			return fmt.Errorf("%w: %s=%s: %w", ErrBadConfig, k, v, err)
		}
	}
	return nil
}

func parseInt32(k, v string) (int32, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s must be a 32-bit integer", k)
	}
	return int32(n), nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.Listeners) == 0 {
		return fmt.Errorf("%w: no listeners", ErrBadConfig)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: log.dirs is empty", ErrBadConfig)
	}
	if c.NumPartitions < 1 {
		return fmt.Errorf("%w: num.partitions must be at least 1", ErrBadConfig)
	}
	if c.MessageMaxBytes < 0 || c.SocketRequestMaxSize < 1 {
		return fmt.Errorf("%w: message.max.bytes and socket.request.max.bytes must be positive", ErrBadConfig)
	}
	if c.FlushPolicy != FlushOS && c.FlushPolicy != FlushDurable {
		return fmt.Errorf("%w: gregor.flush.policy must be %q or %q", ErrBadConfig, FlushOS, FlushDurable)
	}
	if err := c.checkSecurityProtocols(); err != nil {
		return err
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if len(c.AdvertisedListeners) > 0 {
		for _, a := range c.AdvertisedListeners {
			if _, ok := c.listener(a.Name); !ok {
				return fmt.Errorf("%w: advertised listener %s has no matching listener", ErrBadConfig, a.Name)
			}
		}
	}
	for k, v := range c.Properties {
		if err := checkKnownNumeric(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) listener(name string) (Listener, bool) {
	for _, l := range c.Listeners {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// timeProps converts Kafka's hours/minutes synonyms to milliseconds.
var timeProps = map[string]int64{
	"log.retention.hours":   3600000,
	"log.retention.minutes": 60000,
	"log.retention.ms":      1,
	"log.roll.hours":        3600000,
	"log.roll.ms":           1,
	"log.roll.jitter.hours": 3600000,
	"log.roll.jitter.ms":    1,
}

func checkKnownNumeric(k, v string) error {
	if _, ok := timeProps[k]; ok {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%w: %s=%s is not a number", ErrBadConfig, k, v)
		}
	}
	return nil
}

// brokerDefault returns the broker-level default for a topic config, from
// its synonyms in Properties (most specific first), converting hours and
// minutes to milliseconds, and whether one was set.
func (c *Config) brokerDefault(synonyms []string) (string, string, bool) {
	return lookupSynonym(c.Properties, synonyms)
}

// lookupSynonym finds the first of synonyms set in props and returns its
// value in the topic config's unit (hours and minutes become milliseconds).
func lookupSynonym(props map[string]string, synonyms []string) (string, string, bool) {
	for _, s := range synonyms {
		v, ok := props[s]
		if !ok {
			continue
		}
		if mult, ok := timeProps[s]; ok && mult > 1 {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				if n > math.MaxInt64/mult {
					return strconv.FormatInt(math.MaxInt64, 10), s, true
				}
				return strconv.FormatInt(n*mult, 10), s, true
			}
		}
		return v, s, true
	}
	return "", "", false
}

// ParseProperties reads Java-properties-style text: key=value or key: value
// lines, # and ! comments, backslash line continuations.
func ParseProperties(text string) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + strings.TrimSpace(lines[i])
		}
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep <= 0 {
			return nil, fmt.Errorf("%w: line %d: expected key=value, got %q", ErrBadConfig, i+1, line)
		}
		out[strings.TrimSpace(line[:sep])] = strings.TrimSpace(line[sep+1:])
	}
	return out, nil
}
