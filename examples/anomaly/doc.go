// Command anomaly is the anomaly detection demo of Kafka Streams' examples on Gregor
// streams: it reads clicks from UserClicks (the value is the user name), counts them
// per user in tumbling one-minute windows and writes the users with at least three
// clicks in a minute to AnomalousUsers (key "[user@windowStart/windowEnd]", value the
// count as an int64, 8 bytes big-endian). The topology lives in package
// examples/anomaly/anomaly; both topics must exist (the repartition and changelog topics
// are created by the application).
//
//	gregor topics create UserClicks --partitions 4
//	gregor topics create AnomalousUsers --partitions 4
//	go run ./examples/anomaly --brokers localhost:9092 --state-dir /tmp/anomaly
//
// It prints "anomaly-detection ready on BROKERS" once started and stops cleanly on
// SIGINT or SIGTERM.
package main
