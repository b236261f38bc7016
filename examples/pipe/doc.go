// Command pipe is Kafka Streams' PipeDemo: it copies streams-plaintext-input to
// streams-pipe-output unchanged.
//
//	go run ./examples/pipe --brokers localhost:9092
package main
