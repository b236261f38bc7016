package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestACLCluster runs three nodes with the authorizer on and SASL PLAIN
// between brokers, the brokers' principal User:broker being a super user:
// ACLs created through one node apply on every node, followers replicate
// (their fetches need CLUSTER_ACTION), and a principal with the right ACLs
// produces acks=all and in transactions (markers and verification go
// between brokers).
func TestACLCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3,
		brokertest.WithProperty("listener.security.protocol.map", "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"),
		brokertest.WithProperty("sasl.enabled.mechanisms", "PLAIN"),
		brokertest.WithProperty("sasl.mechanism.inter.broker.protocol", "PLAIN"),
		brokertest.WithProperty("listener.name.plaintext.plain.sasl.jaas.config",
			`org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" `+
				`user_broker="broker-secret" user_admin="admin-secret" user_alice="alice-secret";`),
		brokertest.WithProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
		brokertest.WithProperty("super.users", "User:broker;User:admin"),
		brokertest.WithProperty("min.insync.replicas", "2"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	as := func(user string, node int, opts ...kgo.Opt) *kgo.Client {
		seeds := c.Seeds()
		if node > 0 {
			seeds = []string{c.Node(node).Addr()}
		}
		base := []kgo.Opt{kgo.SeedBrokers(seeds...), freshMetadata(), kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}
		cl, err := kgo.NewClient(append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	admin := as("admin", 1)
	adm := kadm.NewClient(admin)
	if res, err := adm.CreateTopic(ctx, 1, 3, nil, "replicated"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	createACLs(t, admin,
		allowTo("User:alice", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, "replicated"),
		allowTo("User:alice", kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, "alice-tx"))
	for node := 2; node <= 3; node++ {
		waitFor(t, fmt.Sprintf("the ACLs on node %d", node), func() error {
			if n := countACLs(t, as("admin", node), anyFilter()); n != 2 {
				return fmt.Errorf("%d ACLs", n)
			}
			return nil
		})
	}
	waitFor(t, "full ISR", func() error {
		md, err := adm.Metadata(ctx, "replicated")
		if err != nil {
			return err
		}
		if isr := md.Topics["replicated"].Partitions[0].ISR; len(isr) != 3 {
			return fmt.Errorf("isr %v", isr)
		}
		return nil
	})
	alice := as("alice", 0, kgo.DefaultProduceTopic("replicated"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 20 {
		if err := alice.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	tx := as("alice", 0, kgo.DefaultProduceTopic("replicated"), kgo.TransactionalID("alice-tx"))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, kgo.StringRecord("in a transaction")).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	md, err := adm.Metadata(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	if isr := md.Topics["replicated"].Partitions[0].ISR; len(isr) != 3 {
		t.Fatalf("the ISR shrank to %v: followers could not fetch", isr)
	}
	// 20 records, one in a transaction and its marker (written after the
	// commit returns).
	waitFor(t, "the commit marker", func() error {
		end, err := adm.ListEndOffsets(ctx, "replicated")
		if err != nil {
			return err
		}
		if o, _ := end.Lookup("replicated", 0); o.Offset != 22 {
			return fmt.Errorf("end offset %d, want 22", o.Offset)
		}
		return nil
	})
}
