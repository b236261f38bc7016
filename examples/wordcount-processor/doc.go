// Command wordcount-processor is Kafka Streams' WordCountProcessorDemo, written with
// the Processor API: a processor counts words in a key-value store and a wall-clock
// punctuator forwards every count once a second to streams-wordcount-processor-output
// (counts as decimal text).
//
//	go run ./examples/wordcount-processor --brokers localhost:9092
package main
