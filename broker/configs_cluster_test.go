package broker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestClusterDescribeConfigsReadsYourWrites: a topic config altered through
// one broker is described with its new value by every other broker right
// after the alter returns (DescribeConfigs first catches up with the
// metadata quorum), as a client that alters and then describes on
// whichever broker it picks expects.
func TestClusterDescribeConfigsReadsYourWrites(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	cl, adm := newAdmin(t, c.Node(1).Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "configs-read-your-writes"
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		via, reader := int32(i%3+1), int32((i+1)%3+1)
		value := strconv.Itoa(100000 + i)
		alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr(value)
		res.Configs = append(res.Configs, cfg)
		alter.Resources = append(alter.Resources, res)
		aresp, err := alter.RequestWith(ctx, cl.Broker(int(via)))
		if err != nil {
			t.Fatalf("alter via broker %d: %v", via, err)
		}
		if err := kerr.ErrorForCode(aresp.Resources[0].ErrorCode); err != nil {
			t.Fatalf("alter via broker %d: %v", via, err)
		}
		desc := kmsg.NewPtrDescribeConfigsRequest()
		dres := kmsg.NewDescribeConfigsRequestResource()
		dres.ResourceType, dres.ResourceName, dres.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
		desc.Resources = append(desc.Resources, dres)
		dresp, err := desc.RequestWith(ctx, cl.Broker(int(reader)))
		if err != nil {
			t.Fatalf("describe on broker %d: %v", reader, err)
		}
		r := dresp.Resources[0]
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil || len(r.Configs) != 1 {
			t.Fatalf("describe on broker %d: %v, %d configs", reader, err, len(r.Configs))
		}
		got := "<null>"
		if v := r.Configs[0].Value; v != nil {
			got = *v
		}
		if got != value {
			t.Fatalf("round %d: retention.ms altered to %s via broker %d, broker %d describes %s", i, value, via, reader, got)
		}
	}
}
