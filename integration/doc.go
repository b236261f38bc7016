// Package integration holds Gregor's end-to-end tests: the real gregor
// binary, started as a child process on a free loopback port with a
// temporary data directory, driven by real Kafka clients (franz-go,
// IBM/sarama, segmentio/kafka-go, kcat, kafka-python, kafkajs) and by raw bytes
// on a TCP connection.
//
// The tests use the binary named by the GREGOR_BIN environment variable (make
// test-integration sets it); without it, TestMain builds ./cmd/gregor once
// into a temporary directory.
//
// integration/ is a module of its own (github.com/gregorhq/gregor/integration,
// with a replace directive pointing at the repository root), so that the
// clients only the tests and benchmarks need (sarama, kafka-go, goka) stay
// out of the library's go.mod. Run its tests from inside it:
//
//	make build && cd integration && GREGOR_BIN=$PWD/../bin/gregor go test ./
//
// Besides this package the module holds packages that need no gregor binary
// and run with the unit tests: brokerclients (the in-process broker against
// sarama and kafka-go), statebench and wordcountbench (Gregor's state stores
// and streams next to goka's, for make bench) and examples/goka-counter (a
// goka application that TestGokaCounter runs against the binary). Programs
// of the main module that the tests build (cmd/gregor, examples/wordcount)
// are built in the main module's directory, so they are the binaries that
// module builds.
//
// The package also exports Process, the helper that starts, stops and kills a
// broker process and waits for its ready line; integration/cmd/benchcompare
// uses it too.
//
//	p, err := integration.StartGregor(ctx, "bin/gregor", dataDir, "--flush", "durable")
//	if err != nil { ... }
//	defer p.Kill()
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(p.Addr()))
//
// # Parallel tests
//
// The tests on clusters, the chaos tests and the crash tests of streams
// and Connect call t.Parallel: each has its own processes, data and state
// directories, topics and cluster slot, and most of their time is spent
// waiting out sessions and recoveries, so `go test` runs them two at a
// time (-parallel defaults to GOMAXPROCS) after the sequential tests.
// Tests that measure rates or wait for background work within a bound
// (quotas, compaction), and TestWordcountExactlyOnceBrokerChaos, whose
// input rate is tuned to a loaded machine, stay sequential. A new test
// may be parallel only if it shares nothing with the others and asserts
// nothing on timing.
//
// # Security
//
// startSecureBroker starts a broker with a SASL_SSL listener (PLAIN for an
// admin, SCRAM-SHA-256/512 for users the admin makes with `gregor users
// scram set`) and startMTLSBroker one with an SSL listener that requires a
// client certificate. Every client family above produces and consumes over
// both and is refused with a wrong password or without a certificate
// (security_test.go, security_clients_test.go, security_scripts_test.go).
//
// # Clusters
//
// Cluster starts N broker processes as one KRaft-style cluster in combined
// mode: node IDs 1..N, each node a broker and a controller (WithVoters
// narrows the quorum), with node.id, process.roles, controller.listener.names
// and controller.quorum.voters set through --set, and a data directory
// under t.TempDir(). It can kill -9, SIGSTOP/SIGCONT, SIGTERM and restart
// nodes, and cut links between them:
//
//	c := NewCluster(t, 3, WithBinary(bin), WithSetting("num.partitions", "6"))
//	cl := c.Client()                 // seeded with c.Seeds()
//	c.Kill(2); c.Restart(2)          // same data, same address
//	c.Pause(3); c.Resume(3)          // SIGSTOP / SIGCONT
//	c.Isolate(1)                     // node 1 cut off from 2 and 3, not from clients
//	c.Cut(1, Clients)                // ... and from the test's clients
//	c.CutOneWay(2, 3); c.Heal()
//	c.CutPort(2, 1, NetnsClientPort) // node 2's replica fetches from node 1 stop; the quorum's traffic flows
//	c.CutLink(1, 2, NetnsControllerPort)        // the quorum split between 1 and 2; data flows
//	c.CutLinkOneWay(1, 2, NetnsControllerPort)  // ... what 1 sends 2 on controller links is lost
//	c.WaitFor("a new controller", func(ctx context.Context) error { ... })
//
// Where the test runs as root and `ip netns` works (CI), each node runs in
// its own network namespace (gregor-S-ID) with address 10.77.S.ID on a
// bridge (gregorSbr) whose address in the test's namespace is 10.77.S.254;
// nodes listen on 9092 (clients) and 9093 (CONTROLLER). S is a slot held
// with an flock under $TMPDIR/gregor-cluster-UID/, so parallel test binaries
// never share names or subnets, and whatever a crashed run left in a slot
// is removed when the slot is taken again. Cuts are iptables DROP rules on
// the receiving namespace's INPUT chain (and, for answers to clients, a
// chain GREGOR-S in the test's namespace), so a cut link loses packets
// silently, as a real one does. Delay uses tc netem where the kernel has it.
//
// Otherwise (or with GREGOR_CLUSTER_NET=loopback) nodes listen on
// 127.77.S.ID, on ports picked once per cluster; processes, not links,
// can fail there, and tests that cut links skip (see Cluster.CanCut).
//
// # Checker
//
// A workload and a checker in the spirit of Jepsen's Kafka workload decide
// whether a broker or cluster kept Kafka's promises through faults.
// StartWorkload runs idempotent acks=all producers (each value unique,
// "pN-SEQ"), transactional producers that commit or abort ("tN-SEQ"),
// consumers by assignment and members of a group that commit after every
// poll, and records everything in a History; FinalRead reads every
// partition read_committed up to its end offset once the faults have
// healed; Check reports lost acknowledged writes, duplicates, divergent
// offsets, skipped or backward reads, group members resuming behind a
// commit, aborted records read, records of a transaction read before its
// commit was asked for, half-visible transactions, and — with
// OffsetSampling, which fetches the group's committed offsets from the
// coordinator a majority of brokers name while the workload runs —
// committed offsets that go backwards or fall below an acknowledged
// commit; each must be 0:
//
//	w, err := StartWorkload(WorkloadConfig{Seeds: c.Seeds(), Topic: topic, Partitions: 6,
//		Producers: 3, TxnProducers: 2, AssignConsumers: 2, GroupConsumers: 2})
//	... c.Kill(2); c.Restart(2) ...
//	w.Stop()
//	err = w.FinalRead(ctx)
//	if r := Check(w.History()); !r.OK() { t.Fatal(r) }
//
// internal/replicacheck (of the main module) reads a partition's segment
// files in several data directories and compares their record batches byte
// for byte below an offset. The chaos tests (chaos_test.go, replication_chaos_test.go with
// issue 18's nemeses on replicated partitions, netfault_test.go with issue
// 19's network faults: quorum partitions, one-way cuts, a leader or
// coordinator isolated from the other nodes) run a short, fixed number of
// fault rounds in `make test`, every kind of round at least once;
// GREGOR_CHAOS_DURATION=5m runs their faults longer (make chaos), and
// GREGOR_CHAOS_HISTORY=DIR keeps each history as JSON.
package integration
