package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/examples/wordcount/wordcount"
)

// TestConsoleE2E drives the web console in Debian's headless Chromium
// against real processes: a `gregor broker`, a `gregor connect distributed`
// worker and `gregor console` pointed at both. Through the UI it creates a
// topic, produces a message and finds it with a value filter; watches a
// group's lag fall to 0 while a franz-go consumer in the test catches up
// and commits; resets the stopped group's offsets (a dry-run preview, then
// Apply) and checks the committed offsets moved; and creates a
// FileStreamSource, first without its required topic (the error shows at
// the field), then valid, and sees it RUNNING. Every page is screenshotted
// into $GREGOR_ARTIFACTS (or a temporary directory), and the paths logged.
func TestConsoleE2E(t *testing.T) {
	chrome := chromiumPath(t)
	b := startBroker(t)
	dir := t.TempDir()
	w := startConnectWorkerFlags(t, dir, "console", b.addr(), nil)
	// A streams application (examples/wordcount) serving its topology.
	createTopic(t, b.addr(), wordcount.InputTopic, 2, nil)
	createTopic(t, b.addr(), wordcount.OutputTopic, 2, nil)
	app := newWordcountApp(t, b.addr())
	app.extra = []string{"--http", "127.0.0.1:0"}
	app.start()
	base := startConsole(t, "--brokers", b.addr(), "--connect", "main="+w.url, "--streams", "http://"+httpAddrOf(t, app.proc))

	br := newBrowser(t, chrome, base, 120*time.Second)
	ctx := br.ctx

	topic := uniqueTopic("console")
	group := "console-e2e-group"

	// Overview.
	br.open("#/", `[data-testid="stat-brokers"]`)
	br.waitText(`[data-testid="stat-brokers"] .stat-value`, "1")
	br.shot("overview")

	// Create a topic in the UI.
	br.open("#/topics", `[data-testid="create-topic-name"]`)
	br.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="create-topic-name"]`), topic),
		chromedp.SetValue(chromedp.CSS(`[data-testid="create-topic-partitions"]`), "2"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-topic-submit"]`)),
	)
	br.waitDone(`[data-testid="create-topic-done"]`)
	br.run(chromedp.WaitVisible(chromedp.CSS(`[data-testid="topic-link-` + topic + `"]`)))
	br.shot("topics")

	// Produce one message in the UI; the test adds filler around it.
	cl := newClient(t, b.addr())
	const fillers = 20
	var recs []*kgo.Record
	for i := range fillers {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"user":"bob","n":%d}`, i)})
	}
	produceAll(t, cl, recs, fillers)
	br.open("#/topics/"+topic+"/produce", `[data-testid="produce-value"]`)
	br.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="produce-key"]`), "ann-key"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="produce-value"]`), `{"user":"ann","n":42}`),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="produce-headers"]`), "source: console-e2e"),
		chromedp.Click(chromedp.CSS(`[data-testid="produce-submit"]`)),
	)
	br.waitDone(`[data-testid="produce-done"]`)
	br.shot("produce")
	const total = fillers + 1

	// The partitions tab shows all of them.
	br.open("#/topics/"+topic, `[data-testid="partitions-table"]`)
	br.waitJS("the partitions' messages add up", fmt.Sprintf(
		`[...document.querySelectorAll('[data-testid="partitions-table"] tbody tr')].reduce((n, tr) => n + Number(tr.children[6].textContent.replace(/,/g, '')), 0) === %d`, total))
	br.shot("topic-partitions")

	// Find the message by a value filter, then expand it.
	br.open("#/topics/"+topic+"/messages", `[data-testid="browse-filter"]`)
	br.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="browse-filter"]`), `value contains "ann"`),
		chromedp.Click(chromedp.CSS(`[data-testid="browse-submit"]`)),
	)
	br.waitJS("exactly the UI's message matches the filter",
		`(() => { const rows = document.querySelectorAll('[data-testid="message-row"]');
		  return rows.length === 1 && rows[0].textContent.includes('ann-key'); })()`)
	br.run(
		chromedp.Click(chromedp.CSS(`[data-testid="message-row"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="message-full-value"]`)),
	)
	br.waitJS("the expanded row shows the header", `document.querySelector('tr.detail').textContent.includes('console-e2e')`)
	br.shot("topic-messages")

	// Configs tab: docs inline.
	br.open("#/topics/"+topic+"/configs", `[data-testid="configs-table"]`)
	br.shot("topic-configs")

	// A group with committed offsets at 0 has lag = total; a consumer
	// catches up and commits, and the page's lag falls to 0.
	adm := kadm.NewClient(cl)
	var zero kadm.Offsets
	zero.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	zero.Add(kadm.Offset{Topic: topic, Partition: 1, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, zero); err != nil {
		t.Fatalf("commit offsets 0: %v", err)
	}
	br.open("#/groups/"+group, `[data-testid="group-lag"]`)
	br.waitText(`[data-testid="group-lag"]`, strconv.Itoa(total))
	br.shot("group-lagging")
	consumer := newClient(t, b.addr(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	consumed := 0
	for consumed < total {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", consumed, total, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		consumed += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	br.waitText(`[data-testid="group-lag"]`, "0")
	br.shot("group-caught-up")
	consumer.Close() // leaves the group, so it is empty and can be reset
	br.waitText(`[data-testid="group-members"]`, "0")

	// Reset to earliest: preview, then apply.
	br.run(
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="reset-preview"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="reset-preview"]`)),
	)
	br.waitDone(`[data-testid="reset-preview-table"]`)
	br.waitJS("the preview lists both partitions going to 0",
		`(() => { const rows = [...document.querySelectorAll('[data-testid="reset-preview-table"] tbody tr')];
		  return rows.length === 2 && rows.every((r) => r.children[3].textContent === '0'); })()`)
	br.shot("group-reset-preview")
	if got := committed(t, adm, group, topic); got != total {
		t.Fatalf("after the dry run the group's committed offsets sum to %d, want %d (unchanged)", got, total)
	}
	br.run(
		chromedp.Click(chromedp.CSS(`[data-testid="reset-apply"]`)),
	)
	br.waitDone(`[data-testid="reset-done"]`)
	if got := committed(t, adm, group, topic); got != 0 {
		t.Fatalf("after the reset the group's committed offsets sum to %d, want 0", got)
	}
	br.waitText(`[data-testid="group-lag"]`, strconv.Itoa(total))
	br.shot("group-reset-applied")
	br.open("#/groups", `[data-testid="group-link-`+group+`"]`)
	br.shot("groups")

	// Connect: an invalid config shows its error at the field; a valid one runs.
	in := filepath.Join(dir, "source.txt")
	if err := os.WriteFile(in, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	br.open("#/connect/main/new", `[data-testid="connector-plugin"]`)
	br.waitJS("the plugin list has FileStreamSource",
		`[...document.querySelector('[data-testid="connector-plugin"]').options].some((o) => o.value.includes('FileStreamSource'))`)
	br.eval(`(() => { const s = document.querySelector('[data-testid="connector-plugin"]');
	  s.value = [...s.options].find((o) => o.value.includes('FileStreamSource')).value;
	  s.dispatchEvent(new Event('change')); return true; })()`)
	br.run(
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="config-file"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="connector-name"]`), "console-src"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="config-file"]`), in),
		chromedp.Click(chromedp.CSS(`[data-testid="connector-submit"]`)),
	)
	br.waitJS("the topic field shows its error",
		`(document.querySelector('[data-testid="field-error-topic"]') || {}).textContent?.length > 0`)
	br.waitJS("the form says it has errors", `!!document.querySelector('[data-testid="connector-invalid"]')`)
	br.shot("connect-invalid")
	if code, body := w.do("GET", "/connectors/console-src", nil); code != 404 {
		t.Fatalf("an invalid connector was created: GET answered %d %s", code, body)
	}
	br.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="config-topic"]`), topic+"-connect"),
		chromedp.Click(chromedp.CSS(`[data-testid="connector-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="connectors-table-main"]`)),
	)
	br.waitText(`[data-testid="connector-state-console-src"]`, "RUNNING")
	br.waitText(`[data-testid="task-state-console-src-0"]`, "RUNNING")
	br.shot("connect")

	// The remaining pages render without an error.
	br.open("#/streams", `[data-testid="streams-link-`+wordcount.ApplicationID+`"]`)
	br.shot("streams")
	// Its topology, drawn from the app's Describe() output: the splitting
	// sub-topology reads the input topic, the counting one reads the
	// repartition topic and writes the output topic.
	br.open("#/streams/"+wordcount.ApplicationID, `[data-testid="subtopology-1"] svg`)
	nodeTitle := func(sub, kind, text string) {
		br.waitJS(fmt.Sprintf("a %s node of sub-topology %s naming %s", kind, sub, text), fmt.Sprintf(
			`[...document.querySelectorAll('[data-testid="subtopology-%s"] g.node.%s title')].some((t) => t.textContent.includes(%q))`,
			sub, kind, text))
	}
	nodeTitle("0", "source", wordcount.InputTopic)
	nodeTitle("1", "source", "counts-repartition")
	nodeTitle("1", "sink", wordcount.OutputTopic)
	br.shot("streams-topology")
	br.open("#/", `[data-testid="throughput-chart"]`)
	br.shot("overview-after")
	br.phone()
	br.open("#/topics", `[data-testid="topics-table"]`)
	br.run(chromedp.Click(chromedp.CSS(`[data-testid="nav-toggle"]`)), chromedp.WaitVisible(chromedp.CSS(`#nav`)))
	br.shot("phone-topics-nav")
	br.checkNoExceptions()
}

