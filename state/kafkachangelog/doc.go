// Package kafkachangelog implements state.ChangelogWriter and state.ChangelogReader with
// franz-go, for the streams runtime and for tests against a real broker.
//
// The Writer produces through the caller's client, which must use the manual partitioner
// (changelog partition = task partition) and, under exactly-once, be transactional: the
// runtime begins and ends transactions around Task.Commit. The Reader issues Fetch
// requests to partition leaders itself and decodes them with kgo.ProcessFetchPartition, so
// it knows the exact fetch position even when a partition ends in transaction markers or
// compacted gaps that no consumer would surface as records.
//
//	producer, _ := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
//	reader, _ := kgo.NewClient(kgo.SeedBrokers(addr))
//	_ = kafkachangelog.CreateTopic(ctx, kadm.NewClient(reader), state.ChangelogTopic("app", "counts"), 4, false, 0)
//	task, err := state.OpenTask(state.TaskConfig{
//		ApplicationID: "app", TaskID: "0_2", Partition: 2, StateDir: dir,
//		Writer: kafkachangelog.NewWriter(producer),
//		Reader: kafkachangelog.NewReader(reader, kafkachangelog.ReadCommitted()),
//	})
package kafkachangelog
