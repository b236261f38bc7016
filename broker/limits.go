package broker

import (
	"math"
	"net"
	"strconv"
	"time"
)

// connLimits are the connection limits in force, read at each accept so
// dynamic changes (AlterConfigs on max.connections*) apply to new
// connections at once.
type connLimits struct {
	maxConns      int
	maxConnsPerIP int
}

// brokerIntSetting returns a broker property's value from, in order, this
// broker's dynamic configs, the cluster-wide dynamic ones, the static ones,
// or def.
func (b *Broker) brokerIntSetting(name string, def int64) int64 {
	dyn := b.dynamicBroker()
	for _, props := range []map[string]string{dyn.perBroker, dyn.clusterDefault, b.cfg.Properties} {
		if v, ok := props[name]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return def
}

func (b *Broker) connLimits() connLimits {
	return connLimits{
		maxConns:      int(b.brokerIntSetting("max.connections", math.MaxInt32)),
		maxConnsPerIP: int(b.brokerIntSetting("max.connections.per.ip", math.MaxInt32)),
	}
}

// idleTimeout is connections.max.idle.ms: a connection that sends nothing
// for this long is closed.
func (b *Broker) idleTimeout() time.Duration {
	return time.Duration(b.brokerIntSetting("connections.max.idle.ms", 600000)) * time.Millisecond
}

func remoteIP(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// admit decides whether a new connection fits the limits; callers hold lnMu.
func (b *Broker) admit(ip string) (bool, string) {
	lim := b.connLimits()
	if len(b.conns) >= lim.maxConns {
		return false, "max.connections"
	}
	n := 0
	for c := range b.conns {
		if c.ip == ip {
			n++
		}
	}
	if n >= lim.maxConnsPerIP {
		return false, "max.connections.per.ip"
	}
	return true, ""
}
