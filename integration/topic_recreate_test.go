package integration

import (
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
)

// TestRecreatedTopicStartsWithoutOldOffsets follows issue 27 with real
// processes: the word count application consumes its input topic and
// commits; the input topic is deleted and created again under the same
// name, the broker restarts, and more lines than before are produced to
// each partition. The group's old offsets of the input topic are gone
// (OffsetFetch and `gregor groups describe`), and the application started
// again counts every new line: with the old offsets it would skip the
// first lines of each new partition and count too little.
func TestRecreatedTopicStartsWithoutOldOffsets(t *testing.T) {
	t.Parallel()
	b, app, src := setupWordcount(t, 27)
	roundRobin := func(addr string) *kgo.Client {
		return newClient(t, addr, kgo.DefaultProduceTopic(wordcount.InputTopic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	}
	src.cl = roundRobin(b.addr()) // the same number of lines to each partition
	ctx := testCtx(t, 3*time.Minute)
	src.mustProduce(ctx, 2000)
	app.start()
	waitDrained(t, ctx, app.addr)
	if got, want := outputCounts(t, ctx, app.addr), src.expected(); !mapsEqual(got, want) {
		over, by := compareCounts(t, got, want)
		t.Fatalf("before the deletion: counts differ from the input (%d words over-counted by %d)", over, by)
	}
	app.stop()

	adm := newKadm(t, b.addr())
	if r, err := adm.DeleteTopics(ctx, wordcount.InputTopic); err == nil && r.Error() != nil {
		t.Fatalf("delete %s: %v", wordcount.InputTopic, r.Error())
	} else if err != nil {
		t.Fatalf("delete %s: %v", wordcount.InputTopic, err)
	}
	createTopic(t, b.addr(), wordcount.InputTopic, wcParts, nil)
	b.stop()
	b.restart()
	app.addr = b.addr()
	src.cl = roundRobin(b.addr())

	checkNoInputOffsets(t, b.addr())
	src.mustProduce(ctx, 3000) // 750 lines a partition; 500 before
	app.start()
	waitDrained(t, ctx, app.addr)
	got, want := outputCounts(t, ctx, app.addr), src.expected()
	if !mapsEqual(got, want) {
		over, by := compareCounts(t, got, want)
		t.Errorf("after the topic was re-created: counts differ from the input (%d words over-counted by %d)", over, by)
	}
	app.stop()
}

// checkNoInputOffsets checks that the word count group has no committed
// offset of its input topic, through OffsetFetch and `gregor groups
// describe`.
func checkNoInputOffsets(t *testing.T, addr string) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	committed, err := newKadm(t, addr).FetchOffsets(ctx, wordcount.ApplicationID)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if os, ok := committed[wordcount.InputTopic]; ok && len(os) > 0 {
		t.Errorf("OffsetFetch still has offsets of the re-created topic: %v", os)
	}
	out, err := exec.CommandContext(ctx, gregorBin, "groups", "describe", wordcount.ApplicationID, "--brokers", addr, "-o", "json").Output()
	if err != nil {
		t.Fatalf("gregor groups describe: %v\n%s", err, out)
	}
	var ds []struct {
		Offsets []struct {
			Topic         string `json:"topic"`
			Partition     int32  `json:"partition"`
			CurrentOffset *int64 `json:"current_offset"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(out, &ds); err != nil {
		t.Fatalf("gregor groups describe output: %v\n%s", err, out)
	}
	for _, d := range ds {
		for _, o := range d.Offsets {
			if o.Topic == wordcount.InputTopic && o.CurrentOffset != nil {
				t.Errorf("gregor groups describe shows offset %d for %s-%d", *o.CurrentOffset, o.Topic, o.Partition)
			}
		}
	}
}
