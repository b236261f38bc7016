// Package archtest checks Gregor's layout rules, which way imports may
// point, against the real import graph of the module:
//
//   - the broker (broker/...) depends on none of streams, connect and state:
//     it serves any Kafka client and must not drag the client-side libraries
//     into its binary, nor they it;
//   - state depends on neither streams nor connect: it is the layer under
//     streams;
//   - connect's API (package connect) and the plugins written against it
//     (connect/connectors/..., connect/converters, connect/transforms)
//     depend on nothing of connect/runtime: the runtime imports the API,
//     never the reverse (test helpers such as connecttest may);
//   - only cmd/, integration/, examples/, internal/testcluster and the
//     broker's own packages import the broker (tests may, in _test.go
//     files); a test helper package (one whose name ends in "test", such as
//     connect/internal/connecttest) may import broker/brokertest, the
//     public in-process broker for tests, and nothing else of the broker.
//
// The first three rules hold for every dependency, direct or not; the third
// for direct imports, since a package allowed to import the broker may be
// imported by tests or commands that depend on it in turn.
//
// The test of this package runs `go list -deps -json ./...` in each of
// Gregor's modules (Modules: the root, and integration/, whose go.mod holds
// what only tests and benchmarks need) and fails on any violation; another
// test fails when a client only tests use (TestOnlyModules: sarama, goka,
// kafka-go) enters the root module's build list. `make lint` runs them. Check is the rule
// engine over any import graph, so the rules themselves are tested on made
// up graphs:
//
//	pkgs, err := archtest.Load(moduleRoot)
//	if err != nil { ... }
//	for _, v := range archtest.Check(archtest.Module, pkgs) {
//		fmt.Println(v) // state/foo imports github.com/.../streams: state must not depend on streams or connect
//	}
package archtest
