package streams_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

var nonWord = regexp.MustCompile(`\W+`)

func wordCount(t testing.TB, opts ...streams.Option) *streams.Topology {
	b := streams.NewBuilder()
	lines := streams.StreamFrom[string, string](b, "streams-plaintext-input", nil, nil)
	words := streams.FlatMapValues(lines, func(_ string, line string) []string {
		return nonWord.Split(strings.ToLower(line), -1)
	}).Filter(func(_ string, w string) bool { return w != "" })
	counts := streams.GroupBy(words, func(_ string, w string) string { return w }, nil).Count(append([]streams.Option{streams.As("counts")}, opts...)...)
	counts.ToStream().To("streams-wordcount-output")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestWordCountDriver(t *testing.T) {
	d := streamstest.New(t, wordCount(t))
	in := streamstest.NewInputTopic[string, string](d, "streams-plaintext-input", nil, nil)
	out := streamstest.NewOutputTopic[string, int64](d, "streams-wordcount-output", nil, nil)
	in.PipeValues("Hello Kafka Streams", "All streams lead to Kafka", "Join Kafka Summit")
	got := streamstest.ReadKeyValuesToMap(out)
	want := map[string]int64{"hello": 1, "kafka": 3, "streams": 2, "all": 1, "lead": 1, "to": 1, "join": 1, "summit": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: got %d want %d (%v)", k, got[k], v, got)
		}
	}
	if c := streamstest.StoreContents[string, int64](d, "counts"); c["kafka"] != 3 {
		t.Fatalf("store %v", c)
	}
	t.Log(wordCount(t).Describe())
}
