// Package quorum is the metadata quorum: a replicated log of metadata
// records, kept by a static set of voters (Kafka's controller.quorum.voters)
// on go.etcd.io/raft/v3. Raft decides; this package does what raft leaves to
// the application: the write-ahead log, snapshots and log compaction, the
// transport between voters, and the plumbing that turns a proposal into an
// applied entry.
//
// # Using it
//
// The caller supplies a StateMachine (for Gregor, the metadata state), opens
// a Node per voter, proposes on the ready leader and reads after a Barrier:
//
//	n, err := quorum.Open(quorum.Config{
//		NodeID: 1,
//		Voters: map[uint64]string{1: "10.0.0.1:9093", 2: "10.0.0.2:9093", 3: "10.0.0.3:9093"},
//		Dir:    "/var/lib/gregor/__cluster_metadata",
//		OnLeadership: func(active bool, term uint64) {
//			// become or stop being the active controller (do not block)
//		},
//	}, stateMachine)
//	if err != nil { ... }
//	defer n.Close()
//
//	// On the controller listener, hand raft connections to the node:
//	//   if first four bytes == quorum.Preamble { go n.ServeConn(conn) }
//
//	index, err := n.Propose(ctx, record)  // ErrNotLeader unless n.LeaderReady()
//	err = n.Barrier(ctx)                  // then read the local state machine
//
// Propose returns once the entry is committed and applied on this node, with
// the error the StateMachine's Apply returned. A node is the "ready leader"
// (LeaderReady, OnLeadership) once it leads and has applied an entry of its
// own term, so its state machine holds everything committed before it.
// CheckQuorum and PreVote are on: a leader that cannot reach a majority steps
// down within an election timeout. A single voter elects itself at once.
//
// # Storage
//
// Config.Dir holds raft.wal and snap-<index>.snap files. Both are sequences of
// checksummed records (size, CRC-32C, type, protobuf; see wal.go). The WAL is
// written and fsynced before the messages of the same Ready go out; on Open a
// torn tail (a damaged last record) is cut off, while damage followed by more
// data is ErrCorrupt. Every SnapshotEntries applied entries the state machine
// is snapshotted (written atomically: temporary file, fsync, rename, fsync of
// the directory) and the log is compacted to RetainEntries entries before the
// snapshot, by rewriting the WAL the same atomic way. A follower too far
// behind gets the leader's snapshot (raft's MsgSnap) and Restores from it.
// An empty Dir is bootstrapped with a snapshot at index 1 holding the voters
// and Config.Bootstrap's data.
//
// Every entry carries a 17-byte header (version, proposer node id, sequence)
// so the proposer finds it when it is applied; the StateMachine sees only the
// payload. A new leader's empty entry is not given to Apply.
//
// # Transport
//
// By default a node dials every other voter's address once (reconnecting
// with backoff), writes Preamble and then size-prefixed raftpb.Message frames;
// a peer's queue is bounded and drops when full (raft retries). Inbound
// connections reach the node through ServeConn. A custom Transport delivers
// with Node.Step and reports with Node.ReportUnreachable and
// Node.ReportSnapshot.
//
// # Concurrency
//
// One goroutine per Node owns the RawNode, the storage, the StateMachine and
// the pending proposals and reads; Propose, Barrier, Step, Tick and the
// reports reach it through channels. Node.mu guards only what Status, Close
// and ServeConn share and is a leaf lock; the TCP transport's per-peer locks
// are leaves too, and no lock is held while calling into another component.
// Close stops the goroutine, then the transport, then every ServeConn, and
// waits for all of them.
package quorum