// chromiumPath finds Debian's chromium; without it the test skips, or
// fails when CI is set (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// startConsole runs `gregor console` on a free loopback port with args and
// returns its base URL ("http://ADDR").
func startConsole(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, gregorBin, append([]string{"console", "--http", "127.0.0.1:0"}, args...)...)
	if err != nil {
		t.Fatalf("start console: %v", err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("console output:\n%s", p.Output())
		}
	})
	addr := p.Addr()
	if !strings.HasPrefix(addr, "http://") {
		addr = "http://" + addr
	}
	return strings.TrimSuffix(addr, "/")
}

// committed sums a group's committed offsets on topic.
func committed(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	var sum int64
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			sum += o.At
		}
	})
	return sum
}

// browser is a headless Chromium tab on the console, with the steps the
// test takes in it.
type browser struct {
	t      *testing.T
	tab    context.Context // the tab, alive until the test ends
	ctx    context.Context // the tab with the test's deadline
	base   string
	dir    string
	loaded bool // the console's page is loaded: routes change the hash only

	mu         sync.Mutex
	exceptions []string
}

func newBrowser(t *testing.T, chrome, base string, timeout time.Duration) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	dir := os.Getenv("GREGOR_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, "console-e2e")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	br := &browser{t: t, tab: bctx, base: base, dir: dir}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Collect what the pages write to the console: uncaught exceptions
	// fail the test at its end, errors are logged.
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			switch {
			case m.IsException():
				br.mu.Lock()
				br.exceptions = append(br.exceptions, m.String())
				br.mu.Unlock()
			case m.Type == chromedp.ConsoleError:
				t.Logf("browser console: %s", m)
			}
		}
	}()
	var cancel context.CancelFunc
	br.ctx, cancel = context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	t.Logf("console at %s; screenshots in %s", base, dir)
	return br
}

