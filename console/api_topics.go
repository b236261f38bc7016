package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerJSON is a broker of the overview.
type brokerJSON struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack"`
}

// overview answers GET /api/overview.
func (c *Console) overview(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	md, err := s.adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := struct {
		ClusterID       string       `json:"clusterId"`
		Controller      int32        `json:"controller"`
		Brokers         []brokerJSON `json:"brokers"`
		Topics          int          `json:"topics"`
		Partitions      int          `json:"partitions"`
		UnderReplicated int          `json:"underReplicated"`
		Offline         int          `json:"offline"`
		Throughput      struct {
			MessagesInPerSec float64     `json:"messagesInPerSec"`
			BytesInPerSec    float64     `json:"bytesInPerSec"`
			Series           []ratePoint `json:"series"`
		} `json:"throughput"`
	}{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerJSON{}}
	for _, b := range md.Brokers {
		bj := brokerJSON{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			bj.Rack = *b.Rack
		}
		out.Brokers = append(out.Brokers, bj)
	}
	slices.SortFunc(out.Brokers, func(a, b brokerJSON) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		out.Topics++
		for _, p := range t.Partitions {
			out.Partitions++
			if len(p.ISR) < len(p.Replicas) {
				out.UnderReplicated++
			}
			if p.Leader < 0 {
				out.Offline++
			}
		}
	}
	out.Throughput.Series = rates(c.sampler.history(s.user))
	if n := len(out.Throughput.Series); n > 0 {
		out.Throughput.MessagesInPerSec = out.Throughput.Series[n-1].MessagesIn
	}
	return out, nil
}

// topicSummary is a row of the topic list.
type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replicationFactor"`
	Internal          bool   `json:"internal"`
	Messages          int64  `json:"messages"`
	UnderReplicated   int    `json:"underReplicated"`
}

