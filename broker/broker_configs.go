package broker

import (
	"sort"
	"strconv"

	"github.com/gregorhq/gregor/broker/meta"
)

// brokerConfigDef describes one broker property as DescribeConfigs shows it.
type brokerConfigDef struct {
	name      string
	typ       meta.ConfigType
	def       string
	dynamic   bool // may be changed with AlterConfigs without a restart
	sensitive bool
}

// brokerConfigDefs are the broker properties DescribeConfigs reports,
// besides the broker-level synonyms of every topic config, which are added
// from meta.TopicConfigDefs.
var brokerConfigDefs = []brokerConfigDef{
	{name: "node.id", typ: meta.TypeInt, def: "-1"},
	{name: "broker.id", typ: meta.TypeInt, def: "-1"},
	{name: "process.roles", typ: meta.TypeList, def: "broker,controller"},
	{name: "listeners", typ: meta.TypeString, def: "PLAINTEXT://127.0.0.1:9092"},
	{name: "advertised.listeners", typ: meta.TypeString, def: ""},
	{name: "listener.security.protocol.map", typ: meta.TypeString, def: "PLAINTEXT:PLAINTEXT"},
	{name: "log.dirs", typ: meta.TypeString, def: "./gregor-data"},
	{name: "num.partitions", typ: meta.TypeInt, def: "1"},
	{name: "default.replication.factor", typ: meta.TypeInt, def: "1"},
	{name: "auto.create.topics.enable", typ: meta.TypeBoolean, def: "true"},
	{name: "delete.topic.enable", typ: meta.TypeBoolean, def: "true"},
	{name: "offsets.topic.num.partitions", typ: meta.TypeInt, def: "50"},
	{name: "offsets.topic.replication.factor", typ: meta.TypeShort, def: "1"},
	{name: "offsets.retention.minutes", typ: meta.TypeInt, def: "10080"},
	{name: "offsets.commit.timeout.ms", typ: meta.TypeInt, def: "5000"},
	{name: "transaction.state.log.num.partitions", typ: meta.TypeInt, def: "50"},
	{name: "transaction.state.log.replication.factor", typ: meta.TypeShort, def: "1"},
	{name: "transaction.state.log.min.isr", typ: meta.TypeInt, def: "1"},
	{name: "transaction.max.timeout.ms", typ: meta.TypeInt, def: "900000"},
	{name: "group.initial.rebalance.delay.ms", typ: meta.TypeInt, def: "3000"},
	{name: "group.min.session.timeout.ms", typ: meta.TypeInt, def: "6000"},
	{name: "group.max.session.timeout.ms", typ: meta.TypeInt, def: "1800000"},
	{name: "socket.request.max.bytes", typ: meta.TypeInt, def: "104857600"},
	{name: "connections.max.idle.ms", typ: meta.TypeLong, def: "600000"},
	{name: "max.connections", typ: meta.TypeInt, def: "2147483647", dynamic: true},
	{name: "max.connections.per.ip", typ: meta.TypeInt, def: "2147483647", dynamic: true},
	{name: "queued.max.requests", typ: meta.TypeInt, def: "500"},
	{name: "log.retention.check.interval.ms", typ: meta.TypeLong, def: "300000"},
	{name: "log.flush.offset.checkpoint.interval.ms", typ: meta.TypeInt, def: "60000"},
	{name: "log.flush.scheduler.interval.ms", typ: meta.TypeLong, def: "9223372036854775807"},
	{name: "gregor.flush.policy", typ: meta.TypeString, def: "os"},
	{name: "leader.replication.throttled.rate", typ: meta.TypeLong, def: "9223372036854775807", dynamic: true},
	{name: "follower.replication.throttled.rate", typ: meta.TypeLong, def: "9223372036854775807", dynamic: true},
}

// allBrokerConfigDefs merges brokerConfigDefs with the broker synonyms of
// topic configs (those are dynamic, as in Kafka), sorted by name.
var allBrokerConfigDefs = func() map[string]brokerConfigDef {
	out := map[string]brokerConfigDef{}
	for _, d := range brokerConfigDefs {
		out[d.name] = d
	}
	for _, td := range meta.TopicConfigDefs {
		for i, syn := range td.BrokerSynonyms {
			if _, ok := out[syn]; ok {
				if d := out[syn]; !d.dynamic {
					d.dynamic = true
					out[syn] = d
				}
				continue
			}
			def := td.Default
			if i > 0 {
				def = "" // the hours/minutes forms have no default of their own
			}
			out[syn] = brokerConfigDef{name: syn, typ: td.Type, def: def, dynamic: true}
		}
	}
	return out
}()

// topicDefForSynonym finds the topic config a broker property is a default for.
func topicDefForSynonym(name string) (*meta.TopicConfigDef, bool) {
	for i := range meta.TopicConfigDefs {
		for _, syn := range meta.TopicConfigDefs[i].BrokerSynonyms {
			if syn == name {
				return &meta.TopicConfigDefs[i], true
			}
		}
	}
	return nil, false
}

func sortedBrokerConfigNames() []string {
	names := make([]string, 0, len(allBrokerConfigDefs))
	for n := range allBrokerConfigDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// staticBrokerValue is a broker property's value as configured at start
// (file, flags), falling back to the typed Config fields.
func (b *Broker) staticBrokerValue(name string) (string, bool) {
	if v, ok := b.cfg.Properties[name]; ok {
		return v, true
	}
	switch name {
	case "node.id", "broker.id":
		return strconv.Itoa(int(b.cfg.NodeID)), true
	case "log.dirs":
		return b.cfg.DataDir, true
	case "listeners":
		return listenersString(b.cfg.Listeners), true
	case "advertised.listeners":
		if len(b.cfg.AdvertisedListeners) > 0 {
			return listenersString(b.cfg.AdvertisedListeners), true
		}
	case "gregor.flush.policy":
		return string(b.cfg.FlushPolicy), true
	}
	return "", false
}

func listenersString(ls []Listener) string {
	s := ""
	for i, l := range ls {
		if i > 0 {
			s += ","
		}
		s += l.String()
	}
	return s
}
