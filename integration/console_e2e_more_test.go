package integration

import (
	"context"
	"fmt"
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
