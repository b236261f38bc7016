// Package integration holds Gregor's end-to-end tests: the real gregor
// binary, started as a child process on a free loopback port with a
// temporary data directory, driven by real Kafka clients (franz-go,
// IBM/sarama, kcat, kafka-python, kafkajs) and by raw bytes on a TCP connection.
//
// The tests use the binary named by the GREGOR_BIN environment variable (make
// test-integration sets it); without it, TestMain builds ./cmd/gregor once
// into a temporary directory.
//
//	GREGOR_BIN=$PWD/bin/gregor go test ./integration/...
//
// The package also exports Process, the helper that starts, stops and kills a
// broker process and waits for its ready line; integration/cmd/benchcompare
// uses it too.
//
//	p, err := integration.StartGregor(ctx, "bin/gregor", dataDir, "--flush", "durable")
//	if err != nil { ... }
//	defer p.Kill()
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(p.Addr()))
package integration
