// Package streams is a typed, Kafka-Streams-style library for stream processing on
// Kafka (and Gregor): build a topology with the DSL or the Processor API, run it as many
// instances as needed, and get correct results across crashes and rebalances.
//
// The DSL follows Kafka Streams' names. Operations that keep the key and value types
// are methods of Stream and Table (Filter, Peek, Merge, Split, To, Repartition,
// GroupByKey, ToTable, ToStream, ...); those that change them are package functions,
// since Go methods cannot add type parameters (Map, MapValues, FlatMap, FlatMapValues,
// SelectKey, GroupBy, Aggregate, TableGroupBy, MapValuesTable, Process, ...). Serdes
// default to String, Bytes, Int64 (8 bytes big-endian, as Kafka's LongSerializer),
// Int32 and Float64 for those types; JSON[T] and user serdes cover the rest.
//
// Stateful operations keep their state in stores of package state (goleveldb by
// default, InMemory optionally) logged to compacted changelog topics
// "<application.id>-<store>-changelog", and coalesce updates in a record cache that is
// flushed (to the store, the changelog and downstream) when the task commits.
// Re-keyed streams are grouped through repartition topics
// "<application.id>-<name>-repartition", purged with DeleteRecords once committed.
//
// An App runs a topology: it joins the consumer group application.id, assigns tasks
// (one per partition of a sub-topology's co-partitioned sources) to instances with a
// cooperative, sticky balancer, runs them on NumStreamThreads goroutines, restores
// their stores before processing, and commits every CommitInterval. Package streamstest
// runs a topology without a broker.
//
// Config.ProcessingGuarantee (processing.guarantee) picks what a crash may do to the
// results. AtLeastOnce ("at_least_once", the default) commits offsets after the
// records they caused are acknowledged: input processed after the last commit is
// processed again after a crash. ExactlyOnceV2 ("exactly_once_v2", KIP-447) makes each
// commit a transaction: the instance produces through one transactional producer
// (transactional.id "<application.id>-<process id>", the process id kept in
// StateDir/<application.id>/kafka-streams-process-metadata), and the sink, repartition
// and changelog records of a commit interval (100 ms by default) and the input offsets
// they came from commit or abort together; inputs, restores and global tables are read
// with read_committed. Checkpoints are written only by a clean close, so the stores of
// an instance that crashed are wiped and restored from the committed changelogs; a
// commit that fails because the group moved on or the coordinator asked for an abort
// aborts the transaction and re-creates the tasks from the last commit. Consumers of
// the output must read with read_committed to see each input's effect exactly once.
//
//	b := streams.NewBuilder()
//	lines := streams.StreamFrom[string, string](b, "streams-plaintext-input", nil, nil)
//	words := streams.FlatMapValues(lines, func(_, line string) []string {
//		return strings.Fields(strings.ToLower(line))
//	})
//	streams.GroupBy(words, func(_, w string) string { return w }, nil).
//		Count(streams.As("counts")).
//		ToStream().
//		To("streams-wordcount-output")
//	topo, err := b.Build()
//	if err != nil {
//		return err
//	}
//	fmt.Print(topo.Describe())
//	app, err := streams.New(topo, streams.Config{
//		ApplicationID: "streams-wordcount",
//		Brokers:       []string{"localhost:9092"},
//		StateDir:      "/var/lib/wordcount",
//	})
//	if err != nil {
//		return err
//	}
//	return app.Run(ctx) // until ctx ends, then a clean close
//
// Joins follow Kafka Streams. StreamTableJoin and StreamTableLeftJoin look each record
// up in a table (only the stream side emits); TableJoin, TableLeftJoin and
// TableOuterJoin join two tables into a table whose updates carry the old result rows;
// TableForeignKeyJoin and TableForeignKeyLeftJoin join each row of a table to the row of
// another whose key its value names, through the internal topics
// "<application.id>-<name>-subscription-registration-topic" and
// "-subscription-response-topic", dropping answers to values replaced since; StreamJoin,
// StreamLeftJoin and StreamOuterJoin join two streams within JoinWindows, keeping both
// sides in window stores and emitting the unmatched records of left and outer joins
// once their window has closed (plus grace). Joiners get nil for the missing side of
// left and outer joins. Cogroup and CogroupWith fold several grouped streams into one
// table with one store, or per window with WindowedBy. Joined and cogrouped inputs must be co-partitioned: re-keyed
// streams are repartitioned first, internal topics get the partition count of the
// topics they are read with, and source topics with different partition counts stop
// the application at start with ErrNotCopartitioned. Records a processor skips (null
// keys or values a join cannot use, late records) are logged and counted
// (Harness.DroppedRecords). A task that reads several partitions processes the records
// it has fetched in timestamp order across them, and waits up to Config.MaxTaskIdle
// (max.task.idle.ms) for a partition that may be behind, so that a table's older rows
// are in place before the stream records that look them up.
//
// GlobalTableFrom reads a whole topic into a store of which every instance keeps a full
// copy (Kafka Streams' GlobalKTable). An App reads it up to the topic's end before any
// task processes a record, then a global consumer outside the group keeps it current
// and checkpoints its positions (StateDir/<application.id>/global). Streams join it
// with StreamGlobalTableJoin and StreamGlobalTableLeftJoin on any key derived from the
// record, without co-partitioning; GlobalStoreGet reads it from a running App.
//
// Interactive queries read the key-value and window stores of a running application:
// QueryKey (and QueryWindow for a key's windows) answers from the local task that holds the key's partition (on its stream thread,
// through the record cache) or, when Config.ApplicationServer (application.server) is
// set, from the instance that holds it: every instance serves its stores over HTTP at
// that address, publishes it in its group subscription, and learns from the group
// leader which server runs which partitions (AllMetadata, QueryMetadataForKey).
//
// With NumStandbyReplicas (num.standby.replicas) the group leader also gives each task
// standby copies on other instances, which catch their stores up with the changelogs
// every second and checkpoint them; when a task moves to an instance that kept it warm,
// only the changes since the last catch-up are restored.
//
// Windowed aggregations follow Kafka Streams: WindowedBy groups a GroupedStream into
// TimeWindows (tumbling or hopping) or SlidingWindows, SessionWindowedBy into
// SessionWindows; Count, Reduce, WindowedAggregate and SessionAggregate return tables
// keyed by Windowed[K], kept in window or session stores (changelogs "compact,delete",
// retention plus a day) and written with TimeWindowedSerde or SessionWindowedSerde.
// Stream time (the largest timestamp the aggregation has seen) closes a window once it
// passes the window's end plus the grace period; later records are dropped and counted.
// Emit(OnWindowClose) forwards only final results, and Table.Suppress holds updates
// back until their window closes (UntilWindowCloses) or for a time (UntilTimeLimit), in
// a buffer kept in a logged store:
//
//	clicks := streams.StreamFrom[string, string](b, "clicks", nil, nil)
//	w := streams.TimeWindowsOfSizeAndGrace(time.Minute, 10*time.Second)
//	streams.WindowedBy(clicks.GroupByKey(), w).
//		Count(streams.As("clicks-per-minute")).
//		Suppress(streams.UntilWindowCloses(streams.BufferUnbounded())).
//		ToStream().
//		To("clicks-per-minute") // keys in Kafka's format: TimeWindowedSerde(String(), 60000)
//
// The Processor API reaches window and session stores through WindowStoreBuilder,
// SessionStoreBuilder, GetWindowStore and GetSessionStore.
package streams