// summaries lists the topics of td with their message counts.
func summaries(r *http.Request, s *session, td kadm.TopicDetails) ([]topicSummary, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	names := td.Names()
	out := []topicSummary{}
	if len(names) == 0 {
		return out, nil
	}
	starts, err := s.adm.ListStartOffsets(ctx, names...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, names...)
	if err != nil && !partial(err) {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	for _, t := range td.Sorted() {
		if t.Err != nil {
			continue
		}
		ts := topicSummary{Name: t.Topic, Partitions: len(t.Partitions), Internal: t.IsInternal}
		for _, p := range t.Partitions {
			ts.ReplicationFactor = max(ts.ReplicationFactor, len(p.Replicas))
			if len(p.ISR) < len(p.Replicas) {
				ts.UnderReplicated++
			}
			st, ok1 := starts.Lookup(t.Topic, p.Partition)
			en, ok2 := ends.Lookup(t.Topic, p.Partition)
			if ok1 && ok2 && st.Err == nil && en.Err == nil && en.Offset > st.Offset {
				ts.Messages += en.Offset - st.Offset
			}
		}
		out = append(out, ts)
	}
	return out, nil
}

// listTopics answers GET /api/topics?q=substr&internal=true.
func (c *Console) listTopics(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	var td kadm.TopicDetails
	var err error
	if r.URL.Query().Get("internal") == "true" {
		td, err = s.adm.ListTopicsWithInternal(ctx)
	} else {
		td, err = s.adm.ListTopics(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	if q := strings.ToLower(r.URL.Query().Get("q")); q != "" {
		for name := range td {
			if !strings.Contains(strings.ToLower(name), q) {
				delete(td, name)
			}
		}
	}
	return summaries(r, s, td)
}

// createTopic answers POST /api/topics.
func (c *Console) createTopic(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	var in struct {
		Name              string            `json:"name"`
		Partitions        int32             `json:"partitions"`
		ReplicationFactor int16             `json:"replicationFactor"`
		Configs           map[string]string `json:"configs"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "INVALID_TOPIC_EXCEPTION", Message: "the topic name is empty", Field: "name"}
	}
	if in.Partitions == 0 {
		in.Partitions = -1 // the broker's num.partitions
	}
	if in.ReplicationFactor == 0 {
		in.ReplicationFactor = -1 // the broker's default.replication.factor
	}
	configs := map[string]*string{}
	for k, v := range in.Configs {
		configs[k] = &v
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	resp, err := s.adm.CreateTopic(ctx, in.Partitions, in.ReplicationFactor, configs, in.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, withField(err, resp.ErrMessage, keys(in.Configs))
	}
	td, err := s.adm.ListTopicsWithInternal(ctx, in.Name)
	if err != nil {
		return nil, fmt.Errorf("describe new topic: %w", err)
	}
	sums, err := summaries(r, s, td)
	if err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return created{topicSummary{Name: in.Name, Partitions: int(resp.NumPartitions), ReplicationFactor: int(resp.ReplicationFactor)}}, nil
	}
	return created{sums[0]}, nil
}

// keys returns m's keys, sorted.
func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// withField turns a Kafka error into an API error whose field names the
// config the broker's message names (or the only config given).
func withField(err error, msg string, configs []string) error {
	ae := toAPIError(err)
	if msg != "" && !strings.Contains(ae.Message, msg) {
		ae.Message += ": " + msg
	}
	if ae.Code != kerr.InvalidConfig.Message {
		return ae
	}
	for _, k := range configs {
		if strings.Contains(msg, k) {
			ae.Field = k
			return ae
		}
	}
	if len(configs) == 1 {
		ae.Field = configs[0]
	}
	return ae
}

// deleteTopic answers DELETE /api/topics/{name}.
func (c *Console) deleteTopic(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	resp, err := s.adm.DeleteTopic(ctx, r.PathValue("name"))
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, withField(err, resp.ErrMessage, nil)
	}
	return nil, nil
}

// partitionJSON is a partition of a topic's page.
type partitionJSON struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"startOffset"`
	EndOffset   int64   `json:"endOffset"`
	SizeBytes   int64   `json:"sizeBytes"`
}

// configJSON is a topic config with its description.
type configJSON struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	ReadOnly  bool   `json:"readOnly"`
	Sensitive bool   `json:"sensitive"`
	Doc       string `json:"doc"`
}

// describeTopic answers GET /api/topics/{name}.
func (c *Console) describeTopic(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	name := r.PathValue("name")
	ctx, cancel := opCtx(r)
	defer cancel()
	td, err := s.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	t, ok := td[name]
	if !ok {
		return nil, notFound("no topic " + name)
	}
	if t.Err != nil {
		return nil, t.Err
	}
	starts, err := s.adm.ListStartOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	sizes := map[int32]int64{}
	if dirs, err := s.adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{name: nil}); err == nil {
		dirs.Each(func(d kadm.DescribedLogDir) {
			for p, dp := range d.Topics[name] {
				sizes[p] = max(sizes[p], dp.Size)
			}
		})
	}
	out := struct {
		Name       string          `json:"name"`
		Internal   bool            `json:"internal"`
		Partitions []partitionJSON `json:"partitions"`
		Configs    []configJSON    `json:"configs"`
	}{Name: name, Internal: t.IsInternal, Partitions: []partitionJSON{}}
	for _, p := range t.Partitions.Sorted() {
		pj := partitionJSON{Partition: p.Partition, Leader: p.Leader, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), StartOffset: -1, EndOffset: -1, SizeBytes: -1}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			pj.StartOffset = o.Offset
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			pj.EndOffset = o.Offset
		}
		if sz, ok := sizes[p.Partition]; ok {
			pj.SizeBytes = sz
		}
		out.Partitions = append(out.Partitions, pj)
	}
	if out.Configs, err = topicConfigs(r, s, name); err != nil {
		return nil, err
	}
	return out, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// topicConfigs describes a topic's configs (DescribeConfigs, with
// read-only flags and the broker's documentation when it sends any).
func topicConfigs(r *http.Request, s *session, name string) ([]configJSON, error) {
	ctx, cancel := opCtx(r)
	defer cancel()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeTopic
	res.ResourceName = name
	req.Resources = append(req.Resources, res)
	req.IncludeDocumentation = true
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	out := []configJSON{}
	for _, rr := range resp.Resources {
		if err := kerr.ErrorForCode(rr.ErrorCode); err != nil {
			return nil, withField(err, deref(rr.ErrorMessage), nil)
		}
		for _, cfg := range rr.Configs {
			cj := configJSON{Name: cfg.Name, Value: deref(cfg.Value), Source: configSource(cfg.Source),
				ReadOnly: cfg.ReadOnly, Sensitive: cfg.IsSensitive, Doc: topicConfigDocs[cfg.Name]}
			if cj.Doc == "" {
				cj.Doc = deref(cfg.Documentation)
			}
			out = append(out, cj)
		}
	}
	slices.SortFunc(out, func(a, b configJSON) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// configSource names a config's source as Kafka's tools print it.
func configSource(src kmsg.ConfigSource) string {
	switch src {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "DYNAMIC_TOPIC_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "DYNAMIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "STATIC_BROKER_CONFIG"
	case kmsg.ConfigSourceDefaultConfig:
		return "DEFAULT_CONFIG"
	case kmsg.ConfigSourceDynamicBrokerLoggerConfig:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	default:
		return "UNKNOWN"
	}
}

// alterTopicConfigs answers PUT /api/topics/{name}/configs with an
// incremental alter (set and delete).
func (c *Console) alterTopicConfigs(_ http.ResponseWriter, r *http.Request, s *session) (any, error) {
	name := r.PathValue("name")
	var in struct {
		Set    map[string]string `json:"set"`
		Delete []string          `json:"delete"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	var alter []kadm.AlterConfig
	for _, k := range keys(in.Set) {
		v := in.Set[k]
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range in.Delete {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alter) == 0 {
		return nil, badRequest("nothing to change: give set or delete")
	}
	ctx, cancel := opCtx(r)
	defer cancel()
	resps, err := s.adm.AlterTopicConfigs(ctx, alter, name)
	if err != nil {
		return nil, fmt.Errorf("alter configs: %w", err)
	}
	for _, resp := range resps {
		if resp.Err != nil {
			return nil, withField(resp.Err, resp.ErrMessage, append(keys(in.Set), in.Delete...))
		}
	}
	return topicConfigs(r, s, name)
}

// partial says whether err only reports some shards of a request failing
// (a topic deleted while listing, say); the rest of the answer is good.
func partial(err error) bool {
	_, ok := errors.AsType[*kadm.ShardErrors](err)
	return ok
}
