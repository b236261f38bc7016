package runtime_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/connect"
	"github.com/gregorhq/gregor/connect/internal/connecttest"
)

// TestTransformsInPipeline routes a file source's records to another
// topic, adds a header, and has the sink keep only records with it.
func TestTransformsInPipeline(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	appendLines(t, filepath.Join(dir, "in.txt"), 0, 300)
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	src, sink := pipelineConfigs(dir, "raw-lines")
	src["transforms"] = "route,tag"
	src["transforms.route.type"] = "org.apache.kafka.connect.transforms.RegexRouter"
	src["transforms.route.regex"] = "raw-(.*)"
	src["transforms.route.replacement"] = "clean-$1"
	src["transforms.tag.type"] = "InsertHeader"
	src["transforms.tag.header"] = "origin"
	src["transforms.tag.value.literal"] = "file"
	sink["topics"] = "clean-lines"
	sink["transforms"] = "keepTagged"
	sink["transforms.keepTagged.type"] = "Filter"
	sink["transforms.keepTagged.predicate"] = "tagged"
	sink["transforms.keepTagged.negate"] = "true"
	sink["predicates"] = "tagged"
	sink["predicates.tagged.type"] = "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"
	sink["predicates.tagged.name"] = "origin"
	connecttest.Create(t, h, "src", src)
	connecttest.Create(t, h, "sink", sink)
	connecttest.Eventually(t, 30*time.Second, "300 lines in out.txt", func() bool {
		return len(connecttest.Lines(filepath.Join(dir, "out.txt"))) >= 300
	})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameLines(t, dir)
	if topics, _ := h.ConnectorTopics("src"); len(topics) != 1 || topics[0] != "clean-lines" {
		t.Fatalf("src topics = %v", topics)
	}
}

// TestTransformConfigErrors checks that bad transformation settings fail
// connector creation with Kafka-style messages.
func TestTransformConfigErrors(t *testing.T) {
	b := connecttest.Broker(t)
	dir := t.TempDir()
	h := connecttest.Worker(t, b.Addr(), filepath.Join(dir, "offsets.json"), nil)
	defer h.Close()
	base := func() map[string]string {
		src, _ := pipelineConfigs(dir, "t")
		return src
	}
	cases := []struct {
		extra map[string]string
		want  string
	}{
		{map[string]string{"transforms": "a"}, `Missing required configuration "transforms.a.type"`},
		{map[string]string{"transforms": "a", "transforms.a.type": "NoSuchTransform"}, "Class NoSuchTransform could not be found or is not a transformation"},
		{map[string]string{"transforms": "a", "transforms.a.type": "Cast$Value", "transforms.a.spec": "x:uuid"}, "Invalid type found in casting spec"},
		{map[string]string{"transforms": "a", "transforms.a.type": "Filter", "transforms.a.predicate": "p"}, `predicate "p" is not defined`},
		{map[string]string{"transforms": "a,a", "transforms.a.type": "Filter"}, "Duplicate alias"},
		{map[string]string{"predicates": "p", "predicates.p.type": "TopicNameMatches"}, `Missing required configuration "predicates.p.pattern"`},
		{map[string]string{"predicates": "p", "predicates.p.type": "Filter"}, "is not a predicate"},
		{map[string]string{"transforms": "a", "transforms.a.type": "TimestampConverter$Value", "transforms.a.target.type": "string"}, "requires format"},
	}
	for _, c := range cases {
		cfg := base()
		for k, v := range c.extra {
			cfg[k] = v
		}
		_, _, err := h.PutConnectorConfig(context.Background(), "bad", cfg, false, "")
		if err == nil || !errors.Is(err, connect.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.extra, err, c.want)
		}
	}
	if len(h.Connectors()) != 0 {
		t.Fatalf("connectors = %v", h.Connectors())
	}
}
