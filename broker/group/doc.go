// Package group is Gregor's group coordinator: Kafka's classic consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and
// committed offsets, kept in the internal compacted topic
// __consumer_offsets in Kafka's own record formats.
//
// It has two layers. Group is a pure state machine in the style of etcd's
// raft: each input (a request, a timer, the outcome of a write) returns an
// Output saying what to persist, whom to answer and which timers to arm,
// and nothing reads a clock or touches a disk. Coordinator does that I/O:
// it keeps one Group per group ID behind its own lock, writes records
// through a Storage, runs timers, parks JoinGroup and SyncGroup callers
// until their answers exist, reads __consumer_offsets back at startup,
// expires old offsets (offsets.retention.minutes) and tombstones every
// group's offsets of a deleted topic (OnTopicsDeleted).
//
// Lock order: a group's lock, then Coordinator.mu (a leaf guarding the
// maps), and a group's lock before anything the Storage locks. Two group
// locks are never held together.
//
// Driving a Group by hand, as the tests do:
//
//	cfg := group.DefaultConfig()
//	cfg.InitialRebalanceDelay = 0
//	_ = cfg.Validate()
//	g := group.NewGroup(&cfg, "my-group", nowMs)
//	out := g.Join(nowMs, group.JoinRequest{
//		ClientID: "c1", ProtocolType: "consumer",
//		Protocols:        []group.Protocol{{Name: "range", Metadata: meta}},
//		SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
//	}, 1)
//	// out.Replies[0].Join is token 1's answer: generation 1, it leads.
//	// out.Timers are the deadlines to call g.OnTimer with.
//
// The files in testdata/ are transcripts of Groups driven this way, one
// scenario each (join, sync, heartbeat, timers, commit, leave, static
// members): every input with the replies, records and timers it produced.
// TestTranscripts replays them; read them as the protocol's specification,
// and regenerate them with -rewrite after a deliberate change.
//
// And the broker's use of the Coordinator:
//
//	c, _ := group.NewCoordinator(cfg, storage) // storage: __consumer_offsets
//	c.Start(50, true)                          // load the 50 partitions
//	res := c.JoinGroup(conn.done, "my-group", req)
package group
