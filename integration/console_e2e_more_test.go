package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestConsoleE2ELogin drives the console's login in headless Chromium
// against a `gregor broker` whose only listener is SASL_PLAINTEXT (PLAIN
// for the admin, SCRAM-SHA-256 for the users) with the StandardAuthorizer.
// alice may DESCRIBE and READ topics prefixed "alice-", bob may do
// nothing. The login form appears; a wrong password shows an error; alice
// sees alice-orders and not secret-x on the Topics page; signing out
// brings the form back; bob sees no topics.
func TestConsoleE2ELogin(t *testing.T) {
	chrome := chromiumPath(t)
	b := startBroker(t,
		"--listen", "SASL_PLAINTEXT://127.0.0.1:0",
		"--set", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
		"--set", `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`,
		"--set", "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"--set", "super.users=User:admin",
	)

	// As the super user: the SCRAM users, the topics and alice's ACLs.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, b.addr(), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())))
	var ups []kadm.UpsertSCRAM
	for _, u := range []string{"alice", "bob"} {
		ups = append(ups, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: u + "-secret"})
	}
	if res, err := adm.AlterUserSCRAMs(ctx, nil, ups); err != nil || res.Error() != nil {
		t.Fatalf("create SCRAM users: %v %v", err, res.Error())
	}
	for _, topic := range []string{"alice-orders", "secret-x"} {
		if res, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || res.Err != nil {
			t.Fatalf("create topic %s: %v %v", topic, err, res.Err)
		}
	}
	acl := kadm.NewACLs().Allow("User:alice").AllowHosts("*").
		Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpDescribe, kadm.OpRead)
	res, err := adm.CreateACLs(ctx, acl)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}

	base := startConsole(t, "--brokers", b.addr(), "--sasl-mechanism", "SCRAM-SHA-256")
	br := newBrowser(t, chrome, base, 60*time.Second)

	// The login form replaces the page the browser asked for.
	br.run(chromedp.Navigate(base + "/#/topics"))
	br.loaded = true
	br.run(chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
	// securityLink is true when the nav's Security link is on screen.
	const securityLink = `document.querySelector('[data-testid="nav-security"]').getClientRects().length > 0`
	br.waitJS("no Security link before a login", "!"+securityLink)
	br.shot("login-form")

	login := func(user, password string) {
		t.Helper()
		br.run(chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-username"]`)))
		br.eval(`(() => { for (const id of ['login-username', 'login-password']) document.querySelector('[data-testid="' + id + '"]').value = '';
		  return true; })()`)
		br.run(
			chromedp.SendKeys(chromedp.CSS(`[data-testid="login-username"]`), user),
			chromedp.SendKeys(chromedp.CSS(`[data-testid="login-password"]`), password),
			chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		)
	}
	// topicRows is true when the Topics page lists exactly names.
	topicRows := func(names string) string {
		return fmt.Sprintf(`document.body.dataset.route === '#/topics' && !!document.querySelector('[data-testid="topics-table"]') &&
		  [...document.querySelectorAll('[data-testid="topics-table"] tbody tr[data-topic]')].map((r) => r.dataset.topic).join(',') === %q`, names)
	}

	// A wrong password: an error, and still the form.
	login("alice", "wrong")
	br.waitJS("the login error", `(document.querySelector('[data-testid="login-error"]') || {textContent: ''}).textContent.includes('SASL_AUTHENTICATION_FAILED')`)
	br.run(chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
	br.shot("login-wrong-password")

	// alice sees her topic and not the other one.
	login("alice", "alice-secret")
	br.waitJS("alice's topics: alice-orders only", topicRows("alice-orders"))
	br.waitJS("the header names alice", `(document.querySelector('[data-testid="logout"]') || {parentElement: {textContent: ''}}).parentElement.textContent.includes('alice')`)
	// alice may not describe ACLs: no Security page for her.
	br.waitJS("no Security link for alice", "!"+securityLink)
	br.shot("login-alice-topics")

	// Signing out brings the form back; the API refuses the old session.
	br.run(chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)))
	br.run(chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
	br.waitJS("no user in the header", `!document.querySelector('[data-testid="logout"]')`)

	// bob, without ACLs, sees no topics.
	login("bob", "bob-secret")
	br.waitJS("bob's topics: none", topicRows(""))
	br.waitText(`[data-testid="topics-table"] tbody td`, "No topics yet.")
	br.shot("login-bob-topics")
	br.checkNoExceptions()
}

// TestConsoleE2EManage drives the console's changes in headless Chromium
// against a `gregor broker` and a `gregor connect distributed` worker:
// it edits a topic's retention.ms and checks it with DescribeConfigs;
// deletes a topic through the confirmation (the button stays disabled
// until the name is typed) and checks it is gone; and pauses, then
// resumes, a connector, seeing PAUSED then RUNNING in the page and in the
// worker's REST status.
func TestConsoleE2EManage(t *testing.T) {
	chrome := chromiumPath(t)
	b := startBroker(t)
	dir := t.TempDir()
	w := startConnectWorkerFlags(t, dir, "manage", b.addr(), nil)
	edited, doomed := uniqueTopic("manage-cfg"), uniqueTopic("manage-del")
	createTopic(t, b.addr(), edited, 1, nil)
	createTopic(t, b.addr(), doomed, 1, nil)
	adm := kadm.NewClient(newClient(t, b.addr()))
	base := startConsole(t, "--brokers", b.addr(), "--connect", "main="+w.url)
	br := newBrowser(t, chrome, base, 90*time.Second)
	ctx := br.ctx

	// Edit retention.ms on the Configs tab.
	const retention = "3600000"
	br.open("#/topics/"+edited+"/configs", `[data-testid="config-input-retention.ms"]`)
	br.run(
		chromedp.SetValue(chromedp.CSS(`[data-testid="config-input-retention.ms"]`), retention),
		chromedp.Click(chromedp.CSS(`[data-testid="configs-save"]`)),
	)
	br.waitDone(`[data-testid="configs-saved"]`)
	br.waitJS("the redrawn form shows the new value",
		fmt.Sprintf(`document.querySelector('[data-testid="config-input-retention.ms"]').value === %q`, retention))
	br.shot("manage-configs-saved")
	rcs, err := adm.DescribeTopicConfigs(ctx, edited)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(edited, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of %s: %v %v", edited, err, rc.Err)
	}
	i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == "retention.ms" })
	if i < 0 || rc.Configs[i].MaybeValue() != retention || rc.Configs[i].Source.String() != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms after the edit: %+v", rc.Configs[max(i, 0)])
	}

	// Delete a topic: the button waits for its name.
	br.open("#/topics", `[data-testid="topic-link-`+doomed+`"]`)
	br.run(
		chromedp.Click(chromedp.CSS(`[data-testid="delete-topic-`+doomed+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="delete-topic-confirm-input"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="delete-topic-confirm-input"]`), doomed[:len(doomed)-1]),
	)
	br.eval(`document.querySelector('[data-testid="delete-topic-confirm"]').disabled`)
	br.shot("manage-delete-confirm")
	br.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="delete-topic-confirm-input"]`), doomed[len(doomed)-1:]),
		chromedp.Click(chromedp.CSS(`[data-testid="delete-topic-confirm"]`)),
	)
	br.waitDone(`[data-testid="delete-topic-done"]`)
	br.waitJS("the deleted topic leaves the list", fmt.Sprintf(
		`!!document.querySelector('[data-testid="topic-link-%s"]') && !document.querySelector('[data-testid="topic-link-%s"]')`, edited, doomed))
	waitFor(t, 30*time.Second, doomed+" gone from the broker's topics", func() bool {
		tds, err := adm.ListTopics(ctx)
		return err == nil && tds.Has(edited) && !tds.Has(doomed)
	})

	// Pause and resume a connector.
	in := filepath.Join(dir, "source.txt")
	if err := os.WriteFile(in, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const conn = "manage-src"
	// The worker answers 409 while it joins its group: retry until then.
	connTopic := uniqueTopic("manage-connect")
	waitFor(t, 30*time.Second, "the worker to create "+conn, func() bool {
		code, body := w.do("POST", "/connectors", map[string]any{"name": conn, "config": map[string]string{
			"connector.class": "FileStreamSource", "tasks.max": "1", "file": in, "topic": connTopic,
		}})
		if code != 201 && code != 409 {
			t.Fatalf("create connector: %d %s", code, body)
		}
		return code == 201
	})
	restState := func(want string) {
		t.Helper()
		waitFor(t, 30*time.Second, "the worker's status of "+conn+" to be "+want, func() bool {
			st, ok := w.status(conn)
			return ok && st.Connector.State == want && len(st.Tasks) == 1 && st.Tasks[0].State == want
		})
	}
	br.open("#/connect", `[data-testid="connectors-table-main"]`)
	br.waitText(`[data-testid="connector-state-`+conn+`"]`, "RUNNING")
	br.run(chromedp.Click(chromedp.CSS(`[data-testid="pause-` + conn + `"]`)))
	br.waitText(`[data-testid="connector-state-`+conn+`"]`, "PAUSED")
	br.waitText(`[data-testid="task-state-`+conn+`-0"]`, "PAUSED")
	restState("PAUSED")
	br.shot("manage-connector-paused")
	br.run(chromedp.Click(chromedp.CSS(`[data-testid="resume-` + conn + `"]`)))
	br.waitText(`[data-testid="connector-state-`+conn+`"]`, "RUNNING")
	br.waitText(`[data-testid="task-state-`+conn+`-0"]`, "RUNNING")
	restState("RUNNING")
	br.shot("manage-connector-resumed")
	br.checkNoExceptions()
}
