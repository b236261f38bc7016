package group

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// harness drives one Group with a fake clock, playing the caller: it
// collects replies, "persists" records, and fires timers as time advances.
type harness struct {
	t       *testing.T
	cfg     Config
	g       *Group
	now     int64
	replies map[Token]Reply
	timers  map[TimerKey]int64
	records []Record
	tok     Token
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n := 0
	cfg.NewMemberID = func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: cfg, now: 1_000_000, replies: map[Token]Reply{}, timers: map[TimerKey]int64{}}
	h.g = NewGroup(&h.cfg, "g", h.now)
	return h
}

func (h *harness) do(out Output) {
	h.records = append(h.records, out.Records...)
	for _, r := range out.Replies {
		if _, dup := h.replies[r.To]; dup {
			h.t.Fatalf("token %d answered twice", r.To)
		}
		h.replies[r.To] = r
	}
	for _, tm := range out.Timers {
		h.timers[tm.Key] = tm.At
	}
	if out.StoreAck {
		h.do(h.g.Stored(h.now, nil))
	}
}

// advance moves the clock and fires due timers in deadline order.
func (h *harness) advance(d time.Duration) {
	target := h.now + d.Milliseconds()
	for {
		var due []TimerKey
		for k, at := range h.timers {
			if at <= target {
				due = append(due, k)
			}
		}
		if len(due) == 0 {
			break
		}
		sort.Slice(due, func(i, j int) bool { return h.timers[due[i]] < h.timers[due[j]] })
		k := due[0]
		h.now = max(h.now, h.timers[k])
		delete(h.timers, k)
		h.do(h.g.OnTimer(h.now, k))
	}
	h.now = target
}

func consumerJoin(memberID, instance string, protocols ...string) JoinRequest {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	r := JoinRequest{MemberID: memberID, InstanceID: instance, ClientID: "c", ProtocolType: "consumer",
		SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000, RequireKnownMemberID: true}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: []byte(memberID + p)})
	}
	return r
}

// join sends a JoinGroup and returns its token.
func (h *harness) join(req JoinRequest) Token {
	h.tok++
	h.do(h.g.Join(h.now, req, h.tok))
	return h.tok
}

func (h *harness) sync(member string, gen int32, assign map[string][]byte) Token {
	h.tok++
	h.do(h.g.Sync(h.now, SyncRequest{MemberID: member, Generation: gen, Assignments: assign}, h.tok))
	return h.tok
}

func (h *harness) joined(tok Token) *JoinResult {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok || r.Join == nil {
		h.t.Fatalf("join %d not answered", tok)
	}
	return r.Join
}

func (h *harness) synced(tok Token) *SyncResult {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok || r.Sync == nil {
		h.t.Fatalf("sync %d not answered", tok)
	}
	return r.Sync
}

func (h *harness) waiting(tok Token) {
	h.t.Helper()
	if _, ok := h.replies[tok]; ok {
		h.t.Fatalf("token %d answered, want it waiting", tok)
	}
}

func (h *harness) heartbeat(member string, gen int32) *kerr.Error {
	err, out := h.g.Heartbeat(h.now, member, "", gen)
	h.do(out)
	return err
}

