package streams_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gregorhq/gregor/streams"
	"github.com/gregorhq/gregor/streams/streamstest"
)

// windowPutter stores each record's value in the store "w" under its key and the
// window of the record's timestamp (10ms windows), and in the session store "s" as a
// one-record session; each "dump" value forwards the contents of both stores.
type windowPutter struct {
	ctx *streams.ProcessorContext[string, string]
	w   *streams.WindowStore[string, string]
	s   *streams.SessionStore[string, int64]
}

func (p *windowPutter) Init(ctx *streams.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	if p.w, err = streams.GetWindowStore[string, string](ctx, "w"); err != nil {
		return err
	}
	p.s, err = streams.GetSessionStore[string, int64](ctx, "s")
	return err
}

func (p *windowPutter) Process(r streams.Record[string, string]) error {
	if r.Value == "dump" {
		return p.dump(r)
	}
	start := r.Timestamp / 10 * 10
	if err := p.w.Put(r.Key, r.Value, start); err != nil {
		return err
	}
	return p.s.Put(r.Key, streams.Window{Start: r.Timestamp, End: r.Timestamp}, int64(len(r.Value)))
}

func (p *windowPutter) dump(r streams.Record[string, string]) error {
	var lines []string
	it, err := p.w.FetchRange(r.Key, 0, 1<<40)
	if err != nil {
		return err
	}
	for it.Next() {
		lines = append(lines, fmt.Sprintf("w%v=%s", it.Key(), it.Value()))
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	si, err := p.s.Fetch(r.Key)
	if err != nil {
		return err
	}
	for si.Next() {
		lines = append(lines, fmt.Sprintf("s%v=%d", si.Key(), si.Value()))
	}
	if err := errors.Join(si.Err(), si.Close()); err != nil {
		return err
	}
	return p.ctx.Forward(r.WithValue(strings.Join(lines, " ")))
}

func (p *windowPutter) Close() error { return nil }

func windowStoreTopology(t *testing.T, dups bool, opts ...streams.Option) *streams.Topology {
	b := streams.NewBuilder()
	b.AddStore(streams.WindowStoreBuilder[string, string]("w", nil, nil, 100*time.Millisecond, 10*time.Millisecond, dups, opts...))
	b.AddStore(streams.SessionStoreBuilder[string, int64]("s", nil, nil, 100*time.Millisecond, opts...))
	s := streams.StreamFrom[string, string](b, "in", nil, nil)
	streams.Process(s, func() streams.Processor[string, string, string, string] { return &windowPutter{} },
		streams.WithStores("w", "s")).WithSerdes(streams.String(), streams.String()).To("out")
	return mustBuild(t, b)
}

func TestWindowAndSessionStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		dups bool
		opts []streams.Option
		want string
	}{
		{"last value per window", false, nil, "w[a@0/10]=y w[a@20/30]=z s[a@3/3]=1 s[a@5/5]=1 s[a@21/21]=1"},
		{"retain duplicates", true, nil, "w[a@0/10]=x w[a@0/10]=y w[a@20/30]=z s[a@3/3]=1 s[a@5/5]=1 s[a@21/21]=1"},
		{"cached, in memory", false, []streams.Option{streams.WithCaching(), streams.InMemory()}, "w[a@0/10]=y w[a@20/30]=z s[a@3/3]=1 s[a@5/5]=1 s[a@21/21]=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := streamstest.New(t, windowStoreTopology(t, tc.dups, tc.opts...))
			in := streamstest.NewInputTopic[string, string](d, "in", nil, nil)
			out := streamstest.NewOutputTopic[string, string](d, "out", nil, nil)
			in.PipeAt("a", "x", 3)
			in.PipeAt("a", "y", 5)
			in.PipeAt("a", "z", 21)
			in.PipeAt("b", "q", 7)
			in.PipeAt("a", "dump", 21)
			if got := out.ReadKeyValue().Value; got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			// Past the retention (100ms after the newest write), old windows and
			// sessions are gone.
			in.PipeAt("a", "late", 250)
			in.PipeAt("a", "dump", 250)
			if got, want := out.ReadKeyValue().Value, "w[a@250/260]=late s[a@250/250]=4"; got != want {
				t.Errorf("after retention: got %s, want %s", got, want)
			}
		})
	}
}

func TestWindowStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	topo := windowStoreTopology(t, false)
	h, err := streams.NewHarness(topo, streams.HarnessConfig{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Pipe("in", []byte("a"), []byte("x"), 12, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	d := streamstest.New(t, windowStoreTopology(t, false), streamstest.WithStateDir(dir))
	streamstest.NewInputTopic[string, string](d, "in", nil, nil).PipeAt("a", "dump", 12)
	out := streamstest.NewOutputTopic[string, string](d, "out", nil, nil)
	if got, want := out.ReadKeyValue().Value, "w[a@10/20]=x s[a@12/12]=1"; got != want {
		t.Errorf("after restart: got %s, want %s", got, want)
	}
	// The typed stores are reachable from tests too.
	ws, err := streams.GetWindowStore[string, string](d.Harness(), "w")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := ws.Fetch("a", 10); err != nil || !ok || v != "x" {
		t.Errorf("Fetch = %q %v %v", v, ok, err)
	}
	if _, err := streams.GetWindowStore[string, int64](d.Harness(), "w"); !errors.Is(err, streams.ErrUnknownStore) {
		t.Errorf("wrong types: err = %v, want ErrUnknownStore", err)
	}
}

func TestWindowStoreBuilderErrors(t *testing.T) {
	for _, sb := range []streams.StoreBuilder{
		streams.WindowStoreBuilder[string, string]("w", nil, nil, time.Second, 2*time.Second, false),
		streams.WindowStoreBuilder[string, string]("w", nil, nil, time.Second, 0, false),
		streams.SessionStoreBuilder[string, string]("s", nil, nil, 0),
	} {
		b := streams.NewBuilder()
		b.AddStore(sb)
		streams.StreamFrom[string, string](b, "in", nil, nil).To("out")
		if _, err := b.Build(); !errors.Is(err, streams.ErrTopology) {
			t.Errorf("Build: err = %v, want ErrTopology", err)
		}
	}
}
