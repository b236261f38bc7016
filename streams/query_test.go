package streams_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/streams"
)

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Two instances share the word count's tasks; each answers for every word, from its own
// tasks or over HTTP from the other's, with the counts the output topic ends with.
func TestInteractiveQueriesAcrossInstances(t *testing.T) {
	b, prod := wordCountBroker(t, 4)
	want := map[string]int64{}
	produceLines(t, prod, rand.New(rand.NewPCG(3, 4)), 1000, want)

	var apps []*streams.App
	var servers []string
	for range 2 {
		server := freeAddr(t)
		app, err := streams.New(wordCount(t), streams.Config{
			ApplicationID: "streams-wordcount", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
			CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, ApplicationServer: server,
			ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = app.Close(context.Background()) })
		apps, servers = append(apps, app), append(servers, server)
	}
	newOutputReader(t, b.Addr()).waitFor(t, want, 60*time.Second)

	// Both instances know both servers, each running part of the partitions.
	waitFor(t, "two application servers, each with tasks", func() bool {
		for _, app := range apps {
			md := app.AllMetadata()
			if len(md) != 2 || len(md[0].TopicPartitions) == 0 || len(md[1].TopicPartitions) == 0 {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	remote := 0
	for word, n := range want {
		for i, app := range apps {
			md, err := streams.QueryMetadataForKey(app, "counts", word, nil)
			if err != nil {
				t.Fatalf("metadata for %q on instance %d: %v", word, i, err)
			}
			if md.Active.String() != servers[i] {
				remote++
			}
			// ErrNotHosted is retriable, as Kafka's InvalidStateStoreException: a
			// task can still be moving (a follow-up rebalance, an init not yet run).
			var got int64
			var found bool
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				got, found, err = streams.QueryKey[string, int64](ctx, app, "counts", word, nil, nil)
				if !errors.Is(err, streams.ErrNotHosted) || time.Now().After(deadline) {
					break
				}
			}
			if err != nil || !found || got != n {
				t.Fatalf("instance %d: count of %q = %d (found %v, err %v), want %d", i, word, got, found, err, n)
			}
		}
	}
	if remote == 0 {
		t.Fatal("no query went to the other instance")
	}
	if _, found, err := streams.QueryKey[string, int64](ctx, apps[0], "counts", "no-such-word-anywhere", nil, nil); err != nil || found {
		t.Fatalf("absent key: found %v, err %v", found, err)
	}
	if _, _, err := streams.QueryKey[string, int64](ctx, apps[1], "no-such-store", "x", nil, nil); !errors.Is(err, streams.ErrUnknownStore) {
		t.Fatalf("unknown store: %v, want ErrUnknownStore", err)
	}
}

func TestApplicationServerConfig(t *testing.T) {
	for _, bad := range []string{"localhost", "localhost:0", ":8080", "host:port", "h:70000"} {
		_, err := streams.New(wordCount(t), streams.Config{ApplicationID: "a", Brokers: []string{"x:9092"}, ApplicationServer: bad})
		if !errors.Is(err, streams.ErrConfig) {
			t.Errorf("application server %q: %v, want ErrConfig", bad, err)
		}
	}
}

// Window stores are queryable too: two instances count clicks per user and minute, and
// both return every user's windows.
func TestInteractiveWindowQueries(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b.Addr(), "clicks", 4)
	createTopic(t, b.Addr(), "clicks-per-minute", 1)
	prod := client(t, b.Addr())
	const base = int64(1_700_000_040_000) // a minute boundary
	type win struct {
		user  string
		start int64
	}
	want := map[win]int64{}
	var recs []*kgo.Record
	for i := range 600 {
		user := fmt.Sprintf("user-%d", i%30)
		ts := base + int64(i)*500 // five minutes
		want[win{user, ts - ts%60_000}]++
		recs = append(recs, &kgo.Record{Topic: "clicks", Key: []byte(user), Value: []byte("/"), Timestamp: time.UnixMilli(ts)})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	build := func() *streams.Topology {
		bld := streams.NewBuilder()
		clicks := streams.StreamFrom[string, string](bld, "clicks", nil, nil)
		streams.WindowedBy(clicks.GroupByKey(), streams.TimeWindowsOfSizeWithNoGrace(time.Minute)).
			Count(streams.As("per-minute")).ToStream().To("clicks-per-minute")
		topo, err := bld.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	var apps []*streams.App
	for range 2 {
		app, err := streams.New(build(), streams.Config{
			ApplicationID: "window-queries", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
			CommitInterval: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, ApplicationServer: freeAddr(t),
			ClientOptions: []kgo.Opt{kgo.HeartbeatInterval(200 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = app.Close(context.Background()) })
		apps = append(apps, app)
	}
	ctx := context.Background()
	for user := range 30 {
		u := fmt.Sprintf("user-%d", user)
		for i, app := range apps {
			waitFor(t, fmt.Sprintf("%s's windows on instance %d", u, i), func() bool {
				got, err := streams.QueryWindow[string, int64](ctx, app, "per-minute", u, base, base+10*60_000, nil, nil)
				if err != nil {
					return false // tasks still moving: retry
				}
				n := 0
				for _, w := range got {
					if w.Window.End-w.Window.Start != 60_000 || w.Value != want[win{u, w.Window.Start}] {
						return false
					}
					n++
				}
				return n == 5
			})
		}
	}
}
