package streams_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/streams"
)

// joinTopology joins orders with products on a foreign key (topics with different
// partition counts), and page views re-keyed by user with the users table.
func joinTopology(t *testing.T) *streams.Topology {
	b := streams.NewBuilder()
	orders := streams.TableFrom[string, string](b, "orders", nil, nil)
	products := streams.TableFrom[string, string](b, "products", nil, nil)
	streams.TableForeignKeyJoin(orders, products,
		func(_ string, o string) (string, bool) { p, _, _ := strings.Cut(o, ":"); return p, p != "" },
		func(_ string, o, p string) string { return o + "/" + p }, nil, streams.Named("orders-products")).
		ToStream().To("order-details")
	views := streams.StreamFrom[string, string](b, "views", nil, nil)
	byUser := streams.SelectKey(views, func(_ string, v string) string { u, _, _ := strings.Cut(v, ":"); return u })
	users := streams.TableFrom[string, string](b, "users", nil, nil)
	streams.StreamTableJoin(byUser, users, func(u, v, region string) string { return v + "@" + region }, streams.Named("views-users")).
		To("enriched-views")
	impressions := streams.StreamFrom[string, string](b, "impressions", nil, nil)
	impByUser := streams.SelectKey(impressions, func(_ string, v string) string { u, _, _ := strings.Cut(v, ":"); return u })
	clicks := streams.StreamFrom[string, string](b, "clicks", nil, nil)
	streams.StreamJoin(impByUser, clicks, func(_ string, imp, click string) string { return imp + "/" + click },
		streams.JoinWindowsOfTimeDifferenceWithNoGrace(time.Minute), streams.Named("impressions-clicks")).To("clicked-impressions")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// readUntil follows topic until the latest value per key equals want.
func readUntil(t *testing.T, addr, topic string, want map[string]string) {
	t.Helper()
	cl := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !maps.Equal(got, want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: timed out:\n got  %v\n want %v", topic, got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(got, string(r.Key))
			} else {
				got[string(r.Key)] = string(r.Value)
			}
		})
	}
}

