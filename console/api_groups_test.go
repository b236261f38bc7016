package console_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/console"
)

type groupDetail struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members []struct {
		MemberID   string `json:"memberId"`
		Assignment []struct {
			Topic      string  `json:"topic"`
			Partitions []int32 `json:"partitions"`
		} `json:"assignment"`
	} `json:"members"`
	Offsets []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Committed int64  `json:"committed"`
		End       int64  `json:"end"`
		Lag       int64  `json:"lag"`
		LagSeries []struct {
			T   int64 `json:"t"`
			Lag int64 `json:"lag"`
		} `json:"lagSeries"`
	} `json:"offsets"`
}

type resetResult struct {
	Applied    bool `json:"applied"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		From      int64  `json:"from"`
		To        int64  `json:"to"`
	} `json:"partitions"`
}

func TestGroups(t *testing.T) {
	e := newEnv(t, console.Config{})
	ctx := context.Background()
	if st := e.do("POST", "/api/topics", map[string]any{"name": "jobs", "partitions": 1}, nil); st != 201 {
		t.Fatalf("create: %d", st)
	}
	for range 10 {
		if st := e.do("POST", "/api/topics/jobs/messages", map[string]any{"value": "x"}, nil); st != 200 {
			t.Fatalf("produce: %d", st)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The group "workers" has committed offset 4 of 10: lag 6.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "jobs", Partition: 0, At: 4, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "workers", offs); err != nil {
		t.Fatal(err)
	}

	var list []struct {
		Group   string `json:"group"`
		State   string `json:"state"`
		Members int    `json:"members"`
		Lag     int64  `json:"lag"`
	}
	if st := e.do("GET", "/api/groups", nil, &list); st != 200 || len(list) != 1 || list[0].Group != "workers" || list[0].Lag != 6 {
		t.Fatalf("groups: %d %+v", st, list)
	}
	var gd groupDetail
	eventually(t, "a lag sample of the group", func() bool {
		gd = groupDetail{}
		return e.do("GET", "/api/groups/workers", nil, &gd) == 200 && len(gd.Offsets) == 1 && len(gd.Offsets[0].LagSeries) > 0
	})
	if o := gd.Offsets[0]; o.Committed != 4 || o.End != 10 || o.Lag != 6 || o.LagSeries[len(o.LagSeries)-1].Lag != 6 {
		t.Fatalf("offsets: %+v", o)
	}
	var ae apiErr
	if st := e.do("GET", "/api/groups/nobody", nil, &ae); st != 404 {
		t.Fatalf("unknown group: %d %+v", st, ae)
	}

	// Dry run: the plan, nothing committed.
	var rr resetResult
	if st := e.do("POST", "/api/groups/workers/reset", map[string]any{"to": "earliest", "dryRun": true}, &rr); st != 200 || rr.Applied || len(rr.Partitions) != 1 || rr.Partitions[0].From != 4 || rr.Partitions[0].To != 0 {
		t.Fatalf("dry run: %d %+v", st, rr)
	}
	if st := e.do("GET", "/api/groups/workers", nil, &gd); st != 200 || gd.Offsets[0].Committed != 4 {
		t.Fatalf("dry run committed: %+v", gd.Offsets)
	}
	// Applied: to offset 7.
	if st := e.do("POST", "/api/groups/workers/reset", map[string]any{"to": "offset", "offset": 7, "topic": "jobs"}, &rr); st != 200 || !rr.Applied || rr.Partitions[0].To != 7 {
		t.Fatalf("reset: %d %+v", st, rr)
	}
	if st := e.do("GET", "/api/groups/workers", nil, &gd); st != 200 || gd.Offsets[0].Committed != 7 || gd.Offsets[0].Lag != 3 {
		t.Fatalf("after reset: %+v", gd.Offsets)
	}

	// A consumer joins: the reset is refused with NON_EMPTY_GROUP.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	go func() {
		for {
			if f := consumer.PollFetches(context.Background()); f.IsClientClosed() {
				return
			}
		}
	}()
	eventually(t, "a member in the group", func() bool {
		gd = groupDetail{}
		return e.do("GET", "/api/groups/workers", nil, &gd) == 200 && len(gd.Members) == 1 && len(gd.Members[0].Assignment) == 1
	})
	ae = apiErr{}
	if st := e.do("POST", "/api/groups/workers/reset", map[string]any{"to": "latest"}, &ae); st != 409 || ae.Code != "NON_EMPTY_GROUP" {
		t.Fatalf("reset of a group with members: %d %+v", st, ae)
	}
	consumer.Close()
	eventually(t, "the group empty", func() bool {
		gd = groupDetail{}
		return e.do("GET", "/api/groups/workers", nil, &gd) == 200 && len(gd.Members) == 0
	})
	if st := e.do("DELETE", "/api/groups/workers", nil, nil); st != 204 {
		t.Fatalf("delete group: %d", st)
	}
	if st := e.do("GET", "/api/groups", nil, &list); st != 200 || len(list) != 0 {
		t.Fatalf("groups after delete: %+v", list)
	}
}
