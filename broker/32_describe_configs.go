package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/meta"
)

// DescribeConfigs: v0-4
//
// Topics: every topic config Kafka defines, with its effective value and
// where it comes from (DYNAMIC_TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG) and,
// when asked, the synonyms at every level. Brokers (this node's ID, or ""
// for the cluster-wide dynamic defaults): the broker properties with the
// same sources.
//
// Version notes:
//   - v1: IncludeSynonyms, Source replaces IsDefault
//   - v3: IncludeDocumentation, ConfigType
//   - v4: flexible
//
// Authorization: DESCRIBE_CONFIGS on the topic (else TOPIC_AUTHORIZATION_FAILED)
// or, for a broker or broker logger, on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED).

func init() { register(32, 0, 4, handleDescribeConfigs) }

// configReadBarrier bounds how long DescribeConfigs waits to catch up with
// the metadata (readYourWrites).
const configReadBarrier = time.Second

// readYourWrites waits, for at most configReadBarrier, until this node has
// applied every metadata change the quorum had committed: a config altered
// through one broker is then described as altered by every other, as a
// client that alters and then describes (on whichever broker it picks)
// expects. Kafka's brokers answer from whatever metadata they have; this
// costs one round trip to the quorum leader per DescribeConfigs, an admin
// call. A single node, which applies its own writes before answering them,
// and a node cut off from the quorum (after the bound) answer at once.
func (b *Broker) readYourWrites() {
	if len(b.cfg.Cluster.Voters) <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), configReadBarrier)
	defer cancel()
	_ = b.quorum.Barrier(ctx) // on timeout: answer from what is applied
}

func handleDescribeConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	b.readYourWrites()
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err *kerr.Error
		var msg string
		switch denied := configResourceDenied(r, int8(rr.ResourceType), rr.ResourceName, kmsg.ACLOperationDescribeConfigs); {
		case denied != nil:
			err, msg = denied, denied.Description
		case int8(rr.ResourceType) == resourceTopic:
			res.Configs, err, msg = b.describeTopicConfigs(rr.ResourceName, rr.ConfigNames, req, r.version)
		case int8(rr.ResourceType) == resourceBroker:
			res.Configs, err, msg = b.describeBrokerConfigs(rr.ResourceName, rr.ConfigNames, req, r.version)
		case int8(rr.ResourceType) == resourceBrokerLogger:
			if rr.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				err, msg = kerr.InvalidRequest, "Unexpected broker id "+rr.ResourceName
			}
		default:
			err, msg = kerr.InvalidRequest, fmt.Sprintf("Unsupported resource type %d", rr.ResourceType)
		}
		if err != nil {
			res.ErrorCode = err.Code
			res.ErrorMessage = kmsg.StringPtr(msg)
			res.Configs = nil
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func wanted(names []string, name string) bool {
	return names == nil || slices.Contains(names, name)
}

func (b *Broker) describeTopicConfigs(name string, names []string, req *kmsg.DescribeConfigsRequest, version int16) ([]kmsg.DescribeConfigsResponseResourceConfig, *kerr.Error, string) {
	b.mu.RLock()
	t := b.topics[name]
	var dynamic map[string]string
	if t != nil {
		dynamic = t.dynamic
	}
	b.mu.RUnlock()
	if t == nil {
		return nil, kerr.UnknownTopicOrPartition, fmt.Sprintf("Topic %s does not exist.", name)
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range meta.TopicConfigDefs {
		def := &meta.TopicConfigDefs[i]
		if !wanted(names, def.Name) {
			continue
		}
		syns := b.topicConfigSynonyms(def, dynamic)
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = def.Name
		c.Value = kmsg.StringPtr(syns[0].value)
		c.Source = kmsg.ConfigSource(syns[0].source)
		c.IsDefault = syns[0].source == SourceDefault
		if version >= 3 {
			c.ConfigType = kmsg.ConfigType(def.Type)
			if req.IncludeDocumentation && def.Doc != "" {
				c.Documentation = kmsg.StringPtr(def.Doc)
			}
		}
		if req.IncludeSynonyms {
			for _, s := range syns {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Value, cs.Source = s.name, kmsg.StringPtr(s.value), kmsg.ConfigSource(s.source)
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		out = append(out, c)
	}
	return out, nil, ""
}

func (b *Broker) describeBrokerConfigs(name string, names []string, req *kmsg.DescribeConfigsRequest, version int16) ([]kmsg.DescribeConfigsResponseResourceConfig, *kerr.Error, string) {
	self := strconv.Itoa(int(b.cfg.NodeID))
	if name != "" && name != self {
		return nil, kerr.InvalidRequest, fmt.Sprintf("Unexpected broker id, expected %s or empty string, but received %s", self, name)
	}
	dyn := b.dynamicBroker()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, n := range sortedBrokerConfigNames() {
		if !wanted(names, n) {
			continue
		}
		d := allBrokerConfigDefs[n]
		var syns []configSynonym
		if name == "" {
			// The cluster-wide default resource shows only dynamic defaults.
			if v, ok := dyn.clusterDefault[n]; ok {
				syns = append(syns, configSynonym{n, v, SourceDynamicDefaultBroker})
			} else {
				continue
			}
		} else {
			if v, ok := dyn.perBroker[n]; ok {
				syns = append(syns, configSynonym{n, v, SourceDynamicBroker})
			}
			if v, ok := dyn.clusterDefault[n]; ok {
				syns = append(syns, configSynonym{n, v, SourceDynamicDefaultBroker})
			}
			if v, ok := b.staticBrokerValue(n); ok {
				syns = append(syns, configSynonym{n, v, SourceStaticBroker})
			}
			syns = append(syns, configSynonym{n, d.def, SourceDefault})
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = n
		if !d.sensitive {
			c.Value = kmsg.StringPtr(syns[0].value)
		}
		c.Source = kmsg.ConfigSource(syns[0].source)
		c.IsDefault = syns[0].source == SourceDefault
		c.ReadOnly = !d.dynamic
		c.IsSensitive = d.sensitive
		if version >= 3 {
			c.ConfigType = kmsg.ConfigType(d.typ)
		}
		if req.IncludeSynonyms {
			for _, s := range syns {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Value, cs.Source = s.name, kmsg.StringPtr(s.value), kmsg.ConfigSource(s.source)
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		out = append(out, c)
	}
	return out, nil, ""
}
