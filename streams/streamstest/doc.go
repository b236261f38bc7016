// Package streamstest is a topology test driver (Kafka Streams' TopologyTestDriver): it
// runs a streams.Topology in process with no broker. Pipe typed records into input
// topics, read output topics, inspect stores and advance the mocked wall clock. Every
// topic has one partition, records written to repartition topics are processed at once,
// and the tasks commit after each input record, so every table update is emitted.
//
//	func TestWordCount(t *testing.T) {
//		d := streamstest.New(t, topology())
//		in := streamstest.NewInputTopic[string, string](d, "streams-plaintext-input", nil, nil)
//		out := streamstest.NewOutputTopic[string, int64](d, "streams-wordcount-output", nil, nil)
//		in.PipeValues("hello world", "hello")
//		got := streamstest.ReadKeyValuesToMap(out) // map[hello:2 world:1]
//		counts := streamstest.StoreContents[string, int64](d, "counts")
//		d.AdvanceWallClockTime(time.Minute) // fires wall-clock punctuations
//		...
//	}
package streamstest
