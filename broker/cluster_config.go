package broker

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ClusterConfig holds the KRaft-style settings that make a broker one node
// of a cluster. The zero value (no voters) is a single node that is its own
// one-voter metadata quorum, as `gregor broker` with no settings runs.
type ClusterConfig struct {
	// Roles are process.roles: "broker", "controller", or both (combined
	// mode, the default).
	Roles []string
	// Voters are controller.quorum.voters: node ID -> host:port of its
	// controller listener. Empty means this node alone.
	Voters map[int32]string
	// ControllerListeners are controller.listener.names: listeners that
	// serve the quorum and the controller API, never clients.
	ControllerListeners []string
	// Rack is broker.rack, used by rack-aware placement.
	Rack string
	// SessionTimeout is broker.session.timeout.ms (Kafka's 9 s): a broker
	// that does not heartbeat for this long is fenced.
	SessionTimeout time.Duration
	// HeartbeatInterval is broker.heartbeat.interval.ms (Kafka's 2 s).
	HeartbeatInterval time.Duration
	// ElectionTimeout is controller.quorum.election.timeout.ms (Kafka's 1 s).
	ElectionTimeout time.Duration
}

func defaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		Roles:             []string{"broker", "controller"},
		SessionTimeout:    9 * time.Second,
		HeartbeatInterval: 2 * time.Second,
		ElectionTimeout:   time.Second,
	}
}

// IsBroker reports whether the node serves clients (process.roles has broker).
func (c ClusterConfig) IsBroker() bool { return slices.Contains(c.Roles, "broker") }

// IsController reports whether the node is a metadata quorum voter.
func (c ClusterConfig) IsController() bool { return slices.Contains(c.Roles, "controller") }

// ParseVoters parses controller.quorum.voters: "1@host:port,2@host:port".
func ParseVoters(s string) (map[int32]string, error) {
	out := map[int32]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not ID@host:port", part)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("voter %q: node ID %q is not a non-negative integer", part, id)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("voter %q: %w", part, err)
		}
		if _, dup := out[int32(n)]; dup {
			return nil, fmt.Errorf("voter %d is listed twice", n)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// applyClusterProperty sets one cluster property; ok is false for names
// that are not cluster properties.
func (c *ClusterConfig) applyClusterProperty(k, v string) (ok bool, err error) {
	ms := func() (time.Duration, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s must be a positive number of milliseconds", k)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	switch k {
	case "process.roles":
		c.Roles = nil
		for _, r := range strings.Split(v, ",") {
			r = strings.ToLower(strings.TrimSpace(r))
			if r != "broker" && r != "controller" {
				return true, fmt.Errorf("process.roles: unknown role %q (broker, controller or both)", r)
			}
			if !slices.Contains(c.Roles, r) {
				c.Roles = append(c.Roles, r)
			}
		}
	case "controller.quorum.voters":
		c.Voters, err = ParseVoters(v)
	case "controller.listener.names":
		c.ControllerListeners = nil
		for _, n := range strings.Split(v, ",") {
			if n = strings.ToUpper(strings.TrimSpace(n)); n != "" {
				c.ControllerListeners = append(c.ControllerListeners, n)
			}
		}
	case "broker.rack":
		c.Rack = v
	case "broker.session.timeout.ms":
		c.SessionTimeout, err = ms()
	case "broker.heartbeat.interval.ms":
		c.HeartbeatInterval, err = ms()
	case "controller.quorum.election.timeout.ms":
		c.ElectionTimeout, err = ms()
	default:
		return false, nil
	}
	return true, err
}

// validateCluster checks the cluster settings against the listeners.
func (c *Config) validateCluster() error {
	cc := &c.Cluster
	def := defaultClusterConfig()
	if len(cc.Roles) == 0 {
		cc.Roles = def.Roles
	}
	if cc.SessionTimeout <= 0 {
		cc.SessionTimeout = def.SessionTimeout
	}
	if cc.HeartbeatInterval <= 0 {
		cc.HeartbeatInterval = def.HeartbeatInterval
	}
	if cc.ElectionTimeout <= 0 {
		cc.ElectionTimeout = def.ElectionTimeout
	}
	for _, name := range cc.ControllerListeners {
		if _, ok := c.listener(name); !ok && cc.IsController() {
			return fmt.Errorf("%w: controller.listener.names names %s, which is not in listeners", ErrBadConfig, name)
		}
	}
	if len(cc.Voters) == 0 {
		if !cc.IsController() || !cc.IsBroker() {
			return fmt.Errorf("%w: process.roles=%s needs controller.quorum.voters", ErrBadConfig, strings.Join(cc.Roles, ","))
		}
		return nil
	}
	_, voter := cc.Voters[c.NodeID]
	if cc.IsController() != voter {
		if voter {
			return fmt.Errorf("%w: node.id %d is in controller.quorum.voters but process.roles has no controller", ErrBadConfig, c.NodeID)
		}
		return fmt.Errorf("%w: node.id %d has the controller role but is not in controller.quorum.voters", ErrBadConfig, c.NodeID)
	}
	if cc.IsController() && len(cc.ControllerListeners) == 0 {
		return fmt.Errorf("%w: a controller needs controller.listener.names (e.g. CONTROLLER) naming one of its listeners", ErrBadConfig)
	}
	if cc.IsBroker() && len(c.clientListeners()) == 0 {
		return fmt.Errorf("%w: a broker needs a listener that is not a controller listener", ErrBadConfig)
	}
	return nil
}

// isControllerListener reports whether name is a controller listener.
func (c *Config) isControllerListener(name string) bool {
	return slices.Contains(c.Cluster.ControllerListeners, name)
}

// clientListeners are the listeners that serve Kafka clients.
func (c *Config) clientListeners() []Listener {
	var out []Listener
	for _, l := range c.Listeners {
		if !c.isControllerListener(l.Name) {
			out = append(out, l)
		}
	}
	return out
}
