package console_test

import (
	"net/http"
	"testing"

	"github.com/gregorhq/gregor/console"
)

type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replicationFactor"`
	Internal          bool   `json:"internal"`
	Messages          int64  `json:"messages"`
}

func TestTopicsCRUD(t *testing.T) {
	e := newEnv(t, console.Config{})

	var sess struct {
		LoginRequired bool   `json:"loginRequired"`
		User          string `json:"user"`
	}
	if st := e.do("GET", "/api/session", nil, &sess); st != 200 || sess.LoginRequired {
		t.Fatalf("session: %d %+v", st, sess)
	}

	var sum topicSummary
	if st := e.do("POST", "/api/topics", map[string]any{"name": "orders", "partitions": 3, "replicationFactor": 1,
		"configs": map[string]string{"retention.ms": "3600000"}}, &sum); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if sum.Name != "orders" || sum.Partitions != 3 || sum.ReplicationFactor != 1 {
		t.Fatalf("created %+v", sum)
	}

	var ae apiErr
	if st := e.do("POST", "/api/topics", map[string]any{"name": "orders", "partitions": 1}, &ae); st != http.StatusConflict || ae.Code != "TOPIC_ALREADY_EXISTS" {
		t.Fatalf("duplicate: %d %+v", st, ae)
	}
	ae = apiErr{}
	if st := e.do("POST", "/api/topics", map[string]any{"name": "bad", "partitions": 1,
		"configs": map[string]string{"cleanup.policy": "sometimes"}}, &ae); st != http.StatusBadRequest || ae.Code != "INVALID_CONFIG" || ae.Field != "cleanup.policy" {
		t.Fatalf("bad config: %d %+v", st, ae)
	}

	var list []topicSummary
	if st := e.do("GET", "/api/topics?q=ORD", nil, &list); st != 200 || len(list) != 1 || list[0].Name != "orders" {
		t.Fatalf("list: %d %+v", st, list)
	}

	var desc struct {
		Name       string `json:"name"`
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			EndOffset int64   `json:"endOffset"`
			SizeBytes int64   `json:"sizeBytes"`
		} `json:"partitions"`
		Configs []struct {
			Name   string `json:"name"`
			Value  string `json:"value"`
			Source string `json:"source"`
			Doc    string `json:"doc"`
		} `json:"configs"`
	}
	if st := e.do("GET", "/api/topics/orders", nil, &desc); st != 200 || len(desc.Partitions) != 3 {
		t.Fatalf("describe: %d %+v", st, desc)
	}
	found := false
	for _, c := range desc.Configs {
		if c.Name == "retention.ms" {
			found = true
			if c.Value != "3600000" || c.Source != "DYNAMIC_TOPIC_CONFIG" || c.Doc == "" {
				t.Fatalf("retention.ms: %+v", c)
			}
		}
	}
	if !found {
		t.Fatalf("no retention.ms in %+v", desc.Configs)
	}

	if st := e.do("PUT", "/api/topics/orders/configs", map[string]any{"set": map[string]string{"segment.ms": "60000"}, "delete": []string{"retention.ms"}}, &desc.Configs); st != 200 {
		t.Fatalf("alter: %d", st)
	}
	for _, c := range desc.Configs {
		if c.Name == "segment.ms" && c.Value != "60000" {
			t.Fatalf("segment.ms: %+v", c)
		}
		if c.Name == "retention.ms" && c.Source == "DYNAMIC_TOPIC_CONFIG" {
			t.Fatalf("retention.ms not deleted: %+v", c)
		}
	}
	ae = apiErr{}
	if st := e.do("PUT", "/api/topics/orders/configs", map[string]any{"set": map[string]string{"min.insync.replicas": "zero"}}, &ae); st != 400 || ae.Field != "min.insync.replicas" {
		t.Fatalf("bad alter: %d %+v", st, ae)
	}

	// CSRF: a state-changing request without the header is refused.
	if st := e.doH("DELETE", "/api/topics/orders", nil, &ae, nil); st != http.StatusForbidden {
		t.Fatalf("delete without header: %d", st)
	}
	if st := e.do("DELETE", "/api/topics/orders", nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	eventually(t, "topic gone", func() bool {
		list = nil
		return e.do("GET", "/api/topics", nil, &list) == 200 && len(list) == 0
	})
	if st := e.do("GET", "/api/topics/orders", nil, &ae); st != 404 {
		t.Fatalf("describe deleted: %d %+v", st, ae)
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t, console.Config{})
	var ov struct {
		ClusterID  string `json:"clusterId"`
		Controller int32  `json:"controller"`
		Brokers    []struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
		} `json:"brokers"`
		Topics     int `json:"topics"`
		Throughput struct {
			Series []struct {
				T          int64   `json:"t"`
				MessagesIn float64 `json:"messagesIn"`
			} `json:"series"`
		} `json:"throughput"`
	}
	if st := e.do("GET", "/api/overview", nil, &ov); st != 200 || ov.ClusterID == "" || len(ov.Brokers) != 1 {
		t.Fatalf("overview: %d %+v", st, ov)
	}
	eventually(t, "two samples", func() bool {
		return e.do("GET", "/api/overview", nil, &ov) == 200 && len(ov.Throughput.Series) >= 1
	})
}