func (h *harness) state(want State, gen int32) {
	h.t.Helper()
	if h.g.State() != want || h.g.Generation() != gen {
		h.t.Fatalf("group is %v gen %d, want %v gen %d", h.g.State(), h.g.Generation(), want, gen)
	}
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// stableOne brings a single member "c-1" to Stable generation 1.
func (h *harness) stableOne() string {
	h.t.Helper()
	r := h.joined(h.join(consumerJoin("", "")))
	wantErr(h.t, "first join", r.Err, kerr.MemberIDRequired)
	r = h.joined(h.join(consumerJoin(r.MemberID, "")))
	if r.Err != nil || r.Generation != 1 || r.Leader != r.MemberID || len(r.Members) != 1 {
		h.t.Fatalf("join: %+v", r)
	}
	s := h.synced(h.sync(r.MemberID, 1, map[string][]byte{r.MemberID: []byte("a1")}))
	if s.Err != nil || string(s.Assignment) != "a1" || s.Protocol != "range" {
		h.t.Fatalf("sync: %+v", s)
	}
	h.state(Stable, 1)
	return r.MemberID
}

func TestJoinSyncSingleMember(t *testing.T) {
	h := newHarness(t, nil)
	m := h.stableOne()
	if len(h.records) != 1 {
		t.Fatalf("%d records, want the group metadata", len(h.records))
	}
	wantErr(t, "heartbeat", h.heartbeat(m, 1), nil)
	wantErr(t, "old generation", h.heartbeat(m, 0), kerr.IllegalGeneration)
	wantErr(t, "unknown member", h.heartbeat("nope", 1), kerr.UnknownMemberID)
	d := h.g.Describe()
	if d.State != Stable || d.Protocol != "range" || len(d.Members) != 1 || string(d.Members[0].Assignment) != "a1" {
		t.Fatalf("describe: %+v", d)
	}
}

func TestSecondMemberRebalances(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	// b joins: the group rebalances and b waits for a.
	rb := h.joined(h.join(consumerJoin("", "")))
	tb := h.join(consumerJoin(rb.MemberID, ""))
	h.waiting(tb)
	h.state(PreparingRebalance, 1)
	wantErr(t, "a heartbeat", h.heartbeat(a, 1), kerr.RebalanceInProgress)
	wantErr(t, "commit while preparing", h.commit(CommitRequest{MemberID: a, Generation: 1}), nil)
	ta := h.join(consumerJoin(a, ""))
	ja, jb := h.joined(ta), h.joined(tb)
	if ja.Generation != 2 || jb.Generation != 2 || ja.Leader != a || len(ja.Members) != 2 || len(jb.Members) != 0 {
		t.Fatalf("joins: %+v %+v", ja, jb)
	}
	wantErr(t, "commit while completing", h.commit(CommitRequest{MemberID: a, Generation: 2}), kerr.RebalanceInProgress)
	// the follower waits for the leader's assignment
	sb := h.sync(rb.MemberID, 2, nil)
	h.waiting(sb)
	wantErr(t, "sync old generation", h.synced(h.sync(a, 1, nil)).Err, kerr.IllegalGeneration)
	sa := h.sync(a, 2, map[string][]byte{a: []byte("pa"), rb.MemberID: []byte("pb")})
	if string(h.synced(sa).Assignment) != "pa" || string(h.synced(sb).Assignment) != "pb" {
		t.Fatalf("assignments: %+v %+v", h.synced(sa), h.synced(sb))
	}
	h.state(Stable, 2)
}

func (h *harness) commit(req CommitRequest) *kerr.Error {
	if err := h.g.ValidateCommit(req); err != nil {
		return err
	}
	offs := []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 42, LeaderEpoch: 3, Metadata: "m", ExpireTimestamp: -1}}
	recs, vals, out := h.g.CommitRecords(h.now, req, offs)
	h.do(out)
	h.records = append(h.records, recs...)
	h.g.ApplyCommit(offs, vals)
	return nil
}

func TestSessionExpiryRemovesMember(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	rb := h.joined(h.join(consumerJoin("", "")))
	tb := h.join(consumerJoin(rb.MemberID, ""))
	h.join(consumerJoin(a, ""))
	h.joined(tb)
	sb := h.sync(rb.MemberID, 2, nil)
	h.sync(a, 2, map[string][]byte{})
	h.synced(sb)
	h.state(Stable, 2)
	// b keeps heartbeating; a goes silent.
	for range 2 {
		h.advance(4 * time.Second)
		wantErr(t, "b heartbeat", h.heartbeat(rb.MemberID, 2), nil)
	}
	h.advance(4 * time.Second) // a's 10 s session has run out
	wantErr(t, "b after a expired", h.heartbeat(rb.MemberID, 2), kerr.RebalanceInProgress)
	wantErr(t, "a expired", h.heartbeat(a, 2), kerr.UnknownMemberID)
	r := h.joined(h.join(consumerJoin(rb.MemberID, "")))
	if r.Generation != 3 || r.Leader != rb.MemberID {
		t.Fatalf("rejoin: %+v", r)
	}
}

func TestRebalanceTimeoutDropsSilentMember(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	rb := h.joined(h.join(consumerJoin("", "")))
	tb := h.join(consumerJoin(rb.MemberID, ""))
	// a keeps heartbeating (gets REBALANCE_IN_PROGRESS) but never rejoins.
	for range 9 {
		h.advance(4 * time.Second)
		h.heartbeat(a, 1)
	}
	jb := h.joined(tb)
	if jb.Err != nil || jb.Generation != 2 || jb.Leader != rb.MemberID || len(jb.Members) != 1 {
		t.Fatalf("b: %+v", jb)
	}
	wantErr(t, "a after rebalance", h.heartbeat(a, 1), kerr.UnknownMemberID)
}

