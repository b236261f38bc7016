// Package wordcount holds the word count of examples/wordcount (Kafka Streams'
// WordCountDemo) so that the command, its crash test and the wordcount benchmark run
// the same topology.
//
//	topo, err := wordcount.Topology(wordcount.InputTopic, wordcount.OutputTopic)
//	if err != nil {
//		return err
//	}
//	app, err := streams.New(topo, streams.Config{ApplicationID: wordcount.ApplicationID, Brokers: brokers})
//
// Words splits a line the way Java's line.toLowerCase().split("\\W+") does.
package wordcount