func produceKV(t *testing.T, cl *kgo.Client, topic string, kvs ...string) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i+1 < len(kvs); i += 2 {
		r := &kgo.Record{Topic: topic, Key: []byte(kvs[i]), Value: []byte(kvs[i+1])}
		if kvs[i+1] == "<delete>" {
			r.Value = nil
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Joins through a real application and broker: the foreign-key join routes its
// subscriptions and answers across topics of different partition counts, and the
// re-keyed page views are repartitioned to the users topic's partition count.
func TestAppJoins(t *testing.T) {
	for _, g := range []streams.ProcessingGuarantee{streams.AtLeastOnce, streams.ExactlyOnceV2} {
		t.Run(fmt.Sprint(g), func(t *testing.T) { testAppJoins(t, g) })
	}
}

func testAppJoins(t *testing.T, guarantee streams.ProcessingGuarantee) {
	b := startBroker(t)
	for topic, n := range map[string]int32{"orders": 3, "products": 2, "views": 2, "users": 3, "order-details": 1, "enriched-views": 1,
		"impressions": 2, "clicks": 3, "clicked-impressions": 1} {
		createTopic(t, b.Addr(), topic, n)
	}
	prod := client(t, b.Addr())
	wantOrders := map[string]string{}
	var products, users []string
	for i := range 20 {
		products = append(products, fmt.Sprintf("p%d", i), fmt.Sprintf("product-%d", i))
		users = append(users, fmt.Sprintf("u%d", i), fmt.Sprintf("region-%d", i%4))
	}
	produceKV(t, prod, "products", products...)
	produceKV(t, prod, "users", users...)
	var orders []string
	for i := range 100 {
		o, p := fmt.Sprintf("o%d", i), fmt.Sprintf("p%d", i%25) // p20..p24 do not exist
		orders = append(orders, o, p+":1")
		if i%25 < 20 {
			wantOrders[o] = p + ":1/product-" + p[1:]
		}
	}
	produceKV(t, prod, "orders", orders...)

	app, err := streams.New(joinTopology(t), streams.Config{
		ApplicationID: "joins", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), NumStreamThreads: 2, ProcessingGuarantee: guarantee,
		CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second,
		ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(300 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	readUntil(t, b.Addr(), "order-details", wantOrders)

	// Foreign keys change, rows and products go away, missing products appear.
	produceKV(t, prod, "orders", "o0", "p21:2", "o1", "<delete>", "o2", "p3:9")
	produceKV(t, prod, "products", "p21", "late-product", "p3", "<delete>")
	wantOrders["o0"] = "p21:2/late-product"
	delete(wantOrders, "o1")
	delete(wantOrders, "o2")
	for o, v := range wantOrders {
		if strings.HasPrefix(v, "p3:") {
			delete(wantOrders, o)
		}
	}
	for i := 21; i < 100; i += 25 {
		wantOrders[fmt.Sprintf("o%d", i)] = "p21:1/late-product"
	}
	readUntil(t, b.Addr(), "order-details", wantOrders)

	// The users table was loaded long ago: every view joins.
	var views []string
	wantViews := map[string]string{}
	for i := range 60 {
		u := fmt.Sprintf("u%d", i%20)
		views = append(views, u, fmt.Sprintf("%s:page-%d", u, i)) // keyed by user: in order per user
		wantViews[u] = fmt.Sprintf("%s:page-%d@region-%d", u, 40+i%20, i%20%4)
	}
	produceKV(t, prod, "views", views...)
	readUntil(t, b.Addr(), "enriched-views", wantViews)

	// Impressions (re-keyed by user) and clicks a second later join within the minute;
	// the clicks of u10..u14 come two minutes late. The pairs arrive one after the other,
	// as live traffic does: the application does not order the records of a task's
	// partitions by timestamp (Kafka Streams' max.task.idle.ms), so a backlog of clicks
	// would move stream time past the impressions still in the repartition topic.
	base := time.Now().Add(-3 * time.Hour)
	wantClicks := map[string]string{}
	clicked := client(t, b.Addr(), kgo.ConsumeTopics("clicked-impressions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for i := range 15 {
		u := fmt.Sprintf("u%d", i)
		at := base.Add(time.Duration(i) * 10 * time.Minute)
		imp := &kgo.Record{Topic: "impressions", Key: []byte(fmt.Sprintf("i%d", i)), Value: []byte(u + ":ad" + u[1:]), Timestamp: at}
		delay := time.Second
		if i >= 10 {
			delay = 2 * time.Minute
		} else {
			wantClicks[u] = u + ":ad" + u[1:] + "/click-" + u
		}
		click := &kgo.Record{Topic: "clicks", Key: []byte(u), Value: []byte("click-" + u), Timestamp: at.Add(delay)}
		if err := prod.ProduceSync(context.Background(), imp, click).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			fs := clicked.PollRecords(ctx, 1)
			cancel()
			if err := fs.Err0(); err != nil {
				t.Fatalf("waiting for the join of %s: %v", u, err)
			}
			if r := fs.Records()[0]; string(r.Key) != u || string(r.Value) != wantClicks[u] || r.Timestamp.UnixMilli() != at.Add(delay).UnixMilli() {
				t.Fatalf("join of %s: %s=%s at %v", u, r.Key, r.Value, r.Timestamp)
			}
		}
	}
	readUntil(t, b.Addr(), "clicked-impressions", wantClicks)

	adm := kadm.NewClient(client(t, b.Addr()))
	want := map[string]int{
		"joins-views-users-repartition":                         3,
		"joins-orders-products-subscription-registration-topic": 2,
		"joins-orders-products-subscription-response-topic":     3,
		"joins-impressions-clicks-left-repartition":             3,
	}
	details, err := adm.ListTopics(context.Background(), "joins-views-users-repartition", "joins-impressions-clicks-left-repartition",
		"joins-orders-products-subscription-registration-topic", "joins-orders-products-subscription-response-topic")
	if err != nil {
		t.Fatal(err)
	}
	for topic, n := range want {
		if got := len(details[topic].Partitions); got != n {
			t.Errorf("%s has %d partitions, want %d", topic, got, n)
		}
	}
}

// Joined source topics with different partition counts stop the application at start.
func TestAppRefusesTopicsNotCopartitioned(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b.Addr(), "left", 2)
	createTopic(t, b.Addr(), "right", 3)
	bld := streams.NewBuilder()
	streams.TableJoin(streams.TableFrom[string, string](bld, "left", nil, nil), streams.TableFrom[string, string](bld, "right", nil, nil),
		func(_ string, l, r string) string { return l + r }, nil).ToStream().To("out")
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Config{ApplicationID: "copart", Brokers: []string{b.Addr()}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.Start(ctx)
	if err == nil {
		select {
		case <-app.Done():
			err = app.Err()
		case <-ctx.Done():
		}
	}
	_ = app.Close(context.Background())
	if !errors.Is(err, streams.ErrNotCopartitioned) {
		t.Fatalf("err = %v, want ErrNotCopartitioned", err)
	}
}

// Page views and the user profiles they look up are both waiting when the application
// starts: the profiles are older, so each task processes them first (records in
// timestamp order across its partitions), and every view finds its user's region.
func TestAppStreamTableJoinBootstrap(t *testing.T) {
	b := startBroker(t)
	for topic, n := range map[string]int32{"views": 2, "users": 2, "enriched": 1} {
		createTopic(t, b.Addr(), topic, n)
	}
	prod := client(t, b.Addr())
	now := time.Now()
	var views, users []*kgo.Record
	want := map[string]string{}
	for i := range 40 {
		u := fmt.Sprintf("u%d", i)
		views = append(views, &kgo.Record{Topic: "views", Key: []byte(u), Value: []byte("/page"), Timestamp: now.Add(time.Duration(i) * time.Millisecond)})
		users = append(users, &kgo.Record{Topic: "users", Key: []byte(u), Value: []byte(fmt.Sprintf("region-%d", i%3)), Timestamp: now.Add(-time.Hour)})
		want[u] = fmt.Sprintf("/page@region-%d", i%3)
	}
	// The views are written first: only their timestamps put them after the profiles.
	if err := prod.ProduceSync(context.Background(), views...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(context.Background(), users...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	bld := streams.NewBuilder()
	streams.StreamTableLeftJoin(streams.StreamFrom[string, string](bld, "views", nil, nil), streams.TableFrom[string, string](bld, "users", nil, nil),
		func(_ string, page string, region *string) string {
			if region == nil {
				return page + "@?"
			}
			return page + "@" + *region
		}).To("enriched")
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := streams.New(topo, streams.Config{
		ApplicationID: "bootstrap", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		CommitInterval: 100 * time.Millisecond, MaxTaskIdle: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close(context.Background()) })
	readUntil(t, b.Addr(), "enriched", want)
}
