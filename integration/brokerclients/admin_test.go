package brokerclients

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/gregorhq/gregor/broker/brokertest"
)

func TestSaramaClusterAdmin(t *testing.T) {
	b := brokertest.Start(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	adm, err := sarama.NewClusterAdmin([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic("sar", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": str("5000")}}, false); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 sarama programs still call DescribeConfig: the test covers that call
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sar"})
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, e := range entries {
		if e.Name == "retention.ms" && e.Value == "5000" {
			ok = true
		}
	}
	if !ok {
		t.Fatal("sarama DescribeConfig lacks retention.ms=5000")
	}
	if err := adm.AlterConfig(sarama.TopicResource, "sar", map[string]*string{"retention.ms": str("bogus")}, false); err == nil {
		t.Fatal("sarama AlterConfig with a bad value should fail")
	}
	if err := adm.CreatePartitions("sar", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	meta, err := adm.DescribeTopics([]string{"sar"})
	if err != nil || len(meta[0].Partitions) != 4 {
		t.Fatalf("sarama describe topics: %v", err)
	}
	if err := adm.DeleteRecords("sar", map[int32]int64{0: 0}); err != nil {
		t.Fatal(err)
	}
	brokers, controller, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != 1 {
		t.Fatalf("sarama describe cluster: %v %v %v", brokers, controller, err)
	}
	if err := adm.DeleteTopic("sar"); err != nil {
		t.Fatal(err)
	}
}
