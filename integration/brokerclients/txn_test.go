package brokerclients

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// TestTransactionVisibilityOtherClients checks read_committed and
// read_uncommitted with sarama and kcat (librdkafka) after a committed and
// an aborted transaction.
func TestTransactionVisibilityOtherClients(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testCtx(t)
	_, adm := newAdmin(t, b.Addr())
	mustCreate(t, ctx, adm, "tx", 1, nil)
	cl := txnProducer(t, b.Addr(), "others")
	produceTxn(t, ctx, cl, "yes", 3, kgo.TryCommit)
	produceTxn(t, ctx, cl, "no", 4, kgo.TryAbort)
	produceTxn(t, ctx, cl, "yes2", 1, kgo.TryCommit)

	for _, tc := range []struct {
		iso  sarama.IsolationLevel
		want int
	}{{sarama.ReadCommitted, 4}, {sarama.ReadUncommitted, 8}} {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Consumer.IsolationLevel = tc.iso
		c, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := c.ConsumePartition("tx", 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		deadline := time.After(10 * time.Second)
	read:
		for {
			wait := deadline
			if len(got) >= tc.want {
				wait = time.After(300 * time.Millisecond) // anything extra would be a bug
			}
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case <-wait:
				break read
			}
		}
		pc.Close()
		c.Close()
		if len(got) != tc.want {
			t.Errorf("sarama isolation %d saw %d records %v, want %d", tc.iso, len(got), got, tc.want)
		}
	}

	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (CI installs it)")
	}
	for iso, want := range map[string]int{"read_committed": 4, "read_uncommitted": 8} {
		out, err := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-C", "-t", "tx", "-e", "-q",
			"-X", "isolation.level="+iso, "-f", "%s\n").Output()
		if err != nil {
			t.Fatalf("kcat %s: %v", iso, err)
		}
		lines := strings.Fields(string(out))
		if len(lines) != want {
			t.Errorf("kcat %s saw %v, want %d records", iso, lines, want)
		}
		for _, l := range lines {
			if iso == "read_committed" && strings.HasPrefix(l, "no-") {
				t.Errorf("kcat read_committed saw aborted record %s", l)
			}
		}
	}
}
