package testcluster

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/gregorhq/gregor/broker/brokertest"
)

// Cluster is a cluster a test can run against.
type Cluster struct {
	// Name names the cluster in subtest names: "gregor", "kfake-1", "kfake-3".
	Name string
	// Start starts the cluster, stopped when the test ends, and returns a
	// bootstrap address.
	Start func(tb testing.TB) string
}

// Gregor is Gregor's broker (brokertest) with groups that form without the
// initial rebalance delay.
func Gregor() Cluster {
	return Cluster{Name: "gregor", Start: func(tb testing.TB) string {
		tb.Helper()
		return brokertest.Start(tb, brokertest.WithProperty("group.initial.rebalance.delay.ms", "0")).Addr()
	}}
}

// Kfake is franz-go's kfake with the given number of brokers. As Kafka (and
// Gregor) do by default, it creates topics on first use with one partition
// (kfake's own default is ten).
func Kfake(brokers int) Cluster {
	return Cluster{Name: "kfake-" + strconv.Itoa(brokers), Start: func(tb testing.TB) string {
		tb.Helper()
		c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1))
		if err != nil {
			tb.Fatalf("testcluster: start kfake: %v", err)
		}
		tb.Cleanup(c.Close)
		return c.ListenAddrs()[0]
	}}
}

// All is Gregor's broker, kfake with one broker and kfake with three.
func All() []Cluster { return []Cluster{Gregor(), Kfake(1), Kfake(3)} }

// Run runs fn as a subtest on each of All, with the cluster's address.
func Run(t *testing.T, fn func(t *testing.T, addr string)) {
	t.Helper()
	for _, c := range All() {
		t.Run(c.Name, func(t *testing.T) { fn(t, c.Start(t)) })
	}
}
