package streams_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

func records[V any](recs []streams.Record[string, V], f func(V) string) []string {
	var out []string
	for _, r := range recs {
		v := "<null>"
		if !r.Tombstone {
			v = f(r.Value)
		}
		out = append(out, r.Key+"="+v+"@"+strconv.FormatInt(r.Timestamp, 10))
	}
	return out
}

// The joins through the typed test driver, as an application would test them.
func TestJoinsThroughDriver(t *testing.T) {
	b := streams.NewBuilder()
	clicks := streams.StreamFrom[string, string](b, "clicks", nil, nil)
	users := streams.TableFrom[string, string](b, "users", nil, nil)
	scores := streams.TableFrom[string, int64](b, "scores", nil, streams.Int64String())
	streams.StreamTableLeftJoin(clicks, users, func(_ string, page string, region *string) string {
		return page + "@" + str(region)
	}).To("clicks-by-region")
	streams.TableOuterJoin(users, scores, func(_ string, region *string, score *int64) string {
		s := "null"
		if score != nil {
			s = strconv.FormatInt(*score, 10)
		}
		return str(region) + "/" + s
	}, nil, streams.As("user-scores")).ToStream().To("user-scores")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, topo)
	clickIn := streamstest.NewInputTopic[string, string](d, "clicks", nil, nil)
	userIn := streamstest.NewInputTopic[string, string](d, "users", nil, nil)
	scoreIn := streamstest.NewInputTopic[string, int64](d, "scores", nil, streams.Int64String())
	byRegion := streamstest.NewOutputTopic[string, string](d, "clicks-by-region", nil, nil)
	userScores := streamstest.NewOutputTopic[string, string](d, "user-scores", nil, nil)

	clickIn.PipeAt("ann", "/home", 10)
	userIn.PipeAt("ann", "eu", 11)
	clickIn.PipeAt("ann", "/cart", 12)
	scoreIn.PipeAt("bob", 7, 13)
	userIn.PipeAt("bob", "us", 14)
	userIn.PipeRecord(streams.Record[string, string]{Key: "ann", Tombstone: true, Timestamp: 15})
	clickIn.PipeAt("ann", "/faq", 16)

	id := func(s string) string { return s }
	if got, want := records(byRegion.ReadRecords(), id), []string{"ann=/home@null@10", "ann=/cart@eu@12", "ann=/faq@null@16"}; !slices.Equal(got, want) {
		t.Errorf("clicks-by-region:\n got  %q\n want %q", got, want)
	}
	if got, want := records(userScores.ReadRecords(), id), []string{"ann=eu/null@11", "bob=null/7@13", "bob=us/7@14", "ann=<null>@15"}; !slices.Equal(got, want) {
		t.Errorf("user-scores:\n got  %q\n want %q", got, want)
	}
	if got := streamstest.StoreContents[string, string](d, "user-scores"); len(got) != 1 || got["bob"] != "us/7" {
		t.Errorf("store user-scores = %v", got)
	}
}

func TestForeignKeyJoinAndCogroupThroughDriver(t *testing.T) {
	b := streams.NewBuilder()
	orders := streams.TableFrom[string, string](b, "orders", nil, nil)
	customers := streams.TableFrom[string, string](b, "customers", nil, nil)
	streams.TableForeignKeyLeftJoin(orders, customers, func(_ string, o string) (string, bool) {
		c, _, ok := strings.Cut(o, "|")
		return c, ok
	}, func(_ string, o string, name *string) string { return o + " by " + str(name) }, nil, streams.Named("orders-customers")).
		ToStream().To("orders-with-names")
	views := streams.StreamFrom[string, string](b, "views", nil, nil).GroupByKey()
	buys := streams.StreamFrom[string, string](b, "buys", nil, nil).GroupByKey()
	cg := streams.Cogroup(views, func(_ string, _ string, n int64) int64 { return n + 1 })
	cg = streams.CogroupWith(cg, buys, func(_ string, _ string, n int64) int64 { return n + 100 })
	cg.Aggregate(func() int64 { return 0 }, nil, streams.As("activity")).ToStream().To("activity")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, topo, streamstest.WithApplicationID("shop"))
	orderIn := streamstest.NewInputTopic[string, string](d, "orders", nil, nil)
	customerIn := streamstest.NewInputTopic[string, string](d, "customers", nil, nil)
	out := streamstest.NewOutputTopic[string, string](d, "orders-with-names", nil, nil)
	customerIn.PipeAt("c1", "Ann", 1)
	orderIn.PipeAt("o1", "c1|book", 2)
	orderIn.PipeAt("o2", "c2|pen", 3)
	customerIn.PipeAt("c2", "Bob", 4)
	orderIn.PipeAt("o1", "c2|book", 5)
	customerIn.PipeAt("c1", "Ann B.", 6) // o1 moved to c2: nothing
	id := func(s string) string { return s }
	want := []string{"o1=c1|book by Ann@2", "o2=c2|pen by null@3", "o2=c2|pen by Bob@4", "o1=c2|book by Bob@5"}
	if got := records(out.ReadRecords(), id); !slices.Equal(got, want) {
		t.Errorf("orders-with-names:\n got  %q\n want %q", got, want)
	}
	if n := len(d.Harness().Output(d.InternalTopic("orders-customers-subscription-registration-topic"))); n != 4 {
		t.Errorf("%d subscription records, want 4 (o1 subscribed, o2, o1 unsubscribed and subscribed again)", n)
	}

	viewIn := streamstest.NewInputTopic[string, string](d, "views", nil, nil)
	buyIn := streamstest.NewInputTopic[string, string](d, "buys", nil, nil)
	activity := streamstest.NewOutputTopic[string, int64](d, "activity", nil, nil)
	viewIn.PipeAt("ann", "/a", 1)
	buyIn.PipeAt("ann", "book", 2)
	viewIn.PipeAt("bob", "/b", 3)
	viewIn.PipeAt("ann", "/c", 4)
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	if got, want := records(activity.ReadRecords(), itoa), []string{"ann=1@1", "ann=101@2", "bob=1@3", "ann=102@4"}; !slices.Equal(got, want) {
		t.Errorf("activity:\n got  %q\n want %q", got, want)
	}
}
