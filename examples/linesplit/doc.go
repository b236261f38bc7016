// Command linesplit is Kafka Streams' LineSplit demo: it splits each line of
// streams-plaintext-input into words and writes one record per word to
// streams-linesplit-output.
//
//	go run ./examples/linesplit --brokers localhost:9092
package main