// run runs actions, failing the test on an error (the context's deadline
// bounds every wait).
func (br *browser) run(actions ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	if err := chromedp.Do(br.ctx, actions...); err != nil {
		br.fail(fmt.Sprintf("browser: %v", err))
	}
}

// fail saves a screenshot of the failure and fails the test.
func (br *browser) fail(msg string) {
	br.t.Helper()
	sctx, cancel := context.WithTimeout(br.tab, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(80))
	text, _ := chromedp.Run(sctx, chromedp.TextContent(chromedp.CSS("main")))
	if err == nil {
		path := filepath.Join(br.dir, "failure.jpg")
		_ = os.WriteFile(path, buf, 0o644)
		msg += fmt.Sprintf("\nscreenshot: %s\npage text:\n%s", path, text)
	}
	br.t.Fatal(msg)
}

// open goes to the console's route ("#/topics"), waits until the app has
// drawn it, then for sel. The first call loads the page; later ones only
// change the hash, as a click on a link does (a fragment change fires no
// load event for Navigate to wait for).
func (br *browser) open(route, sel string) {
	br.t.Helper()
	r, _ := json.Marshal(route)
	if !br.loaded {
		br.run(chromedp.Navigate(br.base + "/" + route))
		br.loaded = true
	} else {
		br.eval(fmt.Sprintf(`(location.hash = %s, true)`, r))
	}
	br.waitJS("the route "+route+" to be drawn", fmt.Sprintf(`document.body.dataset.route === %s`, r))
	br.run(chromedp.WaitVisible(chromedp.CSS(sel)))
}

