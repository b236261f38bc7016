package group

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTranscripts drives a Group through the scenarios in testdata/*.txt
// and compares what it decided with the transcript: the replies, records,
// timers and the group's state after every input. Regenerate the expected
// output after a deliberate change with
//
//	go test ./broker/group -run TestTranscripts -rewrite
//
// and read the diff: it is the change in protocol behaviour.
//
// Commands (times are relative to the start of the transcript, "@1.5s"):
//
//	new-group [initial-delay=3s] [max-size=N] [min-session=6s] [max-session=30m]
//	join req=N [member=ID] [instance=ID] [client=c1] [type=consumer]
//	     [protocols=(range,...)] [topics=(t,...)] [session=10000] [rebalance=30000]
//	     [require-known] [skip-assignment-ok]
//	sync req=N member=ID gen=N [instance=ID] [assign=(ID:bytes,...)]
//	stored [err=KAFKA_ERROR_NAME]            outcome of the last StoreAck
//	heartbeat member=ID gen=N [instance=ID]
//	leave member=(ID,...) | instance=(ID,...)
//	commit [member=ID] [instance=ID] gen=N offsets=(topic-p=offset,...)
//	expire-offsets retention=1h
//	advance 10s                               fire the timers due, in order
//	offsets | describe | timers
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		tr := &transcript{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return tr.run(t, d)
		})
	})
}

// transcriptStart is the clock at the start of every transcript (ms).
const transcriptStart = 1_000_000

// transcript plays the Coordinator's part for one Group: it keeps the
// armed timers and prints every Output.
type transcript struct {
	cfg    Config
	g      *Group
	now    int64
	timers map[TimerKey]int64
	out    strings.Builder
}

func (tr *transcript) run(t *testing.T, d *datadriven.TestData) string {
	tr.out.Reset()
	if d.Cmd != "new-group" && tr.g == nil {
		d.Fatalf(t, "a transcript starts with new-group")
	}
	switch d.Cmd {
	case "new-group":
		tr.newGroup(t, d)
	case "join":
		req := JoinRequest{ClientID: "c1", ProtocolType: "consumer", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000}
		var tok uint64
		d.ScanArgs(t, "req", &tok)
		scanOpt(t, d, "member", &req.MemberID)
		scanOpt(t, d, "instance", &req.InstanceID)
		scanOpt(t, d, "client", &req.ClientID)
		scanOpt(t, d, "type", &req.ProtocolType)
		scanOpt(t, d, "session", &req.SessionTimeoutMs)
		scanOpt(t, d, "rebalance", &req.RebalanceTimeoutMs)
		req.RequireKnownMemberID = d.HasArg("require-known")
		req.SkipAssignmentOK = d.HasArg("skip-assignment-ok")
		protocols, topics := []string{"range"}, []string{"t"}
		if d.HasArg("protocols") {
			protocols = argVals(d, "protocols")
		}
		if d.HasArg("topics") {
			topics = argVals(d, "topics")
		}
		meta := (&kmsg.ConsumerMemberMetadata{Topics: topics}).AppendTo(nil)
		for _, p := range protocols {
			req.Protocols = append(req.Protocols, Protocol{Name: p, Metadata: meta})
		}
		tr.print(tr.g.Join(tr.now, req, Token(tok)))
	case "sync":
		var tok uint64
		req := SyncRequest{Assignments: map[string][]byte{}}
		d.ScanArgs(t, "req", &tok)
		d.ScanArgs(t, "member", &req.MemberID)
		req.Generation = int32Arg(t, d, "gen")
		scanOpt(t, d, "instance", &req.InstanceID)
		if d.HasArg("assign") {
			for _, a := range argVals(d, "assign") {
				id, b, ok := strings.Cut(a, ":")
				if !ok {
					d.Fatalf(t, "assign wants member:bytes, got %q", a)
				}
				req.Assignments[id] = []byte(b)
			}
		}
		tr.print(tr.g.Sync(tr.now, req, Token(tok)))
	case "stored":
		var err *kerr.Error
		if d.HasArg("err") {
			var name string
			d.ScanArgs(t, "err", &name)
			err = errorNamed(t, d, name)
		}
		tr.print(tr.g.Stored(tr.now, err))
	case "heartbeat":
		var member, instance string
		d.ScanArgs(t, "member", &member)
		gen := int32Arg(t, d, "gen")
		scanOpt(t, d, "instance", &instance)
		err, out := tr.g.Heartbeat(tr.now, member, instance, gen)
		fmt.Fprintf(&tr.out, "heartbeat: %s\n", errName(err))
		tr.print(out)
	case "leave":
		var leaving []LeaveMember
		if d.HasArg("member") {
			for _, id := range argVals(d, "member") {
				leaving = append(leaving, LeaveMember{MemberID: id})
			}
		}
		if d.HasArg("instance") {
			for _, id := range argVals(d, "instance") {
				leaving = append(leaving, LeaveMember{InstanceID: id})
			}
		}
		errs, out := tr.g.Leave(tr.now, leaving)
		for i, err := range errs {
			who := leaving[i].MemberID
			if who == "" {
				who = "instance " + leaving[i].InstanceID
			}
			fmt.Fprintf(&tr.out, "leave %s: %s\n", who, errName(err))
		}
		tr.print(out)
	case "commit":
		tr.commit(t, d)
	case "expire-offsets":
		var s string
		d.ScanArgs(t, "retention", &s)
		tr.print(tr.g.ExpireOffsets(tr.now, parseDuration(t, d, s).Milliseconds()))
	case "advance":
		if len(d.CmdArgs) != 1 {
			d.Fatalf(t, "advance wants one duration")
		}
		tr.advance(parseDuration(t, d, d.CmdArgs[0].Key).Milliseconds())
	case "offsets":
		tps, os := tr.g.CommittedOffsets()
		for i, tp := range tps {
			fmt.Fprintf(&tr.out, "%s-%d: %s\n", tp.Topic, tp.Partition, offsetString(os[i]))
		}
		if len(tps) == 0 {
			tr.out.WriteString("no offsets\n")
		}
	case "describe":
		desc := tr.g.Describe()
		fmt.Fprintf(&tr.out, "%s %s type=%q protocol=%q\n", desc.Group, desc.State, desc.ProtocolType, desc.Protocol)
		for _, m := range desc.Members {
			fmt.Fprintf(&tr.out, "  %s instance=%q client=%s subscription=%s assignment=%q\n",
				m.MemberID, m.InstanceID, m.ClientID, subscription(m.Metadata), m.Assignment)
		}
	case "timers":
		keys := tr.dueOrder(1 << 62)
		for _, k := range keys {
			fmt.Fprintf(&tr.out, "%s %s\n", timerString(k), tr.at(tr.timers[k]))
		}
		if len(keys) == 0 {
			tr.out.WriteString("no timers\n")
		}
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	fmt.Fprintf(&tr.out, "state: %s\n", tr.state())
	return tr.out.String()
}

func (tr *transcript) newGroup(t *testing.T, d *datadriven.TestData) {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n := 0
	cfg.NewMemberID = func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	for _, arg := range d.CmdArgs {
		var v string
		arg.Scan(t, 0, &v)
		switch arg.Key {
		case "initial-delay":
			cfg.InitialRebalanceDelay = parseDuration(t, d, v)
		case "min-session":
			cfg.MinSessionTimeout = parseDuration(t, d, v)
		case "max-session":
			cfg.MaxSessionTimeout = parseDuration(t, d, v)
		case "max-size":
			arg.Scan(t, 0, &cfg.MaxSize)
		default:
			d.Fatalf(t, "unknown new-group argument %q", arg.Key)
		}
	}
	if err := cfg.Validate(); err != nil {
		d.Fatalf(t, "%v", err)
	}
	tr.cfg = cfg
	tr.now = transcriptStart
	tr.timers = map[TimerKey]int64{}
	tr.g = NewGroup(&tr.cfg, "g", tr.now)
}

func (tr *transcript) commit(t *testing.T, d *datadriven.TestData) {
	req := CommitRequest{}
	scanOpt(t, d, "member", &req.MemberID)
	scanOpt(t, d, "instance", &req.InstanceID)
	req.Generation = int32Arg(t, d, "gen")
	var offsets []CommitOffset
	for _, o := range argVals(d, "offsets") {
		var c CommitOffset
		tp, off, ok := strings.Cut(o, "=")
		i := strings.LastIndex(tp, "-")
		if !ok || i < 0 {
			d.Fatalf(t, "offsets wants topic-partition=offset, got %q", o)
		}
		c.Topic = tp[:i]
		if _, err := fmt.Sscan(tp[i+1:], &c.Partition); err != nil {
			d.Fatalf(t, "bad partition in %q", o)
		}
		if _, err := fmt.Sscan(off, &c.Offset); err != nil {
			d.Fatalf(t, "bad offset in %q", o)
		}
		c.LeaderEpoch, c.ExpireTimestamp = -1, -1
		offsets = append(offsets, c)
	}
	if err := tr.g.ValidateCommit(req); err != nil {
		fmt.Fprintf(&tr.out, "commit: %s\n", errName(err))
		return
	}
	recs, vals, out := tr.g.CommitRecords(tr.now, req, offsets)
	out.Records = append(recs, out.Records...)
	tr.print(out)
	tr.g.ApplyCommit(offsets, vals) // as once the records are persisted
	tr.out.WriteString("commit: applied\n")
}

// advance moves the clock by ms, firing every timer that falls due, in
// deadline order, at its deadline.
func (tr *transcript) advance(ms int64) {
	target := tr.now + ms
	for {
		due := tr.dueOrder(target)
		if len(due) == 0 {
			break
		}
		k := due[0]
		tr.now = max(tr.now, tr.timers[k])
		delete(tr.timers, k)
		fmt.Fprintf(&tr.out, "%s fires %s\n", tr.at(tr.now), timerString(k))
		tr.print(tr.g.OnTimer(tr.now, k))
	}
	tr.now = target
	fmt.Fprintf(&tr.out, "now %s\n", tr.at(tr.now))
}

// dueOrder lists the armed timers due at or before at, earliest first
// (ties by kind and member).
func (tr *transcript) dueOrder(at int64) []TimerKey {
	var due []TimerKey
	for k, when := range tr.timers {
		if when <= at {
			due = append(due, k)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i], due[j]
		if tr.timers[a] != tr.timers[b] {
			return tr.timers[a] < tr.timers[b]
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Member < b.Member
	})
	return due
}

// print writes an Output: records, replies, timers (which it arms).
func (tr *transcript) print(out Output) {
	for _, r := range out.Records {
		fmt.Fprintf(&tr.out, "record %s\n", tr.recordString(r))
	}
	if out.StoreAck {
		tr.out.WriteString("store-ack: persist the records, then call stored\n")
	}
	for _, r := range out.Replies {
		switch {
		case r.Join != nil:
			fmt.Fprintf(&tr.out, "reply req=%d: %s\n", r.To, joinString(r.Join))
		case r.Sync != nil:
			fmt.Fprintf(&tr.out, "reply req=%d: %s\n", r.To, syncString(r.Sync))
		}
	}
	for _, tm := range out.Timers {
		tr.timers[tm.Key] = tm.At
		fmt.Fprintf(&tr.out, "timer %s %s\n", timerString(tm.Key), tr.at(tm.At))
	}
}

// at renders a time relative to the transcript's start.
func (tr *transcript) at(ms int64) string {
	return "@" + (time.Duration(ms-transcriptStart) * time.Millisecond).String()
}

func (tr *transcript) state() string {
	g := tr.g
	s := fmt.Sprintf("%s gen=%d", g.State(), g.Generation())
	if g.protocol != "" {
		s += " protocol=" + g.protocol
	}
	if g.Leader() != "" {
		s += " leader=" + g.Leader()
	}
	s += " members=[" + strings.Join(g.order, " ") + "]"
	if len(g.pending) > 0 {
		var p []string
		for id := range g.pending {
			p = append(p, id)
		}
		sort.Strings(p)
		s += " pending=[" + strings.Join(p, " ") + "]"
	}
	return s
}

func (tr *transcript) recordString(r Record) string {
	key, keep, err := decodeKey(r.Key)
	switch {
	case err != nil:
		return fmt.Sprintf("undecodable key %x: %v", r.Key, err)
	case !keep:
		return fmt.Sprintf("unknown key %x", r.Key)
	case key.offset != nil:
		s := fmt.Sprintf("offset %s %s-%d: ", key.group, key.offset.Topic, key.offset.Partition)
		if r.Value == nil {
			return s + "tombstone"
		}
		o, err := decodeOffset(r.Value)
		if err != nil {
			return s + err.Error()
		}
		return s + offsetString(o)
	}
	s := "group " + key.group + ": "
	if r.Value == nil {
		return s + "tombstone"
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		return s + err.Error()
	}
	s += fmt.Sprintf("type=%q gen=%d", v.ProtocolType, v.Generation)
	if v.Protocol != nil {
		s += " protocol=" + *v.Protocol
	}
	if v.Leader != nil {
		s += " leader=" + *v.Leader
	}
	s += " since=" + tr.at(v.CurrentStateTimestamp)
	for _, m := range v.Members {
		s += fmt.Sprintf("\n  member %s", m.MemberID)
		if m.InstanceID != nil {
			s += " instance=" + *m.InstanceID
		}
		s += fmt.Sprintf(" session=%d rebalance=%d subscription=%s assignment=%q",
			m.SessionTimeoutMillis, m.RebalanceTimeoutMillis, subscription(m.Subscription), m.Assignment)
	}
	return s
}

func joinString(r *JoinResult) string {
	if r.Err != nil {
		return fmt.Sprintf("join %s member=%s", r.Err.Message, r.MemberID)
	}
	s := fmt.Sprintf("join member=%s gen=%d protocol=%s leader=%s", r.MemberID, r.Generation, r.Protocol, r.Leader)
	if r.SkipAssignment {
		s += " skip-assignment"
	}
	if r.Members != nil {
		var ids []string
		for _, m := range r.Members {
			ids = append(ids, m.MemberID)
		}
		s += " members=[" + strings.Join(ids, " ") + "]"
	}
	return s
}

func syncString(r *SyncResult) string {
	if r.Err != nil {
		return "sync " + r.Err.Message
	}
	return fmt.Sprintf("sync protocol=%s assignment=%q", r.Protocol, r.Assignment)
}

func timerString(k TimerKey) string {
	name := map[TimerKind]string{TimerJoin: "join", TimerSession: "session", TimerPending: "pending", TimerSync: "sync"}[k.Kind]
	if k.Member != "" {
		name += " " + k.Member
	}
	return name
}

func offsetString(o Offset) string {
	s := fmt.Sprintf("offset=%d", o.Offset)
	if o.Metadata != "" {
		s += fmt.Sprintf(" metadata=%q", o.Metadata)
	}
	if o.ExpireTimestamp >= 0 {
		s += fmt.Sprintf(" expire=%d", o.ExpireTimestamp)
	}
	return s + fmt.Sprintf(" committed=@%s", time.Duration(o.CommitTimestamp-transcriptStart)*time.Millisecond)
}

// subscription renders consumer protocol metadata as its topics.
func subscription(b []byte) string {
	var md kmsg.ConsumerMemberMetadata
	if err := md.ReadFrom(b); err != nil {
		return fmt.Sprintf("%q", b)
	}
	return "[" + strings.Join(md.Topics, " ") + "]"
}

func errName(err *kerr.Error) string {
	if err == nil {
		return "ok"
	}
	return err.Message
}

// errorNamed finds a Kafka error by its name (NOT_COORDINATOR).
func errorNamed(t *testing.T, d *datadriven.TestData, name string) *kerr.Error {
	for code := int16(-1); code < 200; code++ {
		if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok && e.Message == name {
			return e
		}
	}
	d.Fatalf(t, "unknown Kafka error %q", name)
	return nil
}

// argVals returns the values of a list argument; key=() is an empty list.
func argVals(d *datadriven.TestData, key string) []string {
	out := []string{}
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range a.Vals {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// int32Arg returns a required integer argument.
func int32Arg(t *testing.T, d *datadriven.TestData, key string) int32 {
	var n int
	d.ScanArgs(t, key, &n)
	return int32(n)
}

// scanOpt scans an optional argument into dest (a *string, *int32).
func scanOpt(t *testing.T, d *datadriven.TestData, key string, dest any) {
	if !d.HasArg(key) {
		return
	}
	switch dest := dest.(type) {
	case *int32:
		var n int
		d.ScanArgs(t, key, &n)
		*dest = int32(n)
	default:
		d.ScanArgs(t, key, dest)
	}
}

func parseDuration(t *testing.T, d *datadriven.TestData, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return v
}
