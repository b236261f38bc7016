// Package replicacheck compares the replicas of a partition as they lie on
// disk: it reads the record batches of a partition's segment files in
// several data directories (Kafka's log layout: a <topic>-<partition>
// directory of <20-digit base offset>.log segments) and reports where two
// replicas first differ, byte for byte, below an offset such as the high
// watermark. Replicas may cut segments at different offsets and may have
// deleted different old segments; only the batches all of them still hold
// are compared. The broker's cluster tests and the integration chaos tests
// use it after moving or killing replicas:
//
//	m, err := replicacheck.Compare([]string{dir1, dir2, dir3}, "orders", 0, hw)
//	if err != nil { ... }
//	if m != nil {
//		t.Fatal(m) // replicas A and B differ at offset N: ...
//	}
package replicacheck