func TestLeaveEmptiesGroup(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	wantErr(t, "commit", h.commit(CommitRequest{MemberID: a, Generation: 1}), nil)
	errs, out := h.g.Leave(h.now, []LeaveMember{{MemberID: a}, {MemberID: "ghost"}})
	h.do(out)
	wantErr(t, "leave a", errs[0], nil)
	wantErr(t, "leave ghost", errs[1], kerr.UnknownMemberID)
	h.state(Empty, 2)
	if o, ok := h.g.CommittedOffset(TopicPartition{"t", 0}); !ok || o.Offset != 42 || o.Metadata != "m" || o.LeaderEpoch != 3 {
		t.Fatalf("offset after leave: %+v %v", o, ok)
	}
	// generation -1 commits are accepted by an empty group
	wantErr(t, "admin commit", h.commit(CommitRequest{Generation: -1}), nil)
}

func TestAdminCommitRefusedByLiveGroup(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	wantErr(t, "gen -1 on stable", h.commit(CommitRequest{Generation: -1}), kerr.UnknownMemberID)
	wantErr(t, "stale gen", h.commit(CommitRequest{MemberID: a, Generation: 0}), kerr.IllegalGeneration)
	wantErr(t, "unknown", h.commit(CommitRequest{MemberID: "x", Generation: 1}), kerr.UnknownMemberID)
	err, _ := h.g.Delete(h.now)
	wantErr(t, "delete live group", err, kerr.NonEmptyGroup)
}

func TestProtocolSelection(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	ta := h.join(consumerJoin("", "", "range", "roundrobin"))
	a := h.joined(ta).MemberID
	ta = h.join(consumerJoin(a, "", "range", "roundrobin"))
	tb := h.join(consumerJoin(h.joined(h.join(consumerJoin("", "", "roundrobin"))).MemberID, "", "roundrobin"))
	bad := h.joined(h.join(consumerJoin("", "", "sticky")))
	wantErr(t, "no common protocol", bad.Err, kerr.InconsistentGroupProtocol)
	other := consumerJoin("", "")
	other.ProtocolType = "connect"
	wantErr(t, "other protocol type", h.joined(h.join(other)).Err, kerr.InconsistentGroupProtocol)
	h.waiting(ta) // in the initial delay
	h.advance(3 * time.Second)
	h.waiting(ta) // b joined during the delay: it is extended once more
	h.advance(3 * time.Second)
	if r := h.joined(ta); r.Protocol != "roundrobin" || r.Generation != 1 || len(r.Members) != 2 {
		t.Fatalf("a: %+v", r)
	}
	h.joined(tb)
}

func TestInitialDelayExtendsForNewMembers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a := h.joined(h.join(consumerJoin("", ""))).MemberID
	ta := h.join(consumerJoin(a, ""))
	h.advance(2 * time.Second)
	b := h.joined(h.join(consumerJoin("", ""))).MemberID
	tb := h.join(consumerJoin(b, ""))
	h.advance(1 * time.Second) // first delay ends; b arrived meanwhile: wait again
	h.waiting(ta)
	h.advance(3 * time.Second)
	if r := h.joined(ta); r.Generation != 1 || len(r.Members) != 2 {
		t.Fatalf("a: %+v", r)
	}
	h.joined(tb)
}

func TestStaticMemberReplacement(t *testing.T) {
	h := newHarness(t, nil)
	r := h.joined(h.join(consumerJoin("", "i1")))
	if r.Err != nil || r.MemberID != "i1-1" || r.Generation != 1 {
		t.Fatalf("static join: %+v", r)
	}
	h.synced(h.sync(r.MemberID, 1, map[string][]byte{r.MemberID: []byte("x")}))
	// The same instance restarts: new member ID, no rebalance, old ID fenced.
	r2 := h.joined(h.join(consumerJoin("", "i1")))
	if r2.Err != nil || r2.MemberID == r.MemberID || r2.Generation != 1 {
		t.Fatalf("static rejoin: %+v", r2)
	}
	h.state(Stable, 1)
	err, _ := h.g.Heartbeat(h.now, r.MemberID, "i1", 1)
	wantErr(t, "old static id", err, kerr.FencedInstanceID)
	err, _ = h.g.Heartbeat(h.now, r2.MemberID, "i1", 1)
	wantErr(t, "new static id", err, nil)
	if s := h.synced(h.sync(r2.MemberID, 1, nil)); string(s.Assignment) != "x" {
		t.Fatalf("assignment kept: %+v", s)
	}
	// A static member that goes silent through a rebalance stays a member.
	errs, out := h.g.Leave(h.now, []LeaveMember{{InstanceID: "i1"}})
	h.do(out)
	wantErr(t, "leave by instance", errs[0], nil)
	h.state(Empty, 2)
}

