package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endOffset is the high watermark of partition 0 of topic, as the super
// user sees it.
func endOffset(t *testing.T, admin *kgo.Client, topic string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(admin).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// metadataTopics returns what a Metadata request for all topics lists.
func metadataTopics(t *testing.T, cl *kgo.Client) map[string]bool {
	t.Helper()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mt := range resp.Topics {
		out[*mt.Topic] = true
	}
	return out
}

// TestACLDenials runs real clients whose principals lack an ACL and checks
// each is refused with Kafka's code and changes nothing.
func TestACLDenials(t *testing.T) {
	b := aclBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := userClient(t, b.Addr(), "admin")
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secret"); err != nil {
		t.Fatal(err)
	}
	// alice may write and read orders (and so describe it), and use the
	// consumer group readers; nothing else.
	createACLs(t, admin,
		allowTo("User:alice", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, "orders"),
		allowTo("User:alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "orders"),
		allowTo("User:alice", kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, "readers"),
	)

	t.Run("produce", func(t *testing.T) {
		bob := userClient(t, b.Addr(), "bob", kgo.DisableIdempotentWrite())
		err := bob.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("forged")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob produces: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if n := endOffset(t, admin, "orders"); n != 0 {
			t.Fatalf("a denied produce appended: end offset %d", n)
		}
		alice := userClient(t, b.Addr(), "alice", kgo.DisableIdempotentWrite())
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("order 1")}).FirstErr(); err != nil {
			t.Fatalf("alice produces: %v", err)
		}
		if n := endOffset(t, admin, "orders"); n != 1 {
			t.Fatalf("end offset %d after alice's record, want 1", n)
		}
		// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or
		// WRITE on some topic: alice has the latter, bob neither.
		if err := userClient(t, b.Addr(), "alice").ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("order 2")}).FirstErr(); err != nil {
			t.Fatalf("alice produces idempotently: %v", err)
		}
		err = userClient(t, b.Addr(), "bob").ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("forged")}).FirstErr()
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob produces idempotently: %v", err)
		}
		if n := endOffset(t, admin, "orders"); n != 2 {
			t.Fatalf("end offset %d, want 2", n)
		}
	})

	t.Run("metadata hides topics", func(t *testing.T) {
		alice := userClient(t, b.Addr(), "alice")
		if got := metadataTopics(t, alice); !got["orders"] || got["secret"] {
			t.Fatalf("alice sees %v, want orders and not secret", got)
		}
		if got := metadataTopics(t, userClient(t, b.Addr(), "bob")); len(got) != 0 {
			t.Fatalf("bob sees %v, want nothing", got)
		}
		// A topic named explicitly: TOPIC_AUTHORIZATION_FAILED whether it
		// exists or not, so bob cannot tell.
		for _, name := range []string{"secret", "no-such-topic"} {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			if mt := resp.Topics[0]; mt.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(mt.Partitions) != 0 {
				t.Fatalf("%s: %+v", name, mt)
			}
		}
		if got := metadataTopics(t, admin); got["no-such-topic"] {
			t.Fatal("a denied metadata request created the topic")
		}
	})

	t.Run("auto-creation needs CREATE", func(t *testing.T) {
		createACLs(t, admin, allowTo("User:alice", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, "fresh"))
		alice := userClient(t, b.Addr(), "alice", kgo.DisableIdempotentWrite(), kgo.AllowAutoTopicCreation(), kgo.RecordRetries(2))
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "fresh", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce to a topic alice may not create: %v", err)
		}
		if metadataTopics(t, admin)["fresh"] {
			t.Fatal("the topic was created without CREATE")
		}
		createACLs(t, admin, allowTo("User:alice", kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, "fresh"))
		alice = userClient(t, b.Addr(), "alice", kgo.DisableIdempotentWrite(), kgo.AllowAutoTopicCreation())
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "fresh", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce with CREATE: %v", err)
		}
	})

	t.Run("consume", func(t *testing.T) {
		bob := userClient(t, b.Addr(), "bob", kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart()}}))
		fs := bob.PollFetches(ctx)
		var got error
		fs.EachError(func(_ string, _ int32, err error) { got = err })
		if !errors.Is(got, kerr.TopicAuthorizationFailed) || fs.NumRecords() != 0 {
			t.Fatalf("bob consumes: %v and %d records, want TOPIC_AUTHORIZATION_FAILED", got, fs.NumRecords())
		}
		alice := userClient(t, b.Addr(), "alice", kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart()}}))
		if fs := alice.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() == 0 {
			t.Fatalf("alice consumes: %v, %d records", fs.Err0(), fs.NumRecords())
		}
	})

	t.Run("group", func(t *testing.T) {
		alice := userClient(t, b.Addr(), "alice", kgo.ConsumerGroup("others"), kgo.ConsumeTopics("orders"))
		fs := alice.PollFetches(ctx)
		var got error
		fs.EachError(func(_ string, _ int32, err error) { got = err })
		if !errors.Is(got, kerr.GroupAuthorizationFailed) {
			t.Fatalf("alice joins a group she may not read: %v", got)
		}
		alice = userClient(t, b.Addr(), "alice", kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("orders"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if fs := alice.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() == 0 {
			t.Fatalf("alice in readers: %v, %d records", fs.Err0(), fs.NumRecords())
		}
		if err := alice.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("alice commits: %v", err)
		}
		// bob may not read the group's offsets; alice may.
		if _, err := kadm.NewClient(userClient(t, b.Addr(), "bob")).FetchOffsets(ctx, "readers"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("bob fetches offsets: %v", err)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		// franz-go asks for the producer ID (InitProducerId) when the
		// transaction begins, or at the first record.
		alice := userClient(t, b.Addr(), "alice", kgo.TransactionalID("orders-tx"))
		before := endOffset(t, admin, "orders")
		err := alice.BeginTransaction()
		if err == nil {
			err = alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("in a transaction")}).FirstErr()
		}
		if err == nil || !strings.Contains(err.Error(), kerr.TransactionalIDAuthorizationFailed.Message) {
			t.Fatalf("transactional producer without WRITE on the ID: %v", err)
		}
		if n := endOffset(t, admin, "orders"); n != before {
			t.Fatalf("a denied transaction appended: %d -> %d", before, n)
		}
		createACLs(t, admin, allowTo("User:alice", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, "orders-tx"))
		alice = userClient(t, b.Addr(), "alice", kgo.TransactionalID("orders-tx"))
		if err := alice.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("in a transaction")}).FirstErr(); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
		if err := alice.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit: %v", err)
		}
	})

	t.Run("existence is not leaked", func(t *testing.T) {
		// Deleting or growing a topic the principal may not: a missing
		// topic is reported as missing only to a principal that may
		// describe it.
		createACLs(t, admin, allowTo("User:alice", kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, "ghost"))
		for _, c := range []struct {
			user, topic string
			want        *kerr.Error
		}{
			{"alice", "ghost", kerr.UnknownTopicOrPartition},
			{"bob", "ghost", kerr.TopicAuthorizationFailed},
			{"bob", "secret", kerr.TopicAuthorizationFailed},
		} {
			cl := userClient(t, b.Addr(), c.user)
			del := kmsg.NewPtrDeleteTopicsRequest()
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.Topic = kmsg.StringPtr(c.topic)
			del.Topics, del.TopicNames = []kmsg.DeleteTopicsRequestTopic{dt}, []string{c.topic}
			dresp, err := del.RequestWith(ctx, cl)
			if err != nil || dresp.Topics[0].ErrorCode != c.want.Code {
				t.Errorf("%s deletes %s: %+v %v, want %s", c.user, c.topic, dresp, err, c.want.Message)
			}
			cp := kmsg.NewPtrCreatePartitionsRequest()
			ct := kmsg.NewCreatePartitionsRequestTopic()
			ct.Topic, ct.Count = c.topic, 3
			cp.Topics = append(cp.Topics, ct)
			cresp, err := cp.RequestWith(ctx, cl)
			if err != nil || cresp.Topics[0].ErrorCode != c.want.Code {
				t.Errorf("%s grows %s: %+v %v, want %s", c.user, c.topic, cresp, err, c.want.Message)
			}
		}
		if !metadataTopics(t, admin)["secret"] {
			t.Fatal("a denied delete removed the topic")
		}
	})

	t.Run("authorized operations", func(t *testing.T) {
		req := kmsg.NewPtrMetadataRequest()
		req.IncludeTopicAuthorizedOperations = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("orders")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, userClient(t, b.Addr(), "alice"))
		if err != nil {
			t.Fatal(err)
		}
		// READ, WRITE and (implied) DESCRIBE.
		if got, want := resp.Topics[0].AuthorizedOperations, int32(1<<3|1<<4|1<<8); got != want {
			t.Fatalf("alice's operations on orders: %b, want %b", got, want)
		}
	})

	t.Run("deny wins", func(t *testing.T) {
		createACLs(t, admin, binding(kmsg.ACLResourceTypeTopic, "ord", kmsg.ACLResourcePatternTypePrefixed, "User:alice",
			kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny))
		before := endOffset(t, admin, "orders")
		alice := userClient(t, b.Addr(), "alice", kgo.DisableIdempotentWrite())
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("denied")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce under a DENY: %v", err)
		}
		if n := endOffset(t, admin, "orders"); n != before {
			t.Fatalf("a denied produce appended: %d -> %d", before, n)
		}
		// The DENY is on WRITE: alice still reads (and so sees) orders.
		if !metadataTopics(t, alice)["orders"] {
			t.Fatal("alice no longer sees orders")
		}
	})
}