// eval evaluates a JavaScript expression that must return true.
func (br *browser) eval(js string) {
	br.t.Helper()
	ok, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		br.fail(fmt.Sprintf("script returned false (%v): %s", err, js))
	}
}

// waitJS polls a JavaScript expression until it is true, until the
// test's deadline.
func (br *browser) waitJS(what, js string) {
	br.t.Helper()
	for {
		ok, err := chromedp.Run(br.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		select {
		case <-br.ctx.Done():
			br.fail(fmt.Sprintf("waiting for %s: %v (last error %v)", what, br.ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDone waits until the element sel shows, and fails at once with its
// message if an error box (.error) shows instead.
func (br *browser) waitDone(sel string) {
	br.t.Helper()
	q, _ := json.Marshal(sel)
	js := fmt.Sprintf(`(() => { if (document.querySelector(%s)) return 'ok';
	  const e = document.querySelector('main .error'); return e ? e.textContent : ''; })()`, q)
	for {
		got, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](js))
		if err == nil && got == "ok" {
			return
		}
		if err == nil && got != "" {
			br.fail(fmt.Sprintf("waiting for %s, the console showed: %s", sel, got))
		}
		select {
		case <-br.ctx.Done():
			br.fail(fmt.Sprintf("waiting for %s: %v (last error %v)", sel, br.ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitText polls until the trimmed text of the element sel is want.
func (br *browser) waitText(sel, want string) {
	br.t.Helper()
	q, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	br.waitJS(fmt.Sprintf("%s to read %q", sel, want),
		fmt.Sprintf(`(document.querySelector(%s) || {textContent: ''}).textContent.trim() === %s`, q, w))
}

// shot saves a full-page screenshot as NAME.png and logs its path.
func (br *browser) shot(name string) {
	br.t.Helper()
	buf, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		br.fail(fmt.Sprintf("screenshot %s: %v", name, err))
	}
	path := filepath.Join(br.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		br.t.Fatal(err)
	}
	br.t.Logf("screenshot %s", path)
}

// phone switches the tab to a phone-sized viewport.
func (br *browser) phone() {
	br.t.Helper()
	br.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

// checkNoExceptions fails the test if a page threw an uncaught exception.
func (br *browser) checkNoExceptions() {
	br.t.Helper()
	br.mu.Lock()
	defer br.mu.Unlock()
	if len(br.exceptions) > 0 {
		br.t.Fatalf("the console's scripts threw:\n%s", strings.Join(br.exceptions, "\n"))
	}
}