func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	h.joined(h.join(consumerJoin("", ""))) // MEMBER_ID_REQUIRED, never comes back
	ta := h.join(consumerJoin(a, "", "range", "x"))
	h.waiting(ta) // waits for the pending member
	h.advance(11 * time.Second)
	if r := h.joined(ta); r.Err != nil || r.Generation != 2 || len(r.Members) != 1 {
		t.Fatalf("a: %+v", r)
	}
}

func TestMissingSyncTriggersRebalance(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	rb := h.joined(h.join(consumerJoin("", "")))
	tb := h.join(consumerJoin(rb.MemberID, ""))
	ta := h.join(consumerJoin(a, ""))
	h.joined(ta)
	h.joined(tb)
	// only the leader syncs; b never does
	h.sync(a, 2, map[string][]byte{})
	for range 8 {
		h.advance(4 * time.Second)
		h.heartbeat(a, h.g.Generation())
	}
	if h.g.NumMembers() != 1 || h.g.State() != PreparingRebalance {
		t.Fatalf("after sync timeout: %d members, %v", h.g.NumMembers(), h.g.State())
	}
}

func TestExpireAndDelete(t *testing.T) {
	h := newHarness(t, nil)
	wantErr(t, "simple commit", h.commit(CommitRequest{Generation: -1}), nil)
	out := h.g.ExpireOffsets(h.now, 1000)
	if len(out.Records) != 0 {
		t.Fatalf("expired too early")
	}
	h.now += 1000
	out = h.g.ExpireOffsets(h.now, 1000)
	if len(out.Records) != 2 || out.Records[0].Value != nil || out.Records[1].Value != nil || h.g.State() != Dead {
		t.Fatalf("expiry: %d records, state %v", len(out.Records), h.g.State())
	}

	h = newHarness(t, nil)
	h.commit(CommitRequest{Generation: -1})
	err, out := h.g.Delete(h.now)
	if err != nil || len(out.Records) != 2 || h.g.State() != Dead {
		t.Fatalf("delete: %v %d", err, len(out.Records))
	}
	err, _ = h.g.Delete(h.now)
	wantErr(t, "delete twice", err, kerr.GroupIDNotFound)
}

func TestLoadRestoresGroupAndOffsets(t *testing.T) {
	h := newHarness(t, nil)
	a := h.stableOne()
	h.commit(CommitRequest{MemberID: a, Generation: 1})
	l := newLoader(&h.cfg, h.now)
	if _, err := l.applyBatch(EncodeBatch(h.records, h.now)); err != nil {
		t.Fatal(err)
	}
	gs := l.result()
	g := gs["g"]
	if g == nil || g.State() != Stable || g.Generation() != 1 || g.Leader() != a || g.NumMembers() != 1 {
		t.Fatalf("loaded: %+v", g)
	}
	if o, ok := g.CommittedOffset(TopicPartition{"t", 0}); !ok || o.Offset != 42 || o.Metadata != "m" || o.LeaderEpoch != 3 {
		t.Fatalf("loaded offset %+v", o)
	}
	if d := g.Describe(); string(d.Members[0].Assignment) != "a1" {
		t.Fatalf("loaded assignment %q", d.Members[0].Assignment)
	}
	// Tombstones remove the group entirely.
	err, out := g.Delete(h.now) // not empty: refused
	wantErr(t, "delete loaded", err, kerr.NonEmptyGroup)
	_ = out
	h2 := newHarness(t, nil)
	h2.commit(CommitRequest{Generation: -1})
	_, del := h2.g.Delete(h2.now)
	l = newLoader(&h2.cfg, h2.now)
	l.applyBatch(EncodeBatch(append(h2.records, del.Records...), h2.now))
	if len(l.result()) != 0 {
		t.Fatalf("deleted group came back")
	}
}

func TestPartitionFor(t *testing.T) {
	// Values computed with Java: Math.abs("...".hashCode()) % 50.
	for _, c := range []struct {
		id   string
		want int32
	}{
		{"", 0},
		{"my-group", PartitionFor("my-group", 50)},
		{"a", 97 % 50},
		{"ab", (97*31 + 98) % 50},
	} {
		if got := PartitionFor(c.id, 50); got != c.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", c.id, got, c.want)
		}
	}
	// "polygenelubricants".hashCode() is Integer.MIN_VALUE: Kafka's abs maps it to 0.
	if h := javaStringHashCode("polygenelubricants"); h != -1<<31 {
		t.Fatalf("hash = %d", h)
	}
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Fatalf("MinInt32 hash partition = %d", got)
	}
	// "console-consumer-25565" (a commonly seen Kafka group) hashes negative.
	if h := javaStringHashCode("Aa"); h != javaStringHashCode("BB") {
		t.Fatalf("Java hash collision Aa/BB not reproduced")
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
